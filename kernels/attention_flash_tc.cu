// attention_flash_tc.cu — the flash attention forward (prefill, the training forward, and the stats pass of
// the flash backward) on TF32 tensor cores where FlashAttnArgs::tensor_cores asks for it: the backend sets
// it with LATENT_CUDA_ATTENTION=tf32, and while a TF32 / bf16 matmul precision is set (training's GEMMs).
// Otherwise the fp32 SIMT kernel of attention_flash.cu runs, the inference default until a device run has
// measured both. Same causal rule, same grid order, same outputs (out, or lse and delta).
//
// Applies where dk % 8 == 0, dv % 8 == 0, dv ≤ 128 and the tiles fit the device's shared memory (dk 192 /
// dv 128, DeepSeek's explicit MLA form: 92 KB; the base preset's 96 / 64: 47 KB); else the SIMT kernel runs.
//
// Tiling: grid (ceil(T / 64), H); one CTA of 4 warps = 64 consecutive queries × one head, warp w owns query
// rows 16w .. 16w + 15 of the tile. The q tile [64, dk] is staged once in shared memory, rounded to TF32;
// keys go through shared memory in tiles of 32 ([32, dk] k and [32, dv] v, TF32), from key 0 to the last
// key the CTA's last query sees. Per key tile and warp (mma.sync m16n8k8, mma_tf32.cuh):
//   1. S [16, 32] = Q·Kᵀ: dk / 8 steps × 4 n-tiles of 8 keys, accumulators in registers (16 floats);
//   2. scale, causal mask (−inf), online softmax in registers: lane (g, t) holds rows g and g + 8 at keys
//      8j + 2t, 8j + 2t + 1, so a row's max and sum reduce over the 4 lanes of a group; p = e^(s − m) is
//      rounded to TF32 before it is summed (the value the mma uses is the value in l);
//   3. O [16, dv] (dv / 8 accumulator tiles in registers, ≤ 64 floats) is rescaled per row by e^(m_old − m_new);
//   4. O += P·V: the score accumulators are the A operand as they are, by numbering the k index of each
//      8-key step as keys (0, 2, 4, 6, 1, 3, 5, 7): a lane's a0..a3 are then its own s[j][0], s[j][2],
//      s[j][1], s[j][3], and B's rows take v's keys in the same order (no shuffles, no shared P).
// A warp whose 16 queries see no key of a tile skips it (past the diagonal); so does a warp of padding rows.
// Shared memory (dynamic): (64 + 32)·(⌈dk⌉₃₂ + 4) + 32·(⌈dv⌉₃₂ + 4) floats; row strides ≡ 4 (mod 32) so the
// fragment loads of a warp hit 32 different banks. Occupancy on an H100 (227 KB per SM): 2 CTAs (8 warps)
// per SM at 192 / 128 (92 KB), 4 at 96 / 64 (47 KB); registers (128 threads × ≤ 128) do not limit it.
// Estimated limit (not measured: no session has had a GPU): per key tile a warp issues (dk/8)·4 + 4·dv/8
// mma and (dk/8)·12 + 4·(dv/8)·2 shared loads (dk 192 / dv 128: 160 mma, 416 loads), so it is bound by
// shared-memory bandwidth at roughly 40 % of the mma.sync TF32 rate, an estimated 5–10× the SIMT kernel.
#include <algorithm>
#include <climits>

#include "attention_flash.h"
#include "common.cuh"
#include "mma_tf32.cuh"
#include "tf32_tiles.cuh"
#include "reduce.cuh"

namespace cuda_backend {
namespace {

constexpr int kThreads = 128;
constexpr int kBQ = 64;  // queries per CTA (16 per warp)
constexpr int kBK = 32;  // keys per tile: 4 score n-tiles, 4 P·V k-steps
constexpr int kMaxDv = 128;

size_t shared_bytes(int64_t dk, int64_t dv) {
    const int64_t lk = tf32_row_stride(int(dk)), lv = tf32_row_stride(int(dv));
    return size_t((kBQ + kBK) * lk + kBK * lv) * sizeof(float);
}

// grid (ceil(T / kBQ), H), kThreads threads, shared_bytes(dk, dv) of dynamic shared memory. kNT: the O
// accumulator tiles (dv ≤ 8·kNT). kStats: writes lse and delta (attention_flash.h) instead of out.
template <int kNT, bool kStats>
__global__ void __launch_bounds__(kThreads) flash_tc_kernel(FlashAttnArgs a, FlashStatsArgs st, bool vec4) {
    const int dk = int(a.dk), dv = int(a.dv), lk = tf32_row_stride(dk), lv = tf32_row_stride(dv);
    float* qs = dynamic_shared<float>();  // [kBQ, dk] the q tile
    float* ks = qs + kBQ * lk;            // [kBK, dk] this tile's keys
    float* vs = ks + kBK * lk;            // [kBK, dv] this tile's values
    const int lane = int(threadIdx.x) & 31, warp = int(threadIdx.x) >> 5, g = lane >> 2, t4 = lane & 3;
    const int64_t t0 = (int64_t(gridDim.x) - 1 - int64_t(blockIdx.x)) * kBQ;  // latest tiles first
    const int64_t h = blockIdx.y, kh = a.Hk == 1 ? 0 : h;
    const int64_t n_keys = min(a.S, a.q_pos0 + min(a.T, t0 + kBQ));  // keys any query of the tile sees
    const float* kbase = a.k + kh * a.k_sh;
    const float* vbase = a.v + kh * a.v_sh;
    const int r0 = warp * 16;  // this warp's rows of the tile
    const bool padding = t0 + r0 >= a.T;
    // positions of the lane's two rows (rows past T behave as the last query) and of the warp's last row
    const int64_t pos[2] = {a.q_pos0 + min(t0 + r0 + g, a.T - 1), a.q_pos0 + min(t0 + r0 + g + 8, a.T - 1)};
    const int64_t pos_last = a.q_pos0 + min(t0 + r0 + 15, a.T - 1);

    load_tile_tf32<kThreads>(qs, lk, a.q + t0 * a.q_st + h * a.q_sh, a.q_st, a.T - t0, kBQ, dk, vec4);

    float o[kNT][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
#pragma unroll
    for (int j = 0; j < kNT; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;

    for (int64_t s0 = 0; s0 < n_keys; s0 += kBK) {
        const int nk = int(min(int64_t(kBK), n_keys - s0));
        __syncthreads();  // the previous tile's k, v are consumed (and the q tile is complete)
        load_tile_tf32<kThreads>(ks, lk, kbase + s0 * a.k_st, a.k_st, nk, kBK, dk, vec4);
        load_tile_tf32<kThreads>(vs, lv, vbase + s0 * a.v_st, a.v_st, nk, kBK, dv, vec4);
        __syncthreads();
        if (padding || s0 > pos_last) continue;  // no row of this warp sees a key of the tile

        // 1. S = Q·Kᵀ, 4 n-tiles of 8 keys
        float s[4][4];
#pragma unroll
        for (int j = 0; j < 4; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
        mma_scores_16x32(s, qs + r0 * lk, lk, ks, lk, dk);
        // 2. scale, mask, online softmax (rows g: elements 0, 1; row g + 8: elements 2, 3)
        float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int key = 8 * j + 2 * t4 + (e & 1);
                const bool seen = key < nk && s0 + key <= pos[e >> 1];
                s[j][e] = seen ? s[j][e] * a.scale : -INFINITY;
                mx[e >> 1] = fmaxf(mx[e >> 1], s[j][e]);
            }
        float corr[2], sum[2] = {0.0f, 0.0f};
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            const float m_new = fmaxf(m[r], warp_max<4>(mx[r]));  // finite: key 0 is in the first tile
            corr[r] = expf(m[r] - m_new);                         // 0 on the first tile (m = −inf)
            m[r] = m_new;
        }
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const float p = to_tf32(expf(s[j][e] - m[e >> 1]));
                s[j][e] = p;
                sum[e >> 1] += p;
            }
#pragma unroll
        for (int r = 0; r < 2; ++r) l[r] = l[r] * corr[r] + warp_sum<4>(sum[r]);
        // 3. rescale O
#pragma unroll
        for (int j = 0; j < kNT; ++j) o[j][0] *= corr[0], o[j][1] *= corr[0], o[j][2] *= corr[1], o[j][3] *= corr[1];
        // 4. O += P·V (the probabilities as the A operand, tf32_tiles.cuh)
        mma_accumulate_16x32(o, s, vs, lv, nk, dv);
    }

    // Rows g (elements 0, 1) and g + 8 (elements 2, 3) at columns 8n + 2t, 8n + 2t + 1.
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        const int64_t t = t0 + r0 + g + 8 * r;
        const bool live = t < a.T;
        const float inv = live ? 1.0f / l[r] : 0.0f;
        if constexpr (kStats) {
            float part = 0.0f;
            if (live) {
                const float* go = st.dout + t * st.do_st + h * st.do_sh;
#pragma unroll
                for (int n = 0; n < kNT; ++n)
                    if (8 * n < dv) part += o[n][2 * r] * go[8 * n + 2 * t4] + o[n][2 * r + 1] * go[8 * n + 2 * t4 + 1];
            }
            part = warp_sum<4>(part);  // every lane: the shuffles need the whole warp
            if (live && t4 == 0) st.lse[t * a.H + h] = m[r] + logf(l[r]), st.delta[t * a.H + h] = part * inv;
        } else if (live) {
            float* out = a.out + t * a.o_st + h * a.o_sh + 2 * t4;
#pragma unroll
            for (int n = 0; n < kNT; ++n)
                if (8 * n < dv) out[8 * n] = o[n][2 * r] * inv, out[8 * n + 1] = o[n][2 * r + 1] * inv;
        }
    }
}

template <int kNT, bool kStats>
void launch(const FlashAttnArgs& a, const FlashStatsArgs& st, cudaStream_t stream) {
    const bool vec4 =
        rows_vec4(a.q, a.q_st, a.q_sh) && rows_vec4(a.k, a.k_st, a.k_sh) && rows_vec4(a.v, a.v_st, a.v_sh);
    const dim3 grid(unsigned(ceil_div(a.T, kBQ)), unsigned(a.H));
    flash_tc_kernel<kNT, kStats><<<grid, kThreads, shared_bytes(a.dk, a.dv), stream>>>(a, st, vec4);
    CUDA_CHECK_LAUNCH();
}

}  // namespace

bool flash_attention_tc_applies(const FlashAttnArgs& a) {
    return a.tensor_cores && a.dk % 8 == 0 && a.dv % 8 == 0 && a.dv <= kMaxDv &&
           shared_bytes(a.dk, a.dv) <= size_t(std::max(a.shared_optin, 0));
}

void flash_attention_tc_setup(int shared_optin) {
    // The largest opt-in the device allows, for every instantiation (a host call, once per backend).
    constexpr auto kAttr = cudaFuncAttributeMaxDynamicSharedMemorySize;
    CUDA_CHECK(cudaFuncSetAttribute(flash_tc_kernel<8, false>, kAttr, shared_optin));
    CUDA_CHECK(cudaFuncSetAttribute(flash_tc_kernel<8, true>, kAttr, shared_optin));
    CUDA_CHECK(cudaFuncSetAttribute(flash_tc_kernel<16, false>, kAttr, shared_optin));
    CUDA_CHECK(cudaFuncSetAttribute(flash_tc_kernel<16, true>, kAttr, shared_optin));
}

void flash_attention_tc(const FlashAttnArgs& a, const FlashStatsArgs* st, cudaStream_t stream) {
    ENGINE_CHECK(flash_attention_tc_applies(a), kInternal, "flash_attention_tc: called for a shape it does not handle");
    const FlashStatsArgs none{};
    if (a.dv <= 64)
        st ? launch<8, true>(a, *st, stream) : launch<8, false>(a, none, stream);
    else
        st ? launch<16, true>(a, *st, stream) : launch<16, false>(a, none, stream);
}

}  // namespace cuda_backend
