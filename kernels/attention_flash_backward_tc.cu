// attention_flash_backward_tc.cu — passes 2 and 3 of the flash backward (attention_flash_backward.cu) on
// TF32 tensor cores where FlashAttnBwdArgs::tensor_cores asks for it (as the forward's: training with
// TF32 / bf16 GEMMs, or LATENT_CUDA_ATTENTION=tf32). Same math, same causal rule, same one-writer-per-output determinism:
//   with P = e^(scale·q·kᵀ − lse) (0 where masked) and dS = P ⊙ (dO·vᵀ − delta)·scale,
//   dq = dS·k,   dk = Σ_heads dSᵀ·q,   dv = Σ_heads Pᵀ·dO.
// Three launches (one per output, so a thread holds one accumulator of at most 192 columns):
//   kDq: rows = 64 queries of a head, columns = tiles of 32 keys;
//   kDk, kDv: rows = 64 keys of a K/V head, columns = tiles of 32 queries (of every head when Hk == 1).
// Per column tile and warp (16 rows, mma.sync m16n8k8 as in attention_flash_tc.cu):
//   X [16, 32] = rows₁·cols₁ᵀ (q·kᵀ or k·qᵀ) and, for kDq / kDk, Y [16, 32] = rows₂·cols₂ᵀ (dO·vᵀ or
//   v·dOᵀ); then W = P (kDv) or dS in registers, rounded to TF32; then acc [16, D] += W·cols (k, q or
//   dO), the score accumulators used as the A operand with each 8-column step's k index numbered
//   (0, 2, 4, 6, 1, 3, 5, 7) so no shuffle is needed. lse and delta come from the stats pass: per row
//   for kDq (registers), per column for kDk / kDv (staged in shared memory with the column tile).
// Applies where Dk % 8 == 0, Dv % 8 == 0, the output's width ≤ 192 and the tiles fit the device's
// opt-in shared memory (Dk 192 / Dv 128: 126 KB for kDq and kDk, so sm_80 and sm_90 only; the base
// preset's 96 / 64: 65 KB); else the SIMT kernel runs that pass. On an H100 that is 1 CTA (4 warps) per
// SM at 192 / 128 (likely latency-bound: BF16 tiles, half the bytes, are the first thing to try there)
// and 3 at 96 / 64. X is recomputed by all three launches and Y by two (FlashAttention-2 recomputes X, Y
// twice): cheap on tensor cores next to the fp32 kernel.
// Not measured: no session has had a GPU (estimate as the forward's: shared-load bound, ~40 % of the
// mma.sync TF32 rate).
#include <algorithm>
#include <climits>

#include "attention_flash.h"
#include "common.cuh"
#include "mma_tf32.cuh"
#include "tf32_tiles.cuh"

namespace cuda_backend {
namespace {

constexpr int kThreads = 128;
constexpr int kR = 64;  // rows per CTA (16 per warp)
constexpr int kC = 32;  // columns per tile
constexpr int kMaxOut = 192;
enum Mode { kDq, kDk, kDv };

// Floats of shared memory, in the kernel's order: rows₁ [kR, D1], rows₂ [kR, D2] (kDq, kDk), cols₁ [kC, D1],
// cols₂ [kC, D2], column lse and delta [2, kC]. D1 = Dk (the score dims), D2 = Dv.
size_t shared_floats(int mode, int64_t Dk, int64_t Dv) {
    const int64_t l1 = tf32_row_stride(int(Dk)), l2 = tf32_row_stride(int(Dv));
    return size_t(kR * l1 + (mode != kDv ? kR * l2 : 0) + kC * (l1 + l2) + 2 * kC);
}

// grid (ceil(rows / kR), heads of the rows), kThreads threads, shared_floats(kMode, Dk, Dv) floats of
// dynamic shared memory. kNT: accumulator tiles of 8 columns (the output's width ≤ 8·kNT).
template <int kNT, int kMode>
__global__ void __launch_bounds__(kThreads) flash_bwd_tc_kernel(FlashAttnBwdArgs a, const float* lse,
                                                                const float* delta, bool vec4) {
    constexpr bool kKeyRows = kMode != kDq, kNeedY = kMode != kDv;
    const int Dk = int(a.Dk), Dv = int(a.Dv), Dout = kMode == kDv ? Dv : Dk;
    const int l1 = tf32_row_stride(Dk), l2 = tf32_row_stride(Dv), lo = kMode == kDv ? l2 : l1;
    float* rows1 = dynamic_shared<float>();             // [kR, Dk] q (kDq) or k
    float* rows2 = rows1 + kR * l1;                     // [kR, Dv] dO (kDq) or v; kDq, kDk only
    float* cols1 = rows2 + (kNeedY ? kR * l2 : 0);      // [kC, Dk] k (kDq) or q
    float* cols2 = cols1 + kC * l1;                     // [kC, Dv] v (kDq) or dO
    float* cstat = cols2 + kC * l2;                     // [2, kC] the columns' lse, delta (kDk, kDv)
    const float* out_cols = kMode == kDv ? cols2 : cols1;  // the B operand of the accumulation
    const int lane = int(threadIdx.x) & 31, warp = int(threadIdx.x) >> 5, g = lane >> 2, t4 = lane & 3;
    const int64_t r0 = int64_t(blockIdx.x) * kR, hr = blockIdx.y, n_rows = kKeyRows ? a.S : a.T;
    const int64_t rw = r0 + 16 * warp;  // this warp's first row
    const bool padding = rw >= n_rows;

    if constexpr (kKeyRows) {
        load_tile_tf32<kThreads>(rows1, l1, a.k + r0 * a.k_st + hr * a.k_sh, a.k_st, a.S - r0, kR, Dk, vec4);
        if constexpr (kNeedY) {
            load_tile_tf32<kThreads>(rows2, l2, a.v + r0 * a.v_st + hr * a.v_sh, a.v_st, a.S - r0, kR, Dv, vec4);
        }
    } else {
        load_tile_tf32<kThreads>(rows1, l1, a.q + r0 * a.q_st + hr * a.q_sh, a.q_st, a.T - r0, kR, Dk, vec4);
        load_tile_tf32<kThreads>(rows2, l2, a.dout + r0 * a.do_st + hr * a.do_sh, a.do_st, a.T - r0, kR, Dv, vec4);
    }
    // kDq: the lane's two rows' lse and delta (rows past T: never seen, any value)
    float row_lse[2] = {0.0f, 0.0f}, row_delta[2] = {0.0f, 0.0f};
    if constexpr (!kKeyRows) {
        for (int r = 0; r < 2; ++r) {
            const int64_t t = rw + g + 8 * r;
            if (t < a.T) row_lse[r] = lse[t * a.H + hr], row_delta[r] = delta[t * a.H + hr];
        }
    }

    float acc[kNT][4];
#pragma unroll
    for (int n = 0; n < kNT; ++n) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;

    const FlashBwdColumns cols = flash_bwd_columns<kKeyRows>(a, r0, kR, hr);  // which, attention_flash.h
    for (int64_t h = cols.h_begin; h < cols.h_end; ++h) {
        const auto [c1, c1_ld, c2, c2_ld] = flash_bwd_operands<kKeyRows>(a, h);  // [cols, Dk], [cols, Dv]
        for (int64_t c0 = cols.begin; c0 < cols.end; c0 += kC) {
            const int nc = int(min(int64_t(kC), cols.end - c0));
            __syncthreads();  // the previous tile is consumed (and the row tiles are complete)
            load_tile_tf32<kThreads>(cols1, l1, c1 + c0 * c1_ld, c1_ld, nc, kC, Dk, vec4);
            load_tile_tf32<kThreads>(cols2, l2, c2 + c0 * c2_ld, c2_ld, nc, kC, Dv, vec4);
            if constexpr (kKeyRows) {
                for (int i = int(threadIdx.x); i < kC; i += kThreads) {
                    cstat[i] = i < nc ? lse[(c0 + i) * a.H + h] : 0.0f;
                    cstat[kC + i] = i < nc ? delta[(c0 + i) * a.H + h] : 0.0f;
                }
            }
            __syncthreads();
            if (padding) continue;
            if (kKeyRows ? a.q_pos0 + c0 + nc - 1 < rw : c0 > a.q_pos0 + min(rw + 15, a.T - 1))
                continue;  // no (query, key) pair of this warp's rows and the tile is visible

            float x[4][4], y[4][4];
#pragma unroll
            for (int j = 0; j < 4; ++j)
#pragma unroll
                for (int e = 0; e < 4; ++e) x[j][e] = y[j][e] = 0.0f;
            mma_scores_16x32(x, rows1 + 16 * warp * l1, l1, cols1, l1, Dk);
            if constexpr (kNeedY) mma_scores_16x32(y, rows2 + 16 * warp * l2, l2, cols2, l2, Dv);
            // W = P or dS, element (j, e) at row rw + g + 8(e / 2), column c0 + 8j + 2t4 + e % 2
#pragma unroll
            for (int j = 0; j < 4; ++j)
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    const int col = 8 * j + 2 * t4 + (e & 1);
                    const int64_t row = rw + g + 8 * (e >> 1);
                    const int64_t t = kKeyRows ? c0 + col : row, s = kKeyRows ? row : c0 + col;
                    const float l_v = kKeyRows ? cstat[col] : row_lse[e >> 1];
                    const float d_v = kKeyRows ? cstat[kC + col] : row_delta[e >> 1];
                    float w = 0.0f;
                    if (col < nc && t < a.T && s < a.S && s <= a.q_pos0 + t) {
                        const float p = expf(x[j][e] * a.scale - l_v);
                        w = kMode == kDv ? p : p * (y[j][e] - d_v) * a.scale;
                    }
                    x[j][e] = to_tf32(w);
                }
            mma_accumulate_16x32(acc, x, out_cols, lo, nc, Dout);  // acc += W·(k, q or dO)
        }
    }

    float* out = kMode == kDq ? a.dq : kMode == kDk ? a.dk : a.dv;
    const int64_t o_st = kMode == kDq ? a.dq_st : kMode == kDk ? a.dk_st : a.dv_st;
    const int64_t o_sh = kMode == kDq ? a.dq_sh : kMode == kDk ? a.dk_sh : a.dv_sh;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        const int64_t row = rw + g + 8 * r;
        if (row >= n_rows) continue;
        float* o = out + row * o_st + hr * o_sh + 2 * t4;
#pragma unroll
        for (int n = 0; n < kNT; ++n)
            if (8 * n < Dout) o[8 * n] = acc[n][2 * r], o[8 * n + 1] = acc[n][2 * r + 1];
    }
}

bool applies(const FlashAttnBwdArgs& a, int mode) {
    const int64_t width = mode == kDv ? a.Dv : a.Dk;
    return a.tensor_cores && a.Dk % 8 == 0 && a.Dv % 8 == 0 && width <= kMaxOut &&
           shared_floats(mode, a.Dk, a.Dv) * sizeof(float) <= size_t(std::max(a.shared_optin, 0));
}

template <int kMode>
void launch(const FlashAttnBwdArgs& a, const float* lse, const float* delta, cudaStream_t stream) {
    const bool vec4 = rows_vec4(a.q, a.q_st, a.q_sh) && rows_vec4(a.k, a.k_st, a.k_sh) &&
                      rows_vec4(a.v, a.v_st, a.v_sh) && rows_vec4(a.dout, a.do_st, a.do_sh);
    const dim3 grid(unsigned(ceil_div(kMode == kDq ? a.T : a.S, kR)), unsigned(kMode == kDq ? a.H : a.Hk));
    const size_t bytes = shared_floats(kMode, a.Dk, a.Dv) * sizeof(float);
    const int64_t width = kMode == kDv ? a.Dv : a.Dk;
    if (width <= 64)
        flash_bwd_tc_kernel<8, kMode><<<grid, kThreads, bytes, stream>>>(a, lse, delta, vec4);
    else if (width <= 128)
        flash_bwd_tc_kernel<16, kMode><<<grid, kThreads, bytes, stream>>>(a, lse, delta, vec4);
    else
        flash_bwd_tc_kernel<24, kMode><<<grid, kThreads, bytes, stream>>>(a, lse, delta, vec4);
    CUDA_CHECK_LAUNCH();
}

template <int kMode>
void allow_shared(int bytes) {
    constexpr auto kAttr = cudaFuncAttributeMaxDynamicSharedMemorySize;
    CUDA_CHECK(cudaFuncSetAttribute(flash_bwd_tc_kernel<8, kMode>, kAttr, bytes));
    CUDA_CHECK(cudaFuncSetAttribute(flash_bwd_tc_kernel<16, kMode>, kAttr, bytes));
    CUDA_CHECK(cudaFuncSetAttribute(flash_bwd_tc_kernel<24, kMode>, kAttr, bytes));
}

}  // namespace

void flash_attention_backward_tc_setup(int shared_optin) {
    allow_shared<kDq>(shared_optin);
    allow_shared<kDk>(shared_optin);
    allow_shared<kDv>(shared_optin);
}

bool flash_attention_backward_tc_dq(const FlashAttnBwdArgs& a, const float* lse, const float* delta,
                                    cudaStream_t stream) {
    if (!applies(a, kDq)) return false;
    launch<kDq>(a, lse, delta, stream);
    return true;
}

bool flash_attention_backward_tc_dkdv(const FlashAttnBwdArgs& a, const float* lse, const float* delta,
                                      cudaStream_t stream) {
    if (!applies(a, kDk) || !applies(a, kDv)) return false;
    launch<kDk>(a, lse, delta, stream);
    launch<kDv>(a, lse, delta, stream);
    return true;
}

}  // namespace cuda_backend
