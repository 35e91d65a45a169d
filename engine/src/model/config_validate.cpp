// config_validate.cpp — ModelConfig::validate, is_moe_layer, router_params.
//
// validate() turns NaN / non-positive / absurd values and inconsistent MoE settings into
// Error(kBadFile) naming `<source>: field '<name>'` and the expected range, and an architecture we do not
// run into Error(kUnsupported) listing the supported ones. Limits are generous sanity bounds, far above
// any released model (V3: 128 heads, 61 layers, 256 experts), low enough that products cannot overflow.
#include <cmath>

#include "engine/config.h"
#include "engine/error.h"

namespace engine {

namespace {

constexpr int64_t kMaxVocab = 10'000'000;
constexpr int64_t kMaxLayers = 1000;
constexpr int64_t kMaxHeads = 65536;
constexpr int64_t kMaxWidth = 1 << 20;    // hidden / intermediate / lora ranks
constexpr int64_t kMaxHeadDim = 4096;
constexpr int64_t kMaxExperts = 65536;
constexpr int64_t kMaxPositions = 1LL << 30;

class Checker {
public:
    explicit Checker(const std::string& source) : source_(source) {}

    void range(const char* field, int64_t v, int64_t lo, int64_t hi, const char* why = "") const {
        ENGINE_CHECK(v >= lo && v <= hi, kBadFile, source_, ": field '", field, "' = ", v, " is out of range; expected ",
                     lo, " <= ", field, " <= ", hi, why);
    }
    void finite_positive(const char* field, double v) const {
        ENGINE_CHECK(std::isfinite(v) && v > 0, kBadFile, source_, ": field '", field, "' = ", v,
                     "; expected a finite number > 0");
    }
    void finite_nonneg(const char* field, double v) const {
        ENGINE_CHECK(std::isfinite(v) && v >= 0, kBadFile, source_, ": field '", field, "' = ", v,
                     "; expected a finite number >= 0");
    }
    void require(bool ok, const char* field, const std::string& msg) const {
        ENGINE_CHECK(ok, kBadFile, source_, ": field '", field, "' ", msg);
    }
    // a·b·c must fit in int64 (sizes of the weight matrices built from these fields).
    void product_fits(const char* what, std::initializer_list<int64_t> factors) const {
        int64_t p = 1;
        for (int64_t f : factors)
            ENGINE_CHECK(!__builtin_mul_overflow(p, f, &p), kBadFile, source_, ": ", what,
                         " overflows 64 bits; the config's sizes are not plausible");
    }

private:
    const std::string& source_;
};

bool one_of(const std::string& s, std::initializer_list<const char*> options) {
    for (const char* o : options)
        if (s == o) return true;
    return false;
}

}  // namespace

void ModelConfig::validate(const std::string& source) const {
    ENGINE_CHECK(one_of(architecture, {"DeepseekV2ForCausalLM", "DeepseekV3ForCausalLM", "Glm4MoeLiteForCausalLM",
                                       "LatentForCausalLM"}),
                 kUnsupported, source, ": architecture '", architecture,
                 "' is not supported; supported: DeepseekV2ForCausalLM, DeepseekV3ForCausalLM, "
                 "Glm4MoeLiteForCausalLM, LatentForCausalLM");
    Checker c(source);
    c.range("vocab_size", vocab_size, 1, kMaxVocab);
    c.range("hidden_size", hidden_size, 1, kMaxWidth);
    c.range("intermediate_size", intermediate_size, 1, kMaxWidth);
    c.range("num_hidden_layers", num_hidden_layers, 1, kMaxLayers);
    c.range("num_attention_heads", num_attention_heads, 1, kMaxHeads);
    c.range("num_key_value_heads", num_key_value_heads, 1, num_attention_heads, " (num_attention_heads)");
    c.range("q_lora_rank", q_lora_rank, 0, kMaxWidth, " (0 / null = plain q_proj)");
    c.range("kv_lora_rank", kv_lora_rank, attention_kind == AttentionKind::kMLA ? 1 : 0, kMaxWidth);
    c.range("qk_nope_head_dim", qk_nope_head_dim, 1, kMaxHeadDim);
    c.range("qk_rope_head_dim", qk_rope_head_dim, 2, kMaxHeadDim);
    c.require(qk_rope_head_dim % 2 == 0, "qk_rope_head_dim",
              "= " + std::to_string(qk_rope_head_dim) + " is odd; RoPE rotates pairs, expected an even number");
    c.range("v_head_dim", v_head_dim, 1, kMaxHeadDim);
    c.product_fits("num_attention_heads × qk_head_dim × hidden_size",
                   {num_attention_heads, qk_head_dim(), std::max(hidden_size, q_lora_rank)});
    c.product_fits("num_attention_heads × (qk_nope_head_dim + v_head_dim) × kv_lora_rank",
                   {num_attention_heads, qk_nope_head_dim + v_head_dim, std::max<int64_t>(kv_lora_rank, 1)});
    c.product_fits("vocab_size × hidden_size", {vocab_size, hidden_size});

    // ---- MoE ----
    c.range("n_shared_experts", n_shared_experts, 0, kMaxExperts);
    c.range("n_routed_experts", n_routed_experts, 0, kMaxExperts, " (0 = dense model)");
    c.require(one_of(topk_method, {"greedy", "group_limited_greedy", "noaux_tc"}), "topk_method",
              "= '" + topk_method + "' is unknown; expected greedy, group_limited_greedy or noaux_tc");
    c.require(one_of(scoring_func, {"softmax", "sigmoid"}), "scoring_func",
              "= '" + scoring_func + "' is unknown; expected softmax or sigmoid");
    c.range("first_k_dense_replace", first_k_dense_replace, 0, num_hidden_layers, " (num_hidden_layers)");
    c.range("moe_layer_freq", moe_layer_freq, 1, num_hidden_layers, " (num_hidden_layers)");
    if (n_routed_experts > 0) {
        c.range("moe_intermediate_size", moe_intermediate_size, 1, kMaxWidth);
        c.range("num_experts_per_tok", num_experts_per_tok, 1, n_routed_experts, " (n_routed_experts)");
        c.range("n_group", n_group, 1, n_routed_experts, " (n_routed_experts)");
        c.require(n_routed_experts % n_group == 0, "n_group",
                  "= " + std::to_string(n_group) + " does not divide n_routed_experts = " +
                      std::to_string(n_routed_experts) + "; expected a divisor");
        c.range("topk_group", topk_group, 1, n_group, " (n_group)");
        const int64_t per_group = n_routed_experts / n_group;
        c.require(topk_group * per_group >= num_experts_per_tok, "topk_group",
                  "= " + std::to_string(topk_group) + " keeps only " + std::to_string(topk_group * per_group) +
                      " experts, fewer than num_experts_per_tok = " + std::to_string(num_experts_per_tok));
        c.require(!(topk_method == "noaux_tc" && n_group > 1 && per_group < 2), "n_group",
                  "= " + std::to_string(n_group) + " leaves " + std::to_string(per_group) +
                      " expert per group; noaux_tc scores a group by its top-2, expected >= 2 per group");
        c.finite_positive("routed_scaling_factor", routed_scaling_factor);
        c.product_fits("n_routed_experts × moe_intermediate_size × hidden_size",
                       {n_routed_experts, moe_intermediate_size, hidden_size, 3});
    } else {
        c.range("num_experts_per_tok", num_experts_per_tok, 0, 0, " for a dense model (n_routed_experts = 0)");
    }
    c.finite_nonneg("aux_loss_alpha", aux_loss_alpha);
    c.range("num_nextn_predict_layers", num_nextn_predict_layers, 0, 16);

    // ---- positions, norms, misc ----
    c.finite_positive("rope_theta", rope_theta);
    if (rope_scaling) {
        c.require(rope_scaling->type == "yarn", "rope_scaling.type", "= '" + rope_scaling->type + "'; expected yarn");
        c.require(std::isfinite(rope_scaling->factor) && rope_scaling->factor >= 1.0, "rope_scaling.factor",
                  "= " + std::to_string(rope_scaling->factor) + "; expected a finite number >= 1");
        c.range("rope_scaling.original_max_position_embeddings", rope_scaling->original_max_position_embeddings, 1,
                kMaxPositions);
        c.finite_positive("rope_scaling.beta_fast", rope_scaling->beta_fast);
        c.finite_positive("rope_scaling.beta_slow", rope_scaling->beta_slow);
        c.finite_nonneg("rope_scaling.mscale", rope_scaling->mscale);
        c.finite_nonneg("rope_scaling.mscale_all_dim", rope_scaling->mscale_all_dim);
    }
    c.range("max_position_embeddings", max_position_embeddings, 1, kMaxPositions);
    c.require(std::isfinite(rms_norm_eps) && rms_norm_eps > 0 && rms_norm_eps < 1, "rms_norm_eps",
              "= " + std::to_string(rms_norm_eps) + "; expected 0 < rms_norm_eps < 1 (e.g. 1e-6)");
    c.require(!attention_bias, "attention_bias", "is true; DeepSeek-family attention has no biases, expected false");
    c.require(hidden_act == "silu", "hidden_act", "= '" + hidden_act + "'; only silu (SwiGLU) is supported");
    if (bos_token_id) c.range("bos_token_id", *bos_token_id, 0, vocab_size - 1, " (vocab_size - 1)");
    for (int64_t e : eos_token_ids) c.range("eos_token_id", e, 0, vocab_size - 1, " (vocab_size - 1)");

    // ---- our family ----
    if (architecture == "LatentForCausalLM") {
        c.range("hc_mult", hc_mult, residual_kind == ResidualKind::kResidual ? 1 : 2, 64,
                residual_kind == ResidualKind::kResidual ? "" : " (hc / mhc need at least 2 streams)");
        c.range("hc_sinkhorn_iters", hc_sinkhorn_iters, 1, 1000);
        c.require(std::isfinite(hc_eps) && hc_eps > 0 && hc_eps < 1, "hc_eps",
                  "= " + std::to_string(hc_eps) + "; expected 0 < hc_eps < 1");
    }
}

bool ModelConfig::is_moe_layer(int64_t layer) const {
    return n_routed_experts > 0 && layer >= first_k_dense_replace && moe_layer_freq > 0 && layer % moe_layer_freq == 0;
}

RouterParams ModelConfig::router_params() const {
    RouterParams p;
    p.scoring = scoring_func == "sigmoid" ? RouterParams::Scoring::kSigmoid : RouterParams::Scoring::kSoftmax;
    p.method = topk_method == "noaux_tc"               ? RouterParams::Method::kNoauxTc
               : topk_method == "group_limited_greedy" ? RouterParams::Method::kGroupLimitedGreedy
                                                       : RouterParams::Method::kGreedy;
    p.n_routed_experts = int(n_routed_experts);
    p.top_k = int(num_experts_per_tok);
    p.n_group = int(n_group);
    p.topk_group = int(topk_group);
    p.norm_topk_prob = norm_topk_prob;
    p.routed_scaling_factor = float(routed_scaling_factor);
    return p;
}

}  // namespace engine
