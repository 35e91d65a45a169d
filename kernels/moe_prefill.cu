// moe_prefill.cu — CudaBackend::moe_experts: the routed experts of a many-token step (prefill) as two
// grouped GEMMs instead of a per-expert loop of gather / 3 GEMMs / silu / scatter (~6 launches per
// expert: ~400 per layer for 64 experts).
//
//   1. gather + cast     xg [P, D] = x[rows[p]] in the weights' dtype (bf16/f16; f32 stays f32)
//   2. grouped GEMM      per expert e with cnt_e > 0: G_e = xg_e·gate_eᵀ, U_e = xg_e·up_eᵀ   [cnt_e, I] f32
//   3. silu ⊙ + cast     act [P, I] = silu(G)·U in the weights' dtype
//   4. grouped GEMM      Y_e = act_e·down_eᵀ                                               [cnt_e, D] f32
//   5. combine           y[t] += Σ scale[p]·Y[p] over the token's pairs in increasing p (= increasing
//                        expert, the order of the interface): one block per token, no atomics
//
// The GEMMs are one cublasGemmGroupedBatchedEx call each (bf16/f16 inputs, fp32 accumulation and output,
// each expert its own group since the row counts differ). Where the library refuses that combination
// (CUBLAS_STATUS_NOT_SUPPORTED / INVALID_VALUE) the backend falls back, for good, to one cublasGemmEx per
// problem — same math; LATENT_CUDA_MOE=loop selects that path from the start (for measuring both).
// Step 5 needs each token's pairs: the P row ids come back to the host once (the model's prefill has
// already synchronised on the routing), the token → pairs lists go up with the GEMM pointer arrays.
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "checks.h"
#include "common.cuh"
#include "cuda_backend.h"

namespace cuda_backend {

using engine::DType;
using engine::SwigluExpert;
using engine::TensorView;

namespace {

template <typename W>
__device__ __forceinline__ W from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16(v); }
template <> __device__ __forceinline__ __half from_float<__half>(float v) { return __float2half(v); }

// xg[p, d] = W(x[rows[p], d])
template <typename W>
__global__ void gather_cast_kernel(W* xg, const float* x, int64_t ldx, const int32_t* rows, int64_t P, int64_t D) {
    const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (i >= P * D) return;
    const int64_t p = i / D, d = i % D;
    xg[i] = from_float<W>(x[int64_t(rows[p]) * ldx + d]);
}

// act[i] = W(silu(g[i])·u[i]) over P·I contiguous elements
template <typename W>
__global__ void silu_mul_cast_kernel(W* act, const float* g, const float* u, int64_t n) {
    const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (i >= n) return;
    const float a = g[i];
    act[i] = from_float<W>(a / (1.0f + expf(-a)) * u[i]);
}

// y[t, d] += Σ_j scale[q]·Y[q, d] for q = pairs[ptr[t] .. ptr[t+1]) in order; one block per token.
__global__ void combine_kernel(float* y, int64_t ldy, const float* Y, int64_t D, const int32_t* ptr,
                               const int32_t* pairs, const float* scale) {
    const int64_t t = blockIdx.x;
    const int32_t b = ptr[t], e = ptr[t + 1];
    if (b == e) return;
    for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
        float acc = y[t * ldy + d];
        for (int32_t j = b; j < e; ++j) acc += scale[pairs[j]] * Y[int64_t(pairs[j]) * D + d];
        y[t * ldy + d] = acc;
    }
}

bool loop_by_env() {
    const char* v = std::getenv("LATENT_CUDA_MOE");
    return v != nullptr && std::string(v) == "loop";
}

size_t align256(size_t n) { return (n + 255) / 256 * 256; }

}  // namespace

int64_t CudaBackend::moe_experts_work(int64_t pairs, int64_t max_rows, int64_t D, int64_t i_max) const {
    (void)max_rows;
    // F32 elements: G, U [P, I] and Y [P, D] in f32; xg [P, D] and act [P, I] in at most 4 bytes each.
    return pairs * (3 * i_max + 2 * D) + 256;
}

void CudaBackend::grouped_gemm(const std::vector<GemmProblem>& probs, cudaDataType_t ab_type, void* ptr_space) {
    if (probs.empty()) return;
    const float one = 1.0f, zero = 0.0f;
    if (!moe_loop_) {
        const size_t n = probs.size();
        std::vector<const void*> ptrs(3 * n);
        std::vector<int> m(n), nn(n), k(n), lda(n), ldb(n), ldc(n), group(n, 1);
        std::vector<cublasOperation_t> ta(n, CUBLAS_OP_T), tb(n, CUBLAS_OP_N);
        std::vector<float> alpha(n, one), beta(n, zero);
        for (size_t i = 0; i < n; ++i) {
            const GemmProblem& q = probs[i];
            ptrs[i] = q.A, ptrs[n + i] = q.B, ptrs[2 * n + i] = q.C;
            m[i] = q.m, nn[i] = q.n, k[i] = q.k, lda[i] = q.lda, ldb[i] = q.ldb, ldc[i] = q.ldc;
        }
        // The pointer arrays live on the device; a pageable upload returns once the host copy is staged.
        CUDA_CHECK(cudaMemcpyAsync(ptr_space, ptrs.data(), ptrs.size() * sizeof(void*), cudaMemcpyHostToDevice, stream_));
        void** dev = static_cast<void**>(ptr_space);
        const cublasStatus_t st = cublasGemmGroupedBatchedEx(
            cublas_, ta.data(), tb.data(), m.data(), nn.data(), k.data(), alpha.data(), dev, ab_type, lda.data(),
            dev + n, ab_type, ldb.data(), beta.data(), dev + 2 * n, CUDA_R_32F, ldc.data(), int(n), group.data(),
            compute_type(ab_type));
        if (st == CUBLAS_STATUS_SUCCESS) {
            CUDA_CHECK(cudaStreamSynchronize(stream_));  // the host arrays above go out of scope
            return;
        }
        ENGINE_CHECK(st == CUBLAS_STATUS_NOT_SUPPORTED || st == CUBLAS_STATUS_INVALID_VALUE, kBackend,
                     "cuBLAS error ", cublasGetStatusName(st), " in cublasGemmGroupedBatchedEx");
        moe_loop_ = true;  // this cuBLAS does not take the combination: one GEMM per problem from now on
    }
    for (const GemmProblem& q : probs)
        CUBLAS_CHECK(cublasGemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, q.m, q.n, q.k, &one, q.A, ab_type, q.lda, q.B,
                                  ab_type, q.ldb, &zero, q.C, CUDA_R_32F, q.ldc, compute_type(ab_type),
                                  CUBLAS_GEMM_DEFAULT));
}

void CudaBackend::moe_experts(const TensorView& y, const TensorView& x, const SwigluExpert* experts,
                              const int64_t* offsets, int64_t n, const TensorView& rows, const TensorView& scale,
                              const TensorView& work) {
    const char* op = "moe_experts";
    check_f32(y, op, "y");
    check_f32(x, op, "x");
    check_f32(scale, op, "scale");
    check_f32(work, op, "work");
    check_device(rows, op, "rows");
    ENGINE_CHECK(n >= 1 && experts != nullptr && offsets != nullptr && offsets[0] == 0, kInvalidArgument, op, ": ", n,
                 " experts, offsets must start at 0");
    const int64_t T = x.rows(), D = x.cols(), P = offsets[n], I = experts[0].gate.ndim == 2 ? experts[0].gate.shape[0] : -1;
    const DType dt = experts[0].gate.dtype;
    ENGINE_CHECK(x.ndim == 2 && y.ndim == 2 && y.shape[0] == T && y.shape[1] == D && rows.dtype == DType::I32 &&
                     rows.numel() == P && scale.numel() == P && rows.is_contiguous() && scale.is_contiguous() &&
                     P <= INT32_MAX,
                 kInvalidArgument, op, ": x ", x.shape_str(), ", y ", y.shape_str(), ", rows ", rows.shape_str(),
                 ", scale ", scale.shape_str(), " do not fit ", P, " pairs");
    bool uniform = I > 0;
    for (int64_t e = 0; e < n && uniform; ++e) {
        const SwigluExpert& w = experts[e];
        uniform = w.gate.ndim == 2 && w.up.ndim == 2 && w.down.ndim == 2 && w.gate.shape[0] == I &&
                  w.gate.shape[1] == D && w.up.shape[0] == I && w.up.shape[1] == D && w.down.shape[0] == D &&
                  w.down.shape[1] == I && w.gate.dtype == dt && w.up.dtype == dt && w.down.dtype == dt &&
                  offsets[e + 1] >= offsets[e];
    }
    if (!uniform || x.stride[1] != 1 || y.stride[1] != 1) {  // mixed widths or dtypes: the composed default
        Backend::moe_experts(y, x, experts, offsets, n, rows, scale, work);
        return;
    }
    for (int64_t e = 0; e < n; ++e) {
        check_device(experts[e].gate, op, "gate");
        check_device(experts[e].up, op, "up");
        check_device(experts[e].down, op, "down");
    }
    ENGINE_CHECK(work.is_contiguous() && work.numel() >= moe_experts_work(P, 0, D, I), kInvalidArgument, op,
                 ": work ", work.shape_str(), " is smaller than ", moe_experts_work(P, 0, D, I), " F32 elements");
    if (P == 0 || T == 0) return;

    // Work layout: G, U [P, I] f32 | Y [P, D] f32 | xg [P, D] | act [P, I] (W = weight dtype).
    const size_t esz = engine::dtype_size(dt);
    float* G = work.as<float>();
    float* U = G + P * I;
    float* Y = U + P * I;
    char* xg = reinterpret_cast<char*>(Y + P * D);
    char* act = xg + align256(size_t(P * D) * esz);

    // Token → pairs (CSR, pairs in increasing p) from the row ids.
    std::vector<int32_t> host_rows(static_cast<size_t>(P));
    CUDA_CHECK(cudaMemcpyAsync(host_rows.data(), rows.data, size_t(P) * 4, cudaMemcpyDeviceToHost, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    std::vector<int32_t> csr(static_cast<size_t>(T + 1 + P), 0);  // ptr [T + 1] | pairs [P]
    for (int32_t r : host_rows) {
        ENGINE_CHECK(r >= 0 && r < T, kInvalidArgument, op, ": row id ", r, " outside [0, ", T, ")");
        ++csr[size_t(r) + 1];
    }
    for (int64_t t = 0; t < T; ++t) csr[size_t(t) + 1] += csr[size_t(t)];
    {
        std::vector<int32_t> at(csr.begin(), csr.begin() + T);
        for (int64_t p = 0; p < P; ++p) csr[size_t(T + 1) + size_t(at[size_t(host_rows[size_t(p)])]++)] = int32_t(p);
    }
    int64_t active = 0;
    for (int64_t e = 0; e < n; ++e) active += offsets[e + 1] > offsets[e];
    // Device scratch of the backend: CSR, then the GEMM pointer arrays (3 per problem, 2·active problems).
    const size_t csr_bytes = align256(csr.size() * 4);
    char* scratch = static_cast<char*>(workspace(csr_bytes + size_t(3 * 2 * active) * sizeof(void*)));
    CUDA_CHECK(cudaMemcpyAsync(scratch, csr.data(), csr.size() * 4, cudaMemcpyHostToDevice, stream_));
    const int32_t* d_ptr = reinterpret_cast<const int32_t*>(scratch);
    void* ptr_space = scratch + csr_bytes;

    const cudaDataType_t ab = dt == DType::BF16 ? CUDA_R_16BF : dt == DType::F16 ? CUDA_R_16F : CUDA_R_32F;
    dispatch_float(dt, op, [&](auto tag) {
        using W = typename decltype(tag)::type;
        gather_cast_kernel<W><<<ceil_div(P * D, 256), 256, 0, stream_>>>(reinterpret_cast<W*>(xg), x.as<float>(),
                                                                          x.stride[0], rows.as<int32_t>(), P, D);
    });
    CUDA_CHECK_LAUNCH();
    std::vector<GemmProblem> probs;
    for (int64_t e = 0; e < n; ++e) {
        const int64_t b = offsets[e], cnt = offsets[e + 1] - b;
        if (cnt == 0) continue;
        const char* xe = xg + size_t(b * D) * esz;
        probs.push_back({int(I), int(cnt), int(D), int(experts[e].gate.stride[0]), int(D), int(I), experts[e].gate.data,
                         xe, G + b * I});
        probs.push_back({int(I), int(cnt), int(D), int(experts[e].up.stride[0]), int(D), int(I), experts[e].up.data,
                         xe, U + b * I});
    }
    grouped_gemm(probs, ab, ptr_space);
    dispatch_float(dt, op, [&](auto tag) {
        using W = typename decltype(tag)::type;
        silu_mul_cast_kernel<W><<<ceil_div(P * I, 256), 256, 0, stream_>>>(reinterpret_cast<W*>(act), G, U, P * I);
    });
    CUDA_CHECK_LAUNCH();
    probs.clear();
    for (int64_t e = 0; e < n; ++e) {
        const int64_t b = offsets[e], cnt = offsets[e + 1] - b;
        if (cnt == 0) continue;
        probs.push_back({int(D), int(cnt), int(I), int(experts[e].down.stride[0]), int(I), int(D), experts[e].down.data,
                         act + size_t(b * I) * esz, Y + b * D});
    }
    grouped_gemm(probs, ab, ptr_space);
    combine_kernel<<<unsigned(T), 256, 0, stream_>>>(y.as<float>(), y.stride[0], Y, D, d_ptr, d_ptr + T + 1,
                                                     scale.as<float>());
    CUDA_CHECK_LAUNCH();
}

bool CudaBackend::moe_loop_by_env() { return loop_by_env(); }

}  // namespace cuda_backend
