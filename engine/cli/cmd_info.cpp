// cmd_info.cpp — `latent info MODEL`: architecture, parameters, memory, KV cache MLA vs MHA.
//
// Reads config.json and the safetensors headers only (no forward pass). KV figures are given twice:
// for our two cache types, F32 (the default) and bf16 (--kv-cache bf16), the latter also the unit the
// DeepSeek papers and deepseek-arch.md §2 use (V2-Lite: 31,104 B/token MLA vs 221,184 B/token MHA).
#include <cstdio>

#include "command.h"

namespace cli {
namespace {

const char* residual_name(engine::ResidualKind k) {
    switch (k) {
        case engine::ResidualKind::kResidual: return "residual";
        case engine::ResidualKind::kHC: return "hyper-connections";
        case engine::ResidualKind::kMHC: return "mHC (manifold-constrained hyper-connections)";
    }
    return "?";
}

int run_info(Args& args) {
    const bool as_json = args.flag({"--json"});
    auto pos = args.positionals(1, 1, "info MODEL [--json]");
    const ModelSummary s = summarize_model(pos[0]);
    const auto& c = s.config;
    const bool mla = c.attention_kind == engine::AttentionKind::kMLA;
    const int64_t kv_f32 = s.kv_elems_per_token * 4, kv_bf16 = s.kv_elems_per_token * 2;
    const int64_t mha_f32 = s.mha_kv_elems_per_token * 4, mha_bf16 = s.mha_kv_elems_per_token * 2;
    const double ratio = s.kv_elems_per_token > 0 ? double(s.mha_kv_elems_per_token) / double(s.kv_elems_per_token) : 0;

    if (as_json) {
        nlohmann::json j = {{"architecture", c.architecture}, {"layers", c.num_hidden_layers},
                            {"hidden_size", c.hidden_size}, {"heads", c.num_attention_heads},
                            {"vocab_size", c.vocab_size}, {"routed_experts", c.n_routed_experts},
                            {"experts_per_token", c.num_experts_per_tok}, {"shared_experts", c.n_shared_experts},
                            {"total_params", s.total_params}, {"active_params", s.active_params},
                            {"weight_bytes", s.weight_bytes}, {"params_by_dtype", s.params_by_dtype},
                            {"kv_bytes_per_token_f32", kv_f32}, {"kv_bytes_per_token_bf16", kv_bf16},
                            {"mha_kv_bytes_per_token_f32", mha_f32}, {"mha_kv_bytes_per_token_bf16", mha_bf16},
                            {"kv_ratio_mha_over_ours", ratio}};
        std::printf("%s\n", j.dump(2).c_str());
        return 0;
    }
    std::printf("model          %s\n", pos[0].c_str());
    std::printf("architecture   %s (%s)\n", c.architecture.c_str(), c.model_type.c_str());
    std::printf("layers         %lld (dense: first %lld; MoE every %lld after)\n", (long long)c.num_hidden_layers,
                (long long)c.first_k_dense_replace, (long long)c.moe_layer_freq);
    std::printf("hidden         %lld   vocab %s\n", (long long)c.hidden_size, with_commas(c.vocab_size).c_str());
    std::printf("attention      %s, %lld heads, q_lora_rank %lld, kv_lora_rank %lld, qk_nope %lld + qk_rope %lld, v %lld\n",
                mla ? "MLA" : "MHA", (long long)c.num_attention_heads, (long long)c.q_lora_rank,
                (long long)c.kv_lora_rank, (long long)c.qk_nope_head_dim, (long long)c.qk_rope_head_dim,
                (long long)c.v_head_dim);
    if (c.n_routed_experts > 0)
        std::printf("experts        %lld routed (top %lld, %s, %s scoring) + %lld shared, width %lld\n",
                    (long long)c.n_routed_experts, (long long)c.num_experts_per_tok, c.topk_method.c_str(),
                    c.scoring_func.c_str(), (long long)c.n_shared_experts, (long long)c.moe_intermediate_size);
    else
        std::printf("experts        none (dense FFN width %lld)\n", (long long)c.intermediate_size);
    std::printf("residual       %s%s\n", residual_name(c.residual_kind),
                c.hc_mult > 1 ? (", " + std::to_string(c.hc_mult) + " streams").c_str() : "");
    std::printf("context        %s positions%s\n", with_commas(c.max_position_embeddings).c_str(),
                c.rope_scaling ? " (YaRN)" : "");
    std::printf("\nparameters     total %s, active per token %s (%s without the embedding table)\n",
                with_commas(s.total_params).c_str(), with_commas(s.active_params).c_str(),
                with_commas(s.active_params - c.vocab_size * c.hidden_size).c_str());
    std::string dtypes;
    for (const auto& [name, n] : s.params_by_dtype) dtypes += (dtypes.empty() ? "" : ", ") + name + " " + with_commas(n);
    std::printf("dtype          %s%s\n", dtypes.c_str(), c.torch_dtype.empty() ? "" : ("  (config: " + c.torch_dtype + ")").c_str());
    std::printf("weight memory  %s (%s B)\n", human_bytes(double(s.weight_bytes)).c_str(), with_commas(s.weight_bytes).c_str());
    std::printf("\nKV cache bytes per token, all %lld layers:\n", (long long)c.num_hidden_layers);
    std::printf("  %-38s %28s %16s\n", "", "as stored by us (F32 cache)", "bf16 (--kv-cache bf16)");
    std::printf("  %-38s %26s B %14s B\n", mla ? "MLA latent (kv_lora_rank + rope)" : "this model (MHA K + V)",
                with_commas(kv_f32).c_str(), with_commas(kv_bf16).c_str());
    std::printf("  %-38s %26s B %14s B\n", "MHA-equivalent (2 * H * v_head_dim)", with_commas(mha_f32).c_str(),
                with_commas(mha_bf16).c_str());
    std::printf("  MHA / ours = %.2fx\n", ratio);
    std::printf("memory per 1K tokens of context: %s as stored (F32), %s in bf16 (--kv-cache bf16; MHA-equivalent "
                "bf16: %s)\n",
                human_bytes(double(kv_f32) * 1024).c_str(), human_bytes(double(kv_bf16) * 1024).c_str(),
                human_bytes(double(mha_bf16) * 1024).c_str());
    return 0;
}

}  // namespace
}  // namespace cli

LATENT_COMMAND(info, "info MODEL [--json]", "architecture, parameters, memory, KV cache MLA vs MHA", cli::run_info);
