// attention_decode_tc.cu — the split kernel of MLA decode attention on tensor cores, opt-in
// (MlaDecodeArgs::tensor_cores; the backend sets it with LATENT_CUDA_ATTENTION=tf32). Over an fp32 cache it
// runs TF32 WMMA m16n16k8; over a BF16 cache (`--kv-cache bf16`) BF16 WMMA m16n16k16 (twice TF32's rate,
// half the bytes: the form FlashMLA uses), with q and p rounded to bf16. One template, E = the element.
// Same grid, partials and combine as the fp32 SIMT kernel in attention_decode.cu, which stays the default
// until the device run has measured both (issue #5 asks for 80 % of copy bandwidth at H 16 and 128; the
// SIMT kernel is estimated at ~60 % at H 16 and compute-bound at H 128).
//
// q is first copied into the workspace padded to whole 16-head groups (zeros) with 32-byte aligned rows,
// so any head count works (GLM-4.7-Flash has 20) and WMMA's pointer rule holds; the padding heads' results
// are not written. One CTA = 16 heads × one split of keys of one query; 4 warps; tiles of 64 keys:
//   1. scores S [16, 64]: warp w multiplies Q [16, dk] (read from global as row-major A fragments) by
//      its 16 key rows (col-major B fragments straight from the cache: a 16-key group never crosses a
//      64-token page, because splits and tiles start at multiples of 64), dk / 8 mma steps; a group cut
//      by the end of the split is scored by plain fp32 dot products instead;
//   2. online softmax of S·scale in shared memory, 8 threads per head: running max m, sum l, and the
//      correction e^(m_old − m_new) of the rows already accumulated;
//   3. O [16, dv] (shared memory: a WMMA accumulator's element layout is unspecified, so rows cannot be
//      rescaled in registers) is multiplied by the corrections;
//   4. O += P [16, 64] · V [64, dv]: warp w owns dv/4 columns, 8-key (bf16: 16-key) mma steps with V rows
//      as row-major B fragments from the cache (v = the first dv columns of the k rows); keys past the
//      last whole step are added by the threads in fp32.
// q, k, v and p are rounded to TF32 (10 mantissa bits) or bf16 (7), products accumulate in fp32.
// Shared memory: O 16 × 516 + P 16 × 68 floats + 48 = 37.6 KB (static, under the 48 KB default); the
// bf16 form adds P as bf16, 16 × 72 × 2 B = 2.3 KB.
// Not measured: no session has had a GPU. Checked against the CPU in the CUDA emulator (which runs WMMA
// as whole-tile products per thread) by CudaParityDecode's TF32 cases.
#include <mma.h>

#include <type_traits>

#include "attention_decode.h"
#include "checks.h"
#include "common.cuh"
#include "reduce.cuh"

namespace cuda_backend {
namespace {

using namespace nvcuda;

constexpr int kTcThreads = 128, kTcHeads = 16, kTcTile = 64;
constexpr int kOLd = int(kMlaDecodeMaxDv) + 4;  // row stride of O in shared memory (a multiple of 4)
constexpr int kPLd = kTcTile + 4;               // row stride of S / P

constexpr int kPLdB = kTcTile + 8;              // row stride of P in bf16 (WMMA: a multiple of 8)

// The math of element type E: WMMA's type and k step, and the rounding the tensor cores apply.
template <class E>
struct TcMath;
template <>
struct TcMath<float> {
    using Prec = wmma::precision::tf32;
    static constexpr int kK = 8;
    __device__ static float round(float x) { return wmma::__float_to_tf32(x); }
};
template <>
struct TcMath<__nv_bfloat16> {
    using Prec = __nv_bfloat16;
    static constexpr int kK = 16;
    __device__ static float round(float x) { return __bfloat162float(__float2bfloat16(x)); }
};

template <class E>
using FragA = wmma::fragment<wmma::matrix_a, 16, 16, TcMath<E>::kK, typename TcMath<E>::Prec, wmma::row_major>;
template <class E>
using FragBCol = wmma::fragment<wmma::matrix_b, 16, 16, TcMath<E>::kK, typename TcMath<E>::Prec, wmma::col_major>;
template <class E>
using FragBRow = wmma::fragment<wmma::matrix_b, 16, 16, TcMath<E>::kK, typename TcMath<E>::Prec, wmma::row_major>;
template <class E>
using FragC = wmma::fragment<wmma::accumulator, 16, 16, TcMath<E>::kK, float>;

// TF32 fragments are loaded as fp32 and must be rounded; bf16 ones hold bf16 already.
template <class E, class Frag>
__device__ __forceinline__ void round_operand(Frag& f) {
    if constexpr (std::is_same_v<E, float>)
        for (int i = 0; i < f.num_elements; ++i) f.x[i] = wmma::__float_to_tf32(f.x[i]);
}

// grid (splits, H / 16, B·T), kTcThreads threads. E: the cache's element (float or __nv_bfloat16); q_stage
// holds q in E (stage_q_kernel), rows q_sh apart.
template <class E>
__global__ void __launch_bounds__(kTcThreads) mla_decode_tc_kernel(MlaDecodeArgs a, const E* q_stage, int64_t chunk,
                                                                   MlaDecodePartials part) {
    using M = TcMath<E>;
    constexpr int kK = M::kK;
    constexpr bool kBf16 = !std::is_same_v<E, float>;
    __shared__ __align__(32) float os[kTcHeads * kOLd];  // [16, dv] Σ p·v, unnormalised
    __shared__ __align__(32) float ps[kTcHeads * kPLd];  // [16, 64] this tile's scores, then probabilities
    __shared__ __align__(32) E pb[kBf16 ? kTcHeads * kPLdB : 8];  // bf16: the probabilities as the A operand
    __shared__ float ms[kTcHeads], ls[kTcHeads], cs[kTcHeads];  // running max, running sum, tile correction
    const int tid = int(threadIdx.x), lane = tid & 31, warp = tid >> 5;
    const int64_t split = blockIdx.x, n_splits = gridDim.x, row = blockIdx.z;
    const E* cache = static_cast<const E*>(a.k);  // mla_decode_tc_applies: E matches a.kv_bf16
    const int64_t h0 = int64_t(blockIdx.y) * kTcHeads;
    const int64_t b = row / a.T, t = row % a.T;
    const int64_t n_keys = min(a.S, a.q_pos0 + t + 1);
    const int64_t s_begin = split * chunk, s_end = min(n_keys, s_begin + chunk);
    const int dk = int(a.dk), dv = int(a.dv), cols = dv / 4;  // cols: this warp's share of dv
    const E* q = q_stage + b * a.q_sb + t * a.q_st + h0 * a.q_sh;  // [16, dk], rows q_sh apart

    for (int i = tid; i < kTcHeads * dv; i += kTcThreads) os[(i / dv) * kOLd + i % dv] = 0.0f;
    if (tid < kTcHeads) {
        ms[tid] = -INFINITY;
        ls[tid] = 0.0f;
    }
    __syncthreads();

    for (int64_t s0 = s_begin; s0 < s_end; s0 += kTcTile) {
        const int nk = int(min(int64_t(kTcTile), s_end - s0));  // live keys of this tile
        // 1. scores of the 16 heads against this warp's keys k0 .. k0 + 15
        const int k0 = warp * 16;
        if (k0 + 16 <= nk) {
            const E* kp = mla_row_ptr(cache, a.k_ld, a.k_sb, a.block_table, a.bt_ld, b, s0 + k0);
            FragC<E> sc;
            wmma::fill_fragment(sc, 0.0f);
            FragA<E> fa;
            FragBCol<E> fb;
            for (int kk = 0; kk < dk; kk += kK) {
                wmma::load_matrix_sync(fa, q + kk, unsigned(a.q_sh));
                wmma::load_matrix_sync(fb, kp + kk, unsigned(a.k_ld));
                round_operand<E>(fa);
                round_operand<E>(fb);
                wmma::mma_sync(sc, fa, fb, sc);
            }
            wmma::store_matrix_sync(ps + k0, sc, kPLd, wmma::mem_row_major);
        } else {
            for (int r = k0; r < nk; ++r) {  // a group cut by the split's end: fp32 dots, lanes over dk
                const E* kp = mla_row_ptr(cache, a.k_ld, a.k_sb, a.block_table, a.bt_ld, b, s0 + r);
                for (int h = 0; h < kTcHeads; ++h) {
                    float d = 0.0f;
                    for (int i = lane; i < dk; i += 32) d += to_float(q[h * a.q_sh + i]) * to_float(kp[i]);
                    d = warp_sum(d);
                    if (lane == 0) ps[h * kPLd + r] = d;
                }
            }
        }
        __syncthreads();

        // 2. online softmax, 8 threads per head (a head's 8 threads are 8 lanes of one warp)
        {
            const int h = tid >> 3, sub = tid & 7;
            float* p = ps + h * kPLd;
            float mx = -INFINITY;
            for (int c = sub; c < nk; c += 8) mx = fmaxf(mx, p[c] * a.scale);
            mx = warp_max<8>(mx);
            const float m_old = ms[h], m_new = fmaxf(m_old, mx);  // finite: key 0 of the tile is live
            float sum = 0.0f;
            for (int c = sub; c < kTcTile; c += 8) {
                const float e = c < nk ? M::round(expf(p[c] * a.scale - m_new)) : 0.0f;
                p[c] = e;  // the value the mma uses is the value summed
                if constexpr (kBf16) pb[h * kPLdB + c] = __float2bfloat16(e);  // exact: e is rounded
                sum += e;
            }
            sum = warp_sum<8>(sum);
            if (sub == 0) {
                const float corr = expf(m_old - m_new);  // 0 on the first tile (m_old = −inf)
                cs[h] = corr;
                ls[h] = ls[h] * corr + sum;
                ms[h] = m_new;
            }
        }
        __syncthreads();

        // 3. the rows accumulated so far, to the new max
        for (int i = tid; i < kTcHeads * dv; i += kTcThreads) os[(i / dv) * kOLd + i % dv] *= cs[i / dv];
        __syncthreads();

        // 4. O[:, this warp's columns] += P · V over the whole kK-key steps
        const int whole = nk & ~(kK - 1);
        for (int n0 = warp * cols; n0 < (warp + 1) * cols; n0 += 16) {
            FragC<E> acc;
            wmma::load_matrix_sync(acc, os + n0, kOLd, wmma::mem_row_major);
            FragA<E> pa;
            FragBRow<E> vb;
            for (int kk = 0; kk < whole; kk += kK) {
                const E* vp = mla_row_ptr(cache, a.k_ld, a.k_sb, a.block_table, a.bt_ld, b, s0 + kk) + n0;
                if constexpr (kBf16) wmma::load_matrix_sync(pa, pb + kk, kPLdB);
                else wmma::load_matrix_sync(pa, ps + kk, kPLd);  // already TF32
                wmma::load_matrix_sync(vb, vp, unsigned(a.k_ld));
                round_operand<E>(vb);
                wmma::mma_sync(acc, pa, vb, acc);
            }
            __syncwarp();  // every lane has read this O tile before any lane writes it back
            wmma::store_matrix_sync(os + n0, acc, kOLd, wmma::mem_row_major);
        }
        if (whole < nk) {  // the last < kK keys of the split, in fp32
            __syncthreads();
            for (int i = tid; i < kTcHeads * dv; i += kTcThreads) {
                const int h = i / dv, d = i % dv;
                float add = 0.0f;
                for (int r = whole; r < nk; ++r)
                    add += ps[h * kPLd + r] * to_float(mla_row_ptr(cache, a.k_ld, a.k_sb, a.block_table, a.bt_ld, b,
                                                                   s0 + r)[d]);
                os[h * kOLd + d] += add;
            }
        }
        __syncthreads();  // before the next tile's scores overwrite ps
    }

    // Partials of this split's real heads (an empty split writes m = −inf, l = 0, o = 0).
    for (int i = tid; i < kTcHeads * dv; i += kTcThreads) {
        const int h = i / dv, d = i % dv;
        if (h0 + h < a.H) part.o[((row * n_splits + split) * a.H + h0 + h) * dv + d] = os[h * kOLd + d];
    }
    if (tid < kTcHeads && h0 + tid < a.H) {
        const int64_t idx = (row * n_splits + split) * a.H + h0 + tid;
        part.m[idx] = ms[tid];
        part.l[idx] = ls[tid];
    }
}

// qs[row, h, :] = q[b, t, h, :] as E for h < H, zeros for the heads that pad H to a multiple of 16.
// qs: [B·T, Hp, dk] contiguous (32-byte aligned rows: dk a multiple of the k step).
template <class E>
__global__ void stage_q_kernel(E* qs, MlaDecodeArgs a, int64_t Hp) {
    const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= a.B * a.T * Hp * a.dk) return;
    const int64_t d = i % a.dk, h = (i / a.dk) % Hp, row = i / (a.dk * Hp), b = row / a.T, t = row % a.T;
    const float v = h < a.H ? a.q[b * a.q_sb + t * a.q_st + h * a.q_sh + d] : 0.0f;
    if constexpr (std::is_same_v<E, float>) qs[i] = v;
    else qs[i] = __float2bfloat16(v);
}

template <class E>
void launch_tc(const MlaDecodeArgs& a, int64_t chunk, dim3 grid, const MlaDecodePartials& part, void* q_stage,
               cudaStream_t stream) {
    // q, padded to whole 16-head groups and 32-byte aligned rows, as WMMA loads it.
    const int64_t Hp = ceil_div(a.H, kTcHeads) * kTcHeads, n = a.B * a.T * Hp * a.dk;
    E* qs = static_cast<E*>(q_stage);
    stage_q_kernel<E><<<unsigned(ceil_div(n, 256)), 256, 0, stream>>>(qs, a, Hp);
    CUDA_CHECK_LAUNCH();
    MlaDecodeArgs s = a;
    s.q = nullptr, s.q_sb = a.T * Hp * a.dk, s.q_st = Hp * a.dk, s.q_sh = a.dk;  // the strides of qs
    mla_decode_tc_kernel<E><<<grid, kTcThreads, 0, stream>>>(s, qs, chunk, part);
    CUDA_CHECK_LAUNCH();
}

}  // namespace

bool mla_decode_tc_applies(const MlaDecodeArgs& a) {
    const int64_t step = a.kv_bf16 ? 16 : 8;  // the k step, and the elements in 32 bytes
    return a.tensor_cores && alias_v(a) && a.dk % step == 0 && a.dv % 64 == 0 && a.dv <= kMlaDecodeMaxDv &&
           is_aligned(a.k, 32) && a.k_ld % step == 0 && (a.block_table != nullptr || a.k_sb % step == 0);
}

int64_t mla_decode_tc_q_floats(const MlaDecodeArgs& a) {
    return a.B * a.T * ceil_div(a.H, kTcHeads) * kTcHeads * a.dk;
}

void mla_decode_tc_split(const MlaDecodeArgs& a, int64_t chunk, dim3 grid, const MlaDecodePartials& part,
                         float* q_stage, cudaStream_t stream) {
    ENGINE_CHECK(mla_decode_tc_applies(a) && chunk % kTcTile == 0 && is_aligned(q_stage, 32), kInternal,
                 "mla_decode_tc_split: called for a shape it does not handle");
    if (a.kv_bf16) launch_tc<__nv_bfloat16>(a, chunk, grid, part, q_stage, stream);  // q_stage holds twice this
    else launch_tc<float>(a, chunk, grid, part, q_stage, stream);
}

}  // namespace cuda_backend
