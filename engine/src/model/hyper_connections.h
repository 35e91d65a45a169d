// hyper_connections.h — mHC (V4 and paper forms) and HC residual streams for our LatentForCausalLM
// family (docs/model-family.md; mhc.md §3, §9). The stream state X is [T, n, D] (stream-major per token).
#pragma once

#include <cstdint>

#include "model/forward_context.h"

namespace engine::model {

// Per token: from m (= (v·fnᵀ)·rsqrt(mean(v²)+eps), [n²+2n]) computes pre [n], post [n] and mix [n, n]
// such that the update is X'_a = Σ_b mix[a][b]·X_b + post_a·y  (for the V4 form mix = combᵀ).
// Host-side, a few hundred flops per token.
void hc_coefficients(const ModelConfig& c, const HcWeights& w, const float* m, float* pre, float* post,
                     float* mix);

// u [T, D] = Σ_i pre_i X_i, and stores mix / post for hc_apply in the scratch.
void hc_pre(ForwardContext& ctx, const HcWeights& w, const TensorView& X, const TensorView& u);
// X_out [T, n, D] = mix · X + post ⊗ y
void hc_apply(ForwardContext& ctx, const TensorView& X, const TensorView& y, const TensorView& X_out);
// h [R, D] = Σ_i w_i X_i with w = σ((v·fnᵀ)·rsqrt(mean(v²)+eps)·scale + base) + hc_eps, for X [R, n, D].
void hc_collapse(ForwardContext& ctx, const TensorView& X, const TensorView& h);

}  // namespace engine::model
