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

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>

#include "engine/error.h"
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

// One SwiGLU expert of a decode-time MoE step (swiglu_experts): weights in any float dtype and the
// expert's combine weight.
struct SwigluExpert {
    TensorView gate;  // [I, D]
    TensorView up;    // [I, D]
    TensorView down;  // [D, I]
    float scale = 1.0f;
};

// Form of a hyper-connection's coefficients (mhc.md §3, §9; docs/model-family.md), from config.json.
struct HcParams {
    // kMHC: sigmoid pre/post + Sinkhorn mixing; kHC: plain tanh hyper-connections; kHead: the final
    // hc_head collapse weights only (w = σ(m·scale[0] + base) + eps).
    enum class Kind { kMHC, kHC, kHead };
    Kind kind = Kind::kMHC;
    int n = 4;                // streams (hc_mult)
    int sinkhorn_iters = 20;  // hc_sinkhorn_iters (kMHC)
    float eps = 1e-6f;        // hc_eps
    bool paper_form = false;  // hc_paper_form (kMHC): the paper's Sinkhorn and pre without eps
    // Logit columns: n² + 2n, or n for kHead; scale entries: 3, or 1 for kHead.
    int64_t logits() const { return kind == Kind::kHead ? n : int64_t(n) * n + 2 * n; }
    int64_t scales() const { return kind == Kind::kHead ? 1 : 3; }
};

// How a GEMM whose operands are all F32 (training's fp32 master weights, activations and gradients) may
// run. kExact: fp32 arithmetic (the default, and what the parity tests compare). kTf32 / kBf16: tensor
// cores with the inputs rounded to TF32 / bf16 and fp32 accumulation and output (cuBLAS's
// CUBLAS_COMPUTE_32F_FAST_TF32 / _FAST_16BF), the "bf16 in, fp32 accumulate" of mixed-precision training
// without a second copy of the weights. GEMMs with bf16/f16 weights are bf16/f16 already. The CUDA
// backend's flash attention (forward and backward) also runs on TF32 tensor cores while kTf32 / kBf16 is
// set. The CPU backend computes in fp32 whatever is asked.
enum class MatmulPrecision { kExact, kTf32, kBf16 };
const char* matmul_precision_name(MatmulPrecision p);  // "exact" | "tf32" | "bf16"
MatmulPrecision matmul_precision_from_name(const std::string& name);  // throws kInvalidArgument naming the choices

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
    // FP8 block dequantization (DeepSeek-V3 checkpoints, deepseek-arch.md §5), all three on this device:
    // dst BF16 [rows, cols] = fp8_e4m3(src[i, j]) · scale_inv[i / 128, j / 128], rounded to nearest even,
    // bit for bit the host's dequantize_fp8_jobs. src F8_E4M3 [rows, cols] and dst contiguous; scale_inv
    // F32 [ceil(rows/128), ceil(cols/128)] contiguous. E4M3 "fn": 0x7f / 0xff decode to NaN.
    virtual void dequantize_fp8(const TensorView& dst, const TensorView& src, const TensorView& scale_inv) = 0;
    virtual void synchronize() = 0;

    // ---- step capture (CUDA Graphs) ----
    // begin_capture(key) returning true means: the ops called until end_capture() are recorded, not run;
    // end_capture() then runs them as one graph (CUDA: stream capture into a CUDA Graph, kept per `key`
    // and updated in place by the next capture of the same shape, so a decode step costs one launch).
    // While capturing, ops must not read device results on the host, copy to or from the host, or grow
    // device memory: such an op throws (kUnsupported), and the caller calls abort_capture() and runs the
    // same ops again without capture. The default backend never captures (begin_capture returns false).
    virtual bool begin_capture(const void* key) {
        (void)key;
        return false;
    }
    virtual void end_capture() {}
    virtual void abort_capture() {}
    virtual bool capturing() const { return false; }  // between a successful begin_capture and its end

    // See MatmulPrecision. Applies to every later F32 GEMM (matmul, matmul_weight_grad) on this backend.
    virtual void set_matmul_precision(MatmulPrecision p) { (void)p; }
    virtual MatmulPrecision matmul_precision() const { return MatmulPrecision::kExact; }
    struct CaptureStats {
        int64_t launched = 0;      // steps run as a graph
        int64_t instantiated = 0;  // of which the graph was built anew (first step, or its shape changed)
        int64_t updated = 0;       // of which an existing graph was updated in place
        int64_t aborted = 0;       // captures abandoned; the step ran op by op
        bool disabled = false;     // aborted too often in a row: no more captures
    };
    virtual CaptureStats capture_stats() const { return {}; }

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
    // Query t attends keys s <= q_pos0 + t. q and out are F32; k and v are both F32 or both BF16 (a BF16
    // KV cache, Model::new_cache), widened to fp32 as they are read.
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

    // Decode-time MoE for ONE token (routed top-k + shared experts):
    //   y[1, D] = Σ_j experts[j].scale · down_j(silu(x·gate_jᵀ) ⊙ x·up_jᵀ)      (overwrites y)
    // x, y: F32 [1, D]; work: F32 scratch on this device with >= 3·Σ_j I_j + D elements.
    // This default composes matmul / silu_mul / axpy; the CPU backend fuses it (one parallel region,
    // one streaming pass over all experts' gate+up rows, then one over their down rows).
    virtual void swiglu_experts(const TensorView& y, const TensorView& x, const SwigluExpert* experts, int64_t n,
                                const TensorView& work) {
        const int64_t D = x.cols();
        int64_t i_max = 0;
        for (int64_t j = 0; j < n; ++j) i_max = std::max(i_max, experts[j].gate.dim(0));
        ENGINE_CHECK(work.dtype == DType::F32 && work.is_contiguous() && work.numel() >= 3 * i_max + D,
                     kInvalidArgument, "swiglu_experts: work ", work.shape_str(), " holds fewer than 3·", i_max,
                     " + ", D, " F32 elements");
        fill(y, 0.0f);
        float* base = work.as<float>();
        const TensorView tmp = TensorView::contiguous(base + 3 * i_max, DType::F32, {1, D}, work.device);
        for (int64_t j = 0; j < n; ++j) {
            const SwigluExpert& e = experts[j];
            const int64_t I = e.gate.dim(0);
            const TensorView g = TensorView::contiguous(base, DType::F32, {1, I}, work.device);
            const TensorView u = TensorView::contiguous(base + i_max, DType::F32, {1, I}, work.device);
            const TensorView a = TensorView::contiguous(base + 2 * i_max, DType::F32, {1, I}, work.device);
            matmul(g, x, e.gate);
            matmul(u, x, e.up);
            silu_mul(a, g, u);
            matmul(tmp, a, e.down);
            axpy(y, tmp, e.scale);
        }
    }

    // Decode-time MoE of ONE token with the routing left where moe_route wrote it (on this device):
    //   y[1, D] = Σ_k wts[k]·E_{idx[k]}(x) + Σ_s shared[s].scale·S_s(x),   E_e(x) = down_e(silu(x·gate_eᵀ) ⊙ x·up_eᵀ)
    // idx: I32 [1, K], wts: F32 [1, K] (moe_route's outputs); routed: the layer's E routed experts
    // (their .scale is not used); shared: n_shared experts (may be 0). work: F32 scratch on this device
    // with >= moe_decode_work(...) elements. Overwrites y. Ids outside [0, E) throw kInternal.
    // This default reads idx/wts back to the host and calls swiglu_experts; the CUDA backend runs it on
    // the device without a host round trip (two fused kernels), so a decode step can be one CUDA Graph.
    static int64_t moe_decode_work(int64_t K, int64_t routed_width, const SwigluExpert* shared, int64_t n_shared,
                                   int64_t D) {
        int64_t sum_i = K * routed_width;
        for (int64_t s = 0; s < n_shared; ++s) sum_i += shared[s].gate.dim(0);
        return 3 * sum_i + D;
    }
    virtual void moe_decode(const TensorView& y, const TensorView& x, const TensorView& idx, const TensorView& wts,
                            const SwigluExpert* routed, int64_t E, const SwigluExpert* shared, int64_t n_shared,
                            const TensorView& work) {
        ENGINE_CHECK(idx.dtype == DType::I32 && idx.numel() >= 1 && idx.numel() <= 64 && wts.dtype == DType::F32 &&
                         wts.numel() == idx.numel() && idx.is_contiguous() && wts.is_contiguous(),
                     kInvalidArgument, "moe_decode: idx ", idx.shape_str(), " (", dtype_name(idx.dtype), ") and wts ",
                     wts.shape_str(), " must be I32 and F32 [1, K] with 1 ≤ K ≤ 64");
        const int64_t K = idx.numel();
        int32_t ids[64];
        float w[64];
        copy(TensorView::contiguous(ids, DType::I32, {1, K}), idx);
        copy(TensorView::contiguous(w, DType::F32, {1, K}), wts);
        SwigluExpert list[64 + 8];
        ENGINE_CHECK(n_shared >= 0 && n_shared <= 8, kInvalidArgument, "moe_decode: ", n_shared,
                     " shared experts (at most 8)");
        for (int64_t k = 0; k < K; ++k) {
            ENGINE_CHECK(ids[k] >= 0 && ids[k] < E, kInternal, "moe_decode: routed expert id ", ids[k], " outside [0, ",
                         E, ")");
            list[k] = routed[ids[k]];
            list[k].scale = w[k];
        }
        for (int64_t s = 0; s < n_shared; ++s) list[K + s] = shared[s];
        swiglu_experts(y, x, list, K + n_shared, work);
    }

    // Prefill-time routed experts (many tokens). The routing's (token, expert) pairs, sorted by expert:
    // pairs p in [offsets[e], offsets[e+1]) go through expert e, and
    //   y[rows[p], :] += scale[p] · down_e(silu(x[rows[p], :]·gate_eᵀ) ⊙ x[rows[p], :]·up_eᵀ)   (accumulates)
    // with each row's contributions added in increasing e (and p). offsets: HOST int64 [n + 1], offsets[0] = 0;
    // rows: I32 [P]; scale: F32 [P] (P = offsets[n]); experts[e].scale is not used. x, y: F32 [T, D].
    // work: F32 scratch on this device with >= moe_experts_work(P, max pairs of one expert, D, max I).
    // This default runs the experts one after the other (gather_rows, matmul, silu_mul, matmul,
    // scatter_add_rows); the CPU backend runs all experts in one parallel region, one expert per thread.
    virtual int64_t moe_experts_work(int64_t pairs, int64_t max_rows, int64_t D, int64_t i_max) const {
        (void)pairs;
        return max_rows * (2 * D + 3 * i_max);
    }
    virtual void moe_experts(const TensorView& y, const TensorView& x, const SwigluExpert* experts,
                             const int64_t* offsets, int64_t n, const TensorView& rows, const TensorView& scale,
                             const TensorView& work) {
        const int64_t D = x.cols();
        int64_t max_rows = 0, i_max = 0;
        for (int64_t e = 0; e < n; ++e) {
            max_rows = std::max(max_rows, offsets[e + 1] - offsets[e]);
            i_max = std::max(i_max, experts[e].gate.dim(0));
        }
        ENGINE_CHECK(work.dtype == DType::F32 && work.is_contiguous() &&
                         work.numel() >= Backend::moe_experts_work(offsets[n], max_rows, D, i_max),
                     kInvalidArgument, "moe_experts: work ", work.shape_str(), " is smaller than ",
                     Backend::moe_experts_work(offsets[n], max_rows, D, i_max), " F32 elements");
        float* base = work.as<float>();
        for (int64_t e = 0; e < n; ++e) {
            const int64_t b = offsets[e], cnt = offsets[e + 1] - b, I = experts[e].gate.dim(0);
            if (cnt == 0) continue;
            float* at = base;
            auto take = [&](int64_t r, int64_t c) {
                const TensorView v = TensorView::contiguous(at, DType::F32, {r, c}, work.device);
                at += r * c;
                return v;
            };
            const TensorView xe = take(cnt, D), ye = take(cnt, D);  // [cnt, D]
            const TensorView g = take(cnt, I), u = take(cnt, I), a = take(cnt, I);  // [cnt, I]
            const TensorView r = rows.slice_rows(b, b + cnt);
            gather_rows(xe, x, r);
            matmul(g, xe, experts[e].gate);
            matmul(u, xe, experts[e].up);
            silu_mul(a, g, u);
            matmul(ye, a, experts[e].down);
            scatter_add_rows(y, ye, r, scale.slice_rows(b, b + cnt));
        }
    }

    // ======================= hyper-connections (mHC / HC) =======================
    // The residual state of a token is X [n, D] (n streams); per sublayer (mhc.md §4):
    //   m = hc_logits(X; fn) = (flatten(X)·fnᵀ)·rsqrt(mean(X²) + eps)
    //   pre, post, mix = hc_coeffs(m)                  — per-token coefficient algebra (Sinkhorn)
    //   u = hc_pre(X, pre);  y = F(RMSNorm(u));  X' = hc_post_res(X, y, post, mix)
    // All F32 and contiguous: X, Xout [T, n, D]; u, y [T, D]; pre, post [T, n] (any shape with T·n
    // elements, e.g. [T, 1, n]); mix [T, n, n] in paper orientation (X'_a = Σ_b mix[a][b]·X_b).

    // The coefficient logits m [T, K] = (v·fnᵀ)·ρ, v = flatten(X[t]) [n·D], ρ = rsqrt(mean(v²) + eps), with
    // fn [K, n·D] a weight of any float dtype; rho [T] receives ρ (the backward needs it).
    virtual void hc_logits(const TensorView& m, const TensorView& rho, const TensorView& X, const TensorView& fn,
                           float eps) = 0;
    // Coefficients from the logits m [T, p.logits()] and the weights base [p.logits()], scale [p.scales()]:
    //   kMHC  pre = σ(m_i·s0 + b_i) (+ eps unless paper_form), post = 2σ(m·s1 + b),
    //         mix = Sinkhorn(m·s2 + b) (V4 form: mix = Cᵀ; paper form: H_res)
    //   kHC   pre = b + s0·tanh(m),  post = b + s1·tanh(m),  mix = b + s2·tanh(m)
    //   kHead pre = σ(m·s0 + b) + eps  (post and mix are not written and may be empty)
    // pre, post, mix are overwritten.
    virtual void hc_coeffs(const TensorView& pre, const TensorView& post, const TensorView& mix,
                           const TensorView& m, const TensorView& base, const TensorView& scale,
                           const HcParams& p) = 0;
    // u[t, :] = Σ_i pre[t, i]·X[t, i, :]   (the sublayer input; also the hc_head collapse)
    virtual void hc_pre(const TensorView& u, const TensorView& X, const TensorView& pre) = 0;
    // Xout[t, a, :] = post[t, a]·y[t, :] + Σ_b mix[t, a, b]·X[t, b, :]   (Xout must not alias X)
    virtual void hc_post_res(const TensorView& Xout, const TensorView& X, const TensorView& y,
                             const TensorView& post, const TensorView& mix) = 0;

    // ======================= training ops (train helper) =======================
    // Backward of each forward op, the loss and the optimizer. Gradients are F32 and live on this device.
    // Backends that do not train yet keep these defaults, which throw kUnsupported naming the op.
    // "Overwrites" / "accumulates" is stated per op; weight gradients always accumulate (+=), so
    // micro-batches of a gradient-accumulation step simply add up.

    // dw[N, K] (+)= dy[M, N]ᵀ · x[M, K]     (the weight gradient of y = x·wᵀ; x F32)
    // The input gradient is an ordinary matmul: dx[M, K] (+)= dy[M, N] · w[N, K]  (w_transposed=false).
    virtual void matmul_weight_grad(const TensorView& dw, const TensorView& dy, const TensorView& x,
                                    bool accumulate = true) {
        training_op_unsupported("matmul_weight_grad", dw, dy, x, accumulate);
    }
    // Backward of rmsnorm: dx [rows, n] overwritten; dw [n] accumulates (dw.data == nullptr: skipped).
    virtual void rmsnorm_backward(const TensorView& dx, const TensorView& dw, const TensorView& dy,
                                  const TensorView& x, const TensorView& w, float eps) {
        training_op_unsupported("rmsnorm_backward", dx, dw, dy, x, w, eps);
    }
    // Backward of rope: in place on dx[T, heads, d_r], the inverse (transposed) rotation.
    virtual void rope_backward(const TensorView& dx, const TensorView& positions, const TensorView& inv_freq,
                               float attn_factor) {
        training_op_unsupported("rope_backward", dx, positions, inv_freq, attn_factor);
    }
    // Backward of attention (same shapes and causal rule as attention()); recomputes the probabilities
    // from q and k. dq [T, H, dk], dk [S, Hk, dk], dv [S, Hk, dv] are overwritten.
    virtual void attention_backward(const TensorView& dq, const TensorView& dk, const TensorView& dv,
                                    const TensorView& dout, const TensorView& q, const TensorView& k,
                                    const TensorView& v, float scale, int64_t q_pos0) {
        training_op_unsupported("attention_backward", dq, dk, dv, dout, q, k, v, scale, q_pos0);
    }
    // Backward of silu_mul: dgate, dup [rows, n] overwritten.
    virtual void silu_mul_backward(const TensorView& dgate, const TensorView& dup, const TensorView& dout,
                                   const TensorView& gate, const TensorView& up) {
        training_op_unsupported("silu_mul_backward", dgate, dup, dout, gate, up);
    }
    // Backward of embedding: dtable[ids[t], :] += dout[t, :]   (dtable F32 [V, D], accumulates)
    virtual void embedding_backward(const TensorView& dtable, const TensorView& dout, const TensorView& ids) {
        training_op_unsupported("embedding_backward", dtable, dout, ids);
    }
    // Fused softmax + cross-entropy over logits [T, V] with targets I32 [T]; tokens whose target is
    // `ignore_index` (the loss mask) are not counted. Returns the mean loss over counted tokens (0 when
    // none) and writes dlogits = grad_scale · (softmax − onehot) / count (zero rows for ignored tokens;
    // dlogits.data == nullptr: loss only). *counted (optional) receives the count.
    virtual float cross_entropy(const TensorView& dlogits, const TensorView& logits, const TensorView& targets,
                                int32_t ignore_index = -100, float grad_scale = 1.0f, int64_t* counted = nullptr) {
        training_op_unsupported("cross_entropy", dlogits, logits, targets, ignore_index, grad_scale, counted);
        return 0;
    }
    // MoE token permutation for training: a stable counting sort of the R·K choices idx I32 [R, K] by
    // expert. Entries of expert e land at [offsets[e], offsets[e+1]) in (t, k) order; for sorted entry j,
    // rows[j] = its token t, slot[j] = t·K + k, scale[j] = weights[t, k] (rows, slot I32 [R·K]; scale,
    // weights F32). offsets: E + 1 values on the HOST, filled (the only read-back; they size the
    // per-expert GEMMs). An id outside [0, E) throws kInternal.
    virtual void moe_permute(const TensorView& rows, const TensorView& slot, const TensorView& scale,
                             int64_t* offsets, int64_t E, const TensorView& idx, const TensorView& weights) {
        training_op_unsupported("moe_permute", rows, slot, scale, offsets, E, idx, weights);
    }
    // DeepSeek-V3's sequence-wise balance loss over B sequences of T = R/B rows of router logits [R, E]
    // and their top-k choices idx I32 [R, K]: per sequence, f_e = E/(K·T) · #{t: e ∈ TopK_t} and
    // P_e = mean_t s'_{t,e} with s' = s / Σ_j s_j, s = softmax or sigmoid(logits); the loss is
    // α/B · Σ_b Σ_e f_e P_e (returned). dlogits [R, E] = its gradient (f held constant), overwritten.
    virtual double moe_seq_aux_loss(const TensorView& dlogits, const TensorView& logits, const TensorView& idx,
                                    int64_t B, float alpha, RouterParams::Scoring scoring) {
        training_op_unsupported("moe_seq_aux_loss", dlogits, logits, idx, B, alpha, scoring);
        return 0;
    }
    // Backward of scatter_add_rows (the MoE combine): dsrc[i, :] = scale[i]·dy[rows[i], :] and
    // dscale[i] = <dy[rows[i], :], src[i, :]>, both overwritten.
    virtual void scatter_add_rows_backward(const TensorView& dsrc, const TensorView& dscale,
                                           const TensorView& dy, const TensorView& src, const TensorView& rows,
                                           const TensorView& scale) {
        training_op_unsupported("scatter_add_rows_backward", dsrc, dscale, dy, src, rows, scale);
    }
    // Router gradient through the selected weights (the selection itself is piecewise constant):
    // weights[t, k] = s[idx[t,k]] post-processed exactly as moe_route does (kNoauxTc: / Σ_k if
    // norm_topk_prob, then · rsf; other methods: / Σ_k if K > 1 and norm_topk_prob, else · rsf), s = softmax
    // or sigmoid of logits [T, E] per params.scoring. dlogits [T, E] overwritten from dweights [T, K].
    virtual void moe_router_backward(const TensorView& dlogits, const TensorView& dweights,
                                     const TensorView& logits, const TensorView& idx, const RouterParams& params) {
        training_op_unsupported("moe_router_backward", dlogits, dweights, logits, idx, params);
    }
    // Backward of hc_logits from dm [T, K], given the forward's m and rho: dX [T, n, D] accumulates; dfn
    // [K, n·D] (F32) accumulates, or is skipped when dfn.data == nullptr (a frozen weight).
    virtual void hc_logits_backward(const TensorView& dX, const TensorView& dfn, const TensorView& dm,
                                    const TensorView& X, const TensorView& fn, const TensorView& m,
                                    const TensorView& rho) {
        training_op_unsupported("hc_logits_backward", dX, dfn, dm, X, fn, m, rho);
    }
    // Backward of hc_coeffs: dm [T, K] overwritten; dbase [K] and dscale [p.scales()] accumulate (summed
    // over tokens). The Sinkhorn is recomputed from m (nothing is saved). kHead: dpost, dmix are ignored.
    virtual void hc_coeffs_backward(const TensorView& dm, const TensorView& dbase, const TensorView& dscale,
                                    const TensorView& dpre, const TensorView& dpost, const TensorView& dmix,
                                    const TensorView& m, const TensorView& base, const TensorView& scale,
                                    const HcParams& p) {
        training_op_unsupported("hc_coeffs_backward", dm, dbase, dscale, dpre, dpost, dmix, m, base, scale, p);
    }
    // Backward of hc_pre: dpre [T, n] overwritten; dX [T, n, D] accumulates pre ⊗ du.
    virtual void hc_pre_backward(const TensorView& dpre, const TensorView& dX, const TensorView& du,
                                 const TensorView& X, const TensorView& pre) {
        training_op_unsupported("hc_pre_backward", dpre, dX, du, X, pre);
    }
    // Backward of hc_post_res: dy [T, D], dpost [T, n], dmix [T, n, n], dX [T, n, D] overwritten.
    virtual void hc_post_res_backward(const TensorView& dy, const TensorView& dpost, const TensorView& dmix,
                                      const TensorView& dX, const TensorView& dXout, const TensorView& X,
                                      const TensorView& y, const TensorView& post, const TensorView& mix) {
        training_op_unsupported("hc_post_res_backward", dy, dpost, dmix, dX, dXout, X, y, post, mix);
    }
    // AdamW on fp32 master weights: m, v updated; p -= lr·(m̂/(√v̂ + eps) + weight_decay·p) with bias
    // correction for the 1-based `step`. All F32, same shape.
    virtual void adamw_step(const TensorView& param, const TensorView& grad, const TensorView& m,
                            const TensorView& v, float lr, float beta1, float beta2, float eps,
                            float weight_decay, int64_t step) {
        training_op_unsupported("adamw_step", param, grad, m, v, lr, beta1, beta2, eps, weight_decay, step);
    }
    // Σ x² of an F32 tensor, accumulated in double (grad-norm reduction; NaN/Inf propagate).
    virtual double sum_squares(const TensorView& x) {
        training_op_unsupported("sum_squares", x);
        return 0;
    }
    // y *= alpha (F32, in place): gradient clipping and accumulation scaling.
    virtual void scale(const TensorView& y, float alpha) {
        training_op_unsupported("scale", y, alpha);
    }
    // y = a ⊙ b elementwise, F32 [rows, n] (y may alias a or b): the LoRA dropout mask, forward and backward.
    virtual void mul(const TensorView& y, const TensorView& a, const TensorView& b) {
        training_op_unsupported("mul", y, a, b);
    }

protected:
    template <typename... Ignored>
    [[noreturn]] void training_op_unsupported(const char* op, const Ignored&...) const {
        ENGINE_THROW(kUnsupported, "backend '", name(), "' does not implement the training op ", op,
                     "; train on the CPU backend");
    }

public:
    // ======================= end of training ops =======================
};

// The CPU reference backend. `threads` <= 0 means all cores.
std::unique_ptr<Backend> make_cpu_backend(int threads = 0);

}  // namespace engine

// ---- choosing a backend at run time ----
namespace engine {

struct BackendChoice {
    enum class Kind { kAuto, kCpu, kCuda };
    Kind kind = Kind::kAuto;
    int cuda_device = 0;
    int cpu_threads = 0;  // <= 0: all cores
};
BackendChoice::Kind backend_kind_from_name(const std::string& name);  // "auto" | "cpu" | "cuda"

// The CUDA backend, loaded from liblatent_cuda.so (dlopen: the package starts without the NVIDIA
// driver). Throws Error(kUnsupported) saying why it is unavailable (library or driver missing, no GPU,
// GPU too old). Search order: $LATENT_CUDA_BACKEND, next to the executable, ../kernels/ (build tree),
// ../lib/latent-studio/, then the loader's default paths. The library stays loaded for the process.
std::unique_ptr<Backend> make_cuda_backend(int device = 0);

// kAuto: the GPU when the CUDA backend loads, else the CPU; `note` (optional) receives a one-line
// explanation for the user ("Using the CPU: no NVIDIA driver found (libcuda.so.1)").
std::unique_ptr<Backend> make_backend(const BackendChoice& choice, std::string* note = nullptr);

}  // namespace engine
