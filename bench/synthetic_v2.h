// synthetic_v2.h — the DeepSeek-V2-style shape of the synthetic decode benchmarks (model_decode_bench,
// gpu_decode_bench) and its config.json (HF field names; greedy softmax routing, no q_lora, untied head).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace engine::bench {

struct V2Shape {
    int64_t V, D, L, H, r_kv, d_n, d_r, d_v, I_dense, I_moe, E, K, n_shared, first_dense;
};

inline std::string v2_config_json(const V2Shape& s, int64_t max_positions) {
    nlohmann::json j;
    j["architectures"] = {"DeepseekV2ForCausalLM"};
    j["model_type"] = "deepseek_v2";
    j["vocab_size"] = s.V;
    j["hidden_size"] = s.D;
    j["intermediate_size"] = s.I_dense;
    j["moe_intermediate_size"] = s.I_moe;
    j["num_hidden_layers"] = s.L;
    j["num_attention_heads"] = s.H;
    j["num_key_value_heads"] = s.H;
    j["q_lora_rank"] = nullptr;
    j["kv_lora_rank"] = s.r_kv;
    j["qk_nope_head_dim"] = s.d_n;
    j["qk_rope_head_dim"] = s.d_r;
    j["v_head_dim"] = s.d_v;
    j["n_shared_experts"] = s.n_shared;
    j["n_routed_experts"] = s.E;
    j["num_experts_per_tok"] = s.K;
    j["routed_scaling_factor"] = 1.0;
    j["topk_method"] = "greedy";
    j["n_group"] = 1;
    j["topk_group"] = 1;
    j["scoring_func"] = "softmax";
    j["norm_topk_prob"] = false;
    j["first_k_dense_replace"] = s.first_dense;
    j["moe_layer_freq"] = 1;
    j["rope_theta"] = 10000.0;
    j["max_position_embeddings"] = max_positions;
    j["rms_norm_eps"] = 1e-6;
    j["tie_word_embeddings"] = false;
    j["attention_bias"] = false;
    j["hidden_act"] = "silu";
    j["bos_token_id"] = 0;
    j["eos_token_id"] = 1;
    j["torch_dtype"] = "bfloat16";
    j["rope_scaling"] = nullptr;
    return j.dump(2);
}

}  // namespace engine::bench
