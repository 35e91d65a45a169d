// copy.cpp — Backend::copy (same shape, any strides but the last, F32 <-> F16/BF16 conversion) and the
// fp32 <-> F16/BF16 row converters the other ops use for weights stored in half precision.
//
// The scalar converters in dtype.h are the reference; the AVX2/F16C paths agree with them bit for bit
// (bf16 -> f32 is a shift; f32 -> bf16 rounds to nearest even with the same NaN rule; vcvtps2ph with
// imm 0 rounds to nearest even like f32_to_f16).
#include <immintrin.h>

#include <cstring>

#include "cpu/cpu_backend.h"
#include "cpu/cpu_common.h"

namespace engine::cpu {

namespace {

__attribute__((target("avx2,fma"))) void bf16_to_f32_avx2(float* dst, const uint16_t* src, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
        __m256i w = _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16);
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(w));
    }
    for (; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}

__attribute__((target("avx2,fma"))) void f32_to_bf16_avx2(uint16_t* dst, const float* src, int64_t n) {
    int64_t i = 0;
    const __m256i bias = _mm256_set1_epi32(0x7fff);
    const __m256i one = _mm256_set1_epi32(1);
    const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
    const __m256i inf = _mm256_set1_epi32(0x7f800000);
    const __m256i qnan_bit = _mm256_set1_epi32(0x400000);  // becomes 0x40 after >> 16
    for (; i + 8 <= n; i += 8) {
        __m256i b = _mm256_castps_si256(_mm256_loadu_ps(src + i));
        __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(b, 16), one);
        __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(b, _mm256_add_epi32(bias, lsb)), 16);
        __m256i is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(b, abs_mask), inf);
        __m256i nan_val = _mm256_srli_epi32(_mm256_or_si256(b, qnan_bit), 16);
        __m256i r = _mm256_blendv_epi8(rounded, nan_val, is_nan);
        // pack 8 x u32 (each < 65536) into 8 x u16
        __m128i lo = _mm256_castsi256_si128(r), hi = _mm256_extracti128_si256(r, 1);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm_packus_epi32(lo, hi));
    }
    for (; i < n; ++i) dst[i] = f32_to_bf16(src[i]);
}

__attribute__((target("avx2,f16c"))) void f16_to_f32_f16c(float* dst, const uint16_t* src, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
    for (; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}

__attribute__((target("avx2,f16c"))) void f32_to_f16_f16c(uint16_t* dst, const float* src, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(src + i);
        if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)) != 0) {
            // vcvtps2ph keeps NaN payloads; the reference writes a canonical quiet NaN.
            for (int j = 0; j < 8; ++j) dst[i + j] = f32_to_f16(src[i + j]);
            continue;
        }
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    }
    for (; i < n; ++i) dst[i] = f32_to_f16(src[i]);
}

}  // namespace

void to_f32(float* dst, const void* src, DType src_dtype, int64_t n) {
    static_assert(sizeof(float) == 4);
    switch (src_dtype) {
        case DType::F32:
            std::memcpy(dst, src, size_t(n) * 4);
            return;
        case DType::BF16: {
            const auto* s = static_cast<const uint16_t*>(src);
            if (has_avx2_fma()) return bf16_to_f32_avx2(dst, s, n);
            for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
            return;
        }
        case DType::F16: {
            const auto* s = static_cast<const uint16_t*>(src);
            if (has_f16c()) return f16_to_f32_f16c(dst, s, n);
            for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
            return;
        }
        default:
            ENGINE_THROW(kInternal, "to_f32: unsupported dtype ", dtype_name(src_dtype));
    }
}

void from_f32(void* dst, DType dst_dtype, const float* src, int64_t n) {
    switch (dst_dtype) {
        case DType::F32:
            std::memcpy(dst, src, size_t(n) * 4);
            return;
        case DType::BF16: {
            auto* d = static_cast<uint16_t*>(dst);
            if (has_avx2_fma()) return f32_to_bf16_avx2(d, src, n);
            for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
            return;
        }
        case DType::F16: {
            auto* d = static_cast<uint16_t*>(dst);
            if (has_f16c()) return f32_to_f16_f16c(d, src, n);
            for (int64_t i = 0; i < n; ++i) d[i] = f32_to_f16(src[i]);
            return;
        }
        default:
            ENGINE_THROW(kInternal, "from_f32: unsupported dtype ", dtype_name(dst_dtype));
    }
}

}  // namespace engine::cpu

namespace engine {

using namespace cpu;

void CpuBackend::copy(const TensorView& dst, const TensorView& src) {
    check_view("copy", "dst", dst);
    check_view("copy", "src", src);
    check_same_shape("copy", "dst", dst, "src", src);
    const bool convert = dst.dtype != src.dtype;
    if (convert) {
        check_float_dtype("copy", "dst", dst);
        check_float_dtype("copy", "src", src);
    }
    const int64_t rows = rows_of(dst), cols = dst.cols();
    if (rows == 0 || cols == 0) return;
    const size_t row_bytes_n = size_t(cols) * dtype_size(dst.dtype);
    const bool direct = !convert || dst.dtype == DType::F32 || src.dtype == DType::F32;
    const bool parallel = rows * cols >= (1 << 16);
#pragma omp parallel num_threads(threads_) if (parallel)
    {
        // F16 <-> BF16 goes through an fp32 row buffer.
        std::unique_ptr<float[]> tmp(direct ? nullptr : new float[size_t(cols)]);
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; ++r) {
            void* d = const_cast<void*>(row_bytes(dst, r));
            const void* s = row_bytes(src, r);
            if (!convert)
                std::memmove(d, s, row_bytes_n);
            else if (dst.dtype == DType::F32)
                to_f32(static_cast<float*>(d), s, src.dtype, cols);
            else if (src.dtype == DType::F32)
                from_f32(d, dst.dtype, static_cast<const float*>(s), cols);
            else {
                to_f32(tmp.get(), s, src.dtype, cols);
                from_f32(d, dst.dtype, tmp.get(), cols);
            }
        }
    }
}

}  // namespace engine
