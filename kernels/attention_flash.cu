// attention_flash.cu — fused, flash-style causal attention forward for prefill and the training forward
// (T ≥ 5 queries, dk ≤ 256, dv ≤ 256, Hk == H or Hk == 1); no score workspace.
//
// Tiling: grid (ceil(T / 32), H); one CTA of 128 threads (4 warps) = 32 consecutive queries × one head.
//   The CTA's q tile [32, dk] is loaded once into shared memory; keys are visited in tiles of 32, from
//   key 0 up to the last key its last query sees (causal: later tiles are skipped, not masked).
//   Per key tile:
//     1. scores S = q·kᵀ [32 × 32]: the key tile goes through shared memory in chunks of 64 dims
//        ([32 keys, 64 dims]); thread (a = tid / 8, b = tid % 8) accumulates queries {a, a + 16} ×
//        keys {b, b + 8, b + 16, b + 24} in 8 registers; then scale, causal mask (−inf) → shared P.
//     2. online softmax: warp w owns query rows w + 4i (i < 8), lane = key; per row the running max m
//        and sum l (fp32, in registers, the same in every lane), p = e^(s − m_new), and the output
//        accumulator is rescaled by e^(m_old − m_new).
//     3. o += P·V: the value tile goes through shared memory 8 keys at a time ([8 keys, dv]); lane i of
//        warp w owns output dims i + 32c (c < 8) of its 8 rows: 64 fp32 accumulators in registers.
//   The end writes o / l. Query tiles run latest first (they have the most keys) to shorten the tail.
//   The causal rule is the CPU's: query t (position q_pos0 + t) sees keys s ≤ q_pos0 + t and s < S.
//   Key 0 is seen by every query, so the running max is finite after the first tile (no −inf − −inf).
//   The backward (attention_flash_backward.cu) runs the same kernel with kStats for its lse and delta.
//   With FlashAttnArgs::tensor_cores the TF32 kernel of attention_flash_tc.cu runs instead where it applies.
// Shared memory (static, no opt-in needed on sm_80..sm_90): q tile 32 × 257 floats (row padded by one
// so the 4 rows a warp reads at once hit different banks) + one buffer for the k chunk 32 × 65 / the v
// chunk 8 × 256 + P 32 × 33 = 11360 floats = 45,440 bytes per CTA → up to 5 CTAs per SM by shared
// memory on an H100 (228 KB). Registers (ptxas -v, nvcc 13): 128 per thread on sm_90 (4 CTAs = 16 warps
// per SM), 146–154 on sm_80/86/89 (3 CTAs per SM), no spills.
// Estimated limits (not measured, no GPU was available): plain fp32 FMAs on CUDA cores, no tensor cores
// (no mma / wgmma), no cp.async, no vectorised shared loads. Per key tile and thread, dk = 192 /
// dv = 128 costs 1536 shared loads for 2560 FMAs: with ~1 shared-load instruction per 4 FMA
// instructions per SM clock, this is shared-load bound at roughly 40% of the fp32 CUDA-core peak
// (~25 TFLOP/s on an H100 SXM) before the softmax exps and the syncs; a tensor-core (TF32/bf16 mma)
// version with larger register tiles is the next step. The causal skip halves the work of T = S.
#include <algorithm>
#include <climits>

#include "attention_flash.h"
#include "common.cuh"
#include "reduce.cuh"

namespace cuda_backend {
namespace {

constexpr int kThreads = 128, kWarps = kThreads / 32;
constexpr int kBQ = 32;                       // queries per CTA
constexpr int kBK = 32;                       // keys per tile (= lanes: one key per lane in the softmax)
constexpr int kRows = kBQ / kWarps;           // query rows per warp in the softmax and P·V (8)
constexpr int kDkChunk = 64;                  // key dims per shared chunk
constexpr int kVKeys = 8;                     // value rows per shared chunk
constexpr int kVc = int(kFlashMaxDv / 32);    // output dims per lane (8)
constexpr int kQStride = int(kFlashMaxDk) + 1;  // 257: padded rows of the q tile
constexpr int kKStride = kDkChunk + 1;          // 65
constexpr int kVStride = int(kFlashMaxDv);      // 256: lanes read consecutive dims, no padding needed
constexpr int kPStride = kBK + 1;               // 33
constexpr int kBufFloats = std::max(kBK * kKStride, kVKeys * kVStride);
constexpr int kSharedBytes = int(sizeof(float)) * (kBQ * kQStride + kBufFloats + kBQ * kPStride);
static_assert(kSharedBytes <= 48 * 1024, "static shared memory must fit the 48 KB default");
static_assert(kThreads == 4 * kBQ && kBK == 32, "score mapping: 16 × 8 threads, 2 × 4 scores each");

// grid (ceil(T / kBQ), H), kThreads threads. kStats (the backward's first pass): instead of out, writes
// per (t, h) the log-sum-exp of the scaled scores, st.lse[t·H + h] = m + log l, and
// st.delta[t·H + h] = Σ_d dout[t, h, d]·out[t, h, d].
template <bool kStats>
__global__ void __launch_bounds__(kThreads) flash_attention_kernel(FlashAttnArgs a, FlashStatsArgs st) {
    __shared__ float qs[kBQ * kQStride];   // [kBQ, dk] the q tile
    __shared__ float buf[kBufFloats];      // [kBK, kDkChunk] k chunk, or [kVKeys, dv] v chunk
    __shared__ float ps[kBQ * kPStride];   // [kBQ, kBK] scores, then probabilities
    const int tid = int(threadIdx.x), lane = tid & 31, warp = tid >> 5;
    const int64_t t0 = (int64_t(gridDim.x) - 1 - int64_t(blockIdx.x)) * kBQ;  // latest tiles first
    const int64_t h = blockIdx.y, kh = a.Hk == 1 ? 0 : h;
    const int dk = int(a.dk), dv = int(a.dv), dvp = (dv + 31) / 32 * 32;
    const int64_t t_last = min(a.T, t0 + int64_t(kBQ)) - 1;
    const int64_t n_keys = min(a.S, a.q_pos0 + t_last + 1);  // keys any query of this tile sees
    const float* kbase = a.k + kh * a.k_sh;
    const float* vbase = a.v + kh * a.v_sh;

    for (int i = tid; i < kBQ * dk; i += kThreads) {  // q tile; rows past T are zeros (never stored)
        const int r = i / dk, d = i % dk;
        const int64_t t = t0 + r;
        qs[r * kQStride + d] = t < a.T ? a.q[t * a.q_st + h * a.q_sh + d] : 0.0f;
    }

    float acc[kRows][kVc], m[kRows], l[kRows];
#pragma unroll
    for (int i = 0; i < kRows; ++i) {
        m[i] = -INFINITY, l[i] = 0.0f;
#pragma unroll
        for (int c = 0; c < kVc; ++c) acc[i][c] = 0.0f;
    }
    const int qa = tid >> 3, kb = tid & 7;  // score mapping: queries qa, qa + 16; keys kb + 8c

    for (int64_t s0 = 0; s0 < n_keys; s0 += kBK) {
        const int nk = int(min(int64_t(kBK), n_keys - s0));  // keys of this tile
        // 1. scores
        float sc[2][4];
#pragma unroll
        for (int i = 0; i < 2; ++i)
#pragma unroll
            for (int c = 0; c < 4; ++c) sc[i][c] = 0.0f;
        for (int d0 = 0; d0 < dk; d0 += kDkChunk) {
            const int cw = min(kDkChunk, dk - d0);
            __syncthreads();  // buf is free (previous chunk / previous tile's v); the q tile is visible
            for (int i = tid; i < kBK * cw; i += kThreads) {
                const int j = i / cw, d = i % cw;
                buf[j * kKStride + d] = j < nk ? kbase[(s0 + j) * a.k_st + d0 + d] : 0.0f;
            }
            __syncthreads();
            const float* q0 = qs + qa * kQStride + d0;
            const float* q1 = qs + (qa + 16) * kQStride + d0;
            for (int d = 0; d < cw; ++d) {
                const float x0 = q0[d], x1 = q1[d];
#pragma unroll
                for (int c = 0; c < 4; ++c) {
                    const float kv = buf[(kb + 8 * c) * kKStride + d];
                    sc[0][c] += x0 * kv;
                    sc[1][c] += x1 * kv;
                }
            }
        }
#pragma unroll
        for (int i = 0; i < 2; ++i) {
            const int r = qa + 16 * i;
            const int64_t t = min(t0 + r, a.T - 1);  // rows past T behave as the last query
#pragma unroll
            for (int c = 0; c < 4; ++c) {
                const int j = kb + 8 * c;
                const bool seen = j < nk && s0 + j <= a.q_pos0 + t;
                ps[r * kPStride + j] = seen ? sc[i][c] * a.scale : -INFINITY;
            }
        }
        __syncthreads();
        // 2. online softmax over this tile; warp w owns rows w + 4i
#pragma unroll
        for (int i = 0; i < kRows; ++i) {
            const int r = warp + kWarps * i;
            const float x = ps[r * kPStride + lane];
            const float m_new = fmaxf(m[i], warp_max(x));  // finite: key 0 is in the first tile
            const float p = expf(x - m_new);
            const float corr = expf(m[i] - m_new);  // 0 on the first tile (m = −inf)
            l[i] = l[i] * corr + warp_sum(p);
            m[i] = m_new;
            ps[r * kPStride + lane] = p;
#pragma unroll
            for (int c = 0; c < kVc; ++c) acc[i][c] *= corr;
        }
        // 3. o += P·V, kVKeys value rows at a time
        for (int j0 = 0; j0 < nk; j0 += kVKeys) {
            __syncthreads();  // buf is free; P rows are visible to their warp
            for (int i = tid; i < kVKeys * dvp; i += kThreads) {
                const int j = i / dvp, d = i % dvp;
                buf[j * kVStride + d] = (j0 + j < nk && d < dv) ? vbase[(s0 + j0 + j) * a.v_st + d] : 0.0f;
            }
            __syncthreads();
            const int nj = min(kVKeys, nk - j0);
            for (int j = 0; j < nj; ++j) {
                const float* vr = buf + j * kVStride + lane;
#pragma unroll
                for (int i = 0; i < kRows; ++i) {
                    const float p = ps[(warp + kWarps * i) * kPStride + j0 + j];
#pragma unroll
                    for (int c = 0; c < kVc; ++c)
                        if (c * 32 < dv) acc[i][c] += p * vr[32 * c];
                }
            }
        }
    }
#pragma unroll
    for (int i = 0; i < kRows; ++i) {
        const int64_t t = t0 + warp + kWarps * i;
        if (t >= a.T) continue;  // the same for the whole warp: the shuffles below stay full-warp
        const float inv = 1.0f / l[i];
        if constexpr (kStats) {
            const float* go = st.dout + t * st.do_st + h * st.do_sh;
            float part = 0.0f;
#pragma unroll
            for (int c = 0; c < kVc; ++c) {
                const int d = lane + 32 * c;
                if (d < dv) part += acc[i][c] * go[d];
            }
            part = warp_sum(part);
            if (lane == 0) st.lse[t * a.H + h] = m[i] + logf(l[i]), st.delta[t * a.H + h] = part * inv;
        } else {
            float* o = a.out + t * a.o_st + h * a.o_sh;
#pragma unroll
            for (int c = 0; c < kVc; ++c) {
                const int d = lane + 32 * c;
                if (d < dv) o[d] = acc[i][c] * inv;
            }
        }
    }
}

void check_shape(const FlashAttnArgs& a, const char* op) {
    ENGINE_CHECK(flash_attention_supported(a.T, a.H, a.Hk, a.dk, a.dv) && a.q_pos0 >= 0 && a.S >= 1 &&
                     ceil_div(a.T, kBQ) <= INT32_MAX,
                 kInvalidArgument, op, ": unsupported shape T ", a.T, " H ", a.H, " Hk ", a.Hk, " dk ", a.dk, " dv ",
                 a.dv, " S ", a.S, " q_pos0 ", a.q_pos0);
}

}  // namespace

void flash_attention(const FlashAttnArgs& a, cudaStream_t stream) {
    check_shape(a, "flash_attention");
    if (flash_attention_tc_applies(a)) return flash_attention_tc(a, nullptr, stream);
    const dim3 grid(unsigned(ceil_div(a.T, kBQ)), unsigned(a.H));
    flash_attention_kernel<false><<<grid, kThreads, 0, stream>>>(a, FlashStatsArgs{});
    CUDA_CHECK_LAUNCH();
}

void flash_attention_stats(const FlashAttnArgs& a, const FlashStatsArgs& st, cudaStream_t stream) {
    check_shape(a, "flash_attention_stats");
    if (flash_attention_tc_applies(a)) return flash_attention_tc(a, &st, stream);
    const dim3 grid(unsigned(ceil_div(a.T, kBQ)), unsigned(a.H));
    flash_attention_kernel<true><<<grid, kThreads, 0, stream>>>(a, st);
    CUDA_CHECK_LAUNCH();
}

}  // namespace cuda_backend
