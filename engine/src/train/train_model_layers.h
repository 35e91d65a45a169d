// train_model_layers.h — forward/backward of the two sublayer functions F (attention, FFN) of the
// trainable model, on host F32 buffers through the Backend's ops.
#pragma once

#include "train/train_model_impl.h"

namespace engine::train {

struct Ctx {
    const ModelConfig& cfg;
    Backend& be;
    TrainModel::Impl& im;
    int64_t B, T, R;  // sequences, tokens per sequence, rows = B*T
    const int32_t* positions;  // [R]: r % T
};

// b with exactly n elements; reallocates only when the size changes, never clears (callers overwrite).
inline Buf& sized(Buf& b, int64_t n) {
    if (b.size() != size_t(n)) b.resize(size_t(n));
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
void mlp_forward(Ctx& c, const MlpP& m, MlpAct& a, const float* x, int64_t n, Buf& out);
void mlp_backward(Ctx& c, const MlpP& m, const MlpAct& a, const float* dout, Buf& dx);

// Dense or MoE FFN: out [R, D]. load (optional) gets per-expert token counts.
void ffn_forward(Ctx& c, int64_t layer, const LayerP& L, LayerAct& a, const Buf& x, Buf& out, float aux_alpha,
                 double* aux_loss, std::vector<int64_t>* load);
void ffn_backward(Ctx& c, const LayerP& L, LayerAct& a, const Buf& dout, Buf& dx, float aux_grad_scale);

}  // namespace engine::train
