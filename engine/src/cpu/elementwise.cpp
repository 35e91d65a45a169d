// elementwise.cpp — silu_mul, add, axpy and fill: row loops over strided views, OpenMP over rows when
// the tensor is large enough to pay for the fork.
#include <cmath>
#include <memory>

#include "cpu/cpu_backend.h"
#include "cpu/cpu_common.h"

namespace engine {

using namespace cpu;

namespace {
constexpr int64_t kParallelElems = 1 << 15;  // below this, one thread is faster than forking
}

void CpuBackend::silu_mul(const TensorView& out, const TensorView& gate, const TensorView& up) {
    check_view("silu_mul", "out", out);
    check_view("silu_mul", "gate", gate);
    check_view("silu_mul", "up", up);
    check_dtype("silu_mul", "out", out, DType::F32);
    check_dtype("silu_mul", "gate", gate, DType::F32);
    check_dtype("silu_mul", "up", up, DType::F32);
    check_same_shape("silu_mul", "out", out, "gate", gate);
    check_same_shape("silu_mul", "out", out, "up", up);
    const int64_t rows = rows_of(out), n = out.cols();
    if (out.numel() == 0) return;
#pragma omp parallel for num_threads(threads_) schedule(static) if (rows * n >= kParallelElems)
    for (int64_t r = 0; r < rows; ++r) {
        float* o = row_ptr<float>(out, r);            // [n]
        const float* g = row_ptr<float>(gate, r);     // [n]
        const float* u = row_ptr<float>(up, r);       // [n]
        silu_mul_row(o, g, u, n);
    }
}

namespace {

// y[r, i] = f(a[r, i], b[r, i]) over F32 [rows, n] views (the shared body of add and mul).
template <typename F>
void binary_rows(const char* op, const TensorView& y, const TensorView& a, const TensorView& b, int threads, F f) {
    check_view(op, "y", y);
    check_view(op, "a", a);
    check_view(op, "b", b);
    check_dtype(op, "y", y, DType::F32);
    check_dtype(op, "a", a, DType::F32);
    check_dtype(op, "b", b, DType::F32);
    check_same_shape(op, "y", y, "a", a);
    check_same_shape(op, "y", y, "b", b);
    const int64_t rows = rows_of(y), n = y.cols();
    if (y.numel() == 0) return;
#pragma omp parallel for num_threads(threads) schedule(static) if (rows * n >= kParallelElems)
    for (int64_t r = 0; r < rows; ++r) {
        float* o = row_ptr<float>(y, r);
        const float* pa = row_ptr<float>(a, r);
        const float* pb = row_ptr<float>(b, r);
        for (int64_t i = 0; i < n; ++i) o[i] = f(pa[i], pb[i]);
    }
}

}  // namespace

void CpuBackend::add(const TensorView& y, const TensorView& a, const TensorView& b) {
    binary_rows("add", y, a, b, threads_, [](float p, float q) { return p + q; });
}

void CpuBackend::mul(const TensorView& y, const TensorView& a, const TensorView& b) {
    binary_rows("mul", y, a, b, threads_, [](float p, float q) { return p * q; });
}

void CpuBackend::axpy(const TensorView& y, const TensorView& x, float alpha) {
    check_view("axpy", "y", y);
    check_view("axpy", "x", x);
    check_dtype("axpy", "y", y, DType::F32);
    check_dtype("axpy", "x", x, DType::F32);
    check_same_shape("axpy", "y", y, "x", x);
    const int64_t rows = rows_of(y), n = y.cols();
    if (y.numel() == 0) return;
#pragma omp parallel for num_threads(threads_) schedule(static) if (rows * n >= kParallelElems)
    for (int64_t r = 0; r < rows; ++r) {
        float* o = row_ptr<float>(y, r);
        const float* px = row_ptr<float>(x, r);
        for (int64_t i = 0; i < n; ++i) o[i] += alpha * px[i];
    }
}

void CpuBackend::fill(const TensorView& dst, float value) {
    check_view("fill", "dst", dst);
    const bool is_float = dst.dtype == DType::F32 || dst.dtype == DType::F16 || dst.dtype == DType::BF16;
    const bool is_int = dst.dtype == DType::I32;
    ENGINE_CHECK(is_float || is_int, kInvalidArgument, "fill: dst ", dst.shape_str(), " is ",
                 dtype_name(dst.dtype), ", expected F32, F16, BF16 or I32");
    const int64_t rows = rows_of(dst), n = dst.cols();
    if (dst.numel() == 0) return;
    if (is_int) {
        ENGINE_CHECK(std::isfinite(value) && std::nearbyint(value) == value && std::fabs(value) < 2147483648.0f,
                     kInvalidArgument, "fill: value ", value, " is not an I32 integer (dst ", dst.shape_str(), ")");
    }
    // One converted row is the pattern for every row.
    std::unique_ptr<float[]> f32_row(new float[size_t(n)]);
    for (int64_t i = 0; i < n; ++i) f32_row[i] = value;
    std::unique_ptr<uint16_t[]> half_row;
    if (dst.dtype == DType::F16 || dst.dtype == DType::BF16) {
        half_row.reset(new uint16_t[size_t(n)]);
        from_f32(half_row.get(), dst.dtype, f32_row.get(), n);
    }
    const int32_t ivalue = is_int ? int32_t(value) : 0;
#pragma omp parallel for num_threads(threads_) schedule(static) if (rows * n >= kParallelElems)
    for (int64_t r = 0; r < rows; ++r) {
        if (dst.dtype == DType::F32) {
            float* o = row_ptr<float>(dst, r);
            for (int64_t i = 0; i < n; ++i) o[i] = value;
        } else if (is_int) {
            int32_t* o = row_ptr<int32_t>(dst, r);
            for (int64_t i = 0; i < n; ++i) o[i] = ivalue;
        } else {
            uint16_t* o = row_ptr<uint16_t>(dst, r);
            for (int64_t i = 0; i < n; ++i) o[i] = half_row[i];
        }
    }
}

}  // namespace engine
