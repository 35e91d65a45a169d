// cuda_fp16.h (emulated) — __half as its 16 bits, conversions through engine/dtype.h.
#pragma once
#include <cstdint>
#include "engine/dtype.h"
struct __half { uint16_t bits; };
inline float __half2float(__half v) { return engine::f16_to_f32(v.bits); }
inline __half __float2half(float f) { return __half{engine::f32_to_f16(f)}; }
inline __half __ushort_as_half(unsigned short u) { return __half{u}; }
