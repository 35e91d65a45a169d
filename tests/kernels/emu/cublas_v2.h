// cublas_v2.h (emulated) — cuBLAS handle calls as no-ops and GemmEx / GemmStridedBatchedEx as a column-major
// reference GEMM (f32/bf16/f16 inputs, f32 output, double accumulation) that checks lda/ldb/ldc as cuBLAS does.
// Under stream capture the GEMM is recorded (alpha and beta by value, as cuBLAS's host pointer mode does).
#pragma once
#include "cuda_runtime.h"
#include "cuda_bf16.h"
#include "cuda_fp16.h"
enum cublasStatus_t { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_INVALID_VALUE = 7, CUBLAS_STATUS_NOT_SUPPORTED = 15 };
enum cublasOperation_t { CUBLAS_OP_N, CUBLAS_OP_T };
enum cudaDataType_t { CUDA_R_32F, CUDA_R_16BF, CUDA_R_16F };
// The fast compute types are computed exactly here (the emulator checks arguments, not tensor-core rounding).
enum cublasComputeType_t { CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_COMPUTE_32F_FAST_16BF };
enum cublasGemmAlgo_t { CUBLAS_GEMM_DEFAULT };
enum cublasMath_t { CUBLAS_DEFAULT_MATH };
using cublasHandle_t = void*;
inline const char* cublasGetStatusName(cublasStatus_t) { return "emu"; }
inline cublasStatus_t cublasCreate(cublasHandle_t* h) { static int d; *h = &d; return CUBLAS_STATUS_SUCCESS; }
inline cublasStatus_t cublasDestroy(cublasHandle_t) { return CUBLAS_STATUS_SUCCESS; }
inline cublasStatus_t cublasSetStream(cublasHandle_t, cudaStream_t) { return CUBLAS_STATUS_SUCCESS; }
inline cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t) { return CUBLAS_STATUS_SUCCESS; }
inline cublasStatus_t cublasSetWorkspace(cublasHandle_t, void*, size_t) { return CUBLAS_STATUS_SUCCESS; }
namespace emu {
inline float load(const void* p, cudaDataType_t t, size_t i) {
    if (t == CUDA_R_32F) return static_cast<const float*>(p)[i];
    if (t == CUDA_R_16BF) return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    return __half2float(static_cast<const __half*>(p)[i]);
}
}
inline cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                                 int k, const void* alpha, const void* A, cudaDataType_t at, int lda,
                                                 long long sa, const void* B, cudaDataType_t bt, int ldb, long long sb,
                                                 const void* beta, void* C, cudaDataType_t ct, int ldc, long long sc,
                                                 int batch, cublasComputeType_t, cublasGemmAlgo_t) {
    const int rowsA = ta == CUBLAS_OP_N ? m : k, rowsB = tb == CUBLAS_OP_N ? k : n;
    if (m < 0 || n < 0 || k < 0 || batch < 0 || ct != CUDA_R_32F || at != bt || lda < std::max(1, rowsA) ||
        ldb < std::max(1, rowsB) || ldc < std::max(1, m))
        return CUBLAS_STATUS_INVALID_VALUE;
    const float a = *static_cast<const float*>(alpha), b = *static_cast<const float*>(beta);
    auto run = [=] {
    for (int bi = 0; bi < batch; ++bi) {
        float* Cp = static_cast<float*>(C) + bi * sc;
        const size_t oa = size_t(bi * sa), ob = size_t(bi * sb);
        for (int j = 0; j < n; ++j)
            for (int i = 0; i < m; ++i) {
                double acc = 0;
                for (int l = 0; l < k; ++l) {
                    const float x = emu::load(A, at, oa + (ta == CUBLAS_OP_N ? i + size_t(l) * lda : l + size_t(i) * lda));
                    const float y = emu::load(B, bt, ob + (tb == CUBLAS_OP_N ? l + size_t(j) * ldb : j + size_t(l) * ldb));
                    acc += double(x) * y;
                }
                float& c = Cp[i + size_t(j) * ldc];
                c = float(a * acc + (b == 0.0f ? 0.0 : double(b) * c));
            }
    }
    };
    if (emu::t_capture)
        emu::t_capture->ops.push_back(run);
    else
        run();
    return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                   const void* alpha, const void* A, cudaDataType_t at, int lda, const void* B,
                                   cudaDataType_t bt, int ldb, const void* beta, void* C, cudaDataType_t ct, int ldc,
                                   cublasComputeType_t c, cublasGemmAlgo_t g) {
    return cublasGemmStridedBatchedEx(h, ta, tb, m, n, k, alpha, A, at, lda, 0, B, bt, ldb, 0, beta, C, ct, ldc, 0, 1, c, g);
}
// Grouped GEMM: each group's problems through the reference GEMM above (pointer arrays read at call time,
// like the arrays cuBLAS takes from device memory when the stream reaches the call).
inline cublasStatus_t cublasGemmGroupedBatchedEx(cublasHandle_t h, const cublasOperation_t ta[], const cublasOperation_t tb[],
                                                 const int m[], const int n[], const int k[], const void* alpha,
                                                 const void* const A[], cudaDataType_t at, const int lda[],
                                                 const void* const B[], cudaDataType_t bt, const int ldb[],
                                                 const void* beta, void* const C[], cudaDataType_t ct, const int ldc[],
                                                 int groups, const int group_size[], cublasComputeType_t c) {
    int idx = 0;
    for (int g = 0; g < groups; ++g)
        for (int j = 0; j < group_size[g]; ++j, ++idx) {
            const cublasStatus_t st = cublasGemmStridedBatchedEx(
                h, ta[g], tb[g], m[g], n[g], k[g], static_cast<const float*>(alpha) + g, A[idx], at, lda[g], 0, B[idx],
                bt, ldb[g], 0, static_cast<const float*>(beta) + g, C[idx], ct, ldc[g], 0, 1, c, CUBLAS_GEMM_DEFAULT);
            if (st != CUBLAS_STATUS_SUCCESS) return st;
        }
    return CUBLAS_STATUS_SUCCESS;
}
