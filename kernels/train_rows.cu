// train_rows.cu — training ops addressed by row indices: embedding backward, the MoE combine's backward
// (scatter_add_rows_backward) and the router backward (moe_router_backward).
//
// Semantics are backend.h's "training ops" and the CPU reference's (engine/src/cpu/train_ops.cpp,
// train_kernels.h). Indices that come from data (token ids, combine rows) are range-checked on the
// device before any kernel uses them to address memory (one synchronising 8-byte read-back), because
// the CPU checks them too and an out-of-range id would write outside a tensor.
#include <climits>

#include "checks.h"
#include "common.cuh"
#include "cuda_backend.h"
#include "reduce.cuh"

namespace cuda_backend {

using engine::DType;
using engine::RouterParams;
using engine::TensorView;

namespace {

constexpr int kRouterMaxExperts = 512;  // as moe_route (moe.cu): the scores of one token live in local memory

// range[0] = min ids, range[1] = max ids (range initialised to INT_MAX, INT_MIN).   ids: I32 [n]
__global__ void index_range_kernel(const int32_t* ids, int64_t n, int32_t* range) {
    int32_t lo = INT_MAX, hi = INT_MIN;
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
        lo = min(lo, ids[i]);
        hi = max(hi, ids[i]);
    }
    atomicMin(range, lo);
    atomicMax(range + 1, hi);
}

// dtable[ids[t], :] += dout[t, :], one thread per (t, d). atomicAdd because a token id may repeat:
// the order in which repeated rows add up is NOT deterministic (last-bit differences between runs).
// dtable: [V, D] (row stride lt); dout: [T, D] (row stride lo); ids: I32 [T]
__global__ void embedding_backward_kernel(float* dtable, int64_t lt, const float* dout, int64_t lo,
                                          const int32_t* ids, int64_t T, int64_t D) {
    const int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (j >= T * D) return;
    const int64_t t = j / D, d = j % D;
    atomicAdd(dtable + int64_t(ids[t]) * lt + d, dout[t * lo + d]);
}

// One warp per combine pair i:  dsrc[i, :] = scale[i]·dy[rows[i], :],  dscale[i] = <dy[rows[i], :], src[i, :]>.
// Each lane reads src[i, j] before writing dsrc[i, j], so dsrc may alias src (the CPU allows that too).
// dsrc, src: [n, D]; dy: [rows of y, D]; rows: I32 [n]; scale, dscale: F32 [n]
__global__ void scatter_add_rows_backward_kernel(float* dsrc, int64_t ldds, float* dscale, const float* dy,
                                                 int64_t ly, const float* src, int64_t ls, const int32_t* rows,
                                                 const float* scale, int64_t n, int64_t D) {
    const int64_t i = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32;  // the same for the whole warp
    const int lane = int(threadIdx.x & 31);
    if (i >= n) return;
    const float* g = dy + int64_t(rows[i]) * ly;
    const float* s = src + i * ls;
    const float sc = scale[i];
    float dot = 0.0f;
    for (int64_t j = lane; j < D; j += 32) {
        const float gj = g[j];
        dot += gj * s[j];
        dsrc[i * ldds + j] = sc * gj;
    }
    dot = warp_reduce(dot, SumOp{});
    if (lane == 0) dscale[i] = dot;
}

struct RouterGradParams {
    float* dlogits;         // [T, E] overwritten
    const float* dweights;  // [T, K]
    const float* logits;    // [T, E]
    const int32_t* idx;     // I32 [T, K] from moe_route
    int64_t T;
    int E, K;
    bool softmax, norm;
    float rsf;
};

// One thread per token, the CPU's loops in the CPU's order (train_kernels.h moe_router_backward):
// s = softmax(logits) or sigmoid(logits); ds[idx[k]] from dweights through the optional normalisation
// and the scaling; dlogits = the Jacobian of s applied to ds. Experts outside [0, E) (never produced
// by moe_route) are skipped rather than addressed.
__global__ void moe_router_backward_kernel(RouterGradParams p) {
    const int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (t >= p.T) return;
    const int E = p.E, K = p.K;
    const float* l = p.logits + t * E;
    float s[kRouterMaxExperts], ds[kRouterMaxExperts];
    if (p.softmax) {
        float mx = l[0];
        for (int e = 1; e < E; ++e) mx = fmaxf(mx, l[e]);
        float sum = 0.0f;
        for (int e = 0; e < E; ++e) sum += (s[e] = expf(l[e] - mx));
        for (int e = 0; e < E; ++e) s[e] /= sum;
    } else {
        for (int e = 0; e < E; ++e) s[e] = 1.0f / (1.0f + expf(-l[e]));
    }
    for (int e = 0; e < E; ++e) ds[e] = 0.0f;
    const int32_t* it = p.idx + t * K;
    const float* dw = p.dweights + t * K;
    if (p.norm) {
        // w_k = rsf·s_k/Z, Z = Σ_j s_j + 1e-20:  dL/ds_k = rsf·(dw_k − Σ_j dw_j·s_j/Z)/Z
        float z = 0.0f;
        for (int k = 0; k < K; ++k)
            if (it[k] >= 0 && it[k] < E) z += s[it[k]];
        z += 1e-20f;
        float dot = 0.0f;
        for (int k = 0; k < K; ++k)
            if (it[k] >= 0 && it[k] < E) dot += dw[k] * s[it[k]] / z;
        for (int k = 0; k < K; ++k)
            if (it[k] >= 0 && it[k] < E) ds[it[k]] += p.rsf * (dw[k] - dot) / z;
    } else {
        for (int k = 0; k < K; ++k)
            if (it[k] >= 0 && it[k] < E) ds[it[k]] += p.rsf * dw[k];
    }
    float* dl = p.dlogits + t * E;
    if (p.softmax) {
        float dot = 0.0f;
        for (int e = 0; e < E; ++e) dot += ds[e] * s[e];
        for (int e = 0; e < E; ++e) dl[e] = s[e] * (ds[e] - dot);
    } else {
        for (int e = 0; e < E; ++e) dl[e] = ds[e] * s[e] * (1.0f - s[e]);
    }
}

}  // namespace

void CudaBackend::check_index_range(const TensorView& ids, int64_t limit, const char* op, const char* name) {
    const int64_t n = ids.numel();
    if (n == 0) return;
    refuse_while_capturing("an index range check (a read-back)");
    int32_t* range = static_cast<int32_t*>(workspace(2 * sizeof(int32_t)));
    const int32_t init[2] = {INT_MAX, INT_MIN};
    CUDA_CHECK(cudaMemcpyAsync(range, init, sizeof(init), cudaMemcpyHostToDevice, stream_));
    const int64_t blocks = std::min<int64_t>(ceil_div(n, 256), 1024);
    index_range_kernel<<<unsigned(blocks), 256, 0, stream_>>>(ids.as<int32_t>(), n, range);
    CUDA_CHECK_LAUNCH();
    int32_t got[2];
    CUDA_CHECK(cudaMemcpyAsync(got, range, sizeof(got), cudaMemcpyDeviceToHost, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    ENGINE_CHECK(got[0] >= 0 && got[1] < limit, kInvalidArgument, op, ": ", name, " span [", got[0], ", ", got[1],
                 "], outside [0, ", limit, ")");
}

void CudaBackend::embedding_backward(const TensorView& dtable, const TensorView& dout, const TensorView& ids) {
    const char* op = "embedding_backward";
    check_f32(dtable, op, "dtable");
    check_f32(dout, op, "dout");
    check_device(ids, op, "ids");
    const int64_t lt = row_ld(dtable, op, "dtable"), lo = row_ld(dout, op, "dout");
    ENGINE_CHECK(ids.dtype == DType::I32 && ids.is_contiguous() && ids.numel() == dout.rows() &&
                     dout.cols() == dtable.cols(),
                 kInvalidArgument, op, ": dtable ", dtable.shape_str(), ", dout ", dout.shape_str(), ", ids ",
                 ids.shape_str(), " are inconsistent (need I32 ids, one per dout row)");
    const int64_t T = dout.rows(), D = dout.cols();
    if (T == 0) return;
    check_index_range(ids, dtable.rows(), op, "ids");
    if (D == 0) return;
    embedding_backward_kernel<<<ceil_div(T * D, 256), 256, 0, stream_>>>(dtable.as<float>(), lt, dout.as<float>(), lo,
                                                                         ids.as<int32_t>(), T, D);
    CUDA_CHECK_LAUNCH();
}

void CudaBackend::scatter_add_rows_backward(const TensorView& dsrc, const TensorView& dscale, const TensorView& dy,
                                            const TensorView& src, const TensorView& rows, const TensorView& scale) {
    const char* op = "scatter_add_rows_backward";
    check_f32(dsrc, op, "dsrc");
    check_f32(dscale, op, "dscale");
    check_f32(dy, op, "dy");
    check_f32(src, op, "src");
    check_f32(scale, op, "scale");
    check_device(rows, op, "rows");
    const int64_t ls = row_ld(src, op, "src"), ldds = row_ld(dsrc, op, "dsrc"), ly = row_ld(dy, op, "dy");
    check_same_shape(dsrc, src, op);
    const int64_t n = src.rows(), D = src.cols();
    ENGINE_CHECK(rows.dtype == DType::I32 && rows.numel() == n && scale.numel() == n && dscale.numel() == n &&
                     rows.is_contiguous() && scale.is_contiguous() && dscale.is_contiguous() && dy.cols() == D,
                 kInvalidArgument, op, ": src ", src.shape_str(), ", rows ", rows.shape_str(), ", scale ",
                 scale.shape_str(), ", dscale ", dscale.shape_str(), ", dy ", dy.shape_str(), " are inconsistent");
    if (n == 0) return;
    check_index_range(rows, dy.rows(), op, "rows");
    scatter_add_rows_backward_kernel<<<ceil_div(n * 32, 128), 128, 0, stream_>>>(
        dsrc.as<float>(), ldds, dscale.as<float>(), dy.as<float>(), ly, src.as<float>(), ls, rows.as<int32_t>(),
        scale.as<float>(), n, D);
    CUDA_CHECK_LAUNCH();
}

void CudaBackend::moe_router_backward(const TensorView& dlogits, const TensorView& dweights, const TensorView& logits,
                                      const TensorView& idx, const RouterParams& params) {
    const char* op = "moe_router_backward";
    const TensorView* all[4] = {&dlogits, &dweights, &logits, &idx};
    for (const TensorView* v : all) {
        check_device(*v, op, "operand");
        ENGINE_CHECK(v->is_contiguous() && v->ndim == 2, kInvalidArgument, op,
                     ": every operand must be a contiguous 2-D tensor, got ", v->shape_str());
    }
    check_f32(dlogits, op, "dlogits");
    check_f32(dweights, op, "dweights");
    check_f32(logits, op, "logits");
    ENGINE_CHECK(idx.dtype == DType::I32, kInvalidArgument, op, ": idx must be I32, got ", engine::dtype_name(idx.dtype));
    const int64_t T = logits.shape[0], E = logits.shape[1], K = idx.shape[1];
    check_same_shape(dlogits, logits, op);
    ENGINE_CHECK(idx.shape[0] == T && dweights.shape[0] == T && dweights.shape[1] == K, kInvalidArgument, op, ": idx ",
                 idx.shape_str(), " and dweights ", dweights.shape_str(), " must be [", T, ", K]");
    ENGINE_CHECK(E <= kRouterMaxExperts, kInvalidArgument, op, ": ", E, " experts; the CUDA router supports up to ",
                 kRouterMaxExperts);
    if (T == 0 || E == 0) return;
    // The weight convention of moe_route (and of the CPU): noaux_tc normalises (if asked) and then scales;
    // the other methods either normalise (K > 1 and norm_topk_prob) or scale, never both.
    bool norm = params.norm_topk_prob;
    float rsf = params.routed_scaling_factor;
    if (params.method != RouterParams::Method::kNoauxTc) {
        norm = K > 1 && params.norm_topk_prob;
        if (norm) rsf = 1.0f;
    }
    RouterGradParams p{dlogits.as<float>(), dweights.as<float>(), logits.as<float>(), idx.as<int32_t>(), T, int(E),
                       int(K), params.scoring == RouterParams::Scoring::kSoftmax, norm, rsf};
    moe_router_backward_kernel<<<ceil_div(T, 64), 64, 0, stream_>>>(p);
    CUDA_CHECK_LAUNCH();
}

}  // namespace cuda_backend
