// attention_decode.cu — flash-decoding MQA attention over the MLA latent cache (issue 5, "MLA decode").
//
// Decode attention reads the whole cache once per step and does little math per byte, so the kernel is
// organised around reading every latent row once per CTA and using it for many heads:
//   grid (split, head group, b·T + t): one CTA = 16 heads × one chunk of keys (≥ 256, a multiple of 8)
//   of one query; 256 threads = 8 warps, warp w owns heads 2w, 2w+1 of the group.
//   per tile of 8 keys: warp j loads key row j (and its v row unless v is the first dv columns of the k
//   row) into registers one tile ahead, stores it to shared memory; then every warp scores its 2 heads
//   against the 8 rows (lane i holds q[h][i + 32c], c < 18, pre-scaled; a warp reduce per score), does
//   the online softmax (running max m, sum l; every lane holds the same values) and accumulates
//   p·v into registers (lane i owns dims i + 32c, c < 16, of both heads).
//   Each split writes its unnormalised o, m, l to the workspace; the combine kernel merges the splits:
//   out = Σ_c e^(m_c − M) o_c / Σ_c e^(m_c − M) l_c,  M = max_c m_c.
// Splits: enough CTAs for ~2 waves of the SMs (rows · head groups · splits ≥ 2·SMs), each ≥ 256 keys.
// fp32 math throughout (a BF16 cache is widened as it is loaded: half the bytes, same arithmetic);
// causal rule as the CPU's: query t sees keys s ≤ q_pos0 + t.
// Shared memory: 8 × 576 floats of keys (+ 8 × 512 of values when v is a separate tensor) = 18–35 KB.
// Expected limits (estimates, not measured): per key and head pair a warp issues 34 shared loads for
// 68 FMAs, so the kernel is shared-load bound at ~0.3 ms for B 64 × S 4096 × H 16 on an H100 (~60% of
// copy bandwidth); H 128 needs ~8x the math (fp32 CUDA cores: compute bound, far below 80%). The TF32
// tensor-core split kernel (attention_decode_tc.cu, MlaDecodeArgs::tensor_cores) is the attempt at the
// issue's 80%; it shares this file's splits, partials and combine.
// Registers: __launch_bounds__(256, 2) caps at 128 (ptxas: ~180 B spills in the aliased-v kernel);
// (256, 1) gives 171 regs without spills but one CTA per SM — to be chosen on the GPU.
#include <algorithm>

#include "attention_decode.h"
#include "checks.h"
#include "common.cuh"
#include "reduce.cuh"

namespace cuda_backend {
namespace {

constexpr int kThreads = 256, kWarps = 8, kHeadsPerWarp = 2, kHeads = kWarps * kHeadsPerWarp;
constexpr int kKeys = kWarps;  // keys per shared tile: warp j loads row j
constexpr int kQc = int(kMlaDecodeMaxDk / 32), kVc = int(kMlaDecodeMaxDv / 32);  // per-lane columns
constexpr int64_t kMinChunk = 256;  // keys per split at least

using Partials = MlaDecodePartials;

// grid (splits, ceil(H / 16), B·T); kAliasV: v rows are the first dv columns of the k rows.
// KT: the cache's element type (float, or __nv_bfloat16 for a BF16 cache), widened as it is loaded.
template <bool kAliasV, class KT>
__global__ void __launch_bounds__(kThreads, 2) mla_decode_split_kernel(MlaDecodeArgs a, int64_t chunk, Partials part) {
    __shared__ float ks[kKeys * kMlaDecodeMaxDk];                 // [kKeys, dk] this tile's key rows
    __shared__ float vs[kAliasV ? 1 : kKeys * kMlaDecodeMaxDv];  // [kKeys, dv] its value rows
    const int lane = int(threadIdx.x) & 31, warp = int(threadIdx.x) / 32;
    const int64_t split = blockIdx.x, n_splits = gridDim.x, row = blockIdx.z;
    const int64_t b = row / a.T, t = row % a.T;
    const int64_t n_keys = min(a.S, a.q_pos0 + t + 1);
    const int64_t s_begin = split * chunk, s_end = min(n_keys, s_begin + chunk);
    const int dk = int(a.dk), dv = int(a.dv);

    // This warp's heads: q (pre-scaled) in registers, lane holds columns lane + 32c.
    int64_t head[kHeadsPerWarp];
    float q[kHeadsPerWarp][kQc], acc[kHeadsPerWarp][kVc], m[kHeadsPerWarp], l[kHeadsPerWarp];
#pragma unroll
    for (int j = 0; j < kHeadsPerWarp; ++j) {
        head[j] = int64_t(blockIdx.y) * kHeads + warp * kHeadsPerWarp + j;
        const bool live = head[j] < a.H;
        const float* qh = a.q + b * a.q_sb + t * a.q_st + (live ? head[j] : 0) * a.q_sh;
#pragma unroll
        for (int c = 0; c < kQc; ++c) {
            const int d = lane + 32 * c;
            q[j][c] = (live && d < dk) ? qh[d] * a.scale : 0.0f;
        }
#pragma unroll
        for (int c = 0; c < kVc; ++c) acc[j][c] = 0.0f;
        m[j] = -INFINITY;
        l[j] = 0.0f;
    }

    // Tile prefetch: warp `warp` carries key row s0 + warp (and its v row) in registers.
    float kr[kQc], vr[kAliasV ? 1 : kVc];
    auto load_tile = [&](int64_t s0) {
        const int64_t s = s0 + warp;
        if (s >= s_end) return;
        const KT* kp = mla_row_ptr(static_cast<const KT*>(a.k), a.k_ld, a.k_sb, a.block_table, a.bt_ld, b, s);
#pragma unroll
        for (int c = 0; c < kQc; ++c) {
            const int d = lane + 32 * c;
            if (d < dk) kr[c] = to_float(kp[d]);
        }
        if constexpr (!kAliasV) {
            const KT* vp = mla_row_ptr(static_cast<const KT*>(a.v), a.v_ld, a.v_sb, a.block_table, a.bt_ld, b, s);
#pragma unroll
            for (int c = 0; c < kVc; ++c) {
                const int d = lane + 32 * c;
                if (d < dv) vr[c] = to_float(vp[d]);
            }
        }
    };
    if (s_begin < s_end) load_tile(s_begin);

    for (int64_t s0 = s_begin; s0 < s_end; s0 += kKeys) {
        const int nk = int(min(int64_t(kKeys), s_end - s0));
        __syncthreads();  // every warp is done with the previous tile
        if (warp < nk) {
#pragma unroll
            for (int c = 0; c < kQc; ++c) {
                const int d = lane + 32 * c;
                if (d < dk) ks[warp * dk + d] = kr[c];
            }
            if constexpr (!kAliasV) {
#pragma unroll
                for (int c = 0; c < kVc; ++c) {
                    const int d = lane + 32 * c;
                    if (d < dv) vs[warp * dv + d] = vr[c];
                }
            }
        }
        __syncthreads();
        load_tile(s0 + kKeys);  // next tile's global loads overlap this tile's math

        // Scores of this warp's heads against the nk rows (every lane ends with all of them).
        float sc[kHeadsPerWarp][kKeys];
#pragma unroll
        for (int r = 0; r < kKeys; ++r) {
            if (r < nk) {
                float part[kHeadsPerWarp] = {};
#pragma unroll
                for (int c = 0; c < kQc; ++c) {
                    const int d = lane + 32 * c;
                    if (d < dk) {
                        const float kv = ks[r * dk + d];
#pragma unroll
                        for (int j = 0; j < kHeadsPerWarp; ++j) part[j] += q[j][c] * kv;
                    }
                }
#pragma unroll
                for (int j = 0; j < kHeadsPerWarp; ++j) sc[j][r] = warp_sum(part[j]);
            } else {
#pragma unroll
                for (int j = 0; j < kHeadsPerWarp; ++j) sc[j][r] = -INFINITY;
            }
        }
        // Online softmax: rescale the running sums to the new max, then add this tile.
#pragma unroll
        for (int j = 0; j < kHeadsPerWarp; ++j) {
            float tile_max = sc[j][0];
#pragma unroll
            for (int r = 1; r < kKeys; ++r) tile_max = fmaxf(tile_max, sc[j][r]);
            const float m_new = fmaxf(m[j], tile_max);  // finite: row 0 of the tile is live
            const float corr = expf(m[j] - m_new);      // 0 on the first tile (m = −inf)
            l[j] *= corr;
#pragma unroll
            for (int c = 0; c < kVc; ++c) acc[j][c] *= corr;
#pragma unroll
            for (int r = 0; r < kKeys; ++r) {
                sc[j][r] = r < nk ? expf(sc[j][r] - m_new) : 0.0f;
                l[j] += sc[j][r];
            }
            m[j] = m_new;
        }
        // P·V over the tile (rows ≥ nk are stale: skipped, not multiplied by 0).
#pragma unroll
        for (int r = 0; r < kKeys; ++r) {
            if (r >= nk) break;
#pragma unroll
            for (int c = 0; c < kVc; ++c) {
                const int d = lane + 32 * c;
                if (d < dv) {
                    const float vv = kAliasV ? ks[r * dk + d] : vs[r * dv + d];
#pragma unroll
                    for (int j = 0; j < kHeadsPerWarp; ++j) acc[j][c] += sc[j][r] * vv;
                }
            }
        }
    }

    // Partials of this split (an empty split writes m = −inf, l = 0, o = 0).
#pragma unroll
    for (int j = 0; j < kHeadsPerWarp; ++j) {
        if (head[j] >= a.H) continue;
        const int64_t idx = (row * n_splits + split) * a.H + head[j];
        float* o = part.o + idx * dv;
#pragma unroll
        for (int c = 0; c < kVc; ++c) {
            const int d = lane + 32 * c;
            if (d < dv) o[d] = acc[j][c];
        }
        if (lane == 0) {
            part.m[idx] = m[j];
            part.l[idx] = l[j];
        }
    }
}

// grid (B·T, H), 128 threads: out[b, t, h, :] = Σ_c e^(m_c − M) o_c / Σ_c e^(m_c − M) l_c.
__global__ void mla_decode_combine_kernel(MlaDecodeArgs a, int64_t n_splits, Partials part) {
    const int64_t row = blockIdx.x, h = blockIdx.y, b = row / a.T, t = row % a.T;
    const int64_t base = row * n_splits * a.H + h;  // partial index of split c: base + c·H
    float M = -INFINITY;
    for (int64_t c = 0; c < n_splits; ++c) M = fmaxf(M, part.m[base + c * a.H]);
    float L = 0.0f;
    for (int64_t c = 0; c < n_splits; ++c) {
        const float mc = part.m[base + c * a.H];
        if (mc != -INFINITY) L += expf(mc - M) * part.l[base + c * a.H];
    }
    const float inv = 1.0f / L;
    float* out = a.out + b * a.o_sb + t * a.o_st + h * a.o_sh;
    for (int64_t d = threadIdx.x; d < a.dv; d += blockDim.x) {
        float s = 0.0f;
        for (int64_t c = 0; c < n_splits; ++c) {
            const float mc = part.m[base + c * a.H];
            if (mc != -INFINITY) s += expf(mc - M) * part.o[(base + c * a.H) * a.dv + d];
        }
        out[d] = s * inv;
    }
}


// Keys per split: a multiple of the SIMT kernel's 8-key tile, or of 64 for the tensor-core kernel.
int64_t chunk_keys(const MlaDecodeArgs& a, int64_t splits) {
    const int64_t granule = mla_decode_tc_applies(a) ? 64 : kKeys;
    return ceil_div(ceil_div(a.S, splits), granule) * granule;
}

}  // namespace

bool alias_v(const MlaDecodeArgs& a) {
    return a.v == a.k && a.v_ld == a.k_ld && (a.block_table != nullptr || a.v_sb == a.k_sb) && a.dv <= a.dk;
}

int64_t mla_decode_splits(const MlaDecodeArgs& a, int sm_count) {
    const int64_t ctas = a.B * a.T * ceil_div(a.H, kHeads);
    const int64_t want = ceil_div(2 * int64_t(std::max(sm_count, 1)), std::max<int64_t>(ctas, 1));
    const int64_t most = std::max<int64_t>(1, a.S / kMinChunk);
    const int64_t splits = std::clamp<int64_t>(want, 1, most);
    return ceil_div(a.S, chunk_keys(a, splits));  // no trailing empty split
}

// The partials (n rows of dv + 2 floats), then, for the tensor-core kernel, its staged q from the next
// multiple of 8 floats (32 bytes).
size_t mla_decode_workspace_bytes(const MlaDecodeArgs& a, int sm_count) {
    const int64_t n = a.B * a.T * mla_decode_splits(a, sm_count) * a.H;
    int64_t floats = n * (a.dv + 2);
    if (mla_decode_tc_applies(a)) floats = ceil_div(floats, 8) * 8 + mla_decode_tc_q_floats(a);
    return size_t(floats) * sizeof(float);
}

void mla_decode(const MlaDecodeArgs& a, void* workspace, int sm_count, cudaStream_t stream) {
    ENGINE_CHECK(mla_decode_supported(a.T, 1, a.dk, a.dv) && a.B >= 1 && a.H >= 1 && a.S >= a.q_pos0 + a.T &&
                     a.q_pos0 >= 0,
                 kInvalidArgument, "mla_decode: unsupported shape B ", a.B, " T ", a.T, " H ", a.H, " dk ", a.dk,
                 " dv ", a.dv, " S ", a.S, " q_pos0 ", a.q_pos0);
    const int64_t splits = mla_decode_splits(a, sm_count), chunk = chunk_keys(a, splits);
    const int64_t n = a.B * a.T * splits * a.H;  // partial rows
    float* ws = static_cast<float*>(workspace);
    const Partials part{ws, ws + n * a.dv, ws + n * a.dv + n};
    ENGINE_CHECK(a.B * a.T <= 65535 && ceil_div(a.H, kHeads) <= 65535, kInvalidArgument,
                 "mla_decode: grid too large: B·T ", a.B * a.T, ", heads ", a.H);
    const dim3 grid(unsigned(splits), unsigned(ceil_div(a.H, kHeads)), unsigned(a.B * a.T));
    if (mla_decode_tc_applies(a)) {
        mla_decode_tc_split(a, chunk, grid, part, ws + ceil_div(n * (a.dv + 2), 8) * 8, stream);  // checks its launches
    } else {
        const bool alias = alias_v(a);
        if (a.kv_bf16) {
            if (alias) mla_decode_split_kernel<true, __nv_bfloat16><<<grid, kThreads, 0, stream>>>(a, chunk, part);
            else mla_decode_split_kernel<false, __nv_bfloat16><<<grid, kThreads, 0, stream>>>(a, chunk, part);
        } else {
            if (alias) mla_decode_split_kernel<true, float><<<grid, kThreads, 0, stream>>>(a, chunk, part);
            else mla_decode_split_kernel<false, float><<<grid, kThreads, 0, stream>>>(a, chunk, part);
        }
        CUDA_CHECK_LAUNCH();
    }
    mla_decode_combine_kernel<<<dim3(unsigned(a.B * a.T), unsigned(a.H)), 128, 0, stream>>>(a, splits, part);
    CUDA_CHECK_LAUNCH();
}

}  // namespace cuda_backend
