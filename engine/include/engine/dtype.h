// dtype.h — element types the engine stores and computes with, and scalar conversions.
//
// Activations are F32 on every backend. Weights keep their stored dtype (F32, F16, BF16) in memory;
// F8_E4M3 checkpoints are dequantized on load (to BF16) with their 128x128 block scales.
// The scalar converters here are the reference: vectorised paths must agree with them bit for bit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace engine {

enum class DType : uint8_t {
    F32, F16, BF16, F64,
    F8_E4M3, F8_E5M2,
    I8, U8, I16, U16, I32, U32, I64, U64,
    BOOL,
};

size_t dtype_size(DType t);             // bytes per element, e.g. BF16 -> 2
const char* dtype_name(DType t);        // safetensors spelling: "BF16", "F8_E4M3", ...
std::optional<DType> dtype_from_name(std::string_view safetensors_name);
bool dtype_is_float(DType t);

// ---- scalar conversions (round-to-nearest-even where narrowing) ----

inline float bf16_to_f32(uint16_t h) {
    uint32_t bits = uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

inline uint16_t f32_to_bf16(float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);  // quiet NaN
    uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
    return uint16_t((bits + rounding) >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float f8e4m3_to_f32(uint8_t v);  // OCP E4M3 "fn": no infinities, 0x7f/0xff are NaN, max 448
float f8e5m2_to_f32(uint8_t v);

}  // namespace engine
