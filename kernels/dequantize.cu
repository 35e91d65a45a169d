// dequantize.cu — Backend::dequantize_fp8 on the GPU: FP8 (E4M3) weights with 128x128 block scales
// become BF16 where they will live, so a DeepSeek-V3-family checkpoint crosses PCIe at one byte per
// weight and never exists as BF16 in host memory.
//
// Bit for bit the host's dequantize_fp8_jobs: the E4M3 decode is exact, the product is one fp32
// multiply (nothing to fuse), and the BF16 rounding is the integer round-to-nearest-even of
// engine::f32_to_bf16. The two NaN codes (0x7f, 0xff) give the host's quiet NaN with their sign; a GPU
// multiply would return the canonical NaN instead.
#include "common.cuh"
#include "cuda_backend.h"
#include "engine/detail/fp8_dequant.h"

namespace cuda_backend {

using engine::TensorView;

namespace {

constexpr int kThreads = 256;

// E4M3 "fn" code -> its exact fp32 value (NaN codes are handled by the caller).
__device__ __forceinline__ float e4m3_value(uint32_t code) {
    const uint32_t e = (code >> 3) & 0xfu, m = code & 7u;
    const float mag = e == 0 ? float(m) * 0.001953125f                 // subnormal: m/8 · 2^-6
                             : __uint_as_float(((e + 120u) << 23) | (m << 20));  // 2^(e-7) · 1.m
    return (code & 0x80u) ? -mag : mag;
}

// engine::f32_to_bf16 on the device (round to nearest even; NaN -> quiet NaN, sign kept).
__device__ __forceinline__ uint32_t bf16_bits(float f) {
    const uint32_t b = __float_as_uint(f);
    if ((b & 0x7fffffffu) > 0x7f800000u) return ((b >> 16) | 0x40u) & 0xffffu;
    return ((b + 0x7fffu + ((b >> 16) & 1u)) >> 16) & 0xffffu;
}

__device__ __forceinline__ uint32_t dequant_one(uint32_t code, float scale) {
    if ((code & 0x7fu) == 0x7fu) return (code & 0x80u) ? 0xffc0u : 0x7fc0u;
    return bf16_bits(e4m3_value(code) * scale);
}

// cols % 4 == 0 and 4-byte aligned rows: one thread per 4 bytes (one 32-bit load, one 64-bit store).
// A quad never straddles a 128-column block, so it has one scale.
__global__ void dequant_fp8_quad_kernel(uint2* dst, const uint32_t* src, const float* scale, int64_t rows,
                                        int64_t cols, int64_t scale_cols) {
    const int64_t quads = cols / 4;
    const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= rows * quads) return;
    const int64_t r = i / quads, c = (i - r * quads) * 4;
    const float s = scale[(r / 128) * scale_cols + c / 128];
    const uint32_t w = src[i];
    uint2 out;
    out.x = dequant_one(w & 0xffu, s) | (dequant_one((w >> 8) & 0xffu, s) << 16);
    out.y = dequant_one((w >> 16) & 0xffu, s) | (dequant_one(w >> 24, s) << 16);
    dst[i] = out;
}

// Any shape: one thread per weight.
__global__ void dequant_fp8_scalar_kernel(uint16_t* dst, const uint8_t* src, const float* scale, int64_t rows,
                                          int64_t cols, int64_t scale_cols) {
    const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= rows * cols) return;
    const int64_t r = i / cols, c = i - r * cols;
    dst[i] = uint16_t(dequant_one(src[i], scale[(r / 128) * scale_cols + c / 128]));
}

}  // namespace

void CudaBackend::dequantize_fp8(const TensorView& dst, const TensorView& src, const TensorView& scale_inv) {
    engine::check_fp8_dequant_views(dst, src, scale_inv, engine::Device::CUDA);
    const int64_t rows = src.shape[0], cols = src.shape[1], n = rows * cols;
    if (n == 0) return;
    const int64_t scale_cols = engine::fp8_scale_blocks(cols);
    const bool quads = cols % 4 == 0 && reinterpret_cast<uintptr_t>(src.data) % 4 == 0 &&
                       reinterpret_cast<uintptr_t>(dst.data) % 8 == 0;
    if (quads) {
        const int64_t work = n / 4;
        dequant_fp8_quad_kernel<<<unsigned(ceil_div(work, kThreads)), kThreads, 0, stream_>>>(
            dst.as<uint2>(), src.as<const uint32_t>(), scale_inv.as<const float>(), rows, cols, scale_cols);
    } else {
        dequant_fp8_scalar_kernel<<<unsigned(ceil_div(n, kThreads)), kThreads, 0, stream_>>>(
            dst.as<uint16_t>(), src.as<const uint8_t>(), scale_inv.as<const float>(), rows, cols, scale_cols);
    }
    CUDA_CHECK_LAUNCH();
}

}  // namespace cuda_backend
