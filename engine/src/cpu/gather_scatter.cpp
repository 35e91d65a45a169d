// gather_scatter.cpp — MoE token dispatch: gather_rows (dst[i] = src[rows[i]]) and scatter_add_rows
// (dst[rows[i]] += scale[i] · src[i], rows may repeat). Row ids are range-checked at the boundary.
#include <algorithm>
#include <cstring>

#include "cpu/cpu_backend.h"
#include "cpu/cpu_common.h"

namespace engine {

using namespace cpu;

namespace {
void check_row_ids(const char* op, const TensorView& rows, int64_t limit, const char* limit_name,
                   const TensorView& limit_view) {
    const int32_t* r = rows.as<int32_t>();
    for (int64_t i = 0; i < rows.shape[0]; ++i) {
        const int64_t v = r[i * rows.stride[0]];
        ENGINE_CHECK(v >= 0 && v < limit, kInvalidArgument, op, ": rows[", i, "] = ", v, " is outside [0, ", limit,
                     ") (", limit_name, " ", limit_view.shape_str(), ")");
    }
}
}  // namespace

void CpuBackend::gather_rows(const TensorView& dst, const TensorView& src, const TensorView& rows) {
    check_view("gather_rows", "dst", dst);
    check_view("gather_rows", "src", src);
    check_view("gather_rows", "rows", rows);
    check_dtype("gather_rows", "rows", rows, DType::I32);
    check_ndim("gather_rows", "dst", dst, 2, 2);
    check_ndim("gather_rows", "src", src, 2, 2);
    check_ndim("gather_rows", "rows", rows, 1, 1);
    ENGINE_CHECK(dst.dtype == src.dtype, kInvalidArgument, "gather_rows: dst ", dst.shape_str(), " is ",
                 dtype_name(dst.dtype), " but src ", src.shape_str(), " is ", dtype_name(src.dtype));
    ENGINE_CHECK(dst.shape[0] == rows.shape[0], kInvalidArgument, "gather_rows: dst ", dst.shape_str(),
                 " and rows ", rows.shape_str(), ": one dst row per index expected");
    ENGINE_CHECK(dst.shape[1] == src.shape[1], kInvalidArgument, "gather_rows: dst ", dst.shape_str(), " and src ",
                 src.shape_str(), ": row widths differ");
    check_row_ids("gather_rows", rows, src.shape[0], "src", src);
    const int64_t n = rows.shape[0], D = dst.shape[1];
    if (n == 0 || D == 0) return;
    const size_t esz = dtype_size(dst.dtype);
    const int32_t* r = rows.as<int32_t>();
#pragma omp parallel for num_threads(threads_) schedule(static) if (n * D >= (1 << 15))
    for (int64_t i = 0; i < n; ++i) {
        const int64_t s = r[i * rows.stride[0]];
        std::memcpy(static_cast<char*>(dst.data) + size_t(i * dst.stride[0]) * esz,
                    static_cast<const char*>(src.data) + size_t(s * src.stride[0]) * esz, size_t(D) * esz);
    }
}

void CpuBackend::scatter_add_rows(const TensorView& dst, const TensorView& src, const TensorView& rows,
                                  const TensorView& scale) {
    const char* op = "scatter_add_rows";
    check_view(op, "dst", dst);
    check_view(op, "src", src);
    check_view(op, "rows", rows);
    check_view(op, "scale", scale);
    check_dtype(op, "dst", dst, DType::F32);
    check_dtype(op, "src", src, DType::F32);
    check_dtype(op, "rows", rows, DType::I32);
    check_dtype(op, "scale", scale, DType::F32);
    check_ndim(op, "dst", dst, 2, 2);
    check_ndim(op, "src", src, 2, 2);
    check_ndim(op, "rows", rows, 1, 1);
    check_ndim(op, "scale", scale, 1, 1);
    ENGINE_CHECK(src.shape[0] == rows.shape[0] && scale.shape[0] == rows.shape[0], kInvalidArgument, op, ": src ",
                 src.shape_str(), ", rows ", rows.shape_str(), " and scale ", scale.shape_str(),
                 ": one row index and one scale per src row expected");
    ENGINE_CHECK(dst.shape[1] == src.shape[1], kInvalidArgument, op, ": dst ", dst.shape_str(), " and src ",
                 src.shape_str(), ": row widths differ");
    check_row_ids(op, rows, dst.shape[0], "dst", dst);
    const int64_t n = rows.shape[0], D = dst.shape[1];
    if (n == 0 || D == 0) return;
    const int32_t* r = rows.as<int32_t>();
    const float* sc = scale.as<float>();
    // Rows may repeat, so threads split the columns, never the rows: no two threads touch one element,
    // and each element's additions happen in index order (deterministic).
    const int64_t chunk = 256;
    const int64_t n_chunks = (D + chunk - 1) / chunk;
#pragma omp parallel for num_threads(threads_) schedule(static) if (n * D >= (1 << 15) && n_chunks > 1)
    for (int64_t c = 0; c < n_chunks; ++c) {
        const int64_t c0 = c * chunk, c1 = std::min(D, c0 + chunk);
        for (int64_t i = 0; i < n; ++i) {
            float* d = dst.as<float>() + r[i * rows.stride[0]] * dst.stride[0];  // [D]
            const float* s = src.as<float>() + i * src.stride[0];                // [D]
            const float a = sc[i * scale.stride[0]];
            for (int64_t j = c0; j < c1; ++j) d[j] += a * s[j];
        }
    }
}

}  // namespace engine
