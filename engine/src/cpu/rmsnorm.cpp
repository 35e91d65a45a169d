// rmsnorm.cpp — y[r, :] = w ⊙ x[r, :] · rsqrt(mean(x[r, :]²) + eps); w may be F32, F16 or BF16
// (checkpoints store norm weights in bf16). fp32 math with a double sum of squares per row.
#include <cmath>
#include <memory>

#include "cpu/cpu_backend.h"
#include "cpu/cpu_common.h"

namespace engine {

using namespace cpu;

void CpuBackend::rmsnorm(const TensorView& y, const TensorView& x, const TensorView& w, float eps) {
    check_view("rmsnorm", "y", y);
    check_view("rmsnorm", "x", x);
    check_view("rmsnorm", "w", w);
    check_dtype("rmsnorm", "y", y, DType::F32);
    check_dtype("rmsnorm", "x", x, DType::F32);
    check_float_dtype("rmsnorm", "w", w);
    check_ndim("rmsnorm", "x", x, 1, kMaxDims);
    check_ndim("rmsnorm", "w", w, 1, 1);
    check_same_shape("rmsnorm", "y", y, "x", x);
    ENGINE_CHECK(w.shape[0] == x.cols(), kInvalidArgument, "rmsnorm: x ", x.shape_str(), " and w ", w.shape_str(),
                 ": w must have one weight per column of x");
    ENGINE_CHECK(eps >= 0.0f && std::isfinite(eps), kInvalidArgument, "rmsnorm: eps ", eps,
                 " must be finite and >= 0");
    const int64_t rows = rows_of(x), n = x.cols();
    if (rows == 0 || n == 0) return;
    // The weight as fp32, converted once per call.
    std::unique_ptr<float[]> wf(new float[size_t(n)]);  // [n]
    to_f32(wf.get(), w.data, w.dtype, n);
#pragma omp parallel for num_threads(threads_) schedule(static) if (rows * n >= (1 << 15))
    for (int64_t r = 0; r < rows; ++r) {
        const float* xr = row_ptr<float>(x, r);  // [n]
        float* yr = row_ptr<float>(y, r);        // [n]
        // 8 fp32 partial sums vectorise without -ffast-math; fold them in double.
        float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int64_t i = 0;
        for (; i + 8 <= n; i += 8)
            for (int j = 0; j < 8; ++j) part[j] += xr[i + j] * xr[i + j];
        double ss = 0.0;
        for (int j = 0; j < 8; ++j) ss += part[j];
        for (; i < n; ++i) ss += double(xr[i]) * xr[i];
        const float inv = float(1.0 / std::sqrt(ss / double(n) + double(eps)));
        for (int64_t c = 0; c < n; ++c) yr[c] = wf[c] * (xr[c] * inv);
    }
}

}  // namespace engine
