// attention_test.cpp — CpuBackend::attention against a double-precision scalar reference:
// MHA (Hk == H) and MQA (Hk == 1), decode (T = 1) and prefill, q_pos0 > 0, strided q / v-aliasing-k
// views, several score blocks, and validation; and all of it again with BF16 keys/values (a BF16 KV
// cache), whose reference reads the same bf16 values widened exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "cpu_test_util.h"

namespace engine::test {
namespace {

void check_attention(const TensorView& out, const TensorView& q, const TensorView& k, const TensorView& v,
                     float scale, int64_t q_pos0) {
    const int64_t T = q.shape[0], H = q.shape[1], dk = q.shape[2];
    const int64_t Hk = k.shape[1], dv = v.shape[2];
    int64_t bad = 0;
    std::vector<double> p;
    for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < H; ++h) {
            const int64_t hk = Hk == 1 ? 0 : h;
            const int64_t n = q_pos0 + t + 1;
            p.assign(size_t(n), 0.0);
            double mx = -1e300;
            for (int64_t s = 0; s < n; ++s) {
                double d = 0.0;
                for (int64_t i = 0; i < dk; ++i)
                    d += double(load(q, (t * H + h) * dk + i)) * load(k, (s * Hk + hk) * dk + i);
                p[size_t(s)] = d * scale;
                mx = std::max(mx, p[size_t(s)]);
            }
            double sum = 0.0;
            for (double& e : p) sum += (e = std::exp(e - mx));
            for (int64_t i = 0; i < dv; ++i) {
                double o = 0.0, mag = 0.0;
                for (int64_t s = 0; s < n; ++s) {
                    const double term = p[size_t(s)] / sum * load(v, (s * Hk + hk) * dv + i);
                    o += term;
                    mag += std::fabs(term);
                }
                const double got = load(out, (t * H + h) * dv + i);
                if (!(std::fabs(got - o) <= 1e-5 * mag + 1e-6 * 1e-3) && bad++ < 5)
                    ADD_FAILURE() << "out[" << t << ", " << h << ", " << i << "] = " << got << ", expected " << o;
            }
        }
    EXPECT_EQ(bad, 0);
}

struct Case {
    int64_t T, H, Hk, S, q_pos0, dk, dv;
};

class AttentionSweep : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionSweep, MatchesReference) {
    const Case c = GetParam();
    auto be = make_cpu_backend(2);
    std::mt19937 rng(unsigned(c.T * 1000 + c.S * 10 + c.H));
    Tensor q = random_f32(rng, {c.T, c.H, c.dk}, -2.0f, 2.0f);
    Tensor k = random_f32(rng, {c.S, c.Hk, c.dk}, -2.0f, 2.0f);
    Tensor v = random_f32(rng, {c.S, c.Hk, c.dv});
    Tensor out = random_f32(rng, {c.T, c.H, c.dv});  // garbage that must be overwritten
    const float scale = 1.0f / std::sqrt(float(c.dk));
    be->attention(out, q, k, v, scale, c.q_pos0);
    check_attention(out, q, k, v, scale, c.q_pos0);
}

// The same shape with k and v stored as BF16 (rounded once, as a BF16 KV cache is written): every path
// (AVX2/AVX-512 decode, direct, blocked BLAS with converted key chunks) must equal the fp64 reference over
// the rounded values to fp32 accuracy.
Tensor to_bf16(Backend& be, const Tensor& f32) {
    Tensor b = Tensor::cpu(DType::BF16, f32.view().shape.data(), f32.view().ndim);
    be.copy(b, f32);
    return b;
}

TEST_P(AttentionSweep, Bf16KeysAndValuesMatchReference) {
    const Case c = GetParam();
    auto be = make_cpu_backend(2);
    std::mt19937 rng(unsigned(c.T * 1000 + c.S * 10 + c.H + 7));
    Tensor q = random_f32(rng, {c.T, c.H, c.dk}, -2.0f, 2.0f);
    Tensor k = to_bf16(*be, random_f32(rng, {c.S, c.Hk, c.dk}, -2.0f, 2.0f));
    Tensor v = to_bf16(*be, random_f32(rng, {c.S, c.Hk, c.dv}));
    Tensor out = random_f32(rng, {c.T, c.H, c.dv});
    const float scale = 1.0f / std::sqrt(float(c.dk));
    be->attention(out, q, k, v, scale, c.q_pos0);
    check_attention(out, q, k, v, scale, c.q_pos0);
}

INSTANTIATE_TEST_SUITE_P(Cpu, AttentionSweep,
                         ::testing::Values(Case{1, 4, 4, 9, 8, 16, 16},      // decode MHA (direct path)
                                           Case{1, 16, 1, 70, 69, 40, 24},   // decode MQA (BLAS path)
                                           Case{1, 1, 1, 5, 4, 8, 8},        // single head
                                           Case{5, 3, 3, 40, 35, 8, 12},     // chunk after a prefix, MHA
                                           Case{6, 2, 1, 6, 0, 12, 10},      // small prefill MQA (direct)
                                           Case{37, 4, 1, 37, 0, 20, 7},     // prefill MQA (BLAS)
                                           Case{33, 3, 3, 50, 17, 9, 13},    // prefill MHA after prefix
                                           Case{3, 2, 2, 64, 10, 5, 5},      // keys beyond the last query
                                           Case{1, 16, 1, 600, 599, 64, 48}, // decode, keys split over threads
                                           Case{1, 12, 1, 700, 650, 37, 21}, // decode MQA: odd dims, masked tail
                                           Case{1, 3, 1, 300, 299, 13, 5},   // decode MQA: < 8 heads, 2 chunks
                                           Case{4, 8, 1, 1000, 996, 32, 32}, // chunk, keys split over threads
                                           Case{600, 1, 1, 600, 0, 4, 3}),   // split keys, some chunks all masked
                         [](const ::testing::TestParamInfo<Case>& i) {
                             const Case& c = i.param;
                             std::ostringstream name;  // (not "lit" + std::string: GCC 12 -Wrestrict false positive)
                             name << "T" << c.T << "_H" << c.H << "_Hk" << c.Hk << "_S" << c.S << "_p" << c.q_pos0;
                             return name.str();
                         });

TEST(Attention, SeveralScoreBlocks) {
    // T·H·S above the 2M-float score budget: the rows are processed in more than one block.
    auto be = make_cpu_backend(2);
    std::mt19937 rng(3);
    const int64_t T = 1100, H = 2, S = 1100, dk = 6, dv = 5;
    Tensor q = random_f32(rng, {T, H, dk});
    Tensor k = random_f32(rng, {S, 1, dk});
    Tensor v = random_f32(rng, {S, 1, dv});
    Tensor out = Tensor::cpu(DType::F32, {T, H, dv});
    be->attention(out, q, k, v, 0.7f, 0);
    check_attention(out, q, k, v, 0.7f, 0);
}

TEST(Attention, StridedQueriesAndValuesAliasingKeys) {
    // The MLA absorbed layout: q is a slice of a wider buffer, v is the first dv dims of the latent k.
    auto be = make_cpu_backend(2);
    std::mt19937 rng(21);
    for (int64_t T : {int64_t(1), int64_t(7)}) {
        const int64_t H = 8, S = 48, dk = 24, dv = 16;
        Tensor qb = random_f32(rng, {T, H, dk + 8});
        TensorView q = qb.view().slice_last(8, 8 + dk);
        Tensor kb = random_f32(rng, {S, 1, dk});
        TensorView v = kb.view().slice_last(0, dv);
        Tensor ob = random_f32(rng, {T, H, dv + 4});
        TensorView out = ob.view().slice_last(0, dv);
        be->attention(out, q, kb, v, 0.3f, S - T);
        check_attention(out, q, kb, v, 0.3f, S - T);
    }
}

TEST(Attention, Bf16LatentCacheLayout) {
    // The absorbed MLA form over a BF16 latent cache: v is the first dv dims of the bf16 k rows, q strided.
    auto be = make_cpu_backend(2);
    std::mt19937 rng(22);
    for (int64_t T : {int64_t(1), int64_t(7)}) {
        const int64_t H = 8, S = 300, dk = 24, dv = 16;
        Tensor qb = random_f32(rng, {T, H, dk + 8});
        TensorView q = qb.view().slice_last(8, 8 + dk);
        Tensor kb = to_bf16(*be, random_f32(rng, {S, 1, dk}));
        TensorView v = kb.view().slice_last(0, dv);
        Tensor out = Tensor::cpu(DType::F32, {T, H, dv});
        be->attention(out, q, kb, v, 0.3f, S - T);
        check_attention(out, q, kb, v, 0.3f, S - T);
    }
}

TEST(Attention, LargeScoresStayFinite) {
    // Max-subtraction keeps exp() in range even for scores around 1e4.
    auto be = make_cpu_backend(1);
    std::mt19937 rng(8);
    Tensor q = random_f32(rng, {4, 2, 8}, 50.0f, 60.0f);
    Tensor k = random_f32(rng, {4, 2, 8}, 50.0f, 60.0f);
    Tensor v = random_f32(rng, {4, 2, 3});
    Tensor out = Tensor::cpu(DType::F32, {4, 2, 3});
    be->attention(out, q, k, v, 1.0f, 0);
    for (int i = 0; i < 24; ++i) EXPECT_TRUE(std::isfinite(out.as<float>()[i]));
    check_attention(out, q, k, v, 1.0f, 0);
}

TEST(Attention, Validation) {
    auto be = make_cpu_backend(1);
    Tensor q = Tensor::cpu(DType::F32, {2, 4, 8});
    Tensor k2 = Tensor::cpu(DType::F32, {6, 2, 8});
    Tensor v2 = Tensor::cpu(DType::F32, {6, 2, 8});
    Tensor out = Tensor::cpu(DType::F32, {2, 4, 8});
    expect_invalid([&] { be->attention(out, q, k2, v2, 1.0f, 0); }, {"attention", "q [2, 4, 8]", "k [6, 2, 8]"});
    Tensor k = Tensor::cpu(DType::F32, {6, 1, 8});
    Tensor v = Tensor::cpu(DType::F32, {6, 1, 8});
    expect_invalid([&] { be->attention(out, q, k, v, 1.0f, 5); }, {"attention", "q_pos0 5", "k [6, 1, 8]"});
    Tensor kd = Tensor::cpu(DType::F32, {6, 1, 7});
    expect_invalid([&] { be->attention(out, q, kd, v, 1.0f, 0); }, {"attention", "head dims differ"});
    Tensor obad = Tensor::cpu(DType::F32, {2, 4, 9});
    expect_invalid([&] { be->attention(obad, q, k, v, 1.0f, 0); }, {"attention", "out [2, 4, 9]"});
    Tensor kb = Tensor::cpu(DType::BF16, {6, 1, 8}), kh = Tensor::cpu(DType::F16, {6, 1, 8});
    expect_invalid([&] { be->attention(out, q, kb, v, 1.0f, 0); }, {"attention", "both BF16", "BF16 and F32"});
    expect_invalid([&] { be->attention(out, q, kh, kh, 1.0f, 0); }, {"attention", "F32 or both BF16", "F16 and F16"});
}

}  // namespace
}  // namespace engine::test
