// hyper_connections.h — mHC (V4 and paper forms) and HC residual streams for our LatentForCausalLM
// family (docs/model-family.md; mhc.md §3, §9). The stream state X is [T, n, D] (stream-major per token).
#pragma once

#include <cstdint>

#include "model/forward_context.h"

namespace engine::model {

// The coefficient form of the model's hyper-connections (head: the hc_head collapse weights).
HcParams hc_params(const ModelConfig& c, bool head);

// u [T, D] = Σ_i pre_i X_i, and stores mix / post for hc_apply in the scratch.
void hc_pre(ForwardContext& ctx, const HcWeights& w, const TensorView& X, const TensorView& u);
// X_out [T, n, D] = mix · X + post ⊗ y
void hc_apply(ForwardContext& ctx, const TensorView& X, const TensorView& y, const TensorView& X_out);
// h [R, D] = Σ_i w_i X_i with w = σ((v·fnᵀ)·rsqrt(mean(v²)+eps)·scale + base) + hc_eps, for X [R, n, D].
void hc_collapse(ForwardContext& ctx, const TensorView& X, const TensorView& h);

}  // namespace engine::model
