// simd_load.h — AVX2 / AVX-512 helpers shared by the CPU GEMV kernels (matmul.cpp, swiglu_experts.cpp): 8 weights
// of a stored dtype as fp32 in a register, one weight as fp32, and a horizontal sum. Callers dispatch
// at run time (has_avx2_fma() && has_f16c(), has_avx512f()); the functions carry their own target attributes so the
// package build (x86-64-v2) compiles them too.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <type_traits>

#include "engine/dtype.h"

namespace engine::cpu {

enum class WKind { kF32, kF16, kBF16 };

// 8 consecutive weights as fp32 (BF16: the 16 bits shifted into the high half, exact).
template <WKind W>
__attribute__((target("avx2,fma,f16c"))) inline __m256 load8_w(const void* base, int64_t i) {
    if constexpr (W == WKind::kF32) {
        return _mm256_loadu_ps(static_cast<const float*>(base) + i);
    } else {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + i));
        if constexpr (W == WKind::kF16) return _mm256_cvtph_ps(h);
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
}

template <WKind W>
inline float load1_w(const void* base, int64_t i) {
    if constexpr (W == WKind::kF32) return static_cast<const float*>(base)[i];
    if constexpr (W == WKind::kF16) return f16_to_f32(static_cast<const uint16_t*>(base)[i]);
    return bf16_to_f32(static_cast<const uint16_t*>(base)[i]);
}

__attribute__((target("avx2,fma"))) inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// AVX-512 (Zen 4/5, Ice Lake and later): 16 weights per register halve the conversion and FMA
// instructions per byte; with software prefetch a single core streams bf16 GEMV rows ~20% faster than
// with AVX2 on the dev machine. Callers check has_avx512f().
template <WKind W>
__attribute__((target("avx512f"))) inline __m512 load16_w(const void* base, int64_t i) {
    if constexpr (W == WKind::kF32) {
        return _mm512_loadu_ps(static_cast<const float*>(base) + i);
    } else {
        const __m256i h =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(base) + i));
        if constexpr (W == WKind::kF16) return _mm512_cvtph_ps(h);
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
}

__attribute__((target("avx512f"))) inline float hsum16(__m512 v) { return _mm512_reduce_add_ps(v); }

// The WKind of an element stored as T: float, or uint16_t holding bf16 bits (a BF16 KV cache).
template <class T>
constexpr WKind bf16_or_f32_kind() {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, uint16_t>, "float or bf16 bits");
    return std::is_same_v<T, float> ? WKind::kF32 : WKind::kBF16;
}

template <WKind W>
constexpr int64_t w_size() {
    return W == WKind::kF32 ? 4 : 2;
}

}  // namespace engine::cpu
