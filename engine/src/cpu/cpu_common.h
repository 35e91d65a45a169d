// cpu_common.h — helpers shared by the CPU backend's op files: boundary validation (errors name the
// op and the shapes), row addressing for strided views, and fp32 <-> F16/BF16 row conversion
// (defined in copy.cpp, vectorised with run-time AVX2/F16C dispatch and a scalar fallback).
#pragma once

#include <cmath>
#include <cstdint>

#include "engine/error.h"
#include "engine/tensor.h"

namespace engine::cpu {

// ---- validation (throw kInvalidArgument naming the op, the tensor and its shape) ----

// A CPU view whose last dim is contiguous and whose data is set (unless it is empty).
void check_view(const char* op, const char* name, const TensorView& v);
void check_dtype(const char* op, const char* name, const TensorView& v, DType want);
// F32, F16 or BF16.
void check_float_dtype(const char* op, const char* name, const TensorView& v);
void check_ndim(const char* op, const char* name, const TensorView& v, int lo, int hi);
void check_same_shape(const char* op, const char* a_name, const TensorView& a, const char* b_name,
                      const TensorView& b);

// Rows of a view seen as [rows, cols] (all dims but the last); safe when the last dim is 0.
inline int64_t rows_of(const TensorView& v) {
    int64_t n = 1;
    for (int d = 0; d + 1 < v.ndim; ++d) n *= v.shape[d];
    return n;
}

// Element offset of row r of v, where rows are all dims but the last flattened in row-major order.
inline int64_t row_offset(const TensorView& v, int64_t r) {
    int64_t off = 0;
    for (int d = v.ndim - 2; d >= 0; --d) {
        const int64_t n = v.shape[d];
        off += (r % n) * v.stride[d];
        r /= n;
    }
    return off;
}

// Pointer to row r (see row_offset), typed.
template <typename T>
inline T* row_ptr(const TensorView& v, int64_t r) {
    return static_cast<T*>(v.data) + row_offset(v, r);
}
// out[i] = silu(gate[i]) · up[i] over n floats: the one formula of silu_mul and the fused MoE paths (same bits).
inline void silu_mul_row(float* out, const float* gate, const float* up, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

inline const void* row_bytes(const TensorView& v, int64_t r) {
    return static_cast<const char*>(v.data) + size_t(row_offset(v, r)) * dtype_size(v.dtype);
}

// True when rows are evenly spaced, so the view is a matrix [rows, cols] with leading dim `ld`.
bool rows_uniform(const TensorView& v, int64_t* ld);

// ---- conversion (copy.cpp) ----
// dst[i] = float(src[i]) for src of dtype F32/F16/BF16.
void to_f32(float* dst, const void* src, DType src_dtype, int64_t n);
// dst[i] = src_dtype(src[i]) (round to nearest even) for dst of dtype F32/F16/BF16.
void from_f32(void* dst, DType dst_dtype, const float* src, int64_t n);

// OpenBLAS runs single-threaded inside our OpenMP regions (one thread pool owns the cores); call this
// before such calls. Cheap when already set.
void blas_single_thread();

// Run-time CPU features (the package is built for x86-64-v2; hot kernels dispatch).
bool has_avx2_fma();
bool has_f16c();
bool has_avx512f();  // AVX-512 Foundation (16-wide fp32, F16/BF16 widening)

}  // namespace engine::cpu
