// swiglu_experts_test.cpp — CpuBackend::swiglu_experts (the fused decode-time MoE of one token) against a
// double-precision scalar reference and against the Backend default (matmul / silu_mul / axpy):
// F32/F16/BF16 weights, odd D and I (kernel tails), several experts of different widths, 1 and 2
// threads with weights large enough to fork, strided weight rows, mixed dtypes, and validation.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "cpu_test_util.h"

namespace engine::test {
namespace {

struct Expert {
    Tensor gate, up, down;  // [I, D], [I, D], [D, I]
    float scale;
};

// y[d] = Σ_j s_j Σ_i down_j[d, i] · silu(gate_j[i]·x) · up_j[i]·x, in double; also Σ |terms| per d.
void reference(const std::vector<SwigluExpert>& ex, const TensorView& x, std::vector<double>& y,
               std::vector<double>& mag) {
    const int64_t D = x.cols();
    y.assign(size_t(D), 0.0);
    mag.assign(size_t(D), 0.0);
    for (const SwigluExpert& e : ex) {
        const int64_t I = e.gate.shape[0];
        std::vector<double> act(static_cast<size_t>(I)), act_mag(static_cast<size_t>(I));
        for (int64_t i = 0; i < I; ++i) {
            double g = 0, u = 0, gm = 0, um = 0;
            for (int64_t k = 0; k < D; ++k) {
                const double xv = load(x, k);
                g += double(load(e.gate, i * D + k)) * xv;
                u += double(load(e.up, i * D + k)) * xv;
                gm += std::fabs(double(load(e.gate, i * D + k)) * xv);
                um += std::fabs(double(load(e.up, i * D + k)) * xv);
            }
            act[size_t(i)] = e.scale * g / (1.0 + std::exp(-g)) * u;
            act_mag[size_t(i)] = std::fabs(e.scale) * (gm * std::fabs(u) + std::fabs(g) * um + 1e-6);
        }
        for (int64_t d = 0; d < D; ++d)
            for (int64_t i = 0; i < I; ++i) {
                const double w = load(e.down, d * I + i);
                y[size_t(d)] += w * act[size_t(i)];
                mag[size_t(d)] += std::fabs(w) * act_mag[size_t(i)];
            }
    }
}

std::vector<Expert> make_experts(std::mt19937& rng, DType dt, int64_t D, const std::vector<int64_t>& widths) {
    std::vector<Expert> out;
    const float a = 1.0f / std::sqrt(float(D));
    for (size_t j = 0; j < widths.size(); ++j) {
        const int64_t I = widths[j];
        out.push_back({random_of(rng, dt, {I, D}, -a, a), random_of(rng, dt, {I, D}, -a, a),
                       random_of(rng, dt, {D, I}, -a, a), 0.25f + 0.5f * float(j)});
    }
    return out;
}

std::vector<SwigluExpert> views(const std::vector<Expert>& ex) {
    std::vector<SwigluExpert> v;
    for (const Expert& e : ex) v.push_back({e.gate.view(), e.up.view(), e.down.view(), e.scale});
    return v;
}

int64_t work_size(const std::vector<SwigluExpert>& ex, int64_t D) {
    int64_t s = 0;
    for (const SwigluExpert& e : ex) s += e.gate.shape[0];
    return 3 * s + D;
}

void check(Backend& be, const std::vector<SwigluExpert>& ex, int64_t D, std::mt19937& rng, double tol) {
    Tensor x = random_f32(rng, {1, D}, -2.0f, 2.0f);
    Tensor y = random_f32(rng, {1, D});  // overwritten
    Tensor y_default = Tensor::cpu(DType::F32, {1, D});
    Tensor work = Tensor::cpu(DType::F32, {work_size(ex, D)});
    be.swiglu_experts(y, x, ex.data(), int64_t(ex.size()), work);
    be.Backend::swiglu_experts(y_default, x, ex.data(), int64_t(ex.size()), work);  // the unfused composition
    std::vector<double> ref, mag;
    reference(ex, x, ref, mag);
    int bad = 0;
    for (int64_t d = 0; d < D; ++d) {
        const double got = y.as<float>()[d], comp = y_default.as<float>()[d];
        const double lim = tol * mag[size_t(d)] + 1e-30;
        if ((!(std::fabs(got - ref[size_t(d)]) <= lim) || !(std::fabs(got - comp) <= lim)) && bad++ < 5)
            ADD_FAILURE() << "y[" << d << "] = " << got << ", reference " << ref[size_t(d)] << ", composition "
                          << comp << " (D=" << D << ", " << ex.size() << " experts)";
    }
    EXPECT_EQ(bad, 0);
}

TEST(SwigluExperts, MatchesReferenceAndCompositionPerDtype) {
    std::mt19937 rng(11);
    for (DType dt : {DType::BF16, DType::F16, DType::F32}) {
        SCOPED_TRACE(dtype_name(dt));
        for (int threads : {1, 2}) {
            auto be = make_cpu_backend(threads);
            // Odd sizes: D and I not multiples of 8, experts of different widths (row groups cross experts).
            auto small = make_experts(rng, dt, 37, {19, 7, 24});
            check(*be, views(small), 37, rng, 1e-5);
            // Big enough to fork (> 0.5 MB of weights): 4 routed + 1 shared of width 96, D = 520.
            auto big = make_experts(rng, dt, 520, {96, 96, 96, 96, 96});
            check(*be, views(big), 520, rng, 1e-5);
        }
    }
}

TEST(SwigluExperts, StridedRowsMixedDtypesAndNoExperts) {
    std::mt19937 rng(5);
    auto be = make_cpu_backend(2);
    const int64_t D = 40, I = 17;
    // Weights that are column slices of wider matrices (row stride > row length).
    Tensor g_wide = random_of(rng, DType::BF16, {I, D + 8}, -0.2f, 0.2f);
    Tensor u_wide = random_of(rng, DType::BF16, {I, D + 8}, -0.2f, 0.2f);
    Tensor d_wide = random_of(rng, DType::BF16, {D, I + 3}, -0.2f, 0.2f);
    std::vector<SwigluExpert> ex = {{g_wide.view().slice_last(4, 4 + D), u_wide.view().slice_last(0, D),
                                     d_wide.view().slice_last(3, 3 + I), 0.7f}};
    // reference() indexes densely: compare the strided expert with a dense copy of it.
    Tensor g = Tensor::cpu(DType::F32, {I, D}), u = Tensor::cpu(DType::F32, {I, D}), dn = Tensor::cpu(DType::F32, {D, I});
    be->copy(g, ex[0].gate);
    be->copy(u, ex[0].up);
    be->copy(dn, ex[0].down);
    Tensor x = random_f32(rng, {1, D});
    Tensor y1 = Tensor::cpu(DType::F32, {1, D}), y2 = Tensor::cpu(DType::F32, {1, D});
    Tensor work = Tensor::cpu(DType::F32, {3 * 2 * I + D});
    be->swiglu_experts(y1, x, ex.data(), 1, work);
    const std::vector<SwigluExpert> dense = {{g.view(), u.view(), dn.view(), 0.7f}};
    be->swiglu_experts(y2, x, dense.data(), 1, work);
    for (int64_t d = 0; d < D; ++d) EXPECT_NEAR(y1.as<float>()[d], y2.as<float>()[d], 1e-6f) << d;

    // Mixed dtypes (BF16 routed + F32 dense expert) take the default composition and still add up.
    ex.push_back(dense[0]);
    ex[1].scale = -1.3f;
    be->swiglu_experts(y1, x, ex.data(), 2, work);
    be->swiglu_experts(y2, x, dense.data(), 1, work);
    std::vector<float> part(y2.as<float>(), y2.as<float>() + D);
    be->swiglu_experts(y2, x, ex.data(), 1, work);
    for (int64_t d = 0; d < D; ++d)
        EXPECT_NEAR(y1.as<float>()[d], y2.as<float>()[d] + part[size_t(d)] * (-1.3f / 0.7f), 1e-5f) << d;

    // No experts: y = 0.
    be->swiglu_experts(y1, x, nullptr, 0, work);
    for (int64_t d = 0; d < D; ++d) EXPECT_EQ(y1.as<float>()[d], 0.0f);
}

TEST(SwigluExperts, ValidationNamesOpAndShapes) {
    std::mt19937 rng(3);
    auto be = make_cpu_backend(1);
    auto ex = make_experts(rng, DType::BF16, 32, {16});
    auto v = views(ex);
    Tensor x = Tensor::cpu(DType::F32, {1, 32}), y = Tensor::cpu(DType::F32, {1, 32});
    Tensor work = Tensor::cpu(DType::F32, {3 * 16 + 32});
    Tensor x_bad = Tensor::cpu(DType::F32, {1, 31});
    expect_invalid([&] { be->swiglu_experts(y, x_bad, v.data(), 1, work); }, {"swiglu_experts", "y [1, 32]"});
    Tensor x2 = Tensor::cpu(DType::F32, {2, 32});
    expect_invalid([&] { be->swiglu_experts(y, x2, v.data(), 1, work); }, {"swiglu_experts", "x [2, 32]"});
    Tensor small = Tensor::cpu(DType::F32, {3 * 16 + 31});
    expect_invalid([&] { be->swiglu_experts(y, x, v.data(), 1, small); }, {"swiglu_experts", "work [79]"});
    v[0].down = ex[0].gate.view();  // [16, 32] where [32, 16] is expected
    expect_invalid([&] { be->swiglu_experts(y, x, v.data(), 1, work); },
                   {"swiglu_experts: expert 0", "down [16, 32]"});
}

// moe_decode (the Backend default the CPU uses): the experts named by idx, weighted by wts, plus the
// shared ones, against the double reference over the same list; an id outside [0, E) is kInternal.
TEST(MoeDecode, RoutedIdsPickTheExpertsAndSharedAreAdded) {
    std::mt19937 rng(11);
    auto be = make_cpu_backend(1);
    const int64_t D = 40, E = 6, I = 12;
    auto routed = make_experts(rng, DType::BF16, D, std::vector<int64_t>(size_t(E), I));
    auto shared = make_experts(rng, DType::BF16, D, {24});
    shared[0].scale = 1.0f;
    auto rv = views(routed), sv = views(shared);
    Tensor idx = Tensor::cpu(DType::I32, {1, 3});
    Tensor wts = Tensor::cpu(DType::F32, {1, 3});
    const int32_t ids[3] = {4, 0, 3};
    const float w[3] = {0.5f, -1.25f, 2.0f};
    std::vector<SwigluExpert> chosen;
    for (int k = 0; k < 3; ++k) {
        idx.as<int32_t>()[k] = ids[k];
        wts.as<float>()[k] = w[k];
        chosen.push_back(rv[size_t(ids[k])]);
        chosen.back().scale = w[k];
    }
    chosen.push_back(sv[0]);
    Tensor x = random_f32(rng, {1, D}, -2.0f, 2.0f);
    Tensor y = random_f32(rng, {1, D});  // overwritten
    Tensor work = Tensor::cpu(DType::F32, {Backend::moe_decode_work(3, I, sv.data(), 1, D)});
    ASSERT_EQ(work.view().numel(), work_size(chosen, D));
    be->moe_decode(y, x, idx, wts, rv.data(), E, sv.data(), 1, work);
    std::vector<double> ref, mag;
    reference(chosen, x.view(), ref, mag);
    for (int64_t d = 0; d < D; ++d)
        EXPECT_NEAR(y.as<float>()[d], ref[size_t(d)], 1e-5 * mag[size_t(d)] + 1e-7) << "d " << d;

    idx.as<int32_t>()[1] = int32_t(E);
    try {
        be->moe_decode(y, x, idx, wts, rv.data(), E, sv.data(), 1, work);
        ADD_FAILURE() << "an expert id of E was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kInternal);
        EXPECT_NE(std::string(e.what()).find("routed expert id 6 outside [0, 6)"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace engine::test
