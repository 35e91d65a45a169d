// config.h — model hyper-parameters, read from a Hugging Face config.json.
//
// Field names are DeepSeek's own (deepseek-arch.md §1) so they can be checked line by line against
// transformers. Example values are DeepSeek-V2-Lite's unless noted. Architectures accepted:
// DeepseekV2ForCausalLM, DeepseekV3ForCausalLM, Glm4MoeLiteForCausalLM, and our LatentForCausalLM
// (the DeepSeek-V3 fields plus the mHC / ablation fields at the end).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "engine/backend.h"  // RouterParams

namespace engine {

struct RopeScaling {
    std::string type;                      // "yarn" (only kind DeepSeek uses)
    double factor = 1.0;                   // e.g. 40
    int64_t original_max_position_embeddings = 4096;
    double beta_fast = 32.0;
    double beta_slow = 1.0;
    double mscale = 1.0;                   // e.g. 0.707 (V2-Lite)
    double mscale_all_dim = 0.0;           // e.g. 0.707 (V2-Lite); 0 = absent
};

enum class ResidualKind { kResidual, kHC, kMHC };  // our family only; checkpoints from HF: kResidual
enum class AttentionKind { kMLA, kMHA };           // kMHA: plain multi-head attention, for comparison

struct ModelConfig {
    std::string architecture;              // e.g. "DeepseekV2ForCausalLM"
    std::string model_type;                // e.g. "deepseek_v2"
    int64_t vocab_size = 0;                // e.g. 102400
    int64_t hidden_size = 0;               // D, e.g. 2048
    int64_t intermediate_size = 0;         // dense FFN width, e.g. 10944
    int64_t moe_intermediate_size = 0;     // each expert, e.g. 1408
    int64_t num_hidden_layers = 0;         // e.g. 27 (MTP layers are not counted and are skipped)
    int64_t num_attention_heads = 0;       // H, e.g. 16
    int64_t num_key_value_heads = 0;       // unused by MLA
    int64_t q_lora_rank = 0;               // 0 = null: plain q_proj (V2-Lite); e.g. 1536 (V3)
    int64_t kv_lora_rank = 0;              // e.g. 512
    int64_t qk_nope_head_dim = 0;          // e.g. 128
    int64_t qk_rope_head_dim = 0;          // e.g. 64
    int64_t v_head_dim = 0;                // e.g. 128
    int64_t n_shared_experts = 0;          // e.g. 2
    int64_t n_routed_experts = 0;          // e.g. 64; 0 = dense model
    int64_t num_experts_per_tok = 0;       // e.g. 6
    double routed_scaling_factor = 1.0;
    std::string topk_method = "greedy";    // greedy | group_limited_greedy | noaux_tc
    int64_t n_group = 1;
    int64_t topk_group = 1;
    std::string scoring_func = "softmax";  // softmax | sigmoid
    bool norm_topk_prob = false;
    int64_t first_k_dense_replace = 0;     // layers 0..k-1 are dense
    int64_t moe_layer_freq = 1;
    double rope_theta = 10000.0;
    std::optional<RopeScaling> rope_scaling;
    bool rope_interleave = true;           // HF V3 flag; false = rows already permuted (rotate_half form)
    int64_t max_position_embeddings = 0;   // e.g. 163840
    double rms_norm_eps = 1e-6;
    bool tie_word_embeddings = false;
    bool attention_bias = false;           // must be false (checked)
    std::string hidden_act = "silu";       // must be silu (checked)
    std::optional<int64_t> bos_token_id;   // e.g. 100000
    std::vector<int64_t> eos_token_ids;    // e.g. {100001}; config may give an int or a list
    double aux_loss_alpha = 0.0;           // e.g. 0.001
    bool seq_aux = false;
    int64_t num_nextn_predict_layers = 0;  // MTP layers present in the file (skipped on load)
    std::string torch_dtype;               // e.g. "bfloat16"

    // ---- our family (LatentForCausalLM) ----
    ResidualKind residual_kind = ResidualKind::kResidual;
    AttentionKind attention_kind = AttentionKind::kMLA;
    int64_t hc_mult = 1;                   // n residual streams, e.g. 4 (1 = off)
    int64_t hc_sinkhorn_iters = 20;
    double hc_eps = 1e-6;
    // Sinkhorn form: false = DeepSeek-V4 / TileKernels form (softmax-row start + eps, columns first,
    // eps in every denominator, comb applied transposed; mhc.md §9, the default); true = the paper's form
    // (exp start, no eps), kept for the stability experiments.
    bool hc_paper_form = false;

    // ---- derived ----
    int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }  // e.g. 192
    bool is_moe_layer(int64_t layer) const;  // first_k_dense_replace / moe_layer_freq / n_routed_experts
    // d_qk^-0.5 · m², m = yarn_get_mscale(factor, mscale_all_dim) (deepseek-arch.md §2).
    double softmax_scale() const;
    // YaRN-blended inverse frequencies, fp32, size qk_rope_head_dim/2 (deepseek-arch.md §4).
    std::vector<float> rope_inv_freq() const;
    // get_mscale(f, mscale) / get_mscale(f, mscale_all_dim): multiplies cos/sin (1.0 for V2-Lite, V3).
    float rope_attention_factor() const;
    RouterParams router_params() const;

    // Parse + validate. `source` names the file in error messages. Throws Error(kBadFile / kUnsupported)
    // naming the field and what was expected.
    static ModelConfig from_json_text(const std::string& text, const std::string& source);
    static ModelConfig from_file(const std::filesystem::path& config_json);
    // Serialise (HF field names; our extra fields only when architecture == LatentForCausalLM).
    std::string to_json_text() const;
    // Checks the invariants (positive sizes, heads, groups dividing experts, ...); from_* call it.
    void validate(const std::string& source) const;
};

}  // namespace engine
