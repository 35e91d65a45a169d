// moe_train.cu — the MoE ops of training on the GPU: moe_permute (the routing choices sorted by expert,
// stable, so the per-expert GEMMs and the combine see tokens in the CPU's order) and moe_seq_aux_loss
// (DeepSeek-V3's sequence-wise balance loss and its gradient). References: engine/src/cpu/moe_train.cpp.
//
// moe_permute, three deterministic kernels (no atomics on anything but integer counts):
//   count  one block per chunk of 256 entries: a shared histogram of its experts -> counts [chunks, E]
//   scan   one block: offsets [E + 1] = exclusive scan of the per-expert totals, and each chunk's first
//          slot per expert base [chunks, E] (chunks in order, so the sort is stable)
//   place  one block per chunk: entry i goes to base[chunk, e] + #{earlier entries of its chunk with
//          expert e} (each thread counts over the chunk in shared memory: 256 compares)
// Then one read-back of E + 2 ints: the offsets and a count of ids outside [0, E) (-> kInternal).
//
// moe_seq_aux_loss: one block per sequence, 8 warps: the choices counted in a shared histogram (ints);
// P_e summed per warp into shared partials, then over warps in a fixed order; the loss of each sequence
// written to a [B] vector summed on the host in double; the gradient row by row (a warp per row).
// fp32 (the CPU reference is double): agreement ~1e-6 relative.
#include <algorithm>
#include <cmath>
#include <vector>

#include "common.cuh"
#include "reduce.cuh"
#include "cuda_backend.h"
#include "engine/detail/moe_train_checks.h"

namespace cuda_backend {

using engine::DType;
using engine::RouterParams;
using engine::Tensor;
using engine::TensorView;

namespace {

constexpr int kChunk = 256;        // entries per block in count / place (= threads per block)
constexpr int kMaxExperts = 512;   // as moe_route: E of one histogram / score row in shared memory
constexpr int kAuxWarps = 8;

// counts[c, e] = #{i in chunk c : idx[i] == e};  bad[0] += ids outside [0, E).
__global__ void permute_count_kernel(const int32_t* idx, int64_t n, int E, int32_t* counts, int32_t* bad) {
    __shared__ int32_t hist[kMaxExperts];
    for (int e = int(threadIdx.x); e < E; e += blockDim.x) hist[e] = 0;
    __syncthreads();
    const int64_t i = int64_t(blockIdx.x) * kChunk + threadIdx.x;
    if (i < n) {
        const int32_t e = idx[i];
        if (e >= 0 && e < E)
            atomicAdd(&hist[e], 1);
        else
            atomicAdd(bad, 1);
    }
    __syncthreads();
    for (int e = int(threadIdx.x); e < E; e += blockDim.x) counts[int64_t(blockIdx.x) * E + e] = hist[e];
}

// One block: thread e totals its expert over the chunks; thread 0 scans the totals into offsets
// (offsets[E] = the valid entries); then thread e writes base[c, e] for every chunk c.
__global__ void permute_scan_kernel(const int32_t* counts, int64_t chunks, int E, int32_t* base, int32_t* offsets) {
    __shared__ int32_t total[kMaxExperts];
    for (int e = int(threadIdx.x); e < E; e += blockDim.x) {
        int32_t t = 0;
        for (int64_t c = 0; c < chunks; ++c) t += counts[c * E + e];
        total[e] = t;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        int32_t run = 0;
        for (int e = 0; e < E; ++e) {
            offsets[e] = run;
            run += total[e];
        }
        offsets[E] = run;
    }
    __syncthreads();
    for (int e = int(threadIdx.x); e < E; e += blockDim.x) {
        int32_t run = offsets[e];
        for (int64_t c = 0; c < chunks; ++c) {
            base[c * E + e] = run;
            run += counts[c * E + e];
        }
    }
}

// Sorted entry at base[chunk, e] + rank: rows = token, slot = flat index, scale = its weight.
__global__ void permute_place_kernel(const int32_t* idx, const float* weights, int64_t n, int K, int E,
                                     const int32_t* base, int32_t* rows, int32_t* slot, float* scale) {
    __shared__ int32_t ids[kChunk];
    const int64_t i0 = int64_t(blockIdx.x) * kChunk, i = i0 + threadIdx.x;
    ids[threadIdx.x] = i < n ? idx[i] : -1;
    __syncthreads();
    if (i >= n) return;
    const int32_t e = ids[threadIdx.x];
    if (e < 0 || e >= E) return;  // counted as bad; the host throws
    int32_t rank = 0;
    for (int j = 0; j < int(threadIdx.x); ++j) rank += ids[j] == e;
    const int64_t at = base[int64_t(blockIdx.x) * E + e] + rank;
    rows[at] = int32_t(i / K);
    slot[at] = int32_t(i);
    scale[at] = weights[i];
}

// The scores of row `l` (E logits) for this lane's experts e = lane + 32j (j < kPer) and their sum z.
// Softmax: s = exp(l − max) / Σ, z = 1 (as the CPU reference); sigmoid: s = σ(l), z = Σ s.
constexpr int kPer = kMaxExperts / 32;
__device__ __forceinline__ float row_scores(const float* l, int E, bool softmax, int lane, float (&s)[kPer]) {
    float mx = -INFINITY;
    if (softmax) {
        for (int j = 0; j < kPer; ++j)
            if (lane + 32 * j < E) mx = fmaxf(mx, l[lane + 32 * j]);
        mx = warp_max(mx);
    }
    float z = 0.0f;
    for (int j = 0; j < kPer; ++j) {
        const int e = lane + 32 * j;
        s[j] = e < E ? (softmax ? expf(l[e] - mx) : 1.0f / (1.0f + expf(-l[e]))) : 0.0f;
        z += s[j];
    }
    z = warp_sum(z);
    if (softmax) {
        for (int j = 0; j < kPer; ++j) s[j] /= z;
        z = 1.0f;
    }
    return z;
}

// One block per sequence b (rows [b·T, (b+1)·T)).   logits, dlogits: [R, E]; idx: I32 [R, K]; loss: [B]
__global__ void __launch_bounds__(kAuxWarps * 32) seq_aux_kernel(float* dlogits, float* loss, const float* logits,
                                                                 const int32_t* idx, int64_t T, int K, int E,
                                                                 int64_t B, float alpha, bool softmax) {
    __shared__ int32_t cnt[kMaxExperts];
    __shared__ float part[kAuxWarps][kMaxExperts];  // per-warp Σ_t s'
    __shared__ float g[kMaxExperts];                // α f_e / (T·B): dL/ds'_e
    const int lane = int(threadIdx.x & 31), warp = int(threadIdx.x >> 5);
    const int64_t r0 = int64_t(blockIdx.x) * T;
    for (int e = int(threadIdx.x); e < E; e += blockDim.x) {
        cnt[e] = 0;
        for (int w = 0; w < kAuxWarps; ++w) part[w][e] = 0.0f;
    }
    __syncthreads();
    for (int64_t i = threadIdx.x; i < T * K; i += blockDim.x) {
        const int32_t e = idx[r0 * K + i];
        if (e >= 0 && e < E) atomicAdd(&cnt[e], 1);  // ids were range-checked by moe_permute's caller
    }
    float s[kPer];
    for (int64_t t = warp; t < T; t += kAuxWarps) {
        const float z = row_scores(logits + (r0 + t) * E, E, softmax, lane, s);
        for (int j = 0; j < kPer; ++j)
            if (lane + 32 * j < E) part[warp][lane + 32 * j] += s[j] / z;
    }
    __syncthreads();
    const float f_unit = float(E) / float(int64_t(K) * T);
    for (int e = int(threadIdx.x); e < E; e += blockDim.x) {
        float P = 0.0f;
        for (int w = 0; w < kAuxWarps; ++w) P += part[w][e];
        part[0][e] = float(cnt[e]) * f_unit * (P / float(T));  // f_e P_e
        g[e] = alpha * float(cnt[e]) * f_unit / float(T * B);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        float Lb = 0.0f;
        for (int e = 0; e < E; ++e) Lb += part[0][e];
        loss[blockIdx.x] = alpha * Lb / float(B);
    }
    for (int64_t t = warp; t < T; t += kAuxWarps) {
        const float* l = logits + (r0 + t) * E;
        const float z = row_scores(l, E, softmax, lane, s);
        float dot = 0.0f;
        for (int j = 0; j < kPer; ++j)
            if (lane + 32 * j < E) dot += g[lane + 32 * j] * (s[j] / z);
        dot = warp_sum(dot);
        float ds[kPer], d2 = 0.0f;
        for (int j = 0; j < kPer; ++j) {
            ds[j] = lane + 32 * j < E ? (g[lane + 32 * j] - dot) / z : 0.0f;
            d2 += ds[j] * s[j];
        }
        d2 = warp_sum(d2);
        float* dl = dlogits + (r0 + t) * E;
        for (int j = 0; j < kPer; ++j) {
            const int e = lane + 32 * j;
            if (e < E) dl[e] = softmax ? s[j] * (ds[j] - d2) : ds[j] * s[j] * (1.0f - s[j]);
        }
    }
}

}  // namespace

void CudaBackend::moe_permute(const TensorView& rows, const TensorView& slot, const TensorView& scale,
                              int64_t* offsets, int64_t E, const TensorView& idx, const TensorView& weights) {
    engine::check_moe_permute_args(rows, slot, scale, offsets, E, idx, weights, engine::Device::CUDA);
    ENGINE_CHECK(E <= kMaxExperts, kUnsupported, "moe_permute: ", E, " experts; the CUDA backend supports up to ",
                 kMaxExperts);
    const int64_t n = idx.numel(), K = idx.shape[1];
    ENGINE_CHECK(n < (int64_t(1) << 31), kUnsupported, "moe_permute: ", n, " routed entries do not fit in int32");
    const int64_t chunks = std::max<int64_t>(1, ceil_div(n, kChunk));
    // [chunks, E] counts, [chunks, E] bases, then E + 1 offsets and the bad-id count (read back together).
    Tensor work = alloc(DType::I32, {2 * chunks * E + E + 2});
    int32_t* counts = work.as<int32_t>();
    int32_t* base = counts + chunks * E;
    int32_t* tail = base + chunks * E;  // offsets [E + 1], bad
    permute_count_kernel<<<unsigned(chunks), kChunk, 0, stream_>>>(idx.as<const int32_t>(), n, int(E), counts,
                                                                    tail + E + 1);
    CUDA_CHECK_LAUNCH();
    permute_scan_kernel<<<1, 256, 0, stream_>>>(counts, chunks, int(E), base, tail);
    CUDA_CHECK_LAUNCH();
    permute_place_kernel<<<unsigned(chunks), kChunk, 0, stream_>>>(idx.as<const int32_t>(), weights.as<const float>(),
                                                                    n, int(K), int(E), base, rows.as<int32_t>(),
                                                                    slot.as<int32_t>(), scale.as<float>());
    CUDA_CHECK_LAUNCH();
    std::vector<int32_t> host(size_t(E + 2));
    copy(TensorView::contiguous(host.data(), DType::I32, {E + 2}),
         TensorView::contiguous(tail, DType::I32, {E + 2}, engine::Device::CUDA));
    ENGINE_CHECK(host[size_t(E + 1)] == 0, kInternal, "moe_permute: ", host[size_t(E + 1)],
                 " expert ids outside [0, ", E, ")");
    for (int64_t e = 0; e <= E; ++e) offsets[e] = host[size_t(e)];
}

double CudaBackend::moe_seq_aux_loss(const TensorView& dlogits, const TensorView& logits, const TensorView& idx,
                                     int64_t B, float alpha, RouterParams::Scoring scoring) {
    engine::check_moe_aux_args(dlogits, logits, idx, B, engine::Device::CUDA);
    const int64_t R = logits.shape[0], E = logits.shape[1], K = idx.shape[1];
    ENGINE_CHECK(E <= kMaxExperts, kUnsupported, "moe_seq_aux_loss: ", E,
                 " experts; the CUDA backend supports up to ", kMaxExperts);
    if (R == 0) return 0.0;
    Tensor loss = alloc(DType::F32, {B});
    seq_aux_kernel<<<unsigned(B), kAuxWarps * 32, 0, stream_>>>(
        dlogits.as<float>(), loss.as<float>(), logits.as<const float>(), idx.as<const int32_t>(), R / B, int(K),
        int(E), B, alpha, scoring == RouterParams::Scoring::kSoftmax);
    CUDA_CHECK_LAUNCH();
    std::vector<float> host(static_cast<size_t>(B));
    copy(TensorView::contiguous(host.data(), DType::F32, {B}), loss.view());
    double total = 0;
    for (float v : host) total += double(v);
    return total;
}

}  // namespace cuda_backend
