// forward_context.h — what one forward call passes to the per-sublayer functions (attention.cpp,
// ffn.cpp, hyper_connections.cpp), and a helper for strided sub-views.
#pragma once

#include <cstdint>
#include <initializer_list>

#include "engine/backend.h"
#include "engine/config.h"
#include "engine/telemetry.h"
#include "model/kv_cache.h"
#include "model/model_weights.h"

namespace engine::model {

struct ForwardContext {
    const ModelConfig& cfg;
    const ModelWeights& w;
    Backend& be;
    Scratch& ws;
    DeepseekKvCache& cache;
    int64_t T = 0;          // new tokens this call
    int64_t P = 0;          // position of the first new token (= tokens already cached)
    TensorView positions{};  // I32 [T]: P .. P+T-1
    float softmax_scale = 1.0f;
    float rope_attn_factor = 1.0f;
    RouterParams router{};
    ExpertLoad* expert_load = nullptr;
};

// A view of `base`'s storage starting `elem_offset` elements in, with explicit shape and strides
// (elements). The last stride must be 1 (backend rule).
inline TensorView strided_view(const TensorView& base, int64_t elem_offset, std::initializer_list<int64_t> shape,
                               std::initializer_list<int64_t> strides) {
    return base.strided(elem_offset, shape, strides);
}

// Sublayer functions (x: normalised input [T, D]; out: [T, D], overwritten).
void attention_forward(ForwardContext& ctx, int64_t layer, const TensorView& x, const TensorView& out,
                       bool absorbed);
void ffn_forward(ForwardContext& ctx, int64_t layer, const TensorView& x, const TensorView& out);

}  // namespace engine::model
