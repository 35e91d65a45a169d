// checks.h — shape/dtype validation at the CUDA backend's API boundary (kernels never validate).
#pragma once

#include <algorithm>
#include <cstdint>

#include "engine/error.h"
#include "engine/tensor.h"

namespace cuda_backend {

inline void check_device(const engine::TensorView& t, const char* op, const char* name) {
    ENGINE_CHECK(t.device == engine::Device::CUDA, kInvalidArgument, op, ": ", name,
                 " is not on the GPU; copy it with Backend::copy first");
    ENGINE_CHECK(t.ndim == 0 || t.stride[t.ndim - 1] == 1, kInvalidArgument, op, ": ", name, " ",
                 t.shape_str(), " must be contiguous in its last dimension");
}

inline void check_f32(const engine::TensorView& t, const char* op, const char* name) {
    check_device(t, op, name);
    ENGINE_CHECK(t.dtype == engine::DType::F32, kInvalidArgument, op, ": ", name, " must be F32, got ",
                 engine::dtype_name(t.dtype));
}

// Rows of a view whose leading dims collapse into one strided row index.
inline bool rows_collapsible(const engine::TensorView& t) {
    for (int d = 0; d + 2 < t.ndim; ++d)
        if (t.shape[d + 1] != 1 && t.stride[d] != t.stride[d + 1] * t.shape[d + 1]) return false;
    return true;
}

inline void check_rows(const engine::TensorView& t, const char* op, const char* name) {
    ENGINE_CHECK(rows_collapsible(t), kInvalidArgument, op, ": ", name, " ", t.shape_str(),
                 " has leading dims that do not collapse into rows");
}

// The view as a matrix [rows(), cols()] with evenly spaced rows: returns the row stride (the leading
// dimension), or throws. Dims of extent 1 carry no stride information and are skipped (the CPU
// backend's rows_uniform rule); a view with a single row gets ld = cols, which cuBLAS accepts.
inline int64_t row_ld(const engine::TensorView& t, const char* op, const char* name) {
    int64_t step = -1, expect = -1;
    bool uniform = true;
    for (int d = t.ndim - 2; d >= 0 && uniform; --d) {
        if (t.shape[d] == 1) continue;
        if (step < 0) step = t.stride[d];
        else uniform = t.stride[d] == expect;
        expect = t.stride[d] * t.shape[d];
    }
    ENGINE_CHECK(uniform, kInvalidArgument, op, ": ", name, " ", t.shape_str(), " must have evenly spaced rows");
    return step < 0 ? std::max<int64_t>(1, t.cols()) : step;
}

inline void check_same_shape(const engine::TensorView& a, const engine::TensorView& b, const char* op) {
    bool same = a.ndim == b.ndim;
    for (int d = 0; same && d < a.ndim; ++d) same = a.shape[d] == b.shape[d];
    ENGINE_CHECK(same, kInvalidArgument, op, ": shapes differ: ", a.shape_str(), " vs ", b.shape_str());
}

}  // namespace cuda_backend
