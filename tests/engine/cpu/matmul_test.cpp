// matmul_test.cpp — CpuBackend::matmul against a double-precision scalar reference: F32/F16/BF16
// weights, w_transposed both ways, decode (M <= 8, the GEMV path) and prefill (panel path) sizes,
// odd sizes, strided views, accumulate, batched 3-D, and shape validation.
#include <gtest/gtest.h>

#include "cpu_test_util.h"

namespace engine::test {
namespace {

// ref[b, m, n] = sum_k x[b, m, k] · w[b?, n, k]  (or w[b?, k, n]); x/y 2-D or 3-D; w 2-D or 3-D.
void check_matmul(const TensorView& y, const TensorView& x, const TensorView& w, bool trans,
                  const std::vector<float>& y0, bool acc, double rel_tol = 1e-5) {
    const int64_t K = x.cols(), N = y.cols();
    const int64_t M = x.ndim >= 2 ? x.shape[x.ndim - 2] : 1;
    const int64_t B = x.rows() / M;
    const int64_t wbatch = w.ndim == 3 ? N * K : 0;
    int64_t bad = 0;
    for (int64_t b = 0; b < B; ++b)
        for (int64_t m = 0; m < M; ++m)
            for (int64_t n = 0; n < N; ++n) {
                double s = 0.0, mag = 0.0;
                for (int64_t k = 0; k < K; ++k) {
                    const double xv = load(x, (b * M + m) * K + k);
                    const double wv = load(w, b * wbatch + (trans ? n * K + k : k * N + n));
                    s += xv * wv;
                    mag += std::fabs(xv * wv);
                }
                const int64_t yi = (b * M + m) * N + n;
                if (acc) s += y0[size_t(yi)], mag += std::fabs(y0[size_t(yi)]);
                const double got = load(y, yi);
                if (!(std::fabs(got - s) <= rel_tol * mag + 1e-30) && bad++ < 5)
                    ADD_FAILURE() << "y[" << b << ", " << m << ", " << n << "] = " << got << ", expected " << s
                                  << " (M=" << M << " N=" << N << " K=" << K << ")";
            }
    EXPECT_EQ(bad, 0);
}

std::vector<float> snapshot(const TensorView& v) {
    std::vector<float> out(size_t(v.numel()));
    for (int64_t i = 0; i < v.numel(); ++i) out[size_t(i)] = load(v, i);
    return out;
}

struct Case {
    DType wdt;
    bool trans;
    int64_t M, K, N;
};

class MatmulSweep : public ::testing::TestWithParam<Case> {};

TEST_P(MatmulSweep, MatchesReferencePlainStridedAndAccumulating) {
    const Case c = GetParam();
    auto be = make_cpu_backend(2);
    std::mt19937 rng(1234 + unsigned(c.M * 31 + c.K * 7 + c.N));
    Tensor w = c.trans ? random_of(rng, c.wdt, {c.N, c.K}) : random_of(rng, c.wdt, {c.K, c.N});
    Tensor x = random_f32(rng, {c.M, c.K});
    Tensor y = Tensor::cpu(DType::F32, {c.M, c.N});
    be->matmul(y, x, w, c.trans, false);
    check_matmul(y, x, w, c.trans, {}, false);

    // Strided: every operand a slice_last of a wider buffer (row stride > row length).
    Tensor wb = c.trans ? random_of(rng, c.wdt, {c.N, c.K + 5}) : random_of(rng, c.wdt, {c.K, c.N + 3});
    TensorView ws = c.trans ? wb.view().slice_last(2, 2 + c.K) : wb.view().slice_last(1, 1 + c.N);
    Tensor xb = random_f32(rng, {c.M, c.K + 9});
    TensorView xs = xb.view().slice_last(4, 4 + c.K);
    Tensor yb = random_f32(rng, {c.M, c.N + 6});
    TensorView ys = yb.view().slice_last(3, 3 + c.N);
    const std::vector<float> pad_before = snapshot(yb);
    const std::vector<float> y0 = snapshot(ys);
    be->matmul(ys, xs, ws, c.trans, /*accumulate=*/true);
    check_matmul(ys, xs, ws, c.trans, y0, true);
    // Columns outside the slice are untouched.
    for (int64_t m = 0; m < c.M; ++m)
        for (int64_t j = 0; j < c.N + 6; ++j) {
            if (j < 3 || j >= 3 + c.N) {
                EXPECT_EQ(yb.as<float>()[m * (c.N + 6) + j], pad_before[size_t(m * (c.N + 6) + j)]);
            }
        }
}

INSTANTIATE_TEST_SUITE_P(
    Cpu, MatmulSweep,
    ::testing::Values(Case{DType::F32, true, 7, 37, 19}, Case{DType::F32, false, 7, 37, 19},
                      Case{DType::F32, true, 1, 64, 33}, Case{DType::BF16, true, 1, 203, 45},
                      Case{DType::BF16, true, 2, 96, 17}, Case{DType::BF16, true, 3, 41, 29},
                      Case{DType::BF16, true, 5, 130, 33}, Case{DType::BF16, true, 8, 67, 40},
                      Case{DType::BF16, true, 9, 67, 40}, Case{DType::BF16, true, 16, 67, 41},
                      Case{DType::BF16, true, 17, 67, 41}, Case{DType::BF16, true, 70, 150, 90},
                      Case{DType::BF16, false, 1, 77, 39}, Case{DType::BF16, false, 33, 65, 130},
                      Case{DType::F16, true, 1, 203, 45}, Case{DType::F16, true, 4, 88, 31},
                      Case{DType::F16, true, 40, 50, 70}, Case{DType::F16, false, 6, 31, 23},
                      // big enough for the multithreaded column-chunk path
                      Case{DType::F32, true, 64, 300, 200}, Case{DType::F32, false, 64, 300, 200},
                      Case{DType::BF16, false, 64, 300, 200}, Case{DType::BF16, true, 3, 1000, 601},
                      Case{DType::F32, true, 1, 700, 450}, Case{DType::BF16, false, 2, 1100, 600},
                      Case{DType::F32, false, 1, 700, 450}, Case{DType::F16, false, 8, 40, 300}),
    [](const ::testing::TestParamInfo<Case>& i) {
        return std::string(dtype_name(i.param.wdt)) + (i.param.trans ? "_NK_" : "_KN_") + "M" +
               std::to_string(i.param.M) + "_K" + std::to_string(i.param.K) + "_N" + std::to_string(i.param.N);
    });

TEST(Matmul, LargePanelsSpanSeveralConversions) {
    // K large enough that the bf16 panel (~4 MiB of fp32) holds fewer rows than N: several panels.
    auto be = make_cpu_backend(2);
    std::mt19937 rng(7);
    const int64_t M = 20, K = 4100, N = 300;  // M > 16: the converted-panel path
    Tensor w = random_of(rng, DType::BF16, {N, K});
    Tensor x = random_f32(rng, {M, K});
    Tensor y = Tensor::cpu(DType::F32, {M, N});
    be->matmul(y, x, w, true, false);
    check_matmul(y, x, w, true, {}, false);
}

TEST(Matmul, Batched3DWithBothWeightLayouts) {
    auto be = make_cpu_backend(2);
    std::mt19937 rng(99);
    const int64_t B = 3, M = 5, K = 24, N = 11;
    for (DType dt : {DType::F32, DType::BF16, DType::F16})
        for (bool trans : {true, false})
            for (int64_t m : {int64_t(1), M}) {
                Tensor w = trans ? random_of(rng, dt, {B, N, K}) : random_of(rng, dt, {B, K, N});
                Tensor x = random_f32(rng, {B, m, K});
                Tensor y = random_f32(rng, {B, m, N});
                const std::vector<float> y0 = snapshot(y);
                be->matmul(y, x, w, trans, true);
                SCOPED_TRACE(std::string(dtype_name(dt)) + (trans ? " [B,N,K]" : " [B,K,N]"));
                check_matmul(y, x, w, trans, y0, true);
            }
}

TEST(Matmul, BatchedDecodeGemvsShareOneParallelRegion) {
    // Per-head decode GEMVs (absorbed MLA: [H, r_kv, d_n]) with > 1 MiB in total: the (batch, row block)
    // items of all batches are split over the threads together. Odd N and K for the kernel tails.
    std::mt19937 rng(17);
    for (int threads : {1, 2}) {
        auto be = make_cpu_backend(threads);
        const int64_t B = 12, N = 203, K = 250;
        Tensor w = random_of(rng, DType::BF16, {B, N, K});
        Tensor x = random_f32(rng, {B, 1, K});
        Tensor y = random_f32(rng, {B, 1, N});
        const std::vector<float> y0 = snapshot(y);
        be->matmul(y, x, w, true, true);
        check_matmul(y, x, w, true, y0, true);
    }
}

TEST(Matmul, SharedWeightOverNonCollapsibleBatch) {
    // x [B, M, K] whose batch stride is not M * row stride (a view of the first M rows of [B, M+2, K]).
    auto be = make_cpu_backend(2);
    std::mt19937 rng(5);
    const int64_t B = 2, M = 3, K = 10, N = 6;
    Tensor xb = random_f32(rng, {B, M + 2, K});
    TensorView x = xb.view();
    x.shape[1] = M;
    Tensor w = random_of(rng, DType::BF16, {N, K});
    Tensor y = Tensor::cpu(DType::F32, {B, M, N});
    be->matmul(y, x, w, true, false);
    check_matmul(y, x, w, true, {}, false);
    Tensor wf = random_f32(rng, {K, N});
    be->matmul(y, x, wf, false, false);
    check_matmul(y, x, wf, false, {}, false);
}

TEST(Matmul, VectorInputAndEmptyInnerDim) {
    auto be = make_cpu_backend(1);
    std::mt19937 rng(11);
    Tensor x = random_f32(rng, {16});
    Tensor w = random_of(rng, DType::BF16, {9, 16});
    Tensor y = Tensor::cpu(DType::F32, {9});
    be->matmul(y, x, w);
    check_matmul(y, x, w, true, {}, false);
    // K == 0: y = 0 (or unchanged when accumulating).
    Tensor x0 = Tensor::cpu(DType::F32, {2, 0});
    Tensor w0 = Tensor::cpu(DType::F32, {3, 0});
    Tensor y0 = random_f32(rng, {2, 3}, 1.0f, 2.0f);
    be->matmul(y0, x0, w0, true, true);
    EXPECT_GE(y0.as<float>()[0], 1.0f);
    be->matmul(y0, x0, w0, true, false);
    for (int i = 0; i < 6; ++i) EXPECT_EQ(y0.as<float>()[i], 0.0f);
}

TEST(Matmul, ValidationNamesOpAndShapes) {
    auto be = make_cpu_backend(1);
    Tensor x = Tensor::cpu(DType::F32, {4, 64});
    Tensor w = Tensor::cpu(DType::F32, {32, 48});
    Tensor y = Tensor::cpu(DType::F32, {4, 32});
    expect_invalid([&] { be->matmul(y, x, w); }, {"matmul: x [4, 64] and w [32, 48]: inner dims differ"});
    Tensor w2 = Tensor::cpu(DType::BF16, {32, 64});
    Tensor ybad = Tensor::cpu(DType::F32, {4, 31});
    expect_invalid([&] { be->matmul(ybad, x, w2); }, {"matmul", "y [4, 31]", "x [4, 64]"});
    Tensor xi = Tensor::cpu(DType::I32, {4, 64});
    expect_invalid([&] { be->matmul(y, xi, w2); }, {"matmul", "x [4, 64]", "I32"});
    Tensor w3 = Tensor::cpu(DType::F32, {2, 32, 64});
    Tensor x3 = Tensor::cpu(DType::F32, {3, 4, 64});
    Tensor y3 = Tensor::cpu(DType::F32, {3, 4, 32});
    expect_invalid([&] { be->matmul(y3, x3, w3); }, {"matmul", "batch dims differ"});
}

}  // namespace
}  // namespace engine::test
