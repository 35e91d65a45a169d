// mma_tf32.cuh — one warp-wide TF32 tensor-core product, mma.sync m16n8k8 (sm_80+), with the fragment
// layout the PTX ISA documents (unlike nvcuda::wmma, whose element layout is unspecified), so kernels can
// rescale accumulator rows in registers (online softmax) and reuse an accumulator as the next A operand.
//
// Per lane: g = lane / 4 (the "group"), t = lane % 4 (the thread in the group).
//   A [16 × 8] row-major:  a[0] = A[g][t],   a[1] = A[g + 8][t],   a[2] = A[g][t + 4],   a[3] = A[g + 8][t + 4]
//   B [8 × 8]  (k × n):    b[0] = B[t][g],   b[1] = B[t + 4][g]
//   C/D [16 × 8]:          d[0] = C[g][2t],  d[1] = C[g][2t + 1],  d[2] = C[g + 8][2t],  d[3] = C[g + 8][2t + 1]
// Inputs are floats already rounded to TF32 (to_tf32: 10 mantissa bits, round to nearest, ties away);
// the products accumulate in fp32. Without nvcc (the CPU emulator in tests/kernels/emu) the same
// function is emulated with the same layout.
#pragma once

#if defined(__CUDACC__)
#include <mma.h>
#endif

namespace cuda_backend {

__device__ __forceinline__ float to_tf32(float x) {
#if defined(__CUDACC__)
    return nvcuda::wmma::__float_to_tf32(x);
#else
    return ::emu::float_to_tf32(x);
#endif
}

// d += A·B over one 16 × 8 × 8 step (all 32 lanes of the warp must call it together).
__device__ __forceinline__ void mma_tf32_16x8x8(float (&d)[4], const float (&a)[4], const float (&b)[2]) {
#if defined(__CUDA_ARCH__)
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(__float_as_uint(a[0])), "r"(__float_as_uint(a[1])), "r"(__float_as_uint(a[2])),
          "r"(__float_as_uint(a[3])), "r"(__float_as_uint(b[0])), "r"(__float_as_uint(b[1])));
#elif !defined(__CUDACC__)
    ::emu::mma_tf32_16x8x8(d, a, b);
#endif
}

}  // namespace cuda_backend
