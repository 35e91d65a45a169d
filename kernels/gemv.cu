// gemv.cu — decode-sized Linear products: y[b, m, :] (+)= x[b, m, :]·w[b]ᵀ for M ≤ kGemvMaxM rows and an
// [N, K] ([out, in]) weight of any float dtype, optionally batched (the absorbed MLA heads). One warp per
// output column n streams w's row n once for all M activation rows (gemv.cuh, the loop moe_decode.cu
// uses). x is staged in shared memory, rows padded to 4 floats, so lanes read their activations as
// float4s (2-way bank conflicts at worst instead of 8-way); a product whose M·K floats exceed the device's
// shared-memory opt-in (V3-sized K ≥ 58K at M = 1 on an H100) stays on cuBLAS.
//
// Why not cuBLAS here (matmul.cu keeps it for everything else): at M = 1 a bf16 GEMM through cublasGemmEx
// first needs x cast to bf16, a second launch per product (a decode step of V2-Lite makes ~160 dense
// products: ~160 extra kernels in its graph), and that cast rounds the activation to 8 bits, which the CPU
// backend does not. This kernel reads the fp32 x directly. LATENT_CUDA_GEMV=cublas at construction sends
// these products to cuBLAS again, and latent_gpu_decode_bench times both at V2-Lite's shapes against the
// copy bandwidth of the same run. fp32 weights are multiplied in fp32 whatever set_matmul_precision says
// (the reduced precisions exist for the tensor cores of large GEMMs; a GEMV is bound by memory).
#include <cstdlib>
#include <string>

#include "checks.h"
#include "common.cuh"
#include "cuda_backend.h"
#include "gemv.cuh"
#include "reduce.cuh"

namespace cuda_backend {

using engine::DType;
using engine::TensorView;

namespace {

constexpr int kGemvWarps = 8;  // 256 threads: 8 output columns per block

struct GemvParams {
    const void* w;   // [B, N, K] at (sw, ldw, 1)
    const float* x;  // [B, M, K] at (sx, ldx, 1)
    float* y;        // [B, M, N] at (sy, ldy, 1)
    int64_t N = 0, K = 0, ldw = 0, sw = 0, ldx = 0, sx = 0, ldy = 0, sy = 0;
    int64_t ldxs = 0;  // row stride of x in shared memory: K rounded up to 4 floats
    int M = 0;
    bool accumulate = false;
};

int64_t shared_row(int64_t K) { return (K + 3) / 4 * 4; }

template <typename W, bool kVec, int kM>
__global__ void __launch_bounds__(32 * kGemvWarps) gemv_kernel(GemvParams p) {
    const int64_t b = blockIdx.y;
    const float* x = p.x + b * p.sx;
    float* xs = dynamic_shared<float>();  // [M, ldxs], 16-byte aligned
    for (int m = 0; m < p.M; ++m)
        for (int64_t k = threadIdx.x; k < p.K; k += blockDim.x) xs[m * p.ldxs + k] = x[m * p.ldx + k];
    __syncthreads();
    const int lane = int(threadIdx.x & 31);
    const int64_t n = int64_t(blockIdx.x) * kGemvWarps + (threadIdx.x >> 5);
    if (n >= p.N) return;
    float s[kM] = {};
    lane_dots<W, kVec, kM, kVec>(static_cast<const W*>(p.w) + b * p.sw + n * p.ldw, xs, p.ldxs, p.K, lane, p.M, s);
    float* y = p.y + b * p.sy + n;
#pragma unroll
    for (int m = 0; m < kM; ++m) {
        if (m >= p.M) break;
        const float v = warp_reduce(s[m], SumOp{});
        if (lane == 0) y[m * p.ldy] = p.accumulate ? y[m * p.ldy] + v : v;
    }
}

// Calls f(kernel) for every instantiation (the opt-in set at construction).
template <typename F>
void each_gemv_kernel(F&& f) {
    f(gemv_kernel<float, true, 1>), f(gemv_kernel<float, false, 1>);
    f(gemv_kernel<float, true, kGemvMaxM>), f(gemv_kernel<float, false, kGemvMaxM>);
    f(gemv_kernel<__nv_bfloat16, true, 1>), f(gemv_kernel<__nv_bfloat16, false, 1>);
    f(gemv_kernel<__nv_bfloat16, true, kGemvMaxM>);
    f(gemv_kernel<__nv_bfloat16, false, kGemvMaxM>);
    f(gemv_kernel<__half, true, 1>), f(gemv_kernel<__half, false, 1>);
    f(gemv_kernel<__half, true, kGemvMaxM>), f(gemv_kernel<__half, false, kGemvMaxM>);
}

bool row_aligned16(const void* ptr, int64_t ld, int64_t batch_stride, DType dt) {
    const int64_t es = int64_t(engine::dtype_size(dt));
    return is_aligned(ptr, 16) && (ld * es) % 16 == 0 && (batch_stride * es) % 16 == 0;
}

}  // namespace

bool CudaBackend::gemv_by_env() {
    const char* v = std::getenv("LATENT_CUDA_GEMV");
    return v == nullptr || std::string(v) != "cublas";
}

void CudaBackend::gemv_setup() {
    // x may use all the shared memory a block can opt in to (a host call, once per backend).
    each_gemv_kernel([&](auto kernel) {
        CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, shared_optin_));
    });
}

bool CudaBackend::gemv_applies(const TensorView& x, bool w_transposed) const {
    const int b0 = x.ndim == 3 ? 1 : 0;
    const int64_t M = x.shape[b0], K = x.shape[b0 + 1];
    return gemv_enabled_ && w_transposed && M <= kGemvMaxM && (b0 == 0 || x.shape[0] <= 65535) &&
           M * shared_row(K) * int64_t(sizeof(float)) <= int64_t(shared_optin_);
}

void CudaBackend::gemv(const TensorView& y, const TensorView& x, const TensorView& w, bool accumulate) {
    // Shapes were checked by matmul(): x [B,] M × K, w [B,] N × K, y [B,] M × N, last dims contiguous.
    const bool batched = x.ndim == 3;
    const int b0 = batched ? 1 : 0;
    GemvParams p;
    p.w = w.data;
    p.x = x.as<float>();
    p.y = static_cast<float*>(y.data);
    p.M = int(x.shape[b0]);
    p.K = x.shape[b0 + 1];
    p.N = w.shape[b0];
    p.ldw = w.stride[b0];
    p.ldx = x.stride[b0];
    p.ldy = y.stride[b0];
    p.sw = batched ? w.stride[0] : 0;
    p.sx = batched ? x.stride[0] : 0;
    p.sy = batched ? y.stride[0] : 0;
    p.ldxs = shared_row(p.K);
    p.accumulate = accumulate;
    const int64_t B = batched ? x.shape[0] : 1;
    const size_t smem = size_t(p.M) * size_t(p.ldxs) * sizeof(float);
    const dim3 grid(unsigned(ceil_div(p.N, kGemvWarps)), unsigned(B));
    const bool vec = row_aligned16(w.data, p.ldw, p.sw, w.dtype);
    dispatch_float(w.dtype, "matmul", [&](auto tag) {
        using W = typename decltype(tag)::type;
        auto launch = [&](auto kernel) { kernel<<<grid, 32 * kGemvWarps, smem, stream_>>>(p); };
        if (p.M == 1) {
            if (vec) launch(gemv_kernel<W, true, 1>);
            else launch(gemv_kernel<W, false, 1>);
        } else {
            if (vec) launch(gemv_kernel<W, true, kGemvMaxM>);
            else launch(gemv_kernel<W, false, kGemvMaxM>);
        }
        CUDA_CHECK_LAUNCH();
    });
}

}  // namespace cuda_backend
