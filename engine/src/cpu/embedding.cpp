// embedding.cpp — out[t, :] = table[ids[t], :] with the table in any of F32/F16/BF16 (converted per row).
#include "cpu/cpu_backend.h"
#include "cpu/cpu_common.h"

namespace engine {

using namespace cpu;

void CpuBackend::embedding(const TensorView& out, const TensorView& table, const TensorView& ids) {
    check_view("embedding", "out", out);
    check_view("embedding", "table", table);
    check_view("embedding", "ids", ids);
    check_dtype("embedding", "out", out, DType::F32);
    check_float_dtype("embedding", "table", table);
    check_dtype("embedding", "ids", ids, DType::I32);
    check_ndim("embedding", "out", out, 2, 2);
    check_ndim("embedding", "table", table, 2, 2);
    check_ndim("embedding", "ids", ids, 1, 1);
    ENGINE_CHECK(out.shape[0] == ids.shape[0], kInvalidArgument, "embedding: out ", out.shape_str(), " and ids ",
                 ids.shape_str(), ": one output row per id expected");
    ENGINE_CHECK(out.shape[1] == table.shape[1], kInvalidArgument, "embedding: out ", out.shape_str(),
                 " and table ", table.shape_str(), ": embedding widths differ");
    const int64_t T = ids.shape[0], V = table.shape[0], D = table.shape[1];
    const int32_t* id = ids.as<int32_t>();
    for (int64_t t = 0; t < T; ++t) {
        const int64_t v = id[t * ids.stride[0]];
        ENGINE_CHECK(v >= 0 && v < V, kInvalidArgument, "embedding: ids[", t, "] = ", v,
                     " is outside the table's vocabulary [0, ", V, ") (table ", table.shape_str(), ")");
    }
    if (D == 0) return;
    const size_t esz = dtype_size(table.dtype);
#pragma omp parallel for num_threads(threads_) schedule(static) if (T * D >= (1 << 15))
    for (int64_t t = 0; t < T; ++t) {
        const int64_t v = id[t * ids.stride[0]];
        const char* src = static_cast<const char*>(table.data) + size_t(v * table.stride[0]) * esz;  // [D]
        to_f32(out.as<float>() + t * out.stride[0], src, table.dtype, D);
    }
}

}  // namespace engine
