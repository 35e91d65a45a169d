// moe.cu — MoE routing (deepseek-arch.md §3), row gather and weighted scatter-add.
//
// Routing runs one thread per token (E ≤ 512 scores in registers/local memory): at decode and small
// prefill sizes the router is a negligible part of the step; a warp-per-token version comes with the
// fused permutation kernels. Ties pick the lower expert index (deterministic, like the CPU backend).
#include "checks.h"
#include "common.cuh"
#include "cuda_backend.h"

namespace cuda_backend {

using engine::RouterParams;
using engine::TensorView;

constexpr int kMaxExperts = 512;
constexpr int kMaxTopK = 16;

struct RouteParams {
    const float* logits; int64_t logits_stride;
    const float* bias;   // nullptr unless noaux_tc
    int32_t* idx; int64_t idx_stride;
    float* weights; int64_t w_stride;
    int64_t T;
    int E, K, n_group, topk_group;
    int method;          // 0 greedy, 1 group_limited_greedy, 2 noaux_tc
    bool sigmoid, norm_topk_prob;
    float rsf;
};

__global__ void moe_route_kernel(RouteParams p) {
    const int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (t >= p.T) return;
    const float* lg = p.logits + t * p.logits_stride;
    float s[kMaxExperts];    // scores used for the weights
    float sel[kMaxExperts];  // scores used for selection (biased for noaux_tc), masked groups = -inf
    if (p.sigmoid) {
        for (int e = 0; e < p.E; ++e) s[e] = 1.0f / (1.0f + expf(-lg[e]));
    } else {
        float m = -INFINITY, sum = 0.0f;
        for (int e = 0; e < p.E; ++e) m = fmaxf(m, lg[e]);
        for (int e = 0; e < p.E; ++e) sum += (s[e] = expf(lg[e] - m));
        for (int e = 0; e < p.E; ++e) s[e] /= sum;
    }
    for (int e = 0; e < p.E; ++e) sel[e] = s[e] + (p.method == 2 && p.bias ? p.bias[e] : 0.0f);
    if (p.method != 0 && p.n_group > 1) {
        const int per = p.E / p.n_group;
        float gscore[64];
        for (int g = 0; g < p.n_group; ++g) {
            float a = -INFINITY, b = -INFINITY;  // top-2 (noaux_tc: sum of them) or max
            for (int e = g * per; e < (g + 1) * per; ++e) {
                const float v = sel[e];
                if (v > a) { b = a; a = v; } else if (v > b) { b = v; }
            }
            gscore[g] = p.method == 2 ? a + (per > 1 ? b : 0.0f) : a;
        }
        bool keep[64];
        for (int g = 0; g < p.n_group; ++g) keep[g] = false;
        for (int r = 0; r < p.topk_group; ++r) {
            int best = -1;
            for (int g = 0; g < p.n_group; ++g)
                if (!keep[g] && (best < 0 || gscore[g] > gscore[best])) best = g;
            keep[best] = true;
        }
        // Masked experts score 0.0, as transformers does (DeepSeek's model.py uses -inf; they differ only
        // when fewer than K unmasked selection scores are positive).
        for (int e = 0; e < p.E; ++e)
            if (!keep[e / per]) sel[e] = 0.0f;
    }
    int chosen[kMaxTopK];
    float w[kMaxTopK];
    float total = 0.0f;
    for (int k = 0; k < p.K; ++k) {
        int best = -1;
        for (int e = 0; e < p.E; ++e) {
            bool taken = false;
            for (int j = 0; j < k; ++j) taken |= chosen[j] == e;
            if (!taken && (best < 0 || sel[e] > sel[best])) best = e;
        }
        chosen[k] = best;
        w[k] = s[best];
        total += w[k];
    }
    // Weight post-processing, one convention per method (the CPU's moe_route.cpp):
    //   noaux_tc: / Σ if norm_topk_prob, then always · rsf;
    //   greedy / group_limited_greedy (V2 remote code, exclusive branches): / Σ if K > 1 and
    //   norm_topk_prob, else · rsf.
    const bool noaux = p.method == 2;
    const bool norm = noaux ? p.norm_topk_prob : (p.K > 1 && p.norm_topk_prob);
    const float mul = (noaux || !norm) ? p.rsf : 1.0f;
    for (int k = 0; k < p.K; ++k) {
        float v = w[k];
        if (norm) v /= (total + 1e-20f);
        p.idx[t * p.idx_stride + k] = chosen[k];
        p.weights[t * p.w_stride + k] = v * mul;
    }
}

__global__ void gather_rows_kernel(float* dst, int64_t dst_stride, const float* src, int64_t src_stride,
                                   const int32_t* rows, int64_t n, int64_t D) {
    int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (i >= n * D) return;
    const int64_t r = i / D, d = i % D;
    dst[r * dst_stride + d] = src[int64_t(rows[r]) * src_stride + d];
}

__global__ void scatter_add_rows_kernel(float* dst, int64_t dst_stride, const float* src, int64_t src_stride,
                                        const int32_t* rows, const float* scale, int64_t n, int64_t D) {
    int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (i >= n * D) return;
    const int64_t r = i / D, d = i % D;
    atomicAdd(dst + int64_t(rows[r]) * dst_stride + d, scale[r] * src[r * src_stride + d]);
}

void CudaBackend::moe_route(const TensorView& idx, const TensorView& weights, const TensorView& logits,
                            const TensorView& bias, const RouterParams& rp) {
    check_f32(logits, "moe_route", "logits");
    check_f32(weights, "moe_route", "weights");
    check_device(idx, "moe_route", "idx");
    const int64_t T = logits.shape[0], E = logits.shape[1];
    ENGINE_CHECK(logits.ndim == 2 && E == rp.n_routed_experts && E <= kMaxExperts && rp.top_k >= 1 &&
                     rp.top_k <= kMaxTopK && rp.top_k <= E && rp.n_group >= 1 && rp.n_group <= 64 &&
                     E % rp.n_group == 0 && rp.topk_group >= 1 && rp.topk_group <= rp.n_group,
                 kInvalidArgument, "moe_route: logits ", logits.shape_str(), " with E = ", rp.n_routed_experts,
                 ", top_k = ", rp.top_k, ", groups ", rp.topk_group, "/", rp.n_group, " are not supported (E ≤ ",
                 kMaxExperts, ", top_k ≤ ", kMaxTopK, ", ≤ 64 groups dividing E)");
    ENGINE_CHECK(idx.dtype == engine::DType::I32 && idx.shape[0] == T && idx.shape[1] == rp.top_k &&
                     weights.shape[0] == T && weights.shape[1] == rp.top_k,
                 kInvalidArgument, "moe_route: idx ", idx.shape_str(), " and weights ", weights.shape_str(),
                 " must be [", T, ", ", rp.top_k, "]");
    const bool noaux = rp.method == RouterParams::Method::kNoauxTc;
    if (noaux && bias.data) {
        check_f32(bias, "moe_route", "bias");
        ENGINE_CHECK(bias.numel() == E, kInvalidArgument, "moe_route: bias ", bias.shape_str(), " must have ", E, " values");
    }
    if (T == 0) return;
    RouteParams p{logits.as<float>(), logits.stride[0], noaux ? static_cast<const float*>(bias.data) : nullptr,
                  idx.as<int32_t>(), idx.stride[0], weights.as<float>(), weights.stride[0], T, int(E), rp.top_k,
                  rp.n_group, rp.topk_group,
                  rp.method == RouterParams::Method::kGreedy ? 0 : rp.method == RouterParams::Method::kGroupLimitedGreedy ? 1 : 2,
                  rp.scoring == RouterParams::Scoring::kSigmoid, rp.norm_topk_prob, rp.routed_scaling_factor};
    moe_route_kernel<<<ceil_div(T, 64), 64, 0, stream_>>>(p);
    CUDA_CHECK_LAUNCH();
}

void CudaBackend::gather_rows(const TensorView& dst, const TensorView& src, const TensorView& rows) {
    check_f32(dst, "gather_rows", "dst");
    check_f32(src, "gather_rows", "src");
    check_device(rows, "gather_rows", "rows");
    ENGINE_CHECK(dst.ndim == 2 && src.ndim == 2 && dst.shape[1] == src.shape[1] && rows.dtype == engine::DType::I32 &&
                     rows.numel() == dst.shape[0],
                 kInvalidArgument, "gather_rows: dst ", dst.shape_str(), ", src ", src.shape_str(), ", rows ",
                 rows.shape_str(), " are inconsistent");
    const int64_t n = dst.shape[0], D = dst.shape[1];
    if (n * D == 0) return;
    gather_rows_kernel<<<ceil_div(n * D, 256), 256, 0, stream_>>>(dst.as<float>(), dst.stride[0], src.as<float>(),
                                                                   src.stride[0], rows.as<int32_t>(), n, D);
    CUDA_CHECK_LAUNCH();
}

void CudaBackend::scatter_add_rows(const TensorView& dst, const TensorView& src, const TensorView& rows,
                                   const TensorView& scale) {
    check_f32(dst, "scatter_add_rows", "dst");
    check_f32(src, "scatter_add_rows", "src");
    check_f32(scale, "scatter_add_rows", "scale");
    check_device(rows, "scatter_add_rows", "rows");
    ENGINE_CHECK(dst.ndim == 2 && src.ndim == 2 && dst.shape[1] == src.shape[1] && rows.dtype == engine::DType::I32 &&
                     rows.numel() == src.shape[0] && scale.numel() == src.shape[0],
                 kInvalidArgument, "scatter_add_rows: dst ", dst.shape_str(), ", src ", src.shape_str(), ", rows ",
                 rows.shape_str(), ", scale ", scale.shape_str(), " are inconsistent");
    const int64_t n = src.shape[0], D = src.shape[1];
    if (n * D == 0) return;
    scatter_add_rows_kernel<<<ceil_div(n * D, 256), 256, 0, stream_>>>(dst.as<float>(), dst.stride[0], src.as<float>(),
                                                                        src.stride[0], rows.as<int32_t>(),
                                                                        scale.as<float>(), n, D);
    CUDA_CHECK_LAUNCH();
}

}  // namespace cuda_backend
