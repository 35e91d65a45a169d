// matmul.cu — y = x·wᵀ (Linear) or y = x·w through cuBLAS, optionally batched over a leading dim.
//
// Row-major y[M, N] = x[M, K]·w[N, K]ᵀ is, in cuBLAS's column-major terms, yᵀ = w·xᵀ with w read as
// its transpose: GemmEx(OP_T, OP_N, m = N, n = M, k = K, A = w, B = x, C = y). For bf16/f16 weights
// the activation is cast to the weight dtype in the workspace (bf16 in, fp32 accumulate, fp32 out). F32
// weights: fp32, or TF32 / bf16 tensor cores when set_matmul_precision asked for them (training).
// Products of at most kGemvMaxM rows with an [out, in] weight go to gemv.cu instead.
#include "checks.h"
#include "common.cuh"
#include "cuda_backend.h"

namespace cuda_backend {

using engine::DType;
using engine::TensorView;

template <typename T>
__global__ void cast_rows_kernel(T* dst, const float* src, int64_t batch, int64_t rows, int64_t cols,
                                 int64_t src_batch_stride, int64_t src_row_stride) {
    int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (i >= batch * rows * cols) return;
    const int64_t c = i % cols, r = (i / cols) % rows, b = i / (cols * rows);
    const float v = src[b * src_batch_stride + r * src_row_stride + c];
    if constexpr (std::is_same_v<T, __nv_bfloat16>) dst[i] = __float2bfloat16(v);
    else dst[i] = __float2half(v);
}

void CudaBackend::matmul(const TensorView& y, const TensorView& x, const TensorView& w, bool w_transposed,
                         bool accumulate) {
    check_f32(y, "matmul", "y");
    check_f32(x, "matmul", "x");
    check_device(w, "matmul", "w");
    ENGINE_CHECK(x.ndim == w.ndim && y.ndim == x.ndim && (x.ndim == 2 || x.ndim == 3), kInvalidArgument,
                 "matmul: x ", x.shape_str(), ", w ", w.shape_str(), ", y ", y.shape_str(),
                 " must all be 2-D or all 3-D (batched)");
    const bool batched = x.ndim == 3;
    const int b0 = batched ? 1 : 0;
    const int64_t B = batched ? x.shape[0] : 1, M = x.shape[b0], K = x.shape[b0 + 1];
    const int64_t N = w_transposed ? w.shape[b0] : w.shape[b0 + 1];
    const int64_t wK = w_transposed ? w.shape[b0 + 1] : w.shape[b0];
    ENGINE_CHECK(wK == K && y.shape[b0] == M && y.shape[b0 + 1] == N && (!batched || (w.shape[0] == B && y.shape[0] == B)),
                 kInvalidArgument, "matmul: x ", x.shape_str(), " · w ", w.shape_str(),
                 w_transposed ? "ᵀ" : "", " does not give y ", y.shape_str());
    if (M == 0 || N == 0) return;
    if (gemv_applies(x, w_transposed) && (w.dtype == DType::F32 || w.dtype == DType::BF16 || w.dtype == DType::F16)) {
        gemv(y, x, w, accumulate);  // decode-sized: gemv.cu
        return;
    }
    const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    const int64_t ldx = x.stride[b0], ldw = w.stride[b0], ldy = y.stride[b0];
    const int64_t sx = batched ? x.stride[0] : 0, sw = batched ? w.stride[0] : 0, sy = batched ? y.stride[0] : 0;
    const cublasOperation_t op_w = w_transposed ? CUBLAS_OP_T : CUBLAS_OP_N;

    const void* xb = x.data;
    int64_t ldxb = ldx, sxb = sx;
    cudaDataType_t ab_type = CUDA_R_32F;
    if (w.dtype == DType::BF16 || w.dtype == DType::F16) {
        ab_type = w.dtype == DType::BF16 ? CUDA_R_16BF : CUDA_R_16F;
        void* cast = workspace(size_t(B * M * K) * 2);
        const int64_t n = B * M * K;
        if (w.dtype == DType::BF16)
            cast_rows_kernel<__nv_bfloat16><<<ceil_div(n, 256), 256, 0, stream_>>>(
                static_cast<__nv_bfloat16*>(cast), x.as<float>(), B, M, K, sx, ldx);
        else
            cast_rows_kernel<__half><<<ceil_div(n, 256), 256, 0, stream_>>>(static_cast<__half*>(cast), x.as<float>(),
                                                                             B, M, K, sx, ldx);
        CUDA_CHECK_LAUNCH();
        xb = cast;
        ldxb = K;
        sxb = M * K;
    } else {
        ENGINE_CHECK(w.dtype == DType::F32, kInvalidArgument, "matmul: weight dtype ", engine::dtype_name(w.dtype),
                     " is not F32/BF16/F16");
    }
    if (!batched) {
        CUBLAS_CHECK(cublasGemmEx(cublas_, op_w, CUBLAS_OP_N, int(N), int(M), int(K), &alpha, w.data, ab_type,
                                  int(ldw), xb, ab_type, int(ldxb), &beta, y.data, CUDA_R_32F, int(ldy),
                                  compute_type(ab_type), CUBLAS_GEMM_DEFAULT));
    } else {
        CUBLAS_CHECK(cublasGemmStridedBatchedEx(cublas_, op_w, CUBLAS_OP_N, int(N), int(M), int(K), &alpha, w.data,
                                                ab_type, int(ldw), sw, xb, ab_type, int(ldxb), sxb, &beta, y.data,
                                                CUDA_R_32F, int(ldy), sy, int(B), compute_type(ab_type),
                                                CUBLAS_GEMM_DEFAULT));
    }
}

}  // namespace cuda_backend
