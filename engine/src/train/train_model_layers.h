// train_model_layers.h — forward/backward of the two sublayer functions F (attention, FFN) of the
// trainable model, on workspace buffers (Buf) through the Backend's ops.
#pragma once

#include "train/train_model_impl.h"

namespace engine::train {

struct Ctx {
    const ModelConfig& cfg;
    Backend& be;
    TrainModel::Impl& im;
    int64_t B, T, R;  // sequences, tokens per sequence, rows = B*T
    TensorView positions;  // I32 [R] on the backend: r % T
};

// b with exactly n elements on the model's backend; reallocates only when the size changes, never
// clears (callers overwrite).
inline Buf& sized(Ctx& c, Buf& b, int64_t n) {
    b.ensure(c.be, n);
    return b;
}

TensorView tv(Buf& b, std::initializer_list<int64_t> shape);
TensorView tv(const Buf& b, std::initializer_list<int64_t> shape);
// A view of `base` + offset elements with explicit shape/strides (3-D).
TensorView sview(const Buf& base, int64_t offset, std::initializer_list<int64_t> shape,
                 std::initializer_list<int64_t> strides);

// out [R, D] = Attn(x), x [R, D] (already normed); saves into a.
void attention_forward(Ctx& c, const LayerP& L, AttnAct& a, const Buf& x, Buf& out);
// dx [R, D] overwritten from dout; parameter grads accumulate.
void attention_backward(Ctx& c, const LayerP& L, const AttnAct& a, const Buf& dout, Buf& dx);

// SwiGLU on n rows.
void mlp_forward(Ctx& c, const MlpP& m, MlpAct& a, const TensorView& x, Buf& out);   // x [n, D]
void mlp_backward(Ctx& c, const MlpP& m, const MlpAct& a, const TensorView& dout, Buf& dx);  // dout [n, D]

// Dense or MoE FFN: out [R, D]. load (optional) gets per-expert token counts.
void ffn_forward(Ctx& c, int64_t layer, const LayerP& L, LayerAct& a, const Buf& x, Buf& out, float aux_alpha,
                 double* aux_loss, std::vector<int64_t>* load);
void ffn_backward(Ctx& c, const LayerP& L, LayerAct& a, const Buf& dout, Buf& dx, float aux_grad_scale);

// ---- hyper-connections (hc_glue.cpp): the sublayer wrapping and the hc_head collapse through the
// Backend's hc_* ops. X: the stream state [R, n, D]. ----
// Forward of one sublayer's coefficients and aggregation: fills sa.m / pre / post / mix and sa.u [R, D].
void hc_sublayer_pre(Ctx& c, const HcP& hp, SubAct& sa, const Buf& X);
// X_out [R, n, D] = post ⊗ y + mix · X_in   (sa.state_in = X_in)
void hc_sublayer_post(Ctx& c, const SubAct& sa, Buf& X_out);
// Backward of hc_sublayer_post: dy [R, D], dX_in (the residual-mix part) from dX_out; keeps dpost, dmix in
// the scratch for hc_sublayer_pre_backward.
void hc_sublayer_post_backward(Ctx& c, const SubAct& sa, const Buf& dX_out, Buf& dy, Buf& dX_in);
// Backward of hc_sublayer_pre from du (the gradient of sa.u): dX_in += the pre and coefficient paths;
// fn / base / scale gradients accumulate (frozen ones are skipped).
void hc_sublayer_pre_backward(Ctx& c, const HcP& hp, const SubAct& sa, const Buf& du, Buf& dX_in);
// hc_head: h [R, D] = Σ_i w_i X_i, saving the logits and weights in the workspace.
void hc_head_forward(Ctx& c, const Buf& X, Buf& h);
// dX [R, n, D] overwritten from dh.
void hc_head_backward(Ctx& c, const Buf& X, const Buf& dh, Buf& dX);

}  // namespace engine::train
