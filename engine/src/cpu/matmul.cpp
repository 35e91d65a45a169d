// matmul.cpp — y[.., M, N] = x[.., M, K] · w[.., N, K]ᵀ (w_transposed) or x · w[.., K, N], optionally
// accumulating, optionally batched over a leading dim (3-D views).
//
// Paths, picked per 2-D problem:
//   * F32 weights otherwise: cblas_sgemm straight on the strided views (lda/ldb/ldc carry the row strides),
//     split by output columns over OpenMP threads (gemm_chunked).
//   * w_transposed, M <= kGemvMaxRows (decode), any weight dtype: a multithreaded GEMV that converts
//     F16/BF16 weights to fp32 in registers (AVX2/FMA/F16C when the CPU has them, scalar otherwise).
//     It is memory-bound: each weight byte is read once (OpenBLAS sgemm with M = 1 reached ~1/4 of it).
//   * w stored [K, N] (not transposed), M <= kGemvKnMaxRows: a row-streaming GEMV (gemv_kn).
//   * F16/BF16 weights otherwise (prefill, training): each thread converts slabs of <= kPanelBytes of
//     the weight to an fp32 scratch and multiplies them with a single-threaded cblas_sgemm (see
//     gemm_chunked). Debian's OpenBLAS 0.3.21 has no sbgemm/shgemm, hence the conversion.
// Weights are never converted in place.
#include <cblas.h>
#include <immintrin.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "cpu/cpu_backend.h"
#include "cpu/cpu_common.h"
#include "cpu/simd_load.h"

// GCC 12 flags its own AVX-512 intrinsics (_mm512_cvtepu16_epi32, _mm512_reduce_add_ps use an
// "undefined" register) as maybe-uninitialized: a false positive (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace engine {

using namespace cpu;

namespace {

constexpr int64_t kGemvMaxRows = 16;
constexpr int64_t kGemvKnMaxRows = 8;
constexpr int64_t kPanelBytes = int64_t(1) << 21;  // fp32 scratch per thread for a weight slab

// One 2-D problem: y[M, N] (+)= x[M, K] · op(w).
struct Gemm {
    float* y;
    int64_t ldy;
    const float* x;
    int64_t ldx;
    const void* w;
    int64_t ldw;  // elements between consecutive rows of w as stored
    DType wdt;
    int64_t M, N, K;
    bool trans;  // w stored [N, K]
    bool acc;
};

void sgemm_f32(const Gemm& g, const float* w, int64_t ldw, int64_t n_cols, float* y) {
    // Row-major: C[M, n] = A[M, K] · B, B = wᵀ ([n, K] stored) or w ([K, n] stored).
    cblas_sgemm(CblasRowMajor, CblasNoTrans, g.trans ? CblasTrans : CblasNoTrans, int(g.M), int(n_cols), int(g.K),
                1.0f, g.x, int(g.ldx), w, int(ldw), g.acc ? 1.0f : 0.0f, y, int(g.ldy));
}

// ---------------- GEMV for weights stored [N, K] (decode) ----------------

// Output rows [n0, n1) for M (compile-time) activation rows: R weight rows at a time share each load
// of x, U 8-wide steps per iteration; R·M·U accumulators stay in registers.
template <int M, int R, int U, WKind W>
__attribute__((target("avx2,fma,f16c"))) void gemv_avx2(const Gemm& g, int64_t n0, int64_t n1) {
    const int64_t K = g.K;
    const int64_t step = 8 * U;
    const int64_t k_main = K / step * step;
    const int64_t k_vec = K / 8 * 8;
    const size_t esz = W == WKind::kF32 ? 4 : 2;
    int64_t n = n0;
    for (; n + R <= n1; n += R) {
        const void* wr[R];
        #pragma GCC unroll 16
        for (int r = 0; r < R; ++r) wr[r] = static_cast<const char*>(g.w) + size_t((n + r) * g.ldw) * esz;  // [K]
        __m256 acc[R][M][U];
        #pragma GCC unroll 16
        for (int r = 0; r < R; ++r)
            #pragma GCC unroll 16
            for (int m = 0; m < M; ++m)
                #pragma GCC unroll 16
                for (int u = 0; u < U; ++u) acc[r][m][u] = _mm256_setzero_ps();
        // Prefetch the next R rows at the same offset: decode weights are often small matrices (a
        // 0.3 MB expert) in 4 KB pages, where the hardware prefetcher, stopping at page boundaries,
        // ramps up too late. Past n1 too: the next block is usually this thread's next work item.
        const char* pf[R];
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r)
            pf[r] = static_cast<const char*>(wr[r]) + (n + 2 * R <= g.N ? size_t(R * g.ldw) * esz : 0);
        int64_t k = 0;
        for (; k < k_main; k += step) {
            if (((k * int64_t(esz)) & 63) < step * int64_t(esz)) {
#pragma GCC unroll 16
                for (int r = 0; r < R; ++r) _mm_prefetch(pf[r] + k * int64_t(esz), _MM_HINT_T0);
            }
            __m256 xv[M][U];
            #pragma GCC unroll 16
            for (int m = 0; m < M; ++m)
                #pragma GCC unroll 16
                for (int u = 0; u < U; ++u) xv[m][u] = _mm256_loadu_ps(g.x + m * g.ldx + k + 8 * u);
            #pragma GCC unroll 16
            for (int r = 0; r < R; ++r)
                #pragma GCC unroll 16
                for (int u = 0; u < U; ++u) {
                    const __m256 wv = load8_w<W>(wr[r], k + 8 * u);
                    #pragma GCC unroll 16
                    for (int m = 0; m < M; ++m) acc[r][m][u] = _mm256_fmadd_ps(wv, xv[m][u], acc[r][m][u]);
                }
        }
        for (; k < k_vec; k += 8)
            #pragma GCC unroll 16
            for (int r = 0; r < R; ++r) {
                const __m256 wv = load8_w<W>(wr[r], k);
                #pragma GCC unroll 16
                for (int m = 0; m < M; ++m)
                    acc[r][m][0] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(g.x + m * g.ldx + k), acc[r][m][0]);
            }
        #pragma GCC unroll 16
        for (int r = 0; r < R; ++r)
            #pragma GCC unroll 16
            for (int m = 0; m < M; ++m) {
                #pragma GCC unroll 16
                for (int u = 1; u < U; ++u) acc[r][m][0] = _mm256_add_ps(acc[r][m][0], acc[r][m][u]);
                float s = hsum8(acc[r][m][0]);
                for (int64_t kk = k_vec; kk < K; ++kk) s += load1_w<W>(wr[r], kk) * g.x[m * g.ldx + kk];
                float* out = g.y + m * g.ldy + n + r;
                *out = g.acc ? *out + s : s;
            }
    }
    if (n < n1) {
        if constexpr (R > 1) gemv_avx2<M, 1, U, W>(g, n, n1);
    }
}

// M = 1 with AVX-512: R rows of 16-wide steps, prefetching the next R rows (as gemv_avx2).
template <int R, WKind W>
__attribute__((target("avx512f"))) void gemv_avx512_m1(const Gemm& g, int64_t n0, int64_t n1) {
    const int64_t K = g.K, k_vec = K / 16 * 16;
    constexpr int64_t esz = w_size<W>();
    int64_t n = n0;
    for (; n + R <= n1; n += R) {
        const char* wr[R];
        const char* pf[R];
        __m512 acc[R];
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            wr[r] = static_cast<const char*>(g.w) + (n + r) * g.ldw * esz;  // [K]
            pf[r] = wr[r] + (n + 2 * R <= g.N ? R * g.ldw * esz : 0);
            acc[r] = _mm512_setzero_ps();
        }
        for (int64_t k = 0; k < k_vec; k += 16) {
            if (((k * esz) & 63) < 16 * esz) {
#pragma GCC unroll 16
                for (int r = 0; r < R; ++r) _mm_prefetch(pf[r] + k * esz, _MM_HINT_T0);
            }
            const __m512 xv = _mm512_loadu_ps(g.x + k);
#pragma GCC unroll 16
            for (int r = 0; r < R; ++r) acc[r] = _mm512_fmadd_ps(load16_w<W>(wr[r], k), xv, acc[r]);
        }
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            float s = hsum16(acc[r]);
            for (int64_t k = k_vec; k < K; ++k) s += load1_w<W>(wr[r], k) * g.x[k];
            float* out = g.y + n + r;
            *out = g.acc ? *out + s : s;
        }
    }
    if (n < n1) {
        if constexpr (R > 1) gemv_avx512_m1<1, W>(g, n, n1);
    }
}

// Any M: activation rows in groups of <= 3 against R weight rows at a time (8 rows for M = 1, 6 for
// M = 2, 4 for M = 3: R·M accumulators fit the 16 ymm registers). Measured on the dev machine: more
// concurrent weight rows stream faster (bf16 M = 1: 17 GB/s with 4 rows, 22-24 GB/s with 8, against a
// 25 GB/s single-core probe). The first group streams a block of weight rows from memory; later groups
// re-read it from L2 (the caller keeps blocks ~256 KiB).
template <WKind W>
void gemv_avx2_rows(const Gemm& g, int64_t n0, int64_t n1, bool avx512) {
    if (g.M == 1 && avx512) {
        gemv_avx512_m1<8, W>(g, n0, n1);
        return;
    }
    for (int64_t m0 = 0; m0 < g.M; m0 += 3) {
        Gemm part = g;
        part.x = g.x + m0 * g.ldx;
        part.y = g.y + m0 * g.ldy;
        part.M = std::min<int64_t>(3, g.M - m0);
        switch (part.M) {
            case 1: gemv_avx2<1, 8, 1, W>(part, n0, n1); break;
            case 2: gemv_avx2<2, 6, 1, W>(part, n0, n1); break;
            default: gemv_avx2<3, 4, 1, W>(part, n0, n1); break;
        }
    }
}

// Portable fallback: convert one weight row, then M dot products.
void gemv_scalar(const Gemm& g, int64_t n0, int64_t n1, float* row) {
    const size_t esz = dtype_size(g.wdt);
    for (int64_t n = n0; n < n1; ++n) {
        to_f32(row, static_cast<const char*>(g.w) + size_t(n * g.ldw) * esz, g.wdt, g.K);
        for (int64_t m = 0; m < g.M; ++m) {
            const float* xr = g.x + m * g.ldx;
            float s = 0.0f;
            for (int64_t k = 0; k < g.K; ++k) s += row[k] * xr[k];
            float* out = g.y + m * g.ldy + n;
            *out = g.acc ? *out + s : s;
        }
    }
}

// Several GEMV problems of one shape and dtype (a batched matmul, e.g. the per-head absorbed MLA
// decode products: 12-128 weights of ~32 KB each) in ONE parallel region over all (problem, row block)
// items, instead of a fork/join per problem.
void gemv(const Gemm* gs, int64_t n_gemms, int threads) {
    const Gemm& g0 = gs[0];
    const bool avx2 = has_avx2_fma() && has_f16c(), avx512 = avx2 && has_avx512f();
    // Output rows per work item: a multiple of 24 (= 8, 6, 4 rows per kernel step) whose weights
    // (~256 KiB) stay in L2 across activation-row groups.
    const int64_t block = std::clamp<int64_t>((int64_t(256) << 10) / std::max<int64_t>(1, g0.K * int64_t(dtype_size(g0.wdt))) / 24 * 24, 24, 72);
    const int64_t n_blocks = (g0.N + block - 1) / block;
    const int64_t items = n_blocks * n_gemms;
    // Small GEMVs (e.g. one decode-time expert, ~0.3 MB) run on one thread: a fork/join costs more
    // than it saves, and far more when the cores are shared.
    const bool parallel = threads > 1 && n_gemms * g0.N * g0.K * int64_t(dtype_size(g0.wdt)) >= (int64_t(1) << 20) &&
                          items > 1;
    const auto run = [&](int64_t it0, int64_t it1, float* row) {
        for (int64_t it = it0; it < it1; ++it) {
            const Gemm& g = gs[it / n_blocks];
            const int64_t b = it % n_blocks;
            const int64_t n0 = b * block, n1 = std::min(g.N, n0 + block);
            if (!avx2)
                gemv_scalar(g, n0, n1, row);
            else if (g.wdt == DType::F16)
                gemv_avx2_rows<WKind::kF16>(g, n0, n1, avx512);
            else if (g.wdt == DType::BF16)
                gemv_avx2_rows<WKind::kBF16>(g, n0, n1, avx512);
            else
                gemv_avx2_rows<WKind::kF32>(g, n0, n1, avx512);
        }
    };
    if (!parallel) {  // no OpenMP region at all: decode makes ~100 of these calls per token
        std::unique_ptr<float[]> row(avx2 ? nullptr : new float[size_t(g0.K)]);
        run(0, items, row.get());
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        std::unique_ptr<float[]> row(avx2 ? nullptr : new float[size_t(g0.K)]);
#pragma omp for schedule(static)
        for (int64_t it = 0; it < items; ++it) run(it, it + 1, row.get());
    }
}

// ---------------- GEMV for weights stored [K, N] (decode through a non-transposed weight) ----------------
//
// y[m, n0:n1] (+)= Σ_k x[m, k] · w[k, n0:n1]: each weight row segment is loaded (and converted) once and
// multiplied into the M accumulator rows, which stay in L1 (M · kKnChunk floats). Used e.g. by the
// absorbed MLA decode (q_nope · W_UK per head), where converting the weight to an fp32 scratch for
// sgemm tripled the memory traffic.
constexpr int64_t kKnChunk = 256;  // output columns per work item

template <WKind W>
__attribute__((target("avx2,fma,f16c"))) void gemv_kn_avx2(const Gemm& g, int64_t n0, int64_t n1, float* acc) {
    const int64_t nc = n1 - n0, nv = nc / 8 * 8;
    const size_t esz = W == WKind::kF32 ? 4 : 2;
    for (int64_t i = 0; i < g.M * nc; ++i) acc[i] = 0.0f;
    for (int64_t k = 0; k < g.K; ++k) {
        const void* wr = static_cast<const char*>(g.w) + size_t(k * g.ldw + n0) * esz;  // [nc]
        for (int64_t j = 0; j < nv; j += 8) {
            const __m256 wv = load8_w<W>(wr, j);
            for (int64_t m = 0; m < g.M; ++m) {
                float* a = acc + m * nc + j;
                _mm256_storeu_ps(a, _mm256_fmadd_ps(_mm256_set1_ps(g.x[m * g.ldx + k]), wv, _mm256_loadu_ps(a)));
            }
        }
        for (int64_t j = nv; j < nc; ++j) {
            const float wv = load1_w<W>(wr, j);
            for (int64_t m = 0; m < g.M; ++m) acc[m * nc + j] += g.x[m * g.ldx + k] * wv;
        }
    }
}

void gemv_kn_scalar(const Gemm& g, int64_t n0, int64_t n1, float* acc, float* row) {
    const int64_t nc = n1 - n0;
    const size_t esz = dtype_size(g.wdt);
    for (int64_t i = 0; i < g.M * nc; ++i) acc[i] = 0.0f;
    for (int64_t k = 0; k < g.K; ++k) {
        to_f32(row, static_cast<const char*>(g.w) + size_t(k * g.ldw + n0) * esz, g.wdt, nc);
        for (int64_t m = 0; m < g.M; ++m) {
            const float xv = g.x[m * g.ldx + k];
            for (int64_t j = 0; j < nc; ++j) acc[m * nc + j] += xv * row[j];
        }
    }
}

void gemv_kn(const Gemm& g, int threads) {
    const bool avx2 = has_avx2_fma() && has_f16c();
    const int64_t n_chunks = (g.N + kKnChunk - 1) / kKnChunk;
    const bool parallel = g.N * g.K * int64_t(dtype_size(g.wdt)) >= (int64_t(1) << 20) && n_chunks > 1;
#pragma omp parallel num_threads(threads) if (parallel)
    {
        std::vector<float> acc(size_t(g.M * kKnChunk));    // [M, chunk]
        std::vector<float> row(avx2 ? 0 : size_t(kKnChunk));
#pragma omp for schedule(static)
        for (int64_t c = 0; c < n_chunks; ++c) {
            const int64_t n0 = c * kKnChunk, n1 = std::min(g.N, n0 + kKnChunk), nc = n1 - n0;
            if (!avx2)
                gemv_kn_scalar(g, n0, n1, acc.data(), row.data());
            else if (g.wdt == DType::F16)
                gemv_kn_avx2<WKind::kF16>(g, n0, n1, acc.data());
            else if (g.wdt == DType::BF16)
                gemv_kn_avx2<WKind::kBF16>(g, n0, n1, acc.data());
            else
                gemv_kn_avx2<WKind::kF32>(g, n0, n1, acc.data());
            for (int64_t m = 0; m < g.M; ++m) {
                float* out = g.y + m * g.ldy + n0;
                const float* a = acc.data() + m * nc;
                if (g.acc)
                    for (int64_t j = 0; j < nc; ++j) out[j] += a[j];
                else
                    for (int64_t j = 0; j < nc; ++j) out[j] = a[j];
            }
        }
    }
}

// ---------------- GEMM: output-column chunks, one single-threaded sgemm each ----------------
//
// OpenMP owns the cores: each thread takes chunks of P output columns (dynamic schedule, so a busy
// core does not hold up the rest), converts that slab of a F16/BF16 weight to fp32 in its own scratch
// if needed, and calls OpenBLAS single-threaded. Alternating OpenMP regions with OpenBLAS's own thread
// pool made both pools spin against each other (measured: 5-10x slower on a loaded 2-core machine).
void gemm_chunked(const Gemm& g, int threads) {
    const bool half = g.wdt != DType::F32;
    const double flops = 2.0 * double(g.M) * double(g.N) * double(g.K);
    const int nt = flops < 4e6 ? 1 : threads;
    int64_t P = (g.N + 4 * nt - 1) / (4 * nt);
    P = (P + 15) / 16 * 16;
    if (half) P = std::min(P, std::max<int64_t>(64, kPanelBytes / (4 * g.K) / 16 * 16));
    if (nt == 1 && !half) P = g.N;
    P = std::clamp<int64_t>(P, 1, g.N);
    const int64_t n_chunks = (g.N + P - 1) / P;
    const size_t esz = dtype_size(g.wdt);
    blas_single_thread();
#pragma omp parallel num_threads(nt) if (nt > 1 && n_chunks > 1)
    {
        std::vector<float> scratch(half ? size_t(P * g.K) : 0);  // [P, K] (w [N, K]) or [K, P] (w [K, N])
#pragma omp for schedule(dynamic)
        for (int64_t c = 0; c < n_chunks; ++c) {
            const int64_t n0 = c * P, np = std::min(P, g.N - n0);
            const float* wp;
            int64_t ldw;
            if (!half) {
                wp = static_cast<const float*>(g.w) + (g.trans ? n0 * g.ldw : n0);
                ldw = g.ldw;
            } else if (g.trans) {
                for (int64_t r = 0; r < np; ++r)
                    to_f32(scratch.data() + r * g.K, static_cast<const char*>(g.w) + size_t((n0 + r) * g.ldw) * esz,
                           g.wdt, g.K);
                wp = scratch.data();
                ldw = g.K;
            } else {
                for (int64_t k = 0; k < g.K; ++k)
                    to_f32(scratch.data() + k * np, static_cast<const char*>(g.w) + size_t(k * g.ldw + n0) * esz,
                           g.wdt, np);
                wp = scratch.data();
                ldw = np;
            }
            sgemm_f32(g, wp, ldw, np, g.y + n0);
        }
    }
}

// Element offset of batch b (dims 0 .. ndim-3 flattened) of a view with >= 2 dims.
int64_t batch_offset(const TensorView& v, int64_t b) {
    int64_t off = 0;
    for (int d = v.ndim - 3; d >= 0; --d) {
        off += (b % v.shape[d]) * v.stride[d];
        b /= v.shape[d];
    }
    return off;
}

}  // namespace

void CpuBackend::matmul(const TensorView& y, const TensorView& x, const TensorView& w, bool w_transposed,
                        bool accumulate) {
    matmul_threads(y, x, w, w_transposed, accumulate, threads_);
}

void CpuBackend::matmul_threads(const TensorView& y, const TensorView& x, const TensorView& w, bool w_transposed,
                                bool accumulate, int threads) {
    const char* op = "matmul";
    check_view(op, "y", y);
    check_view(op, "x", x);
    check_view(op, "w", w);
    check_dtype(op, "y", y, DType::F32);
    check_dtype(op, "x", x, DType::F32);
    check_float_dtype(op, "w", w);
    check_ndim(op, "w", w, 2, 3);
    check_ndim(op, "x", x, w.ndim == 3 ? 3 : 1, w.ndim == 3 ? 3 : kMaxDims);
    ENGINE_CHECK(y.ndim == x.ndim, kInvalidArgument, op, ": y ", y.shape_str(), " and x ", x.shape_str(),
                 ": ranks differ");
    const int64_t K = x.cols();
    const int64_t wK = w_transposed ? w.shape[w.ndim - 1] : w.shape[w.ndim - 2];
    const int64_t N = w_transposed ? w.shape[w.ndim - 2] : w.shape[w.ndim - 1];
    ENGINE_CHECK(K == wK, kInvalidArgument, op, ": x ", x.shape_str(), " and w ", w.shape_str(),
                 ": inner dims differ (", K, " vs ", wK, w_transposed ? ", w is [N, K]" : ", w is [K, N]", ")");
    bool y_ok = y.cols() == N;
    for (int d = 0; d + 1 < x.ndim; ++d) y_ok = y_ok && y.shape[d] == x.shape[d];
    ENGINE_CHECK(y_ok, kInvalidArgument, op, ": y ", y.shape_str(), " does not match x ", x.shape_str(), " · w ",
                 w.shape_str(), (w_transposed ? "ᵀ" : ""), ": expected the rows of x and ", N, " columns");
    if (w.ndim == 3)
        ENGINE_CHECK(w.shape[0] == x.shape[0], kInvalidArgument, op, ": x ", x.shape_str(), " and w ", w.shape_str(),
                     ": batch dims differ");
    // BLAS needs non-overlapping rows (leading dim >= row length).
    const int64_t wr_len = w.cols();
    ENGINE_CHECK(w.shape[w.ndim - 2] <= 1 || w.stride[w.ndim - 2] >= wr_len, kInvalidArgument, op, ": w ",
                 w.shape_str(), " has row stride ", w.stride[w.ndim - 2], " < its row length");

    // Split into 2-D problems: either the rows of x collapse into one matrix, or one problem per batch.
    const bool w_batched = w.ndim == 3;
    int64_t ldx = 0, ldy = 0;
    const bool collapse = !w_batched && rows_uniform(x, &ldx) && rows_uniform(y, &ldy);
    const int64_t M = collapse ? rows_of(x) : (x.ndim >= 2 ? x.shape[x.ndim - 2] : 1);
    const int64_t batches = collapse ? 1 : rows_of(x) / std::max<int64_t>(M, 1);
    if (M == 0 || N == 0 || batches == 0) return;
    if (!collapse) {
        ldx = x.ndim >= 2 ? x.stride[x.ndim - 2] : K;
        ldy = y.ndim >= 2 ? y.stride[y.ndim - 2] : N;
    }
    if (M == 1) ldx = std::max<int64_t>(ldx, K), ldy = std::max<int64_t>(ldy, N);
    ENGINE_CHECK(M <= 1 || (ldx >= K && ldy >= N), kInvalidArgument, op, ": x ", x.shape_str(), " or y ",
                 y.shape_str(), " has overlapping rows (row strides ", ldx, ", ", ldy, ")");
    if (K == 0) {
        if (!accumulate) fill(y, 0.0f);
        return;
    }
    const int64_t ldw = std::max<int64_t>(w.stride[w.ndim - 2], wr_len);
    const size_t wsz = dtype_size(w.dtype);

    std::vector<Gemm> gs(static_cast<size_t>(batches));
    for (int64_t b = 0; b < batches; ++b) {
        Gemm& g = gs[size_t(b)];
        g.y = y.as<float>() + (collapse ? 0 : batch_offset(y, b));
        g.ldy = ldy;
        g.x = x.as<float>() + (collapse ? 0 : batch_offset(x, b));
        g.ldx = ldx;
        g.w = static_cast<const char*>(w.data) + (w_batched ? size_t(b * w.stride[0]) * wsz : 0);
        g.ldw = ldw;
        g.wdt = w.dtype;
        g.M = M;
        g.N = N;
        g.K = K;
        g.trans = w_transposed;
        g.acc = accumulate;
    }
    if (w_transposed && M <= kGemvMaxRows) {
        gemv(gs.data(), batches, threads);
        return;
    }
    for (const Gemm& g : gs) {
        if (!w_transposed && M <= kGemvKnMaxRows)
            gemv_kn(g, threads);
        else
            gemm_chunked(g, threads);
    }
}

}  // namespace engine
