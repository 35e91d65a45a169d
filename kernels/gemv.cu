// gemv.cu — decode-sized Linear products: y[b, m, :] (+)= x[b, m, :]·w[b]ᵀ for M ≤ kGemvMaxM rows and an
// [N, K] ([out, in]) weight of any float dtype, optionally batched (the absorbed MLA heads). One warp per
// output column n streams w's row n once for all M activation rows (gemv.cuh, the loop moe_decode.cu
// uses); x sits in shared memory when its M·K floats fit in 48 KB, else it is read through L1.
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

constexpr int kGemvWarps = 8;                     // 256 threads: 8 output columns per block
constexpr int64_t kGemvSharedX = 48 * 1024 / 4;  // floats of x staged in (default) shared memory

struct GemvParams {
    const void* w;  // [B, N, K] at (sw, ldw, 1)
    const float* x;  // [B, M, K] at (sx, ldx, 1)
    float* y;        // [B, M, N] at (sy, ldy, 1)
    int64_t N = 0, K = 0, ldw = 0, sw = 0, ldx = 0, sx = 0, ldy = 0, sy = 0;
    int M = 0;
    bool accumulate = false, x_shared = false;
};

template <typename W, bool kVec, int kM>
__global__ void __launch_bounds__(32 * kGemvWarps) gemv_kernel(GemvParams p) {
    const int64_t b = blockIdx.y;
    const float* x = p.x + b * p.sx;
    int64_t ldx = p.ldx;
    if (p.x_shared) {
        float* xs = dynamic_shared<float>();
        for (int m = 0; m < p.M; ++m)
            for (int64_t k = threadIdx.x; k < p.K; k += blockDim.x) xs[m * p.K + k] = x[m * p.ldx + k];
        __syncthreads();
        x = xs;
        ldx = p.K;
    }
    const int lane = int(threadIdx.x & 31);
    const int64_t n = int64_t(blockIdx.x) * kGemvWarps + (threadIdx.x >> 5);
    if (n >= p.N) return;
    float s[kM] = {};
    lane_dots<W, kVec, kM>(static_cast<const W*>(p.w) + b * p.sw + n * p.ldw, x, ldx, p.K, lane, p.M, s);
    float* y = p.y + b * p.sy + n;
#pragma unroll
    for (int m = 0; m < kM; ++m) {
        if (m >= p.M) break;
        const float v = warp_reduce(s[m], SumOp{});
        if (lane == 0) y[m * p.ldy] = p.accumulate ? y[m * p.ldy] + v : v;
    }
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

bool CudaBackend::gemv_applies(const TensorView& x, bool w_transposed) const {
    const int b0 = x.ndim == 3 ? 1 : 0;
    return gemv_enabled_ && w_transposed && x.shape[b0] <= kGemvMaxM && (b0 == 0 || x.shape[0] <= 65535);
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
    p.accumulate = accumulate;
    p.x_shared = int64_t(p.M) * p.K <= kGemvSharedX;
    const int64_t B = batched ? x.shape[0] : 1;
    const size_t smem = p.x_shared ? size_t(p.M) * size_t(p.K) * sizeof(float) : 0;
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
