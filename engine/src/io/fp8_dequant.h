// fp8_dequant.h — DeepSeek-V3 FP8 block dequantization (internal to latent_io).
//
// W[i, j] = fp8_e4m3(W[i, j]) · scale_inv[i / 128, j / 128], written as BF16 (deepseek-arch.md §5).
// Edge blocks (out or in not a multiple of 128) use the scale of their partial block.
#pragma once

#include <cstdint>
#include <vector>

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

}  // namespace engine
