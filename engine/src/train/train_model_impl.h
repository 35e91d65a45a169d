// train_model_impl.h — internals of TrainModel: parameter handles per layer and the per-step workspace
// of saved activations, held on the model's backend (host memory on the CPU, device memory on a GPU).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/backend.h"
#include "engine/train/mhc.h"
#include "engine/train/train_model.h"

namespace engine::train {

struct Lora;

// Handle to a parameter: value and grad views (grad.data == nullptr when not trainable); `lora` is the
// adapter of a targeted Linear weight (nullptr otherwise).
struct P {
    TensorView w, g;
    Lora* lora = nullptr;
    bool empty() const { return w.data == nullptr; }
    float* wp() const { return w.as<float>(); }
    float* gp() const { return g.as<float>(); }
};

// An F32 buffer of the training workspace on the model's backend: host memory on the CPU backend,
// device memory on a GPU. Its size changes only through ensure() / zeros() (after a change it holds
// zeros); copies go through the backend. Host code never indexes it: data() is a device pointer on a
// GPU; read it with to_host() and fill it with from_host().
class Buf {
public:
    Buf() = default;
    Buf(const Buf& o) { *this = o; }
    Buf& operator=(const Buf& o);  // same size and contents, through o's backend
    Buf(Buf&&) noexcept = default;
    Buf& operator=(Buf&&) noexcept = default;

    int64_t size() const { return n_; }
    bool empty() const { return n_ == 0; }
    float* data() const { return n_ ? t_.as<float>() : nullptr; }
    Device device() const { return be_ ? be_->device() : Device::CPU; }
    // Size n on `be` (reallocated, and zero, when the size or backend changes; kept otherwise).
    void ensure(Backend& be, int64_t n);
    // Size n on `be`, all zeros.
    void zeros(Backend& be, int64_t n);
    void clear() { *this = Buf(); }
    std::vector<float> to_host() const;
    void from_host(Backend& be, const float* p, int64_t n);

private:
    Backend* be_ = nullptr;
    Tensor t_;
    int64_t n_ = 0;
};

// An I32 index vector on the model's backend, uploaded from a host vector (token ids, targets,
// positions, MoE rows); reallocated only when the size changes.
struct IdxBuf {
    Tensor t;
    int64_t n = 0;
    void upload(Backend& be, const std::vector<int32_t>& host);
    void resize(Backend& be, int64_t m);  // m elements, contents undefined (kept when the size is unchanged)
    TensorView view(int64_t offset, int64_t count) const;  // I32 [count] from element `offset`
};

// One LoRA adapter and what its last training forward saved (each Linear runs once per forward).
struct Lora {
    P A, B;               // A [r, in], B [out, r]
    int64_t r = 0;
    float scale = 1.0f;   // alpha / r
    float dropout = 0.0f;
    uint64_t id = 0;      // index among adapters (dropout stream)
    int64_t n = 0;        // rows of the last call
    Buf keep;             // [n, in] dropout multipliers (0 or 1/(1-p)), on the backend (kept between steps)
    bool masked = false;  // the last forward applied `keep` (a training forward with dropout > 0)
    std::vector<float> host_keep;  // the mask as drawn on the host (reused)
    Buf xd;               // [n, in] dropout(x)
    Buf xs;               // [n, r] scale · dropout(x)·Aᵀ
    Buf gs;               // [n, r] scale · dy·B (backward, between weight and input grads)
};

struct MlpP { P gate, up, down; int64_t width = 0; };
struct HcP { P fn, base, scale; };

struct LayerP {
    P in_norm, post_norm;
    // attention
    P q_proj, q_a_proj, q_a_norm, q_b_proj, kv_a_proj, kv_a_norm, kv_b_proj, k_proj, v_proj, o_proj;
    // ffn
    bool is_moe = false;
    MlpP mlp;
    P router, router_bias;
    std::vector<MlpP> experts;
    MlpP shared;
    HcP attn_hc, ffn_hc;
};

// Saved activations of one SwiGLU call.
struct MlpAct { Buf x, g, u, a; int64_t n = 0; };

struct AttnAct {
    Buf x;          // [R, D] normed input
    Buf qa, qa_n;   // [R, r_q] q_a_proj output and after q_a_layernorm
    Buf q;          // [R, H, d_qk] after RoPE
    Buf ckv;        // [R, r_kv + d_r] kv_a_proj output (raw)
    Buf c;          // [R, r_kv] after kv_a_layernorm
    Buf k, v;       // [R, H, d_qk] after RoPE, [R, H, d_v]
    Buf o;          // [R, H, d_v] attention output before o_proj
};

struct MoeAct {
    Buf x;                         // [R, D] normed input
    Buf logits;                    // [R, E]
    Tensor idx_dev;                // I32 [R, K] moe_route's choice (on the backend)
    Buf weights;                   // [R, K]
    std::vector<int64_t> offsets;  // [E + 1] into the expert-sorted (token, k) list (host: sizes the GEMMs)
    IdxBuf rows_dev;               // [R*K] token row of each sorted entry (Backend::moe_permute)
    IdxBuf slot_dev;               // [R*K] flat (t*K + k) of each sorted entry (the backward scatters
                                   // d(weights) back through it)
    Buf scale;                     // [R*K] combine weight of each sorted entry
    std::vector<MlpAct> experts;   // per expert
    std::vector<Buf> expert_out;   // per expert [cnt, D]
    Buf aux_dlogits;               // [R, E] d(aux loss)/d logits (empty when disabled)
    MlpAct shared;
};

// One sublayer (attention or FFN) of one layer.
struct SubAct {
    Buf state_in;                  // residual: h [R, D]; HC: X [R, n, D]
    Buf u;                         // [R, D] the sublayer input before its RMSNorm
    Buf y;                         // [R, D] the sublayer output
    // HC only: coefficient logits m [R, n²+2n] and their RMS scale rho [R] (Backend::hc_logits), and the
    // coefficients pre, post [R, n], mix [R, n, n] (Backend::hc_coeffs; the backward recomputes the Sinkhorn).
    Buf m, rho, pre, post, mix;
};

struct LayerAct {
    SubAct attn_sub, ffn_sub;
    AttnAct attn;
    MlpAct mlp;
    MoeAct moe;
};

// Per-step temporaries, kept across steps so that a step neither allocates them nor page-faults them
// in again (sized on use by `sized`, contents are scratch). Each is used by one function at a time.
struct Scratch {
    Buf x, dy, dpost, dA, dX_in, dx, du, dpre;                 // sublayer glue (train_model_step.cpp)
    Buf kpe, kv, d_o, dq, dk, dv, dkv, dckv, dc, dqa_n, dqa;   // attention
    Buf da, dg, dup;                                           // SwiGLU backward
    Buf h, dhn, dh, demb;                                      // embedding and head
    Buf dm, dbase, dscale;                                     // HC coefficient path (hc_glue.cpp)
};

struct Workspace {
    int64_t B = 0, T = 0;
    Scratch tmp;
    std::vector<int32_t> tokens, targets, positions;
    IdxBuf tokens_dev, targets_dev, positions_dev;
    std::vector<LayerAct> layers;
    Buf state_final;            // residual: h [R, D]; HC: X [R, n, D]
    Buf h_collapsed;            // [R, D] (HC) — input of the final norm
    Buf head_m, head_rho, head_w;  // HC: hc_head logits [R, n], their RMS scale [R], collapse weights [R, n]
    Buf hn;                     // [R, D] after the final norm
    Buf logits;                 // [R, V]
    Buf dlogits;                // [R, V]
};

}  // namespace engine::train

namespace engine {
struct TrainModel::Impl {
    std::vector<train::LayerP> layers;
    train::P embed, final_norm, lm_head;
    train::HcP hc_head;
    bool hc = false;  // residual_kind is HC or mHC
    mhc::Options hc_opts;         // init and diagnostics
    HcParams hc_par, hc_head_par; // the backend's hc_* ops: sublayers, hc_head
    std::vector<float> inv_freq;
    Tensor inv_freq_dev;          // F32 [d_r / 2] on the backend
    float softmax_scale = 1.0f, rope_factor = 1.0f;
    RouterParams router;
    train::Workspace ws;
    std::vector<std::unique_ptr<train::Lora>> loras;
    bool training = false;        // forward_backward (dropout on) vs forward
    uint64_t lora_seed = 0;
    uint64_t dropout_calls = 0;   // forward_backward calls so far (dropout stream position)
};
}  // namespace engine
