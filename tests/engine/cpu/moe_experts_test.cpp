// moe_experts_test.cpp — CpuBackend::moe_experts (the prefill-time routed experts, one expert per thread)
// against a double-precision scalar reference and against the Backend default (gather_rows / matmul /
// silu_mul / scatter_add_rows per expert): F32 and BF16 weights, odd D and I, empty experts, one expert
// with many rows (GEMM path) and others with few (GEMV path), 1 and 2 threads, accumulation into y, and
// the checks on bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "cpu_test_util.h"

namespace engine::test {
namespace {

struct Case {
    int64_t T, D, I, E, K;
    DType dt;
};

struct Routed {
    std::vector<Tensor> gate, up, down;  // per expert: [I, D], [I, D], [D, I]
    std::vector<SwigluExpert> experts;
    std::vector<int64_t> offsets;        // [E + 1]
    Tensor rows, scale;                  // I32 [P], F32 [P]
};

// Each token picks K distinct experts (expert 0 is popular, the last expert is never picked).
Routed route(std::mt19937& rng, const Case& c) {
    Routed r;
    const float a = 1.0f / std::sqrt(float(c.D));
    for (int64_t e = 0; e < c.E; ++e) {
        r.gate.push_back(random_of(rng, c.dt, {c.I, c.D}, -a, a));
        r.up.push_back(random_of(rng, c.dt, {c.I, c.D}, -a, a));
        r.down.push_back(random_of(rng, c.dt, {c.D, c.I}, -a, a));
    }
    for (int64_t e = 0; e < c.E; ++e) r.experts.push_back({r.gate[size_t(e)].view(), r.up[size_t(e)].view(),
                                                            r.down[size_t(e)].view(), 1.0f});
    std::vector<std::vector<std::pair<int32_t, float>>> per_expert(size_t(c.E));
    std::uniform_real_distribution<float> w(0.1f, 1.0f);
    for (int64_t t = 0; t < c.T; ++t) {
        std::vector<int64_t> pick{0};
        std::uniform_int_distribution<int64_t> any(1, c.E - 2);
        while (int64_t(pick.size()) < c.K) {
            const int64_t e = any(rng);
            if (std::find(pick.begin(), pick.end(), e) == pick.end()) pick.push_back(e);
        }
        for (int64_t e : pick) per_expert[size_t(e)].push_back({int32_t(t), w(rng)});
    }
    r.offsets.assign(1, 0);
    std::vector<int32_t> rows;
    std::vector<float> scale;
    for (const auto& pe : per_expert) {
        for (const auto& [t, s] : pe) rows.push_back(t), scale.push_back(s);
        r.offsets.push_back(int64_t(rows.size()));
    }
    const int64_t P = int64_t(rows.size());
    r.rows = Tensor::cpu(DType::I32, {P});
    r.scale = Tensor::cpu(DType::F32, {P});
    std::copy(rows.begin(), rows.end(), r.rows.as<int32_t>());
    std::copy(scale.begin(), scale.end(), r.scale.as<float>());
    return r;
}

// y0 + Σ_pairs scale · down(silu(x·gateᵀ) ⊙ x·upᵀ), in double.
std::vector<double> reference(const Routed& r, const Tensor& x, const std::vector<float>& y0, const Case& c) {
    std::vector<double> y(y0.begin(), y0.end());
    for (int64_t e = 0; e < c.E; ++e)
        for (int64_t p = r.offsets[size_t(e)]; p < r.offsets[size_t(e) + 1]; ++p) {
            const int64_t t = r.rows.as<int32_t>()[p];
            std::vector<double> act(size_t(c.I));
            for (int64_t i = 0; i < c.I; ++i) {
                double g = 0, u = 0;
                for (int64_t k = 0; k < c.D; ++k) {
                    const double xv = x.as<float>()[t * c.D + k];
                    g += double(load(r.gate[size_t(e)].view(), i * c.D + k)) * xv;
                    u += double(load(r.up[size_t(e)].view(), i * c.D + k)) * xv;
                }
                act[size_t(i)] = g / (1.0 + std::exp(-g)) * u;
            }
            for (int64_t d = 0; d < c.D; ++d) {
                double s = 0;
                for (int64_t i = 0; i < c.I; ++i) s += double(load(r.down[size_t(e)].view(), d * c.I + i)) * act[size_t(i)];
                y[size_t(t * c.D + d)] += double(r.scale.as<float>()[p]) * s;
            }
        }
    return y;
}

void run_case(const Case& c, int threads) {
    std::mt19937 rng(uint32_t(c.T * 131 + c.D * 7 + c.I + threads));
    const Routed r = route(rng, c);
    Tensor x = random_f32(rng, {c.T, c.D}, -2.0f, 2.0f);
    Tensor y = random_f32(rng, {c.T, c.D});  // accumulated into
    std::vector<float> y0(y.as<float>(), y.as<float>() + c.T * c.D);
    Tensor y_default = Tensor::cpu(DType::F32, {c.T, c.D});
    std::copy(y0.begin(), y0.end(), y_default.as<float>());
    auto be = make_cpu_backend(threads);
    int64_t max_rows = 0;
    for (int64_t e = 0; e < c.E; ++e) max_rows = std::max(max_rows, r.offsets[size_t(e) + 1] - r.offsets[size_t(e)]);
    const int64_t P = r.offsets.back();
    Tensor work = Tensor::cpu(DType::F32, {std::max(be->moe_experts_work(P, max_rows, c.D, c.I),
                                                    be->Backend::moe_experts_work(P, max_rows, c.D, c.I))});
    be->moe_experts(y, x, r.experts.data(), r.offsets.data(), c.E, r.rows, r.scale, work);
    be->Backend::moe_experts(y_default, x, r.experts.data(), r.offsets.data(), c.E, r.rows, r.scale, work);
    const std::vector<double> ref = reference(r, x, y0, c);
    double max_ref = 0, max_default = 0;
    for (int64_t i = 0; i < c.T * c.D; ++i) {
        const double scale = 1.0 + std::fabs(ref[size_t(i)]);
        max_ref = std::max(max_ref, std::fabs(y.as<float>()[i] - ref[size_t(i)]) / scale);
        max_default = std::max(max_default, std::fabs(double(y.as<float>()[i]) - y_default.as<float>()[i]) / scale);
    }
    SCOPED_TRACE(::testing::Message() << "T=" << c.T << " D=" << c.D << " I=" << c.I << " E=" << c.E << " K=" << c.K
                                      << " dtype=" << dtype_name(c.dt) << " threads=" << threads);
    EXPECT_LT(max_ref, 2e-5) << "vs the fp64 reference";
    EXPECT_LT(max_default, 2e-6) << "vs the Backend default composition";
}

TEST(MoeExperts, MatchesReferenceAndDefaultComposition) {
    for (int threads : {1, 2}) {
        run_case({40, 67, 45, 6, 3, DType::F32}, threads);   // expert 0: 40 rows (GEMM), others few (GEMV)
        run_case({40, 67, 45, 6, 3, DType::BF16}, threads);
        run_case({3, 64, 32, 5, 2, DType::BF16}, threads);    // decode-sized: every expert on the GEMV path
        run_case({96, 130, 70, 9, 4, DType::F32}, threads);  // wider, more pairs than columns
    }
}

TEST(MoeExperts, BadInputIsReportedNotCrashed) {
    std::mt19937 rng(3);
    const Case c{8, 16, 8, 4, 2, DType::F32};
    Routed r = route(rng, c);
    Tensor x = random_f32(rng, {c.T, c.D});
    Tensor y = Tensor::cpu(DType::F32, {c.T, c.D});
    auto be = make_cpu_backend(2);
    const int64_t P = r.offsets.back();
    Tensor work = Tensor::cpu(DType::F32, {be->moe_experts_work(P, c.T, c.D, c.I)});
    r.rows.as<int32_t>()[0] = int32_t(c.T);  // a row past the end
    EXPECT_THROW(be->moe_experts(y, x, r.experts.data(), r.offsets.data(), c.E, r.rows, r.scale, work), Error);
    r.rows.as<int32_t>()[0] = 0;
    Tensor small = Tensor::cpu(DType::F32, {4});
    EXPECT_THROW(be->moe_experts(y, x, r.experts.data(), r.offsets.data(), c.E, r.rows, r.scale, small), Error);
    Tensor wrong = Tensor::cpu(DType::F32, {c.I, c.D + 1});
    std::vector<SwigluExpert> bad = r.experts;
    bad[1].gate = wrong.view();
    EXPECT_THROW(be->moe_experts(y, x, bad.data(), r.offsets.data(), c.E, r.rows, r.scale, work), Error);
    be->moe_experts(y, x, r.experts.data(), r.offsets.data(), c.E, r.rows, r.scale, work);  // still usable
}

}  // namespace
}  // namespace engine::test
