// norm_rope.cu — RMSNorm, rotary embedding (adjacent pairs, YaRN frequencies given), embedding lookup.
#include "checks.h"
#include "common.cuh"
#include "cuda_backend.h"

namespace cuda_backend {

using engine::DType;
using engine::TensorView;

// One block per row; fp32 sum of squares reduced in shared memory.
template <typename W>
__global__ void rmsnorm_kernel(float* y, int64_t y_stride, const float* x, int64_t x_stride, const W* w,
                               int64_t n, float eps) {
    const int64_t r = blockIdx.x;
    const float* xr = x + r * x_stride;
    float* yr = y + r * y_stride;
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) ss += xr[i] * xr[i];
    __shared__ float partial[32];
    for (int off = 16; off > 0; off /= 2) ss += __shfl_xor_sync(0xffffffffu, ss, off);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x / 32] = ss;
    __syncthreads();
    if (threadIdx.x < 32) {
        ss = threadIdx.x < (blockDim.x + 31) / 32 ? partial[threadIdx.x] : 0.0f;
        for (int off = 16; off > 0; off /= 2) ss += __shfl_xor_sync(0xffffffffu, ss, off);
        if (threadIdx.x == 0) partial[0] = ss;
    }
    __syncthreads();
    const float inv = rsqrtf(partial[0] / float(n) + eps);
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] = to_float<W>(w[i]) * (xr[i] * inv);
}

// x: [T, heads, d] with strides; one thread per (t, head, pair).
__global__ void rope_kernel(float* x, int64_t T, int64_t heads, int64_t half, int64_t st, int64_t sh,
                            const int32_t* pos, const float* inv_freq, float attn_factor) {
    int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (i >= T * heads * half) return;
    const int64_t p = i % half, h = (i / half) % heads, t = i / (half * heads);
    const float angle = float(pos[t]) * inv_freq[p];  // fp32, like HF
    const float c = cosf(angle) * attn_factor, s = sinf(angle) * attn_factor;
    float* v = x + t * st + h * sh + 2 * p;
    const float a = v[0], b = v[1];
    v[0] = a * c - b * s;
    v[1] = b * c + a * s;
}

template <typename W>
__global__ void embedding_kernel(float* out, int64_t out_stride, const W* table, int64_t table_stride,
                                 const int32_t* ids, int64_t T, int64_t D) {
    int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (i >= T * D) return;
    const int64_t t = i / D, d = i % D;
    out[t * out_stride + d] = to_float<W>(table[int64_t(ids[t]) * table_stride + d]);
}

__global__ void max_id_kernel(const int32_t* ids, int64_t T, int32_t* result) {
    int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (i < T) {
        atomicMax(result, ids[i]);
        atomicMin(result + 1, ids[i]);
    }
}

void CudaBackend::rmsnorm(const TensorView& y, const TensorView& x, const TensorView& w, float eps) {
    check_f32(y, "rmsnorm", "y");
    check_f32(x, "rmsnorm", "x");
    check_device(w, "rmsnorm", "w");
    check_same_shape(y, x, "rmsnorm");
    check_rows(x, "rmsnorm", "x");
    check_rows(y, "rmsnorm", "y");
    ENGINE_CHECK(w.numel() == x.cols(), kInvalidArgument, "rmsnorm: w ", w.shape_str(), " does not match x ", x.shape_str());
    if (x.numel() == 0) return;
    dispatch_float(w.dtype, "rmsnorm", [&](auto tag_W) {
        using W = typename decltype(tag_W)::type;
        rmsnorm_kernel<W><<<x.rows(), 256, 0, stream_>>>(y.as<float>(), y.row_stride(), x.as<float>(),
                                                         x.row_stride(), w.as<W>(), x.cols(), eps);
    });
    CUDA_CHECK_LAUNCH();
}

void CudaBackend::rope(const TensorView& x, const TensorView& positions, const TensorView& inv_freq, float attn_factor) {
    check_f32(x, "rope", "x");
    check_device(positions, "rope", "positions");
    check_f32(inv_freq, "rope", "inv_freq");
    ENGINE_CHECK(x.ndim == 3 || x.ndim == 2, kInvalidArgument, "rope: x must be [T, heads, d] or [T, d], got ", x.shape_str());
    const int64_t T = x.shape[0], heads = x.ndim == 3 ? x.shape[1] : 1, d = x.shape[x.ndim - 1];
    ENGINE_CHECK(d % 2 == 0 && inv_freq.numel() == d / 2, kInvalidArgument, "rope: d = ", d,
                 " needs inv_freq of d/2 values, got ", inv_freq.shape_str());
    ENGINE_CHECK(positions.dtype == engine::DType::I32 && positions.numel() == T, kInvalidArgument,
                 "rope: positions must be I32 [", T, "]");
    const int64_t n = T * heads * (d / 2);
    if (n == 0) return;
    rope_kernel<<<ceil_div(n, 256), 256, 0, stream_>>>(x.as<float>(), T, heads, d / 2, x.stride[0],
                                                        x.ndim == 3 ? x.stride[1] : 0, positions.as<int32_t>(),
                                                        inv_freq.as<float>(), attn_factor);
    CUDA_CHECK_LAUNCH();
}

void CudaBackend::embedding(const TensorView& out, const TensorView& table, const TensorView& ids) {
    check_f32(out, "embedding", "out");
    check_device(table, "embedding", "table");
    check_device(ids, "embedding", "ids");
    ENGINE_CHECK(table.ndim == 2 && out.ndim == 2 && out.shape[1] == table.shape[1] && ids.dtype == DType::I32 &&
                     ids.numel() == out.shape[0],
                 kInvalidArgument, "embedding: out ", out.shape_str(), ", table ", table.shape_str(), ", ids ",
                 ids.shape_str(), " do not fit [T, D] = table[ids]");
    const int64_t T = out.shape[0], D = out.shape[1];
    if (T == 0) return;
    // Token ids come from user input: check the range on the device before reading the table.
    refuse_while_capturing("embedding's id range check (a read-back)");
    int32_t* range = static_cast<int32_t*>(workspace(2 * sizeof(int32_t)));
    const int32_t init[2] = {INT32_MIN, INT32_MAX};
    CUDA_CHECK(cudaMemcpyAsync(range, init, sizeof(init), cudaMemcpyHostToDevice, stream_));
    max_id_kernel<<<ceil_div(T, 256), 256, 0, stream_>>>(ids.as<int32_t>(), T, range);
    CUDA_CHECK_LAUNCH();
    int32_t got[2];
    CUDA_CHECK(cudaMemcpyAsync(got, range, sizeof(got), cudaMemcpyDeviceToHost, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    ENGINE_CHECK(got[1] >= 0 && got[0] < table.shape[0], kInvalidArgument, "embedding: token id out of range [0, ",
                 table.shape[0], "): ids span [", got[1], ", ", got[0], "]");
    dispatch_float(table.dtype, "embedding", [&](auto tag_W) {
        using W = typename decltype(tag_W)::type;
        embedding_kernel<W><<<ceil_div(T * D, 256), 256, 0, stream_>>>(out.as<float>(), out.stride[0], table.as<W>(),
                                                                        table.stride[0], ids.as<int32_t>(), T, D);
    });
    CUDA_CHECK_LAUNCH();
}

}  // namespace cuda_backend
