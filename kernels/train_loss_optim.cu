// train_loss_optim.cu — the loss and the optimizer side of training: fused softmax + cross-entropy,
// AdamW (one fused kernel), Σx² in double (grad norm) and in-place scaling.
//
// Semantics are backend.h's "training ops" and the CPU reference's (engine/src/cpu/train_ops.cpp,
// train_kernels.h). cross_entropy and sum_squares return host values: they read a few bytes back and
// synchronise the stream. Every reduction has a fixed shape and order (no float atomics), so results are
// bit-identical from run to run on one GPU.
#include <algorithm>
#include <climits>
#include <cmath>

#include "checks.h"
#include "common.cuh"
#include "cuda_backend.h"
#include "reduce.cuh"

namespace cuda_backend {

using engine::DType;
using engine::TensorView;

namespace {

constexpr int kCeThreads = 256;       // cross_entropy: one block per row
constexpr int kReduceThreads = 1024;  // single-block reductions
constexpr int kSumSqThreads = 256;
constexpr int kSumSqMaxBlocks = 1024;

// What cross_entropy reads back: written on the device, copied to the host once.
struct CeResult {
    double loss_sum;      // Σ over counted rows of (lse − logit[target]), each row's term in fp32
    long long count;      // rows whose target is not ignore_index
    long long bad;        // counted rows whose target is outside [0, V)
    long long first_bad;  // the first such row (LLONG_MAX when none)
};

// Single block: count, bad and first_bad over targets I32 [T].
__global__ void ce_count_kernel(CeResult* res, const int32_t* targets, int64_t T, int64_t V, int32_t ignore) {
    __shared__ long long red[32];
    long long count = 0, bad = 0, first_bad = LLONG_MAX;
    for (int64_t t = threadIdx.x; t < T; t += blockDim.x) {
        const int32_t tg = targets[t];
        if (tg == ignore) continue;
        ++count;
        if (tg < 0 || tg >= V) {
            ++bad;
            first_bad = first_bad < t ? first_bad : t;
        }
    }
    count = block_reduce(count, 0ll, red, SumOp{});
    bad = block_reduce(bad, 0ll, red, SumOp{});
    first_bad = block_reduce(first_bad, LLONG_MAX, red, MinOp{});
    if (threadIdx.x == 0) {
        res->count = count;
        res->bad = bad;
        res->first_bad = first_bad;
    }
}

struct CeParams {
    const float* logits; int64_t ll;  // [T, V], row stride ll
    float* dlogits; int64_t ld;       // [T, V] or nullptr (loss only)
    const int32_t* targets;           // I32 [T]
    int64_t V;
    int32_t ignore;
    float grad_scale;
    float* row_loss;                  // [T] workspace
    const CeResult* res;              // count from ce_count_kernel
};

// One block per row t: row_loss[t] = lse − l[target] (0 when ignored) and
// dlogits[t] = (softmax − onehot) · grad_scale / count (zero row when ignored), the CPU's formula.
// Every thread reads l[target] before the first reduction and each element is read before it is
// written by the same thread, so dlogits may alias logits.
__global__ void ce_rows_kernel(CeParams p) {
    __shared__ float red[32];
    const int64_t t = blockIdx.x;
    const int32_t tg = p.targets[t];
    float* d = p.dlogits ? p.dlogits + t * p.ld : nullptr;
    if (tg == p.ignore || tg < 0 || tg >= p.V) {  // ignored, or invalid (the op then throws): no loss, no gradient
        if (d)
            for (int64_t i = threadIdx.x; i < p.V; i += blockDim.x) d[i] = 0.0f;
        if (threadIdx.x == 0) p.row_loss[t] = 0.0f;
        return;  // the whole block takes this branch (tg is per block)
    }
    const float* l = p.logits + t * p.ll;
    const float l_target = l[tg];
    float mx = -INFINITY;
    for (int64_t i = threadIdx.x; i < p.V; i += blockDim.x) mx = fmaxf(mx, l[i]);
    mx = block_max(mx, red);
    float sum = 0.0f;
    for (int64_t i = threadIdx.x; i < p.V; i += blockDim.x) sum += expf(l[i] - mx);
    sum = block_sum(sum, red);
    const float lse = mx + logf(sum);
    if (threadIdx.x == 0) p.row_loss[t] = lse - l_target;
    if (d) {
        const long long count = p.res->count;
        const float inv = count > 0 ? p.grad_scale / float(count) : 0.0f;
        for (int64_t i = threadIdx.x; i < p.V; i += blockDim.x)
            d[i] = (expf(l[i] - lse) - (i == tg ? 1.0f : 0.0f)) * inv;
    }
}

// Single block: res->loss_sum = Σ_t row_loss[t] in double, in a fixed order.
__global__ void ce_loss_sum_kernel(CeResult* res, const float* row_loss, int64_t T) {
    __shared__ double red[32];
    double acc = 0.0;
    for (int64_t t = threadIdx.x; t < T; t += blockDim.x) acc += double(row_loss[t]);
    acc = block_sum(acc, red);
    if (threadIdx.x == 0) res->loss_sum = acc;
}

// AdamW, fused: m, v, p updated in one pass. bc1 = 1 − β1^step, bc2 = 1 − β2^step (computed on the host
// in fp32 exactly as the CPU does).   p, g, m, v: F32 [n]
__global__ void adamw_kernel(float* p, const float* g, float* m, float* v, int64_t n, float lr, float beta1,
                             float beta2, float eps, float weight_decay, float bc1, float bc2) {
    const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (i >= n) return;
    const float gi = g[i];
    const float mi = beta1 * m[i] + (1.0f - beta1) * gi;
    const float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const float mh = mi / bc1, vh = vi / bc2;
    const float pi = p[i];
    p[i] = pi - lr * (mh / (sqrtf(vh) + eps) + weight_decay * pi);
}

// partial[block] = Σ x² over a grid-stride slice, in double.   x: F32 [n]
__global__ void sum_squares_partial_kernel(double* partial, const float* x, int64_t n) {
    __shared__ double red[32];
    double acc = 0.0;
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
        const double v = double(x[i]);
        acc += v * v;
    }
    acc = block_sum(acc, red);
    if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// Single block: *out = Σ partial[0 .. n) in a fixed order.
__global__ void sum_partials_kernel(double* out, const double* partial, int64_t n) {
    __shared__ double red[32];
    double acc = 0.0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) acc += partial[i];
    acc = block_sum(acc, red);
    if (threadIdx.x == 0) *out = acc;
}

__global__ void scale_kernel(float* y, int64_t n, float alpha) {
    const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (i < n) y[i] *= alpha;
}

}  // namespace

float CudaBackend::cross_entropy(const TensorView& dlogits, const TensorView& logits, const TensorView& targets,
                                 int32_t ignore_index, float grad_scale, int64_t* counted) {
    const char* op = "cross_entropy";
    check_f32(logits, op, "logits");
    const int64_t ll = row_ld(logits, op, "logits");
    int64_t ld = 0;
    const bool want_grad = dlogits.data != nullptr;  // dlogits.data == nullptr: loss only
    if (want_grad) {
        check_f32(dlogits, op, "dlogits");
        ld = row_ld(dlogits, op, "dlogits");
        check_same_shape(dlogits, logits, op);
    }
    check_device(targets, op, "targets");
    const int64_t T = logits.rows(), V = logits.cols();
    ENGINE_CHECK(targets.dtype == DType::I32 && targets.is_contiguous() && targets.numel() == T, kInvalidArgument, op,
                 ": targets ", targets.shape_str(), " must be contiguous I32 with one id per logits row (", T, ")");
    if (T == 0) {
        if (counted) *counted = 0;
        return 0.0f;
    }
    ENGINE_CHECK(T <= INT_MAX, kInvalidArgument, op, ": ", T, " rows exceed one grid dimension");
    // workspace: CeResult | row_loss [T]
    constexpr size_t kHead = 256;  // keeps row_loss aligned
    char* ws = static_cast<char*>(workspace(kHead + size_t(T) * sizeof(float)));
    CeResult* res = reinterpret_cast<CeResult*>(ws);
    float* row_loss = reinterpret_cast<float*>(ws + kHead);
    ce_count_kernel<<<1, kReduceThreads, 0, stream_>>>(res, targets.as<int32_t>(), T, V, ignore_index);
    CUDA_CHECK_LAUNCH();
    CeParams p{logits.as<float>(), ll, want_grad ? dlogits.as<float>() : nullptr, ld, targets.as<int32_t>(), V,
               ignore_index, grad_scale, row_loss, res};
    ce_rows_kernel<<<unsigned(T), kCeThreads, 0, stream_>>>(p);
    CUDA_CHECK_LAUNCH();
    ce_loss_sum_kernel<<<1, kReduceThreads, 0, stream_>>>(res, row_loss, T);
    CUDA_CHECK_LAUNCH();
    CeResult got{};
    CUDA_CHECK(cudaMemcpyAsync(&got, res, sizeof(got), cudaMemcpyDeviceToHost, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    if (got.bad > 0) {  // dlogits is unspecified after this error (the CPU throws before writing)
        int32_t value = 0;
        CUDA_CHECK(cudaMemcpyAsync(&value, targets.as<int32_t>() + got.first_bad, sizeof(value),
                                   cudaMemcpyDeviceToHost, stream_));
        CUDA_CHECK(cudaStreamSynchronize(stream_));
        ENGINE_THROW(kInvalidArgument, op, ": targets[", got.first_bad, "] = ", value, " is outside [0, ", V,
                     ") and is not the ignore index ", ignore_index);
    }
    if (counted) *counted = got.count;
    return got.count > 0 ? float(got.loss_sum / double(got.count)) : 0.0f;
}

void CudaBackend::adamw_step(const TensorView& param, const TensorView& grad, const TensorView& m, const TensorView& v,
                             float lr, float beta1, float beta2, float eps, float weight_decay, int64_t step) {
    const char* op = "adamw_step";
    for (const TensorView* t : {&param, &grad, &m, &v}) {
        check_f32(*t, op, "operand");
        ENGINE_CHECK(t->is_contiguous() && t->numel() == param.numel(), kInvalidArgument, op,
                     ": param/grad/m/v must be contiguous F32 of the same size, got ", t->shape_str(), " vs ",
                     param.shape_str());
    }
    ENGINE_CHECK(step >= 1, kInvalidArgument, op, ": step must be >= 1 (1-based), got ", step);
    const int64_t n = param.numel();
    if (n == 0) return;
    // fp32 pow of an fp32 step, the CPU's expression (train_kernels.h adamw_step with T = float).
    const float bc1 = 1.0f - std::pow(beta1, float(step));
    const float bc2 = 1.0f - std::pow(beta2, float(step));
    adamw_kernel<<<ceil_div(n, 256), 256, 0, stream_>>>(param.as<float>(), grad.as<float>(), m.as<float>(),
                                                         v.as<float>(), n, lr, beta1, beta2, eps, weight_decay, bc1,
                                                         bc2);
    CUDA_CHECK_LAUNCH();
}

double CudaBackend::sum_squares(const TensorView& x) {
    const char* op = "sum_squares";
    check_f32(x, op, "x");
    ENGINE_CHECK(x.is_contiguous(), kInvalidArgument, op, ": x ", x.shape_str(), " must be contiguous");
    const int64_t n = x.numel();
    if (n == 0) return 0.0;
    const int64_t blocks = std::min<int64_t>(ceil_div(n, kSumSqThreads), kSumSqMaxBlocks);
    // workspace: result | partial [blocks]
    double* out = static_cast<double*>(workspace(size_t(1 + blocks) * sizeof(double)));
    double* partial = out + 1;
    sum_squares_partial_kernel<<<unsigned(blocks), kSumSqThreads, 0, stream_>>>(partial, x.as<float>(), n);
    CUDA_CHECK_LAUNCH();
    sum_partials_kernel<<<1, kReduceThreads, 0, stream_>>>(out, partial, blocks);
    CUDA_CHECK_LAUNCH();
    double got = 0.0;
    CUDA_CHECK(cudaMemcpyAsync(&got, out, sizeof(got), cudaMemcpyDeviceToHost, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    return got;
}

void CudaBackend::scale(const TensorView& y, float alpha) {
    const char* op = "scale";
    check_f32(y, op, "y");
    ENGINE_CHECK(y.is_contiguous(), kInvalidArgument, op, ": y ", y.shape_str(), " must be contiguous");
    const int64_t n = y.numel();
    if (n == 0) return;
    scale_kernel<<<ceil_div(n, 256), 256, 0, stream_>>>(y.as<float>(), n, alpha);
    CUDA_CHECK_LAUNCH();
}

}  // namespace cuda_backend
