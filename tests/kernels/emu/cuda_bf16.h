// cuda_bf16.h (emulated) — __nv_bfloat16 as its 16 bits, conversions through engine/dtype.h.
#pragma once
#include <cstdint>
#include <cstring>
#include "engine/dtype.h"
struct __nv_bfloat16 { uint16_t bits; };
inline float __bfloat162float(__nv_bfloat16 v) { uint32_t u = uint32_t(v.bits) << 16; float f; std::memcpy(&f, &u, 4); return f; }
inline __nv_bfloat16 __float2bfloat16(float f) { return __nv_bfloat16{engine::f32_to_bf16(f)}; }
