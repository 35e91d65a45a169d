// dtype.cpp — dtype names/sizes and the scalar reference conversions (f16, fp8).
#include "engine/dtype.h"

#include <cmath>
#include <limits>

namespace engine {

namespace {
struct DTypeInfo {
    DType type;
    const char* name;
    size_t size;
};
constexpr DTypeInfo kInfo[] = {
    {DType::F32, "F32", 4},        {DType::F16, "F16", 2},   {DType::BF16, "BF16", 2},
    {DType::F64, "F64", 8},        {DType::F8_E4M3, "F8_E4M3", 1}, {DType::F8_E5M2, "F8_E5M2", 1},
    {DType::I8, "I8", 1},          {DType::U8, "U8", 1},     {DType::I16, "I16", 2},
    {DType::U16, "U16", 2},        {DType::I32, "I32", 4},   {DType::U32, "U32", 4},
    {DType::I64, "I64", 8},        {DType::U64, "U64", 8},   {DType::BOOL, "BOOL", 1},
};
}  // namespace

size_t dtype_size(DType t) {
    for (const auto& i : kInfo)
        if (i.type == t) return i.size;
    return 0;
}

const char* dtype_name(DType t) {
    for (const auto& i : kInfo)
        if (i.type == t) return i.name;
    return "?";
}

std::optional<DType> dtype_from_name(std::string_view name) {
    for (const auto& i : kInfo)
        if (name == i.name) return i.type;
    return std::nullopt;
}

bool dtype_is_float(DType t) {
    return t == DType::F32 || t == DType::F16 || t == DType::BF16 || t == DType::F64 ||
           t == DType::F8_E4M3 || t == DType::F8_E5M2;
}

float f16_to_f32(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    const uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {  // subnormal: value = mant * 2^-24
            float f = std::ldexp(float(mant), -24);
            return sign ? -f : f;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

uint16_t f32_to_f16(float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    const uint16_t sign = uint16_t((bits >> 16) & 0x8000u);
    const uint32_t absbits = bits & 0x7fffffffu;
    if (absbits > 0x7f800000u) return uint16_t(sign | 0x7e00u);  // NaN
    if (absbits >= 0x477ff000u) return uint16_t(sign | 0x7c00u); // rounds to >= 65520 -> inf
    if (absbits < 0x38800000u) {                                 // below the smallest normal half
        // subnormal half: round(|f| * 2^24) to nearest even
        float a;
        std::memcpy(&a, &absbits, 4);
        float scaled = a * 16777216.0f;  // exact (power of two)
        float r = std::nearbyint(scaled);  // default rounding mode: nearest-even
        return uint16_t(sign | uint16_t(r));
    }
    uint32_t e = ((absbits >> 23) - 112u) << 10;
    uint32_t m = (absbits >> 13) & 0x3ffu;
    uint32_t h = e | m;
    uint32_t rest = absbits & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h += 1;  // may carry into exponent: correct
    return uint16_t(sign | h);
}

float f8e4m3_to_f32(uint8_t v) {
    const bool neg = v & 0x80u;
    const int exp = (v >> 3) & 0xf;
    const int mant = v & 0x7;
    float f;
    if (exp == 15 && mant == 7) {
        f = std::numeric_limits<float>::quiet_NaN();
    } else if (exp == 0) {
        f = std::ldexp(float(mant), -9);  // subnormal: mant/8 * 2^-6
    } else {
        f = std::ldexp(1.0f + float(mant) / 8.0f, exp - 7);
    }
    return neg ? -f : f;
}

float f8e5m2_to_f32(uint8_t v) {
    // E5M2 is the top byte of an IEEE half.
    return f16_to_f32(uint16_t(v) << 8);
}

}  // namespace engine
