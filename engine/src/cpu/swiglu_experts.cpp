// swiglu_experts.cpp — CpuBackend::swiglu_experts: the decode-time MoE of one token (top-k routed +
// shared experts), fused so that the small expert matrices stream like one large GEMV:
//
//   pass 1  gu = [x·gate_0ᵀ | x·up_0ᵀ | x·gate_1ᵀ | x·up_1ᵀ | ...]     one GEMV over the list of all
//           Σ_j 2·I_j weight rows (each [D]); threads take contiguous row ranges; every step prefetches
//           the next rows, also across matrix boundaries (a 0.3 MB expert is too short for the
//           hardware prefetcher to ramp up).
//   act_j = scale_j · silu(g_j) ⊙ u_j                                     [I_j] each, into `work`
//   pass 2  y[d] = Σ_j down_j[d, :] · act_j                                one GEMV whose rows are the
//           concatenation of the experts' down rows (K = Σ_j I_j); threads take output-row ranges.
//
// All of it runs in one OpenMP region with two barriers, instead of 4 matmul/silu/scatter calls per
// expert. The sum order differs from the unfused composition only by fp32 rounding (the combine weight
// multiplies act_j instead of the expert's output). No AVX2 or mixed dtypes: the Backend default.
#include <omp.h>

#include <algorithm>
#include <cmath>
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

constexpr int kRows = 8;  // weight rows per kernel step (8 accumulators + x fit the 16 ymm registers)

// A run of rows of one weight matrix: row i is w + i·ldw elements, K long.
struct RowRun {
    const void* w = nullptr;
    int64_t ldw = 0;
    int64_t n = 0;
    float* y = nullptr;  // y[i] = row i · x
};

// Pass 1 kernel: y[i] = w_i · x for the rows of `run`; `next` (may be null) is the run this thread
// streams after it, prefetched during the last row group.
template <WKind W>
__attribute__((target("avx2,fma,f16c"))) void dot_rows(const RowRun& run, const RowRun* next, int64_t K,
                                                       const float* x) {
    constexpr int64_t esz = w_size<W>();
    const int64_t k_vec = K / 8 * 8;
    const char* base = static_cast<const char*>(run.w);
    int64_t i = 0;
    for (; i + kRows <= run.n; i += kRows) {
        const char* wr[kRows];
        const char* pf[kRows];
        for (int r = 0; r < kRows; ++r) wr[r] = base + (i + r) * run.ldw * esz;
        for (int r = 0; r < kRows; ++r) {
            if (i + kRows + r < run.n)
                pf[r] = base + (i + kRows + r) * run.ldw * esz;
            else if (next != nullptr && r < next->n)
                pf[r] = static_cast<const char*>(next->w) + r * next->ldw * esz;
            else
                pf[r] = wr[r];
        }
        __m256 acc[kRows];
        for (int r = 0; r < kRows; ++r) acc[r] = _mm256_setzero_ps();
        for (int64_t k = 0; k < k_vec; k += 8) {
            if (((k * esz) & 63) < 8 * esz)
                for (int r = 0; r < kRows; ++r) _mm_prefetch(pf[r] + k * esz, _MM_HINT_T0);
            const __m256 xv = _mm256_loadu_ps(x + k);
            for (int r = 0; r < kRows; ++r) acc[r] = _mm256_fmadd_ps(load8_w<W>(wr[r], k), xv, acc[r]);
        }
        for (int r = 0; r < kRows; ++r) {
            float s = hsum8(acc[r]);
            for (int64_t k = k_vec; k < K; ++k) s += load1_w<W>(wr[r], k) * x[k];
            run.y[i + r] = s;
        }
    }
    for (; i < run.n; ++i) {
        const char* wr = base + i * run.ldw * esz;
        __m256 acc = _mm256_setzero_ps();
        for (int64_t k = 0; k < k_vec; k += 8) acc = _mm256_fmadd_ps(load8_w<W>(wr, k), _mm256_loadu_ps(x + k), acc);
        float s = hsum8(acc);
        for (int64_t k = k_vec; k < K; ++k) s += load1_w<W>(wr, k) * x[k];
        run.y[i] = s;
    }
}

// One expert's down matrix in pass 2: row d is w + d·ldw, K (= I_j) long, multiplied by x (= act_j).
struct Segment {
    const void* w;
    int64_t ldw;
    int64_t K;
    const float* x;
};

// Pass 2 kernel: y[d] = Σ_s seg_s.w[d, :] · seg_s.x for d in [d0, d1).
template <WKind W>
__attribute__((target("avx2,fma,f16c"))) void dot_concat(const Segment* segs, int64_t n_segs, int64_t d0,
                                                         int64_t d1, float* y) {
    constexpr int64_t esz = w_size<W>();
    int64_t d = d0;
    for (; d + kRows <= d1; d += kRows) {
        __m256 acc[kRows];
        float tail[kRows] = {};
        for (int r = 0; r < kRows; ++r) acc[r] = _mm256_setzero_ps();
        const bool pf_ok = d + 2 * kRows <= d1;
        for (int64_t s = 0; s < n_segs; ++s) {
            const Segment& g = segs[s];
            const int64_t k_vec = g.K / 8 * 8;
            const char* wr[kRows];
            for (int r = 0; r < kRows; ++r) wr[r] = static_cast<const char*>(g.w) + (d + r) * g.ldw * esz;
            const int64_t pf_off = pf_ok ? kRows * g.ldw * esz : 0;  // the same rows one step ahead
            for (int64_t k = 0; k < k_vec; k += 8) {
                if (((k * esz) & 63) < 8 * esz)
                    for (int r = 0; r < kRows; ++r) _mm_prefetch(wr[r] + pf_off + k * esz, _MM_HINT_T0);
                const __m256 xv = _mm256_loadu_ps(g.x + k);
                for (int r = 0; r < kRows; ++r) acc[r] = _mm256_fmadd_ps(load8_w<W>(wr[r], k), xv, acc[r]);
            }
            for (int r = 0; r < kRows; ++r)
                for (int64_t k = k_vec; k < g.K; ++k) tail[r] += load1_w<W>(wr[r], k) * g.x[k];
        }
        for (int r = 0; r < kRows; ++r) y[d + r] = hsum8(acc[r]) + tail[r];
    }
    for (; d < d1; ++d) {
        __m256 acc = _mm256_setzero_ps();
        float tail = 0.0f;
        for (int64_t s = 0; s < n_segs; ++s) {
            const Segment& g = segs[s];
            const int64_t k_vec = g.K / 8 * 8;
            const char* wr = static_cast<const char*>(g.w) + d * g.ldw * esz;
            for (int64_t k = 0; k < k_vec; k += 8)
                acc = _mm256_fmadd_ps(load8_w<W>(wr, k), _mm256_loadu_ps(g.x + k), acc);
            for (int64_t k = k_vec; k < g.K; ++k) tail += load1_w<W>(wr, k) * g.x[k];
        }
        y[d] = hsum8(acc) + tail;
    }
}

// AVX-512 versions of the two kernels (16-wide steps; same prefetch pattern).
template <WKind W>
__attribute__((target("avx512f"))) void dot_rows512(const RowRun& run, const RowRun* next, int64_t K,
                                                    const float* x) {
    constexpr int64_t esz = w_size<W>();
    const int64_t k_vec = K / 16 * 16;
    const char* base = static_cast<const char*>(run.w);
    int64_t i = 0;
    for (; i + kRows <= run.n; i += kRows) {
        const char* wr[kRows];
        const char* pf[kRows];
        __m512 acc[kRows];
#pragma GCC unroll 16
        for (int r = 0; r < kRows; ++r) {
            wr[r] = base + (i + r) * run.ldw * esz;
            if (i + kRows + r < run.n)
                pf[r] = base + (i + kRows + r) * run.ldw * esz;
            else if (next != nullptr && r < next->n)
                pf[r] = static_cast<const char*>(next->w) + r * next->ldw * esz;
            else
                pf[r] = wr[r];
            acc[r] = _mm512_setzero_ps();
        }
        for (int64_t k = 0; k < k_vec; k += 16) {
            if (((k * esz) & 63) < 16 * esz) {
#pragma GCC unroll 16
                for (int r = 0; r < kRows; ++r) _mm_prefetch(pf[r] + k * esz, _MM_HINT_T0);
            }
            const __m512 xv = _mm512_loadu_ps(x + k);
#pragma GCC unroll 16
            for (int r = 0; r < kRows; ++r) acc[r] = _mm512_fmadd_ps(load16_w<W>(wr[r], k), xv, acc[r]);
        }
#pragma GCC unroll 16
        for (int r = 0; r < kRows; ++r) {
            float s = hsum16(acc[r]);
            for (int64_t k = k_vec; k < K; ++k) s += load1_w<W>(wr[r], k) * x[k];
            run.y[i + r] = s;
        }
    }
    for (; i < run.n; ++i) {
        const char* wr = base + i * run.ldw * esz;
        __m512 acc = _mm512_setzero_ps();
        for (int64_t k = 0; k < k_vec; k += 16) acc = _mm512_fmadd_ps(load16_w<W>(wr, k), _mm512_loadu_ps(x + k), acc);
        float s = hsum16(acc);
        for (int64_t k = k_vec; k < K; ++k) s += load1_w<W>(wr, k) * x[k];
        run.y[i] = s;
    }
}

template <WKind W>
__attribute__((target("avx512f"))) void dot_concat512(const Segment* segs, int64_t n_segs, int64_t d0, int64_t d1,
                                                      float* y) {
    constexpr int64_t esz = w_size<W>();
    int64_t d = d0;
    for (; d + kRows <= d1; d += kRows) {
        __m512 acc[kRows];
        float tail[kRows] = {};
#pragma GCC unroll 16
        for (int r = 0; r < kRows; ++r) acc[r] = _mm512_setzero_ps();
        const bool pf_ok = d + 2 * kRows <= d1;
        for (int64_t s = 0; s < n_segs; ++s) {
            const Segment& g = segs[s];
            const int64_t k_vec = g.K / 16 * 16;
            const char* wr[kRows];
#pragma GCC unroll 16
            for (int r = 0; r < kRows; ++r) wr[r] = static_cast<const char*>(g.w) + (d + r) * g.ldw * esz;
            const int64_t pf_off = pf_ok ? kRows * g.ldw * esz : 0;
            for (int64_t k = 0; k < k_vec; k += 16) {
                if (((k * esz) & 63) < 16 * esz) {
#pragma GCC unroll 16
                    for (int r = 0; r < kRows; ++r) _mm_prefetch(wr[r] + pf_off + k * esz, _MM_HINT_T0);
                }
                const __m512 xv = _mm512_loadu_ps(g.x + k);
#pragma GCC unroll 16
                for (int r = 0; r < kRows; ++r) acc[r] = _mm512_fmadd_ps(load16_w<W>(wr[r], k), xv, acc[r]);
            }
            for (int r = 0; r < kRows; ++r)
                for (int64_t k = k_vec; k < g.K; ++k) tail[r] += load1_w<W>(wr[r], k) * g.x[k];
        }
#pragma GCC unroll 16
        for (int r = 0; r < kRows; ++r) y[d + r] = hsum16(acc[r]) + tail[r];
    }
    for (; d < d1; ++d) {
        __m512 acc = _mm512_setzero_ps();
        float tail = 0.0f;
        for (int64_t s = 0; s < n_segs; ++s) {
            const Segment& g = segs[s];
            const int64_t k_vec = g.K / 16 * 16;
            const char* wr = static_cast<const char*>(g.w) + d * g.ldw * esz;
            for (int64_t k = 0; k < k_vec; k += 16)
                acc = _mm512_fmadd_ps(load16_w<W>(wr, k), _mm512_loadu_ps(g.x + k), acc);
            for (int64_t k = k_vec; k < g.K; ++k) tail += load1_w<W>(wr, k) * g.x[k];
        }
        y[d] = hsum16(acc) + tail;
    }
}

// The [lo, hi) share of n items for thread t of nt, in multiples of `align` (the last takes the rest).
void share(int64_t n, int t, int nt, int64_t align, int64_t* lo, int64_t* hi) {
    const int64_t per = (n / nt + align - 1) / align * align;
    *lo = std::min(n, per * t);
    *hi = t + 1 == nt ? n : std::min(n, per * (t + 1));
}

template <WKind W, bool A512>
void run_fused(const TensorView& y, const TensorView& x, const SwigluExpert* experts, int64_t n, float* gu,
               float* act, int threads) {
    const auto rows = [](const RowRun& run, const RowRun* next, int64_t K, const float* xv) {
        if constexpr (A512)
            dot_rows512<W>(run, next, K, xv);
        else
            dot_rows<W>(run, next, K, xv);
    };
    const int64_t D = x.cols();
    // Pass 1 rows: gate_0, up_0, gate_1, up_1, ... ; output gu in the same order. Pass 2 segments.
    std::vector<RowRun> runs(static_cast<size_t>(2 * n));
    std::vector<Segment> segs(static_cast<size_t>(n));
    std::vector<int64_t> act_off(static_cast<size_t>(n) + 1, 0);  // act_j = act + act_off[j]; gu_j = gu + 2·act_off[j]
    int64_t rows_total = 0, bytes = 0;
    for (int64_t j = 0; j < n; ++j) {
        const SwigluExpert& e = experts[j];
        const int64_t I = e.gate.dim(0);
        act_off[size_t(j) + 1] = act_off[size_t(j)] + I;
        float* g = gu + 2 * act_off[size_t(j)];
        runs[size_t(2 * j)] = {e.gate.data, e.gate.row_stride(), I, g};
        runs[size_t(2 * j + 1)] = {e.up.data, e.up.row_stride(), I, g + I};
        segs[size_t(j)] = {e.down.data, e.down.row_stride(), I, act + act_off[size_t(j)]};
        rows_total += 2 * I;
        bytes += 3 * I * D * int64_t(dtype_size(e.gate.dtype));
    }
    const int64_t act_total = act_off[size_t(n)];
    const float* xp = x.as<float>();
    float* yp = y.as<float>();
    // One fork for the whole MoE; below ~0.5 MB of weights one thread is faster than the join.
    const int nt = bytes >= (int64_t(1) << 19) ? threads : 1;
    // The body of one thread t of `got`; its barriers are no-ops when called outside a parallel region.
    const auto body = [&](int t, int got) {
        // Pass 1: this thread's flat rows [lo, hi), as pieces of runs.
        int64_t lo, hi;
        share(rows_total, t, got, kRows, &lo, &hi);
        RowRun mine[2];
        int have = 0;
        int64_t at = 0;
        for (size_t r = 0; r < runs.size() && at < hi; ++r) {
            const RowRun& run = runs[r];
            const int64_t b = std::max(lo, at), e = std::min(hi, at + run.n);
            if (b < e) {
                RowRun piece{static_cast<const char*>(run.w) + (b - at) * run.ldw * w_size<W>(), run.ldw, e - b,
                             run.y + (b - at)};
                if (have == 2) {  // stream the previous piece with this one as its prefetch target
                    rows(mine[0], &mine[1], D, xp);
                    mine[0] = mine[1];
                    have = 1;
                }
                mine[have++] = piece;
            }
            at += run.n;
        }
        if (have == 2) rows(mine[0], &mine[1], D, xp);
        if (have >= 1) rows(mine[have - 1], nullptr, D, xp);
#pragma omp barrier
        // act_j = scale_j · silu(g_j) ⊙ u_j, split over threads by element.
        share(act_total, t, got, 16, &lo, &hi);
        for (int64_t j = 0; j < n && lo < hi; ++j) {
            const int64_t b = std::max(lo, act_off[size_t(j)]), e = std::min(hi, act_off[size_t(j) + 1]);
            const float* g = gu + 2 * act_off[size_t(j)] - act_off[size_t(j)];  // g[i] for act index i
            const int64_t I = act_off[size_t(j) + 1] - act_off[size_t(j)];
            const float s = experts[j].scale;
            for (int64_t i = b; i < e; ++i) {
                const float gv = g[i], uv = g[i + I];
                act[i] = s * (gv / (1.0f + std::exp(-gv)) * uv);
            }
        }
#pragma omp barrier
        // Pass 2: output rows [lo, hi).
        share(D, t, got, kRows, &lo, &hi);
        if (lo < hi) {
            if constexpr (A512)
                dot_concat512<W>(segs.data(), n, lo, hi, yp);
            else
                dot_concat<W>(segs.data(), n, lo, hi, yp);
        }
    };
    if (nt == 1) {
        body(0, 1);  // no OpenMP region (a fork of one thread still costs a runtime call)
        return;
    }
#pragma omp parallel num_threads(nt)
    body(omp_get_thread_num(), omp_get_num_threads());  // the runtime may give fewer threads
}

}  // namespace

void CpuBackend::swiglu_experts(const TensorView& y, const TensorView& x, const SwigluExpert* experts, int64_t n,
                                const TensorView& work) {
    const char* op = "swiglu_experts";
    check_view(op, "y", y);
    check_view(op, "x", x);
    check_view(op, "work", work);
    check_dtype(op, "y", y, DType::F32);
    check_dtype(op, "x", x, DType::F32);
    check_dtype(op, "work", work, DType::F32);
    ENGINE_CHECK(n >= 0 && (n == 0 || experts != nullptr), kInvalidArgument, op, ": ", n, " experts");
    ENGINE_CHECK(x.rows() == 1 && x.is_contiguous(), kInvalidArgument, op, ": x ", x.shape_str(),
                 " must be one contiguous row [1, D]");
    const int64_t D = x.cols();
    ENGINE_CHECK(y.rows() == 1 && y.cols() == D && y.is_contiguous(), kInvalidArgument, op, ": y ", y.shape_str(),
                 " must be [1, ", D, "] like x ", x.shape_str());
    int64_t sum_i = 0;
    bool same_dtype = true;
    for (int64_t j = 0; j < n; ++j) {
        const SwigluExpert& e = experts[j];
        check_view(op, "experts[j].gate", e.gate);
        check_view(op, "experts[j].up", e.up);
        check_view(op, "experts[j].down", e.down);
        check_float_dtype(op, "experts[j].gate", e.gate);
        check_float_dtype(op, "experts[j].up", e.up);
        check_float_dtype(op, "experts[j].down", e.down);
        const int64_t I = e.gate.ndim == 2 ? e.gate.shape[0] : -1;
        const bool ok = e.gate.ndim == 2 && e.up.ndim == 2 && e.down.ndim == 2 && e.gate.shape[1] == D &&
                        e.up.shape[0] == I && e.up.shape[1] == D && e.down.shape[0] == D && e.down.shape[1] == I;
        ENGINE_CHECK(ok, kInvalidArgument, op, ": expert ", j, ": gate ", e.gate.shape_str(), ", up ",
                     e.up.shape_str(), ", down ", e.down.shape_str(), " do not fit x ", x.shape_str(),
                     " (expected [I, ", D, "], [I, ", D, "], [", D, ", I])");
        ENGINE_CHECK(std::isfinite(e.scale), kInvalidArgument, op, ": expert ", j, " has scale ", e.scale);
        same_dtype = same_dtype && e.gate.dtype == experts[0].gate.dtype && e.up.dtype == e.gate.dtype &&
                     e.down.dtype == e.gate.dtype;
        sum_i += I;
    }
    ENGINE_CHECK(work.is_contiguous() && work.numel() >= 3 * sum_i + D, kInvalidArgument, op, ": work ",
                 work.shape_str(), " holds fewer than 3·", sum_i, " + ", D, " F32 elements");
    if (n == 0 || D == 0) {
        fill(y, 0.0f);
        return;
    }
    if (!(has_avx2_fma() && has_f16c()) || !same_dtype) {
        Backend::swiglu_experts(y, x, experts, n, work);
        return;
    }
    float* gu = work.as<float>();     // [Σ 2·I_j]
    float* act = gu + 2 * sum_i;      // [Σ I_j]
    const bool a512 = has_avx512f();
    switch (experts[0].gate.dtype) {
        case DType::BF16:
            (a512 ? run_fused<WKind::kBF16, true> : run_fused<WKind::kBF16, false>)(y, x, experts, n, gu, act, threads_);
            break;
        case DType::F16:
            (a512 ? run_fused<WKind::kF16, true> : run_fused<WKind::kF16, false>)(y, x, experts, n, gu, act, threads_);
            break;
        default:
            (a512 ? run_fused<WKind::kF32, true> : run_fused<WKind::kF32, false>)(y, x, experts, n, gu, act, threads_);
            break;
    }
}

}  // namespace engine
