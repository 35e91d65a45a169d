// reduce.cuh — warp- (or lane-group-) and block-wide reductions shared by the kernels (sum / max / min
// over float, double or long long).
//
// Rules: blockDim.x is a multiple of 32 and at most 1024; every thread of the block calls block_reduce
// (it holds __syncthreads), and every thread gets the result. The combination order depends only on
// blockDim.x, so a fixed launch configuration gives the same bits on every run (deterministic).
// `shared` is 32 elements of T in __shared__ memory; it may be reused right after the call returns.
#pragma once

#include <cuda_runtime.h>

namespace cuda_backend {

struct SumOp {
    template <typename T> __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};
struct MaxOp {
    __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
struct MinOp {
    __device__ __forceinline__ long long operator()(long long a, long long b) const { return a < b ? a : b; }
};

// Over groups of `Width` consecutive lanes (a power of two ≤ 32; 32: the whole warp); every lane of a
// group gets the group's result. All 32 lanes must call it.
template <int Width = 32, typename T, typename Op>
__device__ __forceinline__ T warp_reduce(T v, Op op) {
    static_assert(Width >= 1 && Width <= 32 && (Width & (Width - 1)) == 0, "Width: a power of two <= 32");
    for (int off = Width / 2; off > 0; off /= 2) v = op(v, __shfl_xor_sync(0xffffffffu, v, off));
    return v;
}
template <int Width = 32>
__device__ __forceinline__ float warp_sum(float v) { return warp_reduce<Width>(v, SumOp{}); }
template <int Width = 32>
__device__ __forceinline__ float warp_max(float v) { return warp_reduce<Width>(v, MaxOp{}); }

template <typename T, typename Op>
__device__ T block_reduce(T v, T identity, T* shared, Op op) {
    const int lane = int(threadIdx.x & 31), warp = int(threadIdx.x >> 5), warps = int(blockDim.x >> 5);
    v = warp_reduce(v, op);
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < warps ? shared[lane] : identity;
        v = warp_reduce(v, op);
        if (lane == 0) shared[0] = v;
    }
    __syncthreads();
    const T r = shared[0];
    __syncthreads();  // everyone has read shared[0] before a following call overwrites it
    return r;
}

__device__ __forceinline__ float block_sum(float v, float* shared) { return block_reduce(v, 0.0f, shared, SumOp{}); }
__device__ __forceinline__ double block_sum(double v, double* shared) { return block_reduce(v, 0.0, shared, SumOp{}); }
__device__ __forceinline__ float block_max(float v, float* shared) {
    return block_reduce(v, -INFINITY, shared, MaxOp{});
}

}  // namespace cuda_backend
