// attention_backward.cu — backward of causal scaled-dot-product attention (attention.cu), recomputing
// the probabilities from q and k. MHA (Hk == H) or one shared K/V head (Hk == 1: MQA, the MLA latent),
// the shapes and the causal rule of Backend::attention_backward and the CPU reference (train_kernels.h):
//   query t (absolute position q_pos0 + t) sees keys s ≤ min(S − 1, q_pos0 + t);
//   P = softmax(scale·q·kᵀ) over those keys, dP = dO·vᵀ, dS = P ⊙ (dP − Σ_s P⊙dP)·scale,
//   dq = dS·k,  dk = Σ_heads dSᵀ·q,  dv = Σ_heads Pᵀ·dO      (dq, dk, dv overwritten).
//
// Shapes of the flash forward (T ≥ 5, Dk ≤ 256, Dv ≤ 256) go to the flash-style backward of
// attention_flash_backward.cu (unless the backend was created with LATENT_CUDA_ATTENTION=reference).
// The rest runs here: the straightforward on-device reference (no tensor cores, no flash tiling), in
// two kernels per chunk of queries, with P and dS for the chunk in the workspace [chunk, H, S] each:
//   1. rows:  one block per (query, head): P, dS rows and dq (a block owns its dq row);
//   2. keys:  one block per (key, K/V head): dk, dv rows, summing over the chunk's queries and the
//             heads that share the K/V head, in a fixed order (no atomics: deterministic).
// The first chunk overwrites dk/dv, later chunks add to them. Entries of masked keys are never written
// nor read (the key pass only visits queries that see the key). dk and dv must not overlap (when v is a
// view of k, as the MLA latent cache, pass separate gradient buffers and add them up afterwards).
#include <algorithm>
#include <climits>

#include "attention_flash.h"
#include "checks.h"
#include "common.cuh"
#include "cuda_backend.h"
#include "reduce.cuh"

namespace cuda_backend {

using engine::TensorView;

namespace {

constexpr int kBwdThreads = 128;
constexpr int64_t kBwdWorkspaceBytes = 256ll << 20;  // P + dS of one chunk of queries

struct AttnBwdParams {
    const float* q; int64_t q_st, q_sh;      // [T, H, dk]
    const float* k; int64_t k_st, k_sh;      // [S, Hk, dk]
    const float* v; int64_t v_st, v_sh;      // [S, Hk, dv]
    const float* dout; int64_t o_st, o_sh;   // [T, H, dv]
    float* dq; int64_t dq_st, dq_sh;         // [T, H, dk]
    float* dk; int64_t dk_st, dk_sh;         // [S, Hk, dk]
    float* dv; int64_t dv_st, dv_sh;         // [S, Hk, dv]
    float* P;                                // [chunk, H, S] workspace
    float* dS;                               // [chunk, H, S] workspace
    int64_t T, S, H, Hk, Dk, Dv;
    int64_t q_pos0;
    int64_t t0, len;                         // this chunk: queries t0 .. t0 + len − 1
    float scale;
};

// grid (len, H): one block per (query t0 + blockIdx.x, head blockIdx.y).
__global__ void attention_backward_rows_kernel(AttnBwdParams p) {
    __shared__ float red[32];
    const int64_t tq = blockIdx.x, h = blockIdx.y, t = p.t0 + tq;
    const int64_t kh = p.Hk == 1 ? 0 : h;
    const int64_t last = min(p.S - 1, p.q_pos0 + t);  // causal: keys 0 .. last
    const float* q = p.q + t * p.q_st + h * p.q_sh;
    const float* go = p.dout + t * p.o_st + h * p.o_sh;
    float* P = p.P + (tq * p.H + h) * p.S;
    float* dS = p.dS + (tq * p.H + h) * p.S;
    // Scores; each thread owns the keys s ≡ threadIdx.x (mod blockDim.x) in P and dS until the dq loop.
    float local_max = -INFINITY;
    for (int64_t s = threadIdx.x; s <= last; s += blockDim.x) {
        const float* k = p.k + s * p.k_st + kh * p.k_sh;
        float dot = 0.0f;
        for (int64_t d = 0; d < p.Dk; ++d) dot += q[d] * k[d];
        P[s] = dot * p.scale;
        local_max = fmaxf(local_max, P[s]);
    }
    const float mx = block_max(local_max, red);
    float local_sum = 0.0f;
    for (int64_t s = threadIdx.x; s <= last; s += blockDim.x) {
        const float e = expf(P[s] - mx);
        P[s] = e;
        local_sum += e;
    }
    const float inv = 1.0f / block_sum(local_sum, red);
    float local_pdp = 0.0f;  // Σ_s P·dP (= dO·O)
    for (int64_t s = threadIdx.x; s <= last; s += blockDim.x) {
        const float* v = p.v + s * p.v_st + kh * p.v_sh;
        float dp = 0.0f;
        for (int64_t d = 0; d < p.Dv; ++d) dp += go[d] * v[d];
        const float pr = P[s] * inv;
        P[s] = pr;
        dS[s] = dp;
        local_pdp += pr * dp;
    }
    const float pdp = block_sum(local_pdp, red);  // also the barrier before other threads read P/dS
    for (int64_t s = threadIdx.x; s <= last; s += blockDim.x) dS[s] = P[s] * (dS[s] - pdp) * p.scale;
    __syncthreads();  // dS row complete (global memory, visible to the block after the barrier)
    float* dq = p.dq + t * p.dq_st + h * p.dq_sh;
    for (int64_t d = threadIdx.x; d < p.Dk; d += blockDim.x) {
        float acc = 0.0f;
        for (int64_t s = 0; s <= last; ++s) acc += dS[s] * p.k[s * p.k_st + kh * p.k_sh + d];
        dq[d] = acc;
    }
}

// grid (S, Hk): one block per (key s, K/V head). Sums over the heads sharing the K/V head (all H when
// Hk == 1), then over this chunk's queries that see s (q_pos0 + t ≥ s), heads outer, queries inner.
__global__ void attention_backward_keys_kernel(AttnBwdParams p, bool first_chunk) {
    const int64_t s = blockIdx.x, hk = blockIdx.y;
    const int64_t h_begin = p.Hk == 1 ? 0 : hk, h_end = p.Hk == 1 ? p.H : hk + 1;
    const int64_t tq_begin = max(int64_t(0), s - p.q_pos0 - p.t0);  // first query of the chunk that sees s
    float* dk = p.dk + s * p.dk_st + hk * p.dk_sh;
    float* dv = p.dv + s * p.dv_st + hk * p.dv_sh;
    const int64_t width = max(p.Dk, p.Dv);
    for (int64_t d = threadIdx.x; d < width; d += blockDim.x) {
        float ak = 0.0f, av = 0.0f;
        for (int64_t h = h_begin; h < h_end; ++h) {
            for (int64_t tq = tq_begin; tq < p.len; ++tq) {
                const int64_t row = (tq * p.H + h) * p.S + s, t = p.t0 + tq;
                if (d < p.Dk) ak += p.dS[row] * p.q[t * p.q_st + h * p.q_sh + d];
                if (d < p.Dv) av += p.P[row] * p.dout[t * p.o_st + h * p.o_sh + d];
            }
        }
        if (d < p.Dk) dk[d] = first_chunk ? ak : dk[d] + ak;
        if (d < p.Dv) dv[d] = first_chunk ? av : dv[d] + av;
    }
}

}  // namespace

void CudaBackend::attention_backward(const TensorView& dq, const TensorView& dk, const TensorView& dv,
                                     const TensorView& dout, const TensorView& q, const TensorView& k,
                                     const TensorView& v, float scale, int64_t q_pos0) {
    const char* op = "attention_backward";
    const TensorView* all[7] = {&dq, &dk, &dv, &dout, &q, &k, &v};
    const char* names[7] = {"dq", "dk", "dv", "dout", "q", "k", "v"};
    for (int i = 0; i < 7; ++i) {
        check_f32(*all[i], op, names[i]);
        ENGINE_CHECK(all[i]->ndim == 3, kInvalidArgument, op, ": ", names[i], " must be 3-D [tokens, heads, dim], got ",
                     all[i]->shape_str());
    }
    const int64_t T = q.shape[0], H = q.shape[1], Dk = q.shape[2], S = k.shape[0], Hk = k.shape[1], Dv = v.shape[2];
    check_same_shape(dq, q, op);
    check_same_shape(dk, k, op);
    check_same_shape(dv, v, op);
    ENGINE_CHECK((Hk == H || Hk == 1) && k.shape[2] == Dk && v.shape[0] == S && v.shape[1] == Hk &&
                     dout.shape[0] == T && dout.shape[1] == H && dout.shape[2] == Dv && q_pos0 >= 0,
                 kInvalidArgument, op, ": q ", q.shape_str(), ", k ", k.shape_str(), ", v ", v.shape_str(), ", dout ",
                 dout.shape_str(), " are inconsistent (need Hk == H or 1, q_pos0 >= 0)");
    ENGINE_CHECK(S <= INT_MAX && H <= 65535 && Hk <= 65535, kInvalidArgument, op, ": S = ", S, ", H = ", H,
                 " exceed the kernels' grid");
    AttnBwdParams p{q.as<float>(), q.stride[0], q.stride[1], k.as<float>(), k.stride[0], k.stride[1],
                    v.as<float>(), v.stride[0], v.stride[1], dout.as<float>(), dout.stride[0], dout.stride[1],
                    dq.as<float>(), dq.stride[0], dq.stride[1], dk.as<float>(), dk.stride[0], dk.stride[1],
                    dv.as<float>(), dv.stride[0], dv.stride[1], nullptr, nullptr,
                    T, S, H, Hk, Dk, Dv, q_pos0, 0, 0, scale};
    if (!attention_reference_ && flash_attention_supported(T, H, Hk, Dk, Dv)) {
        FlashAttnBwdArgs a;
        a.q = q.as<float>(), a.q_st = q.stride[0], a.q_sh = q.stride[1];                // [T, H, Dk]
        a.k = k.as<float>(), a.k_st = k.stride[0], a.k_sh = k.stride[1];                // [S, Hk, Dk]
        a.v = v.as<float>(), a.v_st = v.stride[0], a.v_sh = v.stride[1];                // [S, Hk, Dv]
        a.dout = dout.as<float>(), a.do_st = dout.stride[0], a.do_sh = dout.stride[1];  // [T, H, Dv]
        a.dq = dq.as<float>(), a.dq_st = dq.stride[0], a.dq_sh = dq.stride[1];
        a.dk = dk.as<float>(), a.dk_st = dk.stride[0], a.dk_sh = dk.stride[1];
        a.dv = dv.as<float>(), a.dv_st = dv.stride[0], a.dv_sh = dv.stride[1];
        a.T = T, a.H = H, a.Hk = Hk, a.Dk = Dk, a.Dv = Dv, a.S = S, a.q_pos0 = q_pos0, a.scale = scale;
        a.tensor_cores = flash_tensor_cores(), a.shared_optin = shared_optin_;
        flash_attention_backward(a, workspace(flash_attention_backward_workspace_bytes(T, H)), stream_);
        return;
    }
    const bool has_keys = S > 0 && Hk > 0;
    if (T == 0 || H == 0) {  // no query: dk = dv = 0 (one key pass over an empty chunk writes the zeros)
        if (has_keys) {
            attention_backward_keys_kernel<<<dim3(unsigned(S), unsigned(Hk)), kBwdThreads, 0, stream_>>>(p, true);
            CUDA_CHECK_LAUNCH();
        }
        return;
    }
    // Chunk the queries so P + dS stay within kBwdWorkspaceBytes.
    const int64_t per_query = 2 * H * S * int64_t(sizeof(float));
    const int64_t chunk = std::max<int64_t>(
        1, std::min<int64_t>({T, kBwdWorkspaceBytes / std::max<int64_t>(per_query, 1), int64_t(INT_MAX)}));
    float* ws = static_cast<float*>(workspace(size_t(std::max<int64_t>(chunk * per_query, 1))));
    p.P = ws;
    p.dS = ws + chunk * H * S;
    for (int64_t t0 = 0; t0 < T; t0 += chunk) {
        p.t0 = t0;
        p.len = std::min(chunk, T - t0);
        attention_backward_rows_kernel<<<dim3(unsigned(p.len), unsigned(H)), kBwdThreads, 0, stream_>>>(p);
        CUDA_CHECK_LAUNCH();
        if (has_keys) {
            attention_backward_keys_kernel<<<dim3(unsigned(S), unsigned(Hk)), kBwdThreads, 0, stream_>>>(p, t0 == 0);
            CUDA_CHECK_LAUNCH();
        }
    }
}

}  // namespace cuda_backend
