// cpu_common.cpp — boundary validation helpers and CPU feature detection for the CPU backend.
#include "cpu/cpu_common.h"

#include <cblas.h>

namespace engine::cpu {

void check_view(const char* op, const char* name, const TensorView& v) {
    ENGINE_CHECK(v.device == Device::CPU, kInvalidArgument, op, ": ", name, " ", v.shape_str(),
                 " is not on the CPU; copy it to the host first");
    ENGINE_CHECK(v.ndim >= 0 && v.ndim <= kMaxDims, kInvalidArgument, op, ": ", name, " has rank ", v.ndim,
                 " (expected 0..", kMaxDims, ")");
    for (int d = 0; d < v.ndim; ++d)
        ENGINE_CHECK(v.shape[d] >= 0, kInvalidArgument, op, ": ", name, " ", v.shape_str(),
                     " has a negative dimension");
    if (v.numel() == 0) return;
    ENGINE_CHECK(v.data != nullptr, kInvalidArgument, op, ": ", name, " ", v.shape_str(), " has no data");
    ENGINE_CHECK(v.ndim == 0 || v.shape[v.ndim - 1] == 1 || v.stride[v.ndim - 1] == 1, kInvalidArgument, op,
                 ": ", name, " ", v.shape_str(), " has last-dim stride ", v.stride[v.ndim - 1],
                 "; the last dim must be contiguous");
}

void check_dtype(const char* op, const char* name, const TensorView& v, DType want) {
    ENGINE_CHECK(v.dtype == want, kInvalidArgument, op, ": ", name, " ", v.shape_str(), " is ",
                 dtype_name(v.dtype), ", expected ", dtype_name(want));
}

void check_float_dtype(const char* op, const char* name, const TensorView& v) {
    ENGINE_CHECK(v.dtype == DType::F32 || v.dtype == DType::F16 || v.dtype == DType::BF16, kInvalidArgument,
                 op, ": ", name, " ", v.shape_str(), " is ", dtype_name(v.dtype),
                 ", expected F32, F16 or BF16");
}

void check_ndim(const char* op, const char* name, const TensorView& v, int lo, int hi) {
    if (lo == hi)
        ENGINE_CHECK(v.ndim == lo, kInvalidArgument, op, ": ", name, " ", v.shape_str(), " has rank ", v.ndim,
                     ", expected ", lo);
    else
        ENGINE_CHECK(v.ndim >= lo && v.ndim <= hi, kInvalidArgument, op, ": ", name, " ", v.shape_str(),
                     " has rank ", v.ndim, ", expected ", lo, "..", hi);
}

void check_same_shape(const char* op, const char* a_name, const TensorView& a, const char* b_name,
                      const TensorView& b) {
    bool same = a.ndim == b.ndim;
    for (int d = 0; same && d < a.ndim; ++d) same = a.shape[d] == b.shape[d];
    ENGINE_CHECK(same, kInvalidArgument, op, ": ", a_name, " ", a.shape_str(), " and ", b_name, " ",
                 b.shape_str(), ": shapes differ");
}

bool rows_uniform(const TensorView& v, int64_t* ld) {
    // Dims of extent 1 have meaningless strides; the others must nest exactly, innermost first.
    int64_t step = -1, expect = -1;
    for (int d = v.ndim - 2; d >= 0; --d) {
        if (v.shape[d] == 1) continue;
        if (step < 0) {
            step = v.stride[d];
        } else if (v.stride[d] != expect) {
            return false;
        }
        expect = v.stride[d] * v.shape[d];
    }
    *ld = step < 0 ? v.cols() : step;
    return true;
}

void blas_single_thread() {
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
}

bool has_avx2_fma() {
#if defined(__x86_64__) || defined(__i386__)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

bool has_f16c() {
#if defined(__x86_64__) || defined(__i386__)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
#else
    return false;
#endif
}

bool has_avx512f() {
#if defined(__x86_64__) || defined(__i386__)
    return __builtin_cpu_supports("avx512f");
#else
    return false;
#endif
}

}  // namespace engine::cpu
