// tf32_tiles.cuh — shared-memory tiles and warp products for the TF32 mma.sync kernels
// (attention_flash_tc.cu, attention_flash_backward_tc.cu): row strides that keep a warp's fragment loads
// on 32 different banks, the global → shared tile copy that rounds to TF32 once, on the way in, the
// [16 × 32] score product, and the product of such scores with a [32, width] tile.
//
// Score layout (mma.sync m16n8k8 accumulators, mma_tf32.cuh): s[j][e] of lane (g, t) is row g + 8·(e / 2),
// column 8j + 2t + e % 2 of the [16, 32] tile.
#pragma once

#include <cstdint>

#include "common.cuh"
#include "mma_tf32.cuh"

namespace cuda_backend {

// Floats per shared row of a [rows, d] tile: ≡ 4 (mod 32), so the A / B fragment loads of a warp
// (lane (g, t) reads row g, column t: 4g + t) and the P·V loads (row 2t, column g: 8t + g) are conflict-free.
__host__ __device__ constexpr int tf32_row_stride(int d) { return (d + 31) / 32 * 32 + 4; }

// Whether every row (token stride st, head stride sh, in floats) of a [rows, heads, d] operand at p starts
// on 16 bytes, so load_tile_tf32 may use float4 loads.
inline bool rows_vec4(const float* p, int64_t st, int64_t sh) {
    return is_aligned(p, 16) && st % 4 == 0 && sh % 4 == 0;
}

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

// s[j] += A·Bᵀ over d < D (D % 8 == 0): A = the 16 rows at `rows` (stride lr), B = the 32 rows at `cols`
// (stride lc); all 32 lanes of the warp call it.
__device__ __forceinline__ void mma_scores_16x32(float (&s)[4][4], const float* rows, int lr, const float* cols,
                                                 int lc, int D) {
    const int lane = int(threadIdx.x) & 31, g = lane >> 2, t4 = lane & 3;
    const float* ra = rows + g * lr + t4;
    for (int kk = 0; kk < D; kk += 8) {
        const float fa[4] = {ra[kk], ra[8 * lr + kk], ra[kk + 4], ra[8 * lr + kk + 4]};
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const float* cb = cols + (8 * j + g) * lc + kk + t4;  // B[k][n] = cols[n][k]
            const float fb[2] = {cb[0], cb[4]};
            mma_tf32_16x8x8(s[j], fa, fb);
        }
    }
}

// acc[n] += W·B: W [16, 32] = scores in the layout above (already TF32), B = rows 0 .. 31 of `b` (stride
// lb), columns 0 .. width − 1 (width % 8 == 0, ≤ 8·kNT). W is the A operand as it is: each 8-column step's
// k index is numbered (0, 2, 4, 6, 1, 3, 5, 7), so lane (g, t) holds a0..a3 = w[j][0], w[j][2], w[j][1],
// w[j][3], and B's rows are taken in the same order. Steps from n_live on (rows of b past the data) are
// skipped; n_live is the same for the whole warp.
template <int kNT>
__device__ __forceinline__ void mma_accumulate_16x32(float (&acc)[kNT][4], const float (&w)[4][4], const float* b,
                                                     int lb, int n_live, int width) {
    const int lane = int(threadIdx.x) & 31, g = lane >> 2, t4 = lane & 3;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
        if (8 * j >= n_live) break;
        const float fa[4] = {w[j][0], w[j][2], w[j][1], w[j][3]};
        const float* br = b + (8 * j + 2 * t4) * lb + g;
#pragma unroll
        for (int n = 0; n < kNT; ++n) {
            if (8 * n >= width) break;
            const float fb[2] = {br[8 * n], br[lb + 8 * n]};
            mma_tf32_16x8x8(acc[n], fa, fb);
        }
    }
}

}  // namespace cuda_backend
