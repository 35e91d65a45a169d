// attention_flash_backward.cu — flash-style backward of causal attention (dq, dk, dv) for the shapes of
// the flash forward (T ≥ 5, Dk ≤ 256, Dv ≤ 256, Hk == H or 1); no [T, H, S] workspace.
//
// With P = softmax(scale·q·kᵀ) over the keys each query sees, dP = dO·vᵀ, delta = Σ_s P⊙dP = dO·O and
// dS = P ⊙ (dP − delta)·scale:   dq = dS·k,   dk = Σ_heads dSᵀ·q,   dv = Σ_heads Pᵀ·dO.
// Three passes, each output written by exactly one CTA (no atomics: deterministic, the same bits on
// every run of the same launch configuration):
//   1. stats: the forward kernel (attention_flash.cu) writes lse = m + log l and delta per (t, h) to the
//      workspace [2, T, H] instead of the output.
//   2. dq:    grid (ceil(T / 16), H); a CTA owns 16 queries × one head; keys in tiles of 32.
//   3. dk/dv: grid (ceil(S / 16), Hk); a CTA owns 16 keys × one K/V head and visits every query (and,
//             for Hk == 1, every head) that sees one of its keys, in tiles of 32.
// Passes 2 and 3 are one kernel template: "rows" are the CTA's 16 queries (keys), "columns" the tiles
// of 32 keys (queries). The rows' two operands ([16, Dk] q or k, [16, Dv] dO or v) stay in shared
// memory; per column tile, X = rows₁·cols₁ᵀ and Y = rows₂·cols₂ᵀ [16 × 32] stream the columns'
// operands through shared memory in 64-dim chunks (thread (r = tid / 8, c = tid % 8) holds row r ×
// columns c + 8j, j < 4); then P = e^(scale·X − lse) (0 where masked), dS = P⊙(Y − delta)·scale go to
// shared memory, and the columns' rows stream through 8 at a time for acc₁ += dS·cols₁ (dq, or dk) and,
// in pass 3, acc₂ += P·cols₂ (dv); warp w owns rows w + 4i (i < 4), lane l dims l + 32c (c < 8).
// Shared memory per CTA (static): 2 × 16 × 257 (row operands) + 32 × 65 (column chunk, or 8 × 256
// column rows) + 2 × 16 × 33 (P, dS) = 11360 floats = 45,440 bytes. fp32 SIMT only (no tensor cores),
// P recomputed twice (passes 2 and 3) as in FlashAttention-2; Hk == 1 gives pass 3 only ceil(S / 16)
// CTAs, each looping over all H heads (fine for training shapes, which use Hk == H). Not measured on a GPU.
// With FlashAttnBwdArgs::tensor_cores, passes 1–3 take the TF32 kernels (attention_flash_tc.cu,
// attention_flash_backward_tc.cu) where those apply.
#include <algorithm>
#include <climits>

#include "attention_flash.h"
#include "common.cuh"

namespace cuda_backend {
namespace {

constexpr int kThreads = 128, kWarps = kThreads / 32;
constexpr int kR = 16;                      // rows (queries or keys) per CTA
constexpr int kC = 32;                      // columns (keys or queries) per tile
constexpr int kRowsW = kR / kWarps;         // rows per warp in the accumulation (4)
constexpr int kChunk = 64;                  // dims per shared chunk of the column operands
constexpr int kColRows = 8;                 // column rows per shared chunk in the accumulation
constexpr int kVc = int(kFlashMaxDk / 32);  // dims per lane (8)
constexpr int kAStride = int(kFlashMaxDk) + 1;  // 257
constexpr int kBStride = kChunk + 1;            // 65
constexpr int kRowStride = int(kFlashMaxDk);    // 256
constexpr int kPStride = kC + 1;                // 33
constexpr int kBufFloats = std::max(kC * kBStride, kColRows * kRowStride);
static_assert(kFlashMaxDk == kFlashMaxDv, "one padded width for both operands");
static_assert(sizeof(float) * (2 * kR * kAStride + kBufFloats + 2 * kR * kPStride) <= 48 * 1024,
              "static shared memory must fit the 48 KB default");
static_assert(kThreads == 8 * kR && kC == 32, "score mapping: 16 × 8 threads, 1 × 4 scores each");

// Loads rows r0 .. r0 + kR − 1 (zeros past n_rows) of a [rows, n] operand into dst [kR, kAStride].
__device__ __forceinline__ void load_rows(float* dst, const float* src, int64_t ld, int64_t r0, int64_t n_rows,
                                          int n) {
    for (int i = int(threadIdx.x); i < kR * n; i += kThreads) {
        const int r = i / n, d = i % n;
        dst[r * kAStride + d] = r0 + r < n_rows ? src[(r0 + r) * ld + d] : 0.0f;
    }
}

// x[j] += Σ_d a[ra, d]·B[c0 + cb + 8j, d] over d < n, the column operand streamed in kChunk-dim chunks.
__device__ __forceinline__ void dot_tile(float (&x)[4], const float* as, const float* b, int64_t ld, int64_t c0,
                                         int nc, int n, float* buf, int ra, int cb) {
    for (int d0 = 0; d0 < n; d0 += kChunk) {
        const int cw = min(kChunk, n - d0);
        __syncthreads();  // buf is free
        for (int i = int(threadIdx.x); i < kC * cw; i += kThreads) {
            const int j = i / cw, d = i % cw;
            buf[j * kBStride + d] = j < nc ? b[(c0 + j) * ld + d0 + d] : 0.0f;
        }
        __syncthreads();
        const float* ar = as + ra * kAStride + d0;
        for (int d = 0; d < cw; ++d) {
            const float av = ar[d];
#pragma unroll
            for (int j = 0; j < 4; ++j) x[j] += av * buf[(cb + 8 * j) * kBStride + d];
        }
    }
}

// acc[i][c] += Σ_j w[warp + 4i, j]·B[c0 + j, lane + 32c] over the tile's nc columns.
__device__ __forceinline__ void accumulate(float (&acc)[kRowsW][kVc], const float* w, const float* b, int64_t ld,
                                           int64_t c0, int nc, int n, float* buf) {
    const int lane = int(threadIdx.x) & 31, warp = int(threadIdx.x) >> 5, np = (n + 31) / 32 * 32;
    for (int j0 = 0; j0 < nc; j0 += kColRows) {
        __syncthreads();  // buf is free; w is complete
        for (int i = int(threadIdx.x); i < kColRows * np; i += kThreads) {
            const int j = i / np, d = i % np;
            buf[j * kRowStride + d] = (j0 + j < nc && d < n) ? b[(c0 + j0 + j) * ld + d] : 0.0f;
        }
        __syncthreads();
        const int nj = min(kColRows, nc - j0);
        for (int j = 0; j < nj; ++j) {
            const float* br = buf + j * kRowStride + lane;
#pragma unroll
            for (int i = 0; i < kRowsW; ++i) {
                const float wv = w[(warp + kWarps * i) * kPStride + j0 + j];
#pragma unroll
                for (int c = 0; c < kVc; ++c)
                    if (c * 32 < n) acc[i][c] += wv * br[32 * c];
            }
        }
    }
}

// kKeyRows false: pass 2 (rows = queries of head blockIdx.y, writes dq); true: pass 3 (rows = keys of
// K/V head blockIdx.y, writes dk and dv). lse, delta: [T, H].
template <bool kKeyRows>
__global__ void __launch_bounds__(kThreads) flash_attention_backward_kernel(FlashAttnBwdArgs a, const float* lse,
                                                                            const float* delta) {
    __shared__ float as1[kR * kAStride];  // [kR, Dk] the rows' q (pass 2) or k (pass 3)
    __shared__ float as2[kR * kAStride];  // [kR, Dv] the rows' dO or v
    __shared__ float buf[kBufFloats];     // column operand chunk [kC, kChunk] or column rows [8, Dk|Dv]
    __shared__ float ps[kR * kPStride];   // [kR, kC] P
    __shared__ float ds[kR * kPStride];   // [kR, kC] dS
    const int tid = int(threadIdx.x), lane = tid & 31, warp = tid >> 5;
    const int Dk = int(a.Dk), Dv = int(a.Dv);
    const int64_t r0 = int64_t(blockIdx.x) * kR, hr = blockIdx.y;
    const int64_t n_rows = kKeyRows ? a.S : a.T;
    if constexpr (kKeyRows) {
        load_rows(as1, a.k + hr * a.k_sh, a.k_st, r0, n_rows, Dk);
        load_rows(as2, a.v + hr * a.v_sh, a.v_st, r0, n_rows, Dv);
    } else {
        load_rows(as1, a.q + hr * a.q_sh, a.q_st, r0, n_rows, Dk);
        load_rows(as2, a.dout + hr * a.do_sh, a.do_st, r0, n_rows, Dv);
    }
    float acc1[kRowsW][kVc], acc2[kRowsW][kVc];
#pragma unroll
    for (int i = 0; i < kRowsW; ++i)
#pragma unroll
        for (int c = 0; c < kVc; ++c) acc1[i][c] = 0.0f, acc2[i][c] = 0.0f;
    const int ra = tid >> 3, cb = tid & 7;  // score mapping: row ra, columns cb + 8j
    const int64_t row = r0 + ra;
    // Columns: pass 2 the keys 0 .. the last one the CTA's last query sees; pass 3 the queries from the
    // first that sees the CTA's first key.
    const FlashBwdColumns cols = flash_bwd_columns<kKeyRows>(a, r0, kR, hr);
    for (int64_t h = cols.h_begin; h < cols.h_end; ++h) {
        const auto [b1, b1_ld, b2, b2_ld] = flash_bwd_operands<kKeyRows>(a, h);  // [cols, Dk], [cols, Dv]
        for (int64_t c0 = cols.begin; c0 < cols.end; c0 += kC) {
            const int nc = int(min(int64_t(kC), cols.end - c0));
            float x[4] = {0.0f, 0.0f, 0.0f, 0.0f}, y[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            dot_tile(x, as1, b1, b1_ld, c0, nc, Dk, buf, ra, cb);  // scores (unscaled)
            dot_tile(y, as2, b2, b2_ld, c0, nc, Dv, buf, ra, cb);  // dP
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const int col = cb + 8 * j;
                const int64_t t = kKeyRows ? c0 + col : row, s = kKeyRows ? row : c0 + col;
                float p = 0.0f, dsv = 0.0f;
                if (col < nc && t < a.T && s < a.S && s <= a.q_pos0 + t) {
                    p = expf(x[j] * a.scale - lse[t * a.H + h]);
                    dsv = p * (y[j] - delta[t * a.H + h]) * a.scale;
                }
                ps[ra * kPStride + col] = p;
                ds[ra * kPStride + col] = dsv;
            }
            accumulate(acc1, ds, b1, b1_ld, c0, nc, Dk, buf);  // dq += dS·k  or  dk += dSᵀ·q
            if constexpr (kKeyRows) accumulate(acc2, ps, b2, b2_ld, c0, nc, Dv, buf);  // dv += Pᵀ·dO
        }
    }
#pragma unroll
    for (int i = 0; i < kRowsW; ++i) {
        const int64_t r = r0 + warp + kWarps * i;
        if (r >= n_rows) continue;
        float* o1 = kKeyRows ? a.dk + r * a.dk_st + hr * a.dk_sh : a.dq + r * a.dq_st + hr * a.dq_sh;
#pragma unroll
        for (int c = 0; c < kVc; ++c) {
            const int d = lane + 32 * c;
            if (d < Dk) o1[d] = acc1[i][c];
        }
        if constexpr (kKeyRows) {
            float* o2 = a.dv + r * a.dv_st + hr * a.dv_sh;
#pragma unroll
            for (int c = 0; c < kVc; ++c) {
                const int d = lane + 32 * c;
                if (d < Dv) o2[d] = acc2[i][c];
            }
        }
    }
}

}  // namespace

void flash_attention_backward(const FlashAttnBwdArgs& a, void* workspace, cudaStream_t stream) {
    ENGINE_CHECK(flash_attention_supported(a.T, a.H, a.Hk, a.Dk, a.Dv) && a.q_pos0 >= 0 && a.S >= 0 &&
                     ceil_div(std::max(a.T, a.S), kR) <= INT32_MAX,
                 kInvalidArgument, "flash_attention_backward: unsupported shape T ", a.T, " H ", a.H, " Hk ", a.Hk,
                 " Dk ", a.Dk, " Dv ", a.Dv, " S ", a.S, " q_pos0 ", a.q_pos0);
    float* lse = static_cast<float*>(workspace);  // [T, H]
    float* delta = lse + a.T * a.H;               // [T, H]
    if (a.S > 0) {  // without keys there are no probabilities: dq = 0 (pass 2 visits no column)
        FlashAttnArgs f;
        f.q = a.q, f.q_st = a.q_st, f.q_sh = a.q_sh, f.k = a.k, f.k_st = a.k_st, f.k_sh = a.k_sh;
        f.v = a.v, f.v_st = a.v_st, f.v_sh = a.v_sh;
        f.T = a.T, f.H = a.H, f.Hk = a.Hk, f.dk = a.Dk, f.dv = a.Dv, f.S = a.S, f.q_pos0 = a.q_pos0;
        f.scale = a.scale, f.tensor_cores = a.tensor_cores, f.shared_optin = a.shared_optin;
        FlashStatsArgs st;
        st.dout = a.dout, st.do_st = a.do_st, st.do_sh = a.do_sh, st.lse = lse, st.delta = delta;
        flash_attention_stats(f, st, stream);
    }
    if (!flash_attention_backward_tc_dq(a, lse, delta, stream)) {
        const dim3 grid_dq(unsigned(ceil_div(a.T, kR)), unsigned(a.H));
        flash_attention_backward_kernel<false><<<grid_dq, kThreads, 0, stream>>>(a, lse, delta);
        CUDA_CHECK_LAUNCH();
    }
    if (a.S > 0 && !flash_attention_backward_tc_dkdv(a, lse, delta, stream)) {
        const dim3 grid_dkv(unsigned(ceil_div(a.S, kR)), unsigned(a.Hk));
        flash_attention_backward_kernel<true><<<grid_dkv, kThreads, 0, stream>>>(a, lse, delta);
        CUDA_CHECK_LAUNCH();
    }
}

}  // namespace cuda_backend
