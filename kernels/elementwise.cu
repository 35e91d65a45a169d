// elementwise.cu — silu_mul, add, mul, axpy over [rows, cols] views with row strides.
#include "checks.h"
#include "common.cuh"
#include "cuda_backend.h"

namespace cuda_backend {

using engine::TensorView;

struct RowView {
    float* p;
    int64_t stride;
};

__global__ void silu_mul_kernel(RowView out, RowView g, RowView u, int64_t rows, int64_t cols) {
    int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (i >= rows * cols) return;
    int64_t r = i / cols, c = i % cols;
    float a = g.p[r * g.stride + c];
    out.p[r * out.stride + c] = a / (1.0f + expf(-a)) * u.p[r * u.stride + c];
}

struct AddOp {
    __device__ __forceinline__ float operator()(float p, float q) const { return p + q; }
};
struct MulOp {
    __device__ __forceinline__ float operator()(float p, float q) const { return p * q; }
};

template <typename Op>
__global__ void binary_kernel(RowView y, RowView a, RowView b, int64_t rows, int64_t cols, Op op) {
    int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (i >= rows * cols) return;
    int64_t r = i / cols, c = i % cols;
    y.p[r * y.stride + c] = op(a.p[r * a.stride + c], b.p[r * b.stride + c]);
}

__global__ void axpy_kernel(RowView y, RowView x, float alpha, int64_t rows, int64_t cols) {
    int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (i >= rows * cols) return;
    int64_t r = i / cols, c = i % cols;
    y.p[r * y.stride + c] += alpha * x.p[r * x.stride + c];
}

static RowView row_view(const TensorView& t, const char* op, const char* name) {
    check_f32(t, op, name);
    check_rows(t, op, name);
    return {t.as<float>(), t.row_stride()};
}

void CudaBackend::silu_mul(const TensorView& out, const TensorView& gate, const TensorView& up) {
    check_same_shape(out, gate, "silu_mul");
    check_same_shape(out, up, "silu_mul");
    RowView o = row_view(out, "silu_mul", "out"), g = row_view(gate, "silu_mul", "gate"),
            u = row_view(up, "silu_mul", "up");
    const int64_t n = out.numel();
    if (n == 0) return;
    silu_mul_kernel<<<ceil_div(n, 256), 256, 0, stream_>>>(o, g, u, out.rows(), out.cols());
    CUDA_CHECK_LAUNCH();
}

template <typename Op>
static void binary(cudaStream_t stream, const char* op, const TensorView& y, const TensorView& a, const TensorView& b,
                   Op f) {
    check_same_shape(y, a, op);
    check_same_shape(y, b, op);
    RowView yy = row_view(y, op, "y"), aa = row_view(a, op, "a"), bb = row_view(b, op, "b");
    const int64_t n = y.numel();
    if (n == 0) return;
    binary_kernel<Op><<<ceil_div(n, 256), 256, 0, stream>>>(yy, aa, bb, y.rows(), y.cols(), f);
    CUDA_CHECK_LAUNCH();
}

void CudaBackend::add(const TensorView& y, const TensorView& a, const TensorView& b) { binary(stream_, "add", y, a, b, AddOp{}); }

void CudaBackend::mul(const TensorView& y, const TensorView& a, const TensorView& b) { binary(stream_, "mul", y, a, b, MulOp{}); }

void CudaBackend::axpy(const TensorView& y, const TensorView& x, float alpha) {
    check_same_shape(y, x, "axpy");
    RowView yy = row_view(y, "axpy", "y"), xx = row_view(x, "axpy", "x");
    const int64_t n = y.numel();
    if (n == 0) return;
    axpy_kernel<<<ceil_div(n, 256), 256, 0, stream_>>>(yy, xx, alpha, y.rows(), y.cols());
    CUDA_CHECK_LAUNCH();
}

}  // namespace cuda_backend
