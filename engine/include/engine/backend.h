// backend.h — the narrow compute interface the model is written against, once.
//
// Two implementations: the CPU reference backend (engine/src/cpu, OpenBLAS + OpenMP) and the CUDA
// backend (kernels/, loaded at run time as a shared library). Every op lands on the CPU first.
//
// Conventions for every op:
//   * Activations, gradients and optimizer state are F32. Weights (`w`) may be F32, F16 or BF16 and
//     are never converted in memory by an op.
//   * Views may have arbitrary strides on every dim but the last, which must be contiguous
//     (stride 1). Ops validate shapes/dtypes once, here at the boundary, and throw
//     engine::Error(kInvalidArgument) naming the op and the shapes; kernels never validate.
//   * `y` outputs are overwritten unless the op says "accumulates".
//   * All views passed to a backend live on that backend's device().
//
// What this interface deliberately does not have: a graph, a scheduler, or automatic differentiation.
// The model code calls ops in order; the training code calls the matching *_backward ops.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>

#include "engine/tensor.h"

namespace engine {

// MoE routing parameters (deepseek-arch.md §3), from config.json.
struct RouterParams {
    enum class Scoring { kSoftmax, kSigmoid };
    enum class Method { kGreedy, kGroupLimitedGreedy, kNoauxTc };
    Scoring scoring = Scoring::kSoftmax;
    Method method = Method::kGreedy;
    int n_routed_experts = 0;      // E, e.g. 64
    int top_k = 0;                 // K (num_experts_per_tok), e.g. 6
    int n_group = 1;               // e.g. 8 (V3)
    int topk_group = 1;            // e.g. 4 (V3)
    bool norm_topk_prob = false;   // renormalise the K weights
    float routed_scaling_factor = 1.0f;  // multiplies the weights, e.g. 2.5 (V3)
};

struct DeviceMemoryInfo {
    int64_t free_bytes = 0;
    int64_t total_bytes = 0;
};

class Backend {
public:
    virtual ~Backend() = default;

    // ======================= identity & memory =======================
    virtual Device device() const = 0;
    virtual std::string name() const = 0;        // e.g. "CPU (OpenBLAS, 16 threads)" / "NVIDIA H100 80GB"
    virtual DeviceMemoryInfo memory_info() const = 0;

    // Zero-filled tensor on this backend's device. Throws kOutOfMemory saying what was needed and free.
    virtual Tensor alloc(DType dtype, const int64_t* shape, int ndim) = 0;
    Tensor alloc(DType dtype, std::initializer_list<int64_t> shape) {
        return alloc(dtype, shape.begin(), int(shape.size()));
    }
    // A weight on this device. The CPU backend aliases `host` (no copy: mmapped files stay mapped);
    // the CUDA backend uploads it. The returned Tensor must not outlive `host`'s storage on the CPU.
    virtual Tensor upload_weight(const TensorView& host) = 0;
    // dst = src, same shape. Either side may be on the host or this device. F32 <-> F16/BF16 converts.
    virtual void copy(const TensorView& dst, const TensorView& src) = 0;
    virtual void fill(const TensorView& dst, float value) = 0;
    virtual void synchronize() = 0;

    // ======================= forward ops =======================

    // y[.., M, N] = x[.., M, K] · w[.., N, K]ᵀ   (w_transposed = true: a Linear weight [out, in])
    // y[.., M, N] = x[.., M, K] · w[.., K, N]    (w_transposed = false)
    // Optional leading batch dim (3-D views, e.g. per-head MLA absorption); accumulates when `accumulate`.
    virtual void matmul(const TensorView& y, const TensorView& x, const TensorView& w,
                        bool w_transposed = true, bool accumulate = false) = 0;

    // y[r, :] = w ⊙ (x[r, :] · rsqrt(mean(x[r, :]²) + eps))      x, y: [rows, n]; w: [n]
    virtual void rmsnorm(const TensorView& y, const TensorView& x, const TensorView& w, float eps) = 0;

    // In-place rotary embedding on the last dim (d_r) of x[T, heads, d_r] (heads may be 1), adjacent
    // pairs (2i, 2i+1) rotated by angle fp32(pos[t]) · inv_freq[i], cos/sin scaled by attn_factor.
    // This is DeepSeek model.py's / llama.cpp's layout; it gives the same dot products as HF's
    // permuted rotate_half form (deepseek-arch.md §2 "RoPE layout").   positions: I32 [T]
    virtual void rope(const TensorView& x, const TensorView& positions, const TensorView& inv_freq,
                      float attn_factor) = 0;

    // Causal scaled-dot-product attention with fp32 softmax.
    //   q   [T, H,  dk]    queries for absolute positions q_pos0 .. q_pos0+T-1
    //   k   [S, Hk, dk]    keys for positions 0 .. S-1;  Hk == H (MHA) or Hk == 1 (MQA, e.g. the MLA latent)
    //   v   [S, Hk, dv]    (may alias k, e.g. the first r_kv dims of the latent cache)
    //   out [T, H,  dv]
    // Query t attends keys s <= q_pos0 + t.
    virtual void attention(const TensorView& out, const TensorView& q, const TensorView& k,
                           const TensorView& v, float scale, int64_t q_pos0) = 0;

    // out = silu(gate) ⊙ up, elementwise, [rows, n]
    virtual void silu_mul(const TensorView& out, const TensorView& gate, const TensorView& up) = 0;
    // y = a + b, elementwise (y may alias a or b)
    virtual void add(const TensorView& y, const TensorView& a, const TensorView& b) = 0;
    // y += alpha · x
    virtual void axpy(const TensorView& y, const TensorView& x, float alpha) = 0;
    // out[t, :] = table[ids[t], :]      table: [V, D] (any float dtype), ids: I32 [T]; checks ids < V
    virtual void embedding(const TensorView& out, const TensorView& table, const TensorView& ids) = 0;

    // MoE routing from router logits [T, E] (F32): writes top_k expert ids (I32 [T, K]) and their
    // combine weights (F32 [T, K]) per deepseek-arch.md §3. `bias` (F32 [E]) is
    // e_score_correction_bias for kNoauxTc (selection only) and is empty (data == nullptr) otherwise.
    virtual void moe_route(const TensorView& idx, const TensorView& weights, const TensorView& logits,
                           const TensorView& bias, const RouterParams& params) = 0;
    // dst[i, :] = src[rows[i], :]                          rows: I32 [n]
    virtual void gather_rows(const TensorView& dst, const TensorView& src, const TensorView& rows) = 0;
    // dst[rows[i], :] += scale[i] · src[i, :]   (accumulates; rows may repeat)   scale: F32 [n]
    virtual void scatter_add_rows(const TensorView& dst, const TensorView& src, const TensorView& rows,
                                  const TensorView& scale) = 0;

    // ======================= training ops =======================
    // (backward of each forward op, losses, optimizer; added with the training engine)
};

// The CPU reference backend. `threads` <= 0 means all cores.
std::unique_ptr<Backend> make_cpu_backend(int threads = 0);

}  // namespace engine
