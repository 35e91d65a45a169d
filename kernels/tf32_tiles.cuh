// tf32_tiles.cuh — shared-memory tiles for the TF32 mma.sync kernels (attention_flash_tc.cu,
// attention_flash_backward_tc.cu): row strides that keep a warp's fragment loads on 32 different banks,
// and the global → shared tile copy that rounds to TF32 once, on the way in.
#pragma once

#include <cstdint>

#include "common.cuh"
#include "mma_tf32.cuh"

namespace cuda_backend {

// Floats per shared row of a [rows, d] tile: ≡ 4 (mod 32), so the A / B fragment loads of a warp
// (lane (g, t) reads row g, column t: 4g + t) and the P·V loads (row 2t, column g: 8t + g) are conflict-free.
__host__ __device__ constexpr int tf32_row_stride(int d) { return (d + 31) / 32 * 32 + 4; }

inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// dst[r, c] = TF32(src[r·st + c]) for r < valid, 0 for valid ≤ r < rows; c < cols (cols % 4 == 0); the
// block's kThreads threads share the copy. vec4: src and st give 16-byte aligned rows (float4 loads).
template <int kThreads>
__device__ __forceinline__ void load_tile_tf32(float* dst, int ld, const float* src, int64_t st, int64_t valid,
                                               int rows, int cols, bool vec4) {
    if (vec4) {
        const int c4 = cols / 4;
        for (int i = int(threadIdx.x); i < rows * c4; i += kThreads) {
            const int r = i / c4, c = (i % c4) * 4;
            float4 x{0.0f, 0.0f, 0.0f, 0.0f};
            if (r < valid) x = *reinterpret_cast<const float4*>(src + r * st + c);
            float* o = dst + r * ld + c;
            o[0] = to_tf32(x.x), o[1] = to_tf32(x.y), o[2] = to_tf32(x.z), o[3] = to_tf32(x.w);
        }
    } else {
        for (int i = int(threadIdx.x); i < rows * cols; i += kThreads) {
            const int r = i / cols, c = i % cols;
            dst[r * ld + c] = r < valid ? to_tf32(src[r * st + c]) : 0.0f;
        }
    }
}

}  // namespace cuda_backend
