// presets.cpp — tiny / small / base model presets and an allocation-free parameter count.
#include "engine/train/presets.h"

#include "engine/error.h"

namespace engine {

ModelConfig make_preset(const PresetOptions& o) {
    ModelConfig c;
    struct Size {
        int64_t vocab, D, L, H, d_n, d_r, d_v, r_kv, r_q, I;
    };
    Size s{};
    if (o.size == "tiny")
        s = {8192, 192, 4, 4, 32, 16, 32, 64, 0, 512};
    else if (o.size == "small")
        s = {16384, 384, 8, 6, 64, 32, 64, 128, 0, 1024};
    else if (o.size == "base")
        s = {32000, 768, 12, 12, 64, 32, 64, 256, 384, 1792};
    else
        ENGINE_THROW(kInvalidArgument, "unknown model preset size '", o.size, "'; expected tiny, small or base");
    c.vocab_size = o.vocab_size > 0 ? o.vocab_size : s.vocab;
    c.hidden_size = s.D;
    c.intermediate_size = s.I;
    c.num_hidden_layers = s.L;
    c.num_attention_heads = s.H;
    c.num_key_value_heads = s.H;
    c.q_lora_rank = s.r_q;
    c.kv_lora_rank = s.r_kv;
    c.qk_nope_head_dim = s.d_n;
    c.qk_rope_head_dim = s.d_r;
    c.v_head_dim = s.d_v;
    if (o.moe) {  // V3-style: sigmoid scores, bias-corrected top-k, normalised weights, one shared expert
        c.n_routed_experts = 8;
        c.num_experts_per_tok = 2;
        c.n_shared_experts = 1;
        c.moe_intermediate_size = s.I / 4;
        c.first_k_dense_replace = 1;
        c.moe_layer_freq = 1;
        c.topk_method = "noaux_tc";
        c.scoring_func = "sigmoid";
        c.norm_topk_prob = true;
        c.routed_scaling_factor = 1.0;
        c.n_group = 1;
        c.topk_group = 1;
    }
    c.rope_theta = 10000.0;
    c.max_position_embeddings = 4096;
    c.rms_norm_eps = 1e-6;
    c.bos_token_id = 0;
    c.eos_token_ids = {1};
    c.torch_dtype = "float32";
    c.attention_kind = o.attention;
    c.residual_kind = o.residual;
    c.hc_mult = o.residual == ResidualKind::kResidual ? 1 : 4;
    c.hc_sinkhorn_iters = 20;
    c.hc_eps = 1e-6;
    const bool v3 = o.residual == ResidualKind::kResidual && o.attention == AttentionKind::kMLA;
    c.architecture = v3 ? "DeepseekV3ForCausalLM" : "LatentForCausalLM";
    c.model_type = v3 ? "deepseek_v3" : "latent";
    c.validate("preset '" + o.size + "'");
    return c;
}

int64_t count_parameters(const ModelConfig& c) {
    const int64_t D = c.hidden_size, V = c.vocab_size, H = c.num_attention_heads;
    const int64_t d_n = c.qk_nope_head_dim, d_r = c.qk_rope_head_dim, d_v = c.v_head_dim, d_qk = d_n + d_r;
    const bool hc = c.residual_kind != ResidualKind::kResidual;
    const int64_t n = hc ? c.hc_mult : 1;
    int64_t total = V * D + D + (c.tie_word_embeddings ? 0 : V * D);
    if (hc) total += n * n * D + n + 1;
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
        total += 2 * D;
        if (c.attention_kind == AttentionKind::kMHA) {
            total += 2 * H * d_qk * D + H * d_v * D;
        } else {
            total += c.q_lora_rank == 0 ? H * d_qk * D : c.q_lora_rank * D + c.q_lora_rank + H * d_qk * c.q_lora_rank;
            total += (c.kv_lora_rank + d_r) * D + c.kv_lora_rank + H * (d_n + d_v) * c.kv_lora_rank;
        }
        total += D * H * d_v;
        if (c.is_moe_layer(l)) {
            const int64_t E = c.n_routed_experts, I = c.moe_intermediate_size;
            total += E * D + (c.topk_method == "noaux_tc" ? E : 0) + E * 3 * I * D + 3 * c.n_shared_experts * I * D;
        } else {
            total += 3 * c.intermediate_size * D;
        }
        if (hc) total += 2 * ((n * n + 2 * n) * (n * D + 1) + 3);
    }
    return total;
}

}  // namespace engine
