// fp8_dequant.h — DeepSeek-V3 FP8 block dequantization on the host (latent_core; used by the
// WeightStore when it dequantizes on open and by the CPU backend's dequantize_fp8).
//
// W[i, j] = fp8_e4m3(W[i, j]) · scale_inv[i / 128, j / 128], written as BF16 (deepseek-arch.md §5).
// Edge blocks (out or in not a multiple of 128) use the scale of their partial block.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace engine {

constexpr int64_t kFp8BlockSize = 128;

// ceil(n / 128) without overflow for any n >= 0.
constexpr int64_t fp8_scale_blocks(int64_t n) { return n / kFp8BlockSize + (n % kFp8BlockSize != 0); }

struct Fp8DequantJob {
    const uint8_t* weight = nullptr;  // F8_E4M3 [rows, cols]
    const float* scale_inv = nullptr; // F32 [ceil(rows/128), ceil(cols/128)], 4-byte aligned
    uint16_t* out = nullptr;          // BF16 [rows, cols]
    int64_t rows = 0;
    int64_t cols = 0;
};

// Runs every job, split into 128-row blocks over `threads` std::threads (<= 0: all cores).
void dequantize_fp8_jobs(const std::vector<Fp8DequantJob>& jobs, int threads = 0);

// The checks of Backend::dequantize_fp8 (shared by every backend): dst BF16 [rows, cols] and src F8_E4M3
// of the same shape, both contiguous; scale_inv F32 [ceil(rows/128), ceil(cols/128)] contiguous; all on
// `device`. Throws kInvalidArgument naming the operand and its shape.
void check_fp8_dequant_views(const TensorView& dst, const TensorView& src, const TensorView& scale_inv,
                             Device device);

}  // namespace engine
