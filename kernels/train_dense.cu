// train_dense.cu — training ops over dense rows: the weight-gradient GEMM (cuBLAS, fp32), RMSNorm
// backward, RoPE backward and SwiGLU (silu_mul) backward.
//
// Semantics are backend.h's "training ops" and the CPU reference's (engine/src/cpu/train_ops.cpp,
// train_kernels.h): the same overwrite/accumulate rule per op, the same dtype checks, the same formulas
// written in the same order, so CUDA-vs-CPU differences are rounding only (tests/kernels/
// cuda_train_parity_test.cpp). Validation happens in the launchers; kernels never validate.
// Not here: fused/tensor-core variants (these are the straightforward on-device references).
#include <algorithm>
#include <climits>

#include "checks.h"
#include "common.cuh"
#include "cuda_backend.h"
#include "reduce.cuh"

namespace cuda_backend {

using engine::DType;
using engine::TensorView;

namespace {

constexpr int kNormThreads = 256;     // rmsnorm_backward: one block per row
constexpr int kNormRowChunk = 256;    // rmsnorm_backward dw: rows per partial sum
constexpr int kNormColThreads = 128;  // rmsnorm_backward dw: columns per block

// Pass 1, one block per row r:  rs[r] = 1/sqrt(mean(x[r]²) + eps),  c[r] = Σ_i dy·w·x · rs³ / n.
// x, dy: [rows, n] (row strides lx, ly); w: [n]; rs, c: [rows] (workspace)
__global__ void rmsnorm_backward_stats_kernel(float* rs, float* c, const float* dy, int64_t ly, const float* x,
                                              int64_t lx, const float* w, int64_t n, float eps) {
    __shared__ float red[32];
    const int64_t r = blockIdx.x;
    const float* xr = x + r * lx;
    const float* gr = dy + r * ly;
    float ss = 0.0f, dot = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        ss += xr[i] * xr[i];
        dot += gr[i] * w[i] * xr[i];
    }
    ss = block_sum(ss, red);
    dot = block_sum(dot, red);
    if (threadIdx.x == 0) {
        const float rsr = 1.0f / sqrtf(ss / float(n) + eps);  // as the CPU: 1 / sqrt, not rsqrtf
        rs[r] = rsr;
        c[r] = dot * rsr * rsr * rsr / float(n);
    }
}

// Pass 2 (only when dw is wanted), grid (column blocks, row chunks):
// part[chunk, i] = Σ_{r in chunk} dy[r, i]·x[r, i]·rs[r]      part: [chunks, n] (workspace)
__global__ void rmsnorm_backward_dw_partial_kernel(float* part, const float* dy, int64_t ly, const float* x,
                                                   int64_t lx, const float* rs, int64_t rows, int64_t n) {
    const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (i >= n) return;
    const int64_t r0 = int64_t(blockIdx.y) * kNormRowChunk, r1 = min(rows, r0 + kNormRowChunk);
    float acc = 0.0f;
    for (int64_t r = r0; r < r1; ++r) acc += dy[r * ly + i] * x[r * lx + i] * rs[r];
    part[int64_t(blockIdx.y) * n + i] = acc;
}

// Pass 3: dw[i] += Σ_chunk part[chunk, i], chunks in order (deterministic).
__global__ void rmsnorm_backward_dw_sum_kernel(float* dw, const float* part, int64_t chunks, int64_t n) {
    const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (i >= n) return;
    float acc = 0.0f;
    for (int64_t k = 0; k < chunks; ++k) acc += part[k * n + i];
    dw[i] += acc;
}

// Pass 4, elementwise: dx = dy·w·rs − x·c. Runs after the dw passes and reads dy[r, i], x[r, i] before
// writing dx[r, i] in the same thread, so dx may alias dy or x.
__global__ void rmsnorm_backward_dx_kernel(float* dx, int64_t ldx, const float* dy, int64_t ly, const float* x,
                                           int64_t lx, const float* w, const float* rs, const float* c, int64_t rows,
                                           int64_t n) {
    const int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (j >= rows * n) return;
    const int64_t r = j / n, i = j % n;
    dx[r * ldx + i] = dy[r * ly + i] * w[i] * rs[r] - x[r * lx + i] * c[r];
}

// In-place inverse rotation of adjacent pairs: the transpose of rope_kernel's (norm_rope.cu) rotation,
// with the angle computed the same way (fp32 pos · inv_freq, cosf/sinf, times attn_factor).
// dx: [T, heads, d] with token stride st and head stride sh; one thread per (t, head, pair).
__global__ void rope_backward_kernel(float* dx, int64_t T, int64_t heads, int64_t half, int64_t st, int64_t sh,
                                     const int32_t* pos, const float* inv_freq, float attn_factor) {
    const int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (j >= T * heads * half) return;
    const int64_t p = j % half, h = (j / half) % heads, t = j / (half * heads);
    const float angle = float(pos[t]) * inv_freq[p];
    const float c = cosf(angle) * attn_factor, s = sinf(angle) * attn_factor;
    float* v = dx + t * st + h * sh + 2 * p;
    const float a = v[0], b = v[1];
    v[0] = a * c + b * s;  // [c s; −s c] · (a, b): rotation by −θ
    v[1] = b * c - a * s;
}

struct Rows {  // a [rows, cols] F32 matrix with row stride `ld`
    float* p;
    int64_t ld;
};

// out = silu(g) ⊙ u:  dup = dout·silu(g),  dgate = dout·u·σ(g)·(1 + g·(1 − σ(g)))  (the CPU formula).
__global__ void silu_mul_backward_kernel(Rows dg, Rows du, Rows dout, Rows g, Rows u, int64_t rows, int64_t cols) {
    const int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (j >= rows * cols) return;
    const int64_t r = j / cols, i = j % cols;
    const float gv = g.p[r * g.ld + i], uv = u.p[r * u.ld + i], ov = dout.p[r * dout.ld + i];
    const float sg = 1.0f / (1.0f + expf(-gv));
    const float silu = gv * sg;
    du.p[r * du.ld + i] = ov * silu;
    dg.p[r * dg.ld + i] = ov * uv * sg * (1.0f + gv * (1.0f - sg));
}

bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

}  // namespace

void CudaBackend::matmul_weight_grad(const TensorView& dw, const TensorView& dy, const TensorView& x,
                                     bool accumulate) {
    const char* op = "matmul_weight_grad";
    check_f32(dw, op, "dw");
    check_f32(dy, op, "dy");
    check_f32(x, op, "x");
    const int64_t lw = row_ld(dw, op, "dw"), ly = row_ld(dy, op, "dy"), lx = row_ld(x, op, "x");
    const int64_t N = dw.rows(), K = dw.cols(), M = dy.rows();
    ENGINE_CHECK(dy.cols() == N && x.rows() == M && x.cols() == K, kInvalidArgument, op, ": dw ", dw.shape_str(),
                 " = dyᵀ ", dy.shape_str(), " · x ", x.shape_str(), " needs dw [N, K], dy [M, N], x [M, K]");
    if (N == 0 || K == 0) return;
    if (M == 0) {  // an empty sum: dw = 0 (overwrite) or unchanged (accumulate), as the CPU
        if (!accumulate) fill(dw, 0.0f);
        return;
    }
    ENGINE_CHECK(fits_int(N) && fits_int(K) && fits_int(M) && fits_int(lw) && fits_int(ly) && fits_int(lx),
                 kInvalidArgument, op, ": dims or strides exceed cuBLAS's int range");
    const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;  // beta 0: dw is not read (NaN-safe overwrite)
    // Row-major dw[N, K] is column-major dwᵀ (K×N, ld lw) and dwᵀ = xᵀ · dy:
    //   A = x  read column-major as xᵀ (K×M, ld lx), OP_N;  B = dy read column-major as dyᵀ (N×M, ld ly), OP_T.
    // fp32 in, fp32 out; fp32 compute unless set_matmul_precision chose TF32 / bf16 tensor cores.
    CUBLAS_CHECK(cublasGemmEx(cublas_, CUBLAS_OP_N, CUBLAS_OP_T, int(K), int(N), int(M), &alpha, x.data, CUDA_R_32F,
                              int(lx), dy.data, CUDA_R_32F, int(ly), &beta, dw.data, CUDA_R_32F, int(lw),
                              compute_type(CUDA_R_32F), CUBLAS_GEMM_DEFAULT));
}

void CudaBackend::rmsnorm_backward(const TensorView& dx, const TensorView& dw, const TensorView& dy,
                                   const TensorView& x, const TensorView& w, float eps) {
    const char* op = "rmsnorm_backward";
    check_f32(dx, op, "dx");
    check_f32(dy, op, "dy");
    check_f32(x, op, "x");
    check_f32(w, op, "w");  // the fp32 master weight, as the CPU requires
    const int64_t ldx = row_ld(dx, op, "dx"), ly = row_ld(dy, op, "dy"), lx = row_ld(x, op, "x");
    check_same_shape(dx, x, op);
    check_same_shape(dy, x, op);
    ENGINE_CHECK(w.numel() == x.cols() && w.is_contiguous(), kInvalidArgument, op, ": w ", w.shape_str(),
                 " must be contiguous with ", x.cols(), " elements");
    const bool want_dw = dw.data != nullptr;  // dw.data == nullptr: no weight gradient (frozen weight)
    if (want_dw) {
        check_f32(dw, op, "dw");
        ENGINE_CHECK(dw.numel() == x.cols() && dw.is_contiguous(), kInvalidArgument, op, ": dw ", dw.shape_str(),
                     " must be contiguous with ", x.cols(), " elements");
    }
    const int64_t rows = x.rows(), n = x.cols();
    if (rows == 0 || n == 0) return;
    ENGINE_CHECK(rows <= INT_MAX, kInvalidArgument, op, ": ", rows, " rows exceed one grid dimension");
    const int64_t chunks = want_dw ? ceil_div(rows, kNormRowChunk) : 0;
    ENGINE_CHECK(chunks <= 65535, kInvalidArgument, op, ": ", rows, " rows exceed the dw pass's grid");
    // workspace: rs [rows] | c [rows] | part [chunks, n]
    float* rs = static_cast<float*>(workspace(size_t(2 * rows + chunks * n) * sizeof(float)));
    float* c = rs + rows;
    float* part = c + rows;
    const float* dyp = dy.as<float>();
    const float* xp = x.as<float>();
    const float* wp = w.as<float>();
    rmsnorm_backward_stats_kernel<<<unsigned(rows), kNormThreads, 0, stream_>>>(rs, c, dyp, ly, xp, lx, wp, n, eps);
    CUDA_CHECK_LAUNCH();
    if (want_dw) {
        const dim3 grid(unsigned(ceil_div(n, kNormColThreads)), unsigned(chunks));
        rmsnorm_backward_dw_partial_kernel<<<grid, kNormColThreads, 0, stream_>>>(part, dyp, ly, xp, lx, rs, rows, n);
        CUDA_CHECK_LAUNCH();
        rmsnorm_backward_dw_sum_kernel<<<unsigned(ceil_div(n, kNormColThreads)), kNormColThreads, 0, stream_>>>(
            dw.as<float>(), part, chunks, n);
        CUDA_CHECK_LAUNCH();
    }
    rmsnorm_backward_dx_kernel<<<ceil_div(rows * n, 256), 256, 0, stream_>>>(dx.as<float>(), ldx, dyp, ly, xp, lx, wp,
                                                                              rs, c, rows, n);
    CUDA_CHECK_LAUNCH();
}

void CudaBackend::rope_backward(const TensorView& dx, const TensorView& positions, const TensorView& inv_freq,
                                float attn_factor) {
    const char* op = "rope_backward";
    check_f32(dx, op, "dx");
    check_device(positions, op, "positions");
    check_f32(inv_freq, op, "inv_freq");
    ENGINE_CHECK(dx.ndim == 3, kInvalidArgument, op, ": dx must be [T, heads, d_r], got ", dx.shape_str());
    const int64_t T = dx.shape[0], heads = dx.shape[1], d = dx.shape[2];
    ENGINE_CHECK(positions.dtype == DType::I32 && positions.numel() == T && positions.is_contiguous() &&
                     inv_freq.numel() * 2 == d && inv_freq.is_contiguous(),
                 kInvalidArgument, op, ": dx ", dx.shape_str(), " needs contiguous I32 positions [", T,
                 "] and F32 inv_freq [", d / 2, "], got ", positions.shape_str(), " and ", inv_freq.shape_str());
    const int64_t n = T * heads * (d / 2);
    if (n == 0) return;
    rope_backward_kernel<<<ceil_div(n, 256), 256, 0, stream_>>>(dx.as<float>(), T, heads, d / 2, dx.stride[0],
                                                                 dx.stride[1], positions.as<int32_t>(),
                                                                 inv_freq.as<float>(), attn_factor);
    CUDA_CHECK_LAUNCH();
}

void CudaBackend::silu_mul_backward(const TensorView& dgate, const TensorView& dup, const TensorView& dout,
                                    const TensorView& gate, const TensorView& up) {
    const char* op = "silu_mul_backward";
    const TensorView* all[5] = {&dgate, &dup, &dout, &gate, &up};
    const char* names[5] = {"dgate", "dup", "dout", "gate", "up"};
    Rows r[5];
    for (int i = 0; i < 5; ++i) {
        check_f32(*all[i], op, names[i]);
        check_same_shape(*all[i], gate, op);
        r[i] = {all[i]->as<float>(), row_ld(*all[i], op, names[i])};
    }
    const int64_t rows = gate.rows(), cols = gate.cols();
    if (rows * cols == 0) return;
    silu_mul_backward_kernel<<<ceil_div(rows * cols, 256), 256, 0, stream_>>>(r[0], r[1], r[2], r[3], r[4], rows,
                                                                               cols);
    CUDA_CHECK_LAUNCH();
}

}  // namespace cuda_backend
