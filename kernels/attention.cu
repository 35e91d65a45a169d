// attention.cu — causal scaled-dot-product attention, fp32 softmax, MHA (Hk == H) or MQA (Hk == 1,
// e.g. the MLA latent cache with v = its first r_kv dims).
//
// Prefill / training shapes (T ≥ 5, dk ≤ 256, dv ≤ 256) go to the fused flash kernel of attention_flash.cu,
// the rest of the latent shapes (Hk == 1, T ≤ 256, dk ≤ 576, dv ≤ 512: decode, and the absorbed form of a
// chat turn over a cached prefix) to the split-KV kernel of attention_decode.cu.
// Both have TF32 tensor-core forms for the shapes those allow (decode's is bf16 over a BF16 cache):
// decode's with LATENT_CUDA_ATTENTION=tf32, flash's also while a TF32 / bf16 matmul precision is set
// (training; CudaBackend::flash_tensor_cores).
// The rest (e.g. the absorbed MLA latent form with T > 256, or MHA heads wider than 256) runs here, and
// so does every shape when the backend was created with LATENT_CUDA_ATTENTION=reference in the
// environment (parity tests compare the fast kernels against this one on the device).
// Keys/values may be BF16 (a BF16 KV cache, Model::new_cache): the split-KV kernel and this one read them
// (widened to fp32 as loaded); the flash kernels take fp32 only, so BF16 prefill-shaped calls (the MHA
// ablation with a BF16 cache; MLA's explicit path converts its latents first) run here.
// This is the straightforward reference kernel: scores for a chunk of queries go to a workspace
// [queries, H, S], one block per (query, head) does max/sum/normalise and the P·V product; it stays as
// the on-device reference of the fast kernels.
#include <algorithm>

#include "attention_decode.h"
#include "attention_flash.h"
#include "checks.h"
#include "common.cuh"
#include "cuda_backend.h"

namespace cuda_backend {

using engine::TensorView;

struct AttnParams {
    const float* q; int64_t q_st, q_sh;   // [T, H, dk]
    const void* k; int64_t k_st, k_sh;    // [S, Hk, dk]  fp32, or bf16 (a BF16 KV cache)
    const void* v; int64_t v_st, v_sh;    // [S, Hk, dv]  same type as k
    float* out; int64_t o_st, o_sh;       // [T, H, dv]
    int64_t H, Hk, dk, dv, S;
    int64_t t0;                            // first query of this chunk
    int64_t q_pos0;
    float scale;
};

constexpr int kThreads = 128;

__device__ float block_reduce(float v, bool is_max, float* shared) {
    for (int off = 16; off > 0; off /= 2) {
        float o = __shfl_xor_sync(0xffffffffu, v, off);
        v = is_max ? fmaxf(v, o) : v + o;
    }
    if ((threadIdx.x & 31) == 0) shared[threadIdx.x / 32] = v;
    __syncthreads();
    if (threadIdx.x < 32) {
        v = threadIdx.x < kThreads / 32 ? shared[threadIdx.x] : (is_max ? -INFINITY : 0.0f);
        for (int off = 16; off > 0; off /= 2) {
            float o = __shfl_xor_sync(0xffffffffu, v, off);
            v = is_max ? fmaxf(v, o) : v + o;
        }
        if (threadIdx.x == 0) shared[0] = v;
    }
    __syncthreads();
    float r = shared[0];
    __syncthreads();
    return r;
}

// grid: (chunk queries, H); scores: [chunk, H, S]; KT: float or __nv_bfloat16 keys/values.
template <class KT>
__global__ void attention_kernel(AttnParams p, float* scores) {
    const KT* kt = static_cast<const KT*>(p.k);
    const KT* vt = static_cast<const KT*>(p.v);
    const int64_t tq = blockIdx.x, h = blockIdx.y, t = p.t0 + tq;
    const int64_t kh = p.Hk == 1 ? 0 : h;
    const int64_t n_keys = min(p.S, p.q_pos0 + t + 1);  // causal
    const float* q = p.q + t * p.q_st + h * p.q_sh;
    float* sc = scores + (tq * p.H + h) * p.S;
    __shared__ float red[32];
    float local_max = -INFINITY;
    for (int64_t s = threadIdx.x; s < n_keys; s += kThreads) {
        const KT* k = kt + s * p.k_st + kh * p.k_sh;
        float dot = 0.0f;
        for (int64_t d = 0; d < p.dk; ++d) dot += q[d] * to_float(k[d]);
        dot *= p.scale;
        sc[s] = dot;
        local_max = fmaxf(local_max, dot);
    }
    const float m = block_reduce(local_max, true, red);
    float local_sum = 0.0f;
    for (int64_t s = threadIdx.x; s < n_keys; s += kThreads) {
        float e = expf(sc[s] - m);
        sc[s] = e;
        local_sum += e;
    }
    const float inv = 1.0f / block_reduce(local_sum, false, red);
    __syncthreads();
    float* o = p.out + t * p.o_st + h * p.o_sh;
    for (int64_t d = threadIdx.x; d < p.dv; d += kThreads) {
        float acc = 0.0f;
        for (int64_t s = 0; s < n_keys; ++s) acc += sc[s] * to_float(vt[s * p.v_st + kh * p.v_sh + d]);
        o[d] = acc * inv;
    }
}

void CudaBackend::attention(const TensorView& out, const TensorView& q, const TensorView& k, const TensorView& v,
                            float scale, int64_t q_pos0) {
    for (auto* t : {&out, &q}) check_f32(*t, "attention", "tensor");
    ENGINE_CHECK((k.dtype == engine::DType::F32 || k.dtype == engine::DType::BF16) && v.dtype == k.dtype,
                 kInvalidArgument, "attention: k and v must both be F32 or both BF16 (a KV cache's types), got ",
                 engine::dtype_name(k.dtype), " and ", engine::dtype_name(v.dtype));
    const bool kv_bf16 = k.dtype == engine::DType::BF16;
    ENGINE_CHECK(q.ndim == 3 && k.ndim == 3 && v.ndim == 3 && out.ndim == 3, kInvalidArgument,
                 "attention: q, k, v, out must be 3-D [T|S, heads, dim]");
    const int64_t T = q.shape[0], H = q.shape[1], dk = q.shape[2], S = k.shape[0], Hk = k.shape[1], dv = v.shape[2];
    ENGINE_CHECK(k.shape[2] == dk && v.shape[0] == S && v.shape[1] == Hk && (Hk == H || Hk == 1) &&
                     out.shape[0] == T && out.shape[1] == H && out.shape[2] == dv,
                 kInvalidArgument, "attention: q ", q.shape_str(), ", k ", k.shape_str(), ", v ", v.shape_str(),
                 ", out ", out.shape_str(), " are inconsistent");
    ENGINE_CHECK(q_pos0 >= 0 && q_pos0 + T <= S, kInvalidArgument, "attention: queries at ", q_pos0, "..",
                 q_pos0 + T - 1, " need keys up to there, have ", S);
    if (T == 0 || H == 0 || dv == 0) return;
    if (!attention_reference_ && !kv_bf16 && flash_attention_supported(T, H, Hk, dk, dv)) {
        // prefill / training forward: the fused flash kernel, no score workspace
        FlashAttnArgs a;
        a.q = q.as<float>(), a.q_st = q.stride[0], a.q_sh = q.stride[1];          // [T, H, dk]
        a.k = k.as<float>(), a.k_st = k.stride[0], a.k_sh = k.stride[1];          // [S, Hk, dk]
        a.v = v.as<float>(), a.v_st = v.stride[0], a.v_sh = v.stride[1];          // [S, Hk, dv]
        a.out = out.as<float>(), a.o_st = out.stride[0], a.o_sh = out.stride[1];  // [T, H, dv]
        a.T = T, a.H = H, a.Hk = Hk, a.dk = dk, a.dv = dv, a.S = S, a.q_pos0 = q_pos0, a.scale = scale;
        a.tensor_cores = flash_tensor_cores(), a.shared_optin = shared_optin_;
        flash_attention(a, stream_);
        return;
    }
    if (!attention_reference_ && mla_decode_supported(T, Hk, dk, dv)) {
        // decode over the latent cache: split-KV kernel
        MlaDecodeArgs a;
        a.q = q.as<float>(), a.q_st = q.stride[0], a.q_sh = q.stride[1];                    // [T, H, dk]
        a.k = k.data, a.k_ld = k.stride[0], a.v = v.data, a.v_ld = v.stride[0], a.kv_bf16 = kv_bf16;  // [S, 1, dk|dv]
        a.out = out.as<float>(), a.o_st = out.stride[0], a.o_sh = out.stride[1];            // [T, H, dv]
        a.T = T, a.H = H, a.dk = dk, a.dv = dv, a.S = S, a.q_pos0 = q_pos0, a.scale = scale;
        a.tensor_cores = attention_tf32_;
        mla_decode(a, workspace(mla_decode_workspace_bytes(a, sm_count_)), sm_count_, stream_);
        return;
    }
    // Chunk the queries so the score workspace stays under 256 MiB.
    const int64_t per_query = H * S * int64_t(sizeof(float));
    const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(T, (256ll << 20) / std::max<int64_t>(per_query, 1)));
    float* scores = static_cast<float*>(workspace(size_t(chunk * per_query)));
    AttnParams p{q.as<float>(), q.stride[0], q.stride[1], k.data, k.stride[0], k.stride[1],
                 v.data, v.stride[0], v.stride[1], out.as<float>(), out.stride[0], out.stride[1],
                 H, Hk, dk, dv, S, 0, q_pos0, scale};
    for (int64_t t0 = 0; t0 < T; t0 += chunk) {
        p.t0 = t0;
        dim3 grid(unsigned(std::min(chunk, T - t0)), unsigned(H));
        if (kv_bf16) attention_kernel<__nv_bfloat16><<<grid, kThreads, 0, stream_>>>(p, scores);
        else attention_kernel<float><<<grid, kThreads, 0, stream_>>>(p, scores);
        CUDA_CHECK_LAUNCH();
    }
}

}  // namespace cuda_backend
