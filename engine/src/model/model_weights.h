// model_weights.h — the device tensors of a DeepSeek-V2/V3-family model (plus our LatentForCausalLM
// family: mHC / HC residual streams, MHA ablation), resolved from HF tensor names with shape checks.
//
// Names and shapes: deepseek-arch.md §5 and docs/model-family.md. Weights keep their stored dtype;
// on the CPU they alias the WeightStore's mapping (the store must outlive them).
// Not here: any compute (see deepseek_model.cpp, attention.cpp, ffn.cpp, hyper_connections.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/config.h"
#include "engine/model.h"
#include "engine/weights.h"

namespace engine::model {

struct MlpWeights {
    Tensor gate;  // [I, D]
    Tensor up;    // [I, D]
    Tensor down;  // [D, I]
    int64_t width = 0;  // I
};

struct AttentionWeights {
    // MLA
    Tensor q_proj;      // [H*d_qk, D]      (q_lora_rank null)
    Tensor q_a_proj;    // [r_q, D]
    Tensor q_a_norm;    // [r_q]
    Tensor q_b_proj;    // [H*d_qk, r_q]
    Tensor kv_a_proj;   // [r_kv+d_r, D]   kv_a_proj_with_mqa
    Tensor kv_a_norm;   // [r_kv]
    Tensor kv_b_proj;   // [H*(d_n+d_v), r_kv]
    Tensor w_uk_t;      // [H, r_kv, d_n]: W_UK_hᵀ, a transposed copy of kv_b_proj's k_nope rows in the stored
                        // dtype, so decode's q_abs = q_nope·W_UK is a weight-as-[out, in] GEMV (llama.cpp's attn_k_b)
    Tensor o_proj;      // [D, H*d_v]
    // MHA ablation (q_proj above is reused): k_proj [H*d_qk, D], v_proj [H*d_v, D]
    Tensor k_proj;
    Tensor v_proj;
};

struct MoeWeights {
    Tensor router;                    // mlp.gate.weight [E, D]
    Tensor bias;                      // e_score_correction_bias, F32 [E] (empty when absent)
    std::vector<MlpWeights> experts;  // E × [I_moe]
    MlpWeights shared;                // width n_shared · I_moe; empty when n_shared_experts == 0
    // The same weights as views for Backend::moe_decode, built once at load (not per token):
    std::vector<SwigluExpert> routed_table;  // E entries (scale unused)
    std::vector<SwigluExpert> shared_table;  // 0 or 1 entry (scale 1)
};

// One hyper-connection mapping (attn_hc / ffn_hc / hc_head).
struct HcWeights {
    Tensor fn;                // [n*n+2n, n*D] (hc_head: [n, n*D])
    Tensor base;              // F32 [n*n+2n] (hc_head: [n]), on the backend's device
    Tensor scale;             // F32 [3] (hc_head: [1]), on the backend's device
};

struct LayerWeights {
    Tensor input_norm;  // [D]
    Tensor post_norm;   // [D]
    AttentionWeights attn;
    bool is_moe = false;
    MlpWeights mlp;  // dense layer
    MoeWeights moe;
    HcWeights attn_hc, ffn_hc;  // residual_kind mhc / hc only
};

struct ModelWeights {
    Tensor embed;       // [V, D]
    Tensor final_norm;  // [D]
    Tensor lm_head;     // [V, D]; aliases embed when tied (see lm_head_view)
    bool tied = false;
    std::vector<LayerWeights> layers;
    HcWeights hc_head;
    Tensor inv_freq;    // F32 [d_r/2]
    Tensor empty_bias;  // unset (data == nullptr)
    std::vector<std::vector<uint8_t>> host_buffers;  // derived weights made on the host (upload_weight may alias them)

    const TensorView& lm_head_view() const { return tied ? embed.view() : lm_head.view(); }
};

// Resolves every tensor the forward pass needs (MTP layers skipped), checks shapes, uploads them.
// Throws kBadFile naming the tensor, its shape and the expected one; kUnsupported for dtypes we do
// not compute with. Fills `stats` (params, bytes, KV bytes per token).
ModelWeights load_model_weights(const ModelConfig& config, const WeightStore& store, Backend& backend,
                                const ProgressFn& progress, ModelStats& stats);

}  // namespace engine::model
