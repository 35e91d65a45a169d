// common.cuh — error checking and small helpers shared by every kernel file of the CUDA backend.
// Failures throw engine::Error(kBackend / kOutOfMemory) with file:line; nothing here exits the process.
#pragma once

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "engine/error.h"
#include "engine/tensor.h"

namespace cuda_backend {

#define CUDA_CHECK(CALL)                                                                              \
    do {                                                                                              \
        cudaError_t err_ = (CALL);                                                                    \
        if (err_ != cudaSuccess) {                                                                    \
            if (err_ == cudaErrorMemoryAllocation) {                                                  \
                (void)cudaGetLastError(); /* not sticky: clear it so the backend stays usable */      \
                ENGINE_THROW(kOutOfMemory, "CUDA out of memory in ", #CALL);                          \
            }                                                                                         \
            ENGINE_THROW(kBackend, "CUDA error ", cudaGetErrorName(err_), " (", cudaGetErrorString(err_), \
                         ") in ", #CALL);                                                             \
        }                                                                                             \
    } while (0)

#define CUBLAS_CHECK(CALL)                                                                    \
    do {                                                                                      \
        cublasStatus_t st_ = (CALL);                                                          \
        if (st_ != CUBLAS_STATUS_SUCCESS)                                                     \
            ENGINE_THROW(kBackend, "cuBLAS error ", cublasGetStatusName(st_), " in ", #CALL); \
    } while (0)

// After every launch (llm.c habit): launch-configuration errors surface here, at the launcher.
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Whether a device address is a multiple of `bytes` (vector loads, WMMA / mma operand rules).
inline bool is_aligned(const void* p, uintptr_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

// The block's dynamic shared memory (the third <<<>>> argument; above 48 KB the kernel must have been
// given cudaFuncAttributeMaxDynamicSharedMemorySize first), 16-byte aligned.
template <typename T>
__device__ __forceinline__ T* dynamic_shared() {
#if defined(__CUDACC__)
    extern __shared__ __align__(16) unsigned char latent_dynamic_shared[];
    return reinterpret_cast<T*>(latent_dynamic_shared);
#else
    return reinterpret_cast<T*>(::emu::dynamic_shared());
#endif
}

// Loads one element of a weight of any float dtype as float.
template <typename T> __device__ __forceinline__ float to_float(T v);
template <> __device__ __forceinline__ float to_float<float>(float v) { return v; }
template <> __device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }
template <> __device__ __forceinline__ float to_float<__half>(__half v) { return __half2float(v); }

template <typename T> struct TypeTag { using type = T; };

// Calls f(TypeTag<T>{}) with T the CUDA type of a float dtype (gemma's CallUpcasted); in f,
// `using W = typename decltype(tag)::type;`.
template <typename F>
void dispatch_float(engine::DType dtype, const char* op, F&& f) {
    switch (dtype) {
        case engine::DType::F32: f(TypeTag<float>{}); break;
        case engine::DType::BF16: f(TypeTag<__nv_bfloat16>{}); break;
        case engine::DType::F16: f(TypeTag<__half>{}); break;
        default: ENGINE_THROW(kInvalidArgument, op, ": dtype ", engine::dtype_name(dtype), " is not F32/BF16/F16");
    }
}

}  // namespace cuda_backend
