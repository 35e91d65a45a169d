// config.cpp — config.json -> ModelConfig (parsing, per-architecture defaults) and back (to_json_text).
//
// Defaults for absent fields follow transformers' configuration classes (DeepseekV2Config,
// DeepseekV3Config, Glm4MoeLiteConfig, read from transformers main); fields those classes do not have
// (topk_method/scoring_func/moe_layer_freq/aux_loss_alpha/seq_aux/num_nextn_predict_layers for V3,
// scoring_func/moe_layer_freq/aux_loss_alpha/seq_aux for V2) take DeepSeek's remote-code defaults
// (configuration_deepseek.py; from memory, not re-verified: marked (U) below).
//
// Glm4MoeLiteForCausalLM (GLM-4.7-Flash) differs from DeepSeek's field set:
//   - no topk_method / scoring_func: the model always routes like V3 (sigmoid + e_score_correction_bias,
//     noaux_tc), so those are the defaults; the fields are still honoured when a config.json has them;
//   - no first_k_dense_replace / moe_layer_freq: it has `mlp_layer_types` ["dense", "sparse", ...],
//     default one dense layer then sparse; we accept a leading-dense-then-sparse list and map it to
//     first_k_dense_replace (any other pattern -> kUnsupported);
//   - v_head_dim 256 != qk_nope_head_dim 192, q_lora_rank 768, rms_norm_eps 1e-5, routed_scaling_factor 1.8;
//   - transformers v5 writes RoPE as `rope_parameters` {rope_type, rope_theta, ...} instead of rope_theta +
//     rope_scaling; both spellings are accepted for every architecture (rope_scaling wins when both exist,
//     as in DeepseekV3Config). GLM's default rope_theta could not be verified (class default: 10000).
#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/config.h"
#include "engine/error.h"
#include "io/safetensors_header.h"  // parse_json_strict (rejects duplicate keys)

namespace engine {

namespace {

using nlohmann::json;

// Reads typed fields of one JSON object, naming `source` and the field in every error.
class FieldReader {
public:
    FieldReader(const json& obj, std::string source, std::string prefix = "")
        : obj_(obj), source_(std::move(source)), prefix_(std::move(prefix)) {}

    const json* find(const char* name) const {
        auto it = obj_.find(name);
        return it == obj_.end() || it->is_null() ? nullptr : &*it;
    }
    bool present(const char* name) const { return obj_.find(name) != obj_.end(); }
    bool is_null(const char* name) const {
        auto it = obj_.find(name);
        return it != obj_.end() && it->is_null();
    }

    int64_t integer(const char* name, int64_t def) const {
        const json* v = find(name);
        if (!v) return def;
        return to_int(*v, name);
    }
    int64_t to_int(const json& v, const std::string& name) const {
        if (v.is_number_unsigned()) {
            uint64_t u = v.get<uint64_t>();
            ENGINE_CHECK(u <= uint64_t(INT64_MAX), kBadFile, where(name), " = ", u, " is out of range");
            return int64_t(u);
        }
        if (v.is_number_integer()) return v.get<int64_t>();
        ENGINE_THROW(kBadFile, where(name), " is ", v.dump(), "; expected an integer");
    }
    double number(const char* name, double def) const {
        const json* v = find(name);
        if (!v) return def;
        ENGINE_CHECK(v->is_number(), kBadFile, where(name), " is ", v->dump(), "; expected a number");
        return v->get<double>();
    }
    bool boolean(const char* name, bool def) const {
        const json* v = find(name);
        if (!v) return def;
        ENGINE_CHECK(v->is_boolean(), kBadFile, where(name), " is ", v->dump(), "; expected true or false");
        return v->get<bool>();
    }
    std::string string(const char* name, const std::string& def) const {
        const json* v = find(name);
        if (!v) return def;
        ENGINE_CHECK(v->is_string(), kBadFile, where(name), " is ", v->dump(), "; expected a string");
        return v->get<std::string>();
    }
    std::string where(const std::string& name) const { return source_ + ": field '" + prefix_ + name + "'"; }
    const std::string& source() const { return source_; }

private:
    const json& obj_;
    std::string source_;
    std::string prefix_;
};

std::string architecture_for_model_type(const std::string& t) {
    if (t == "deepseek_v2") return "DeepseekV2ForCausalLM";
    if (t == "deepseek_v3") return "DeepseekV3ForCausalLM";
    if (t == "glm4_moe_lite") return "Glm4MoeLiteForCausalLM";
    if (t == "latent") return "LatentForCausalLM";
    return t.empty() ? std::string("(none)") : "(model_type '" + t + "')";
}

// The defaults of an absent field, per architecture (see the file comment for sources).
ModelConfig defaults_for(const std::string& arch) {
    ModelConfig c;
    c.architecture = arch;
    if (arch == "DeepseekV2ForCausalLM") {  // transformers DeepseekV2Config
        c.model_type = "deepseek_v2";
        c.vocab_size = 32000, c.hidden_size = 4096, c.intermediate_size = 11008, c.moe_intermediate_size = 1407;
        c.num_hidden_layers = 32, c.num_attention_heads = 32, c.q_lora_rank = 1536, c.kv_lora_rank = 512;
        c.qk_nope_head_dim = 128, c.qk_rope_head_dim = 64, c.v_head_dim = 128;
        c.n_shared_experts = 2, c.n_routed_experts = 64, c.num_experts_per_tok = 0;  // None in HF
        c.routed_scaling_factor = 1.0, c.topk_method = "greedy", c.n_group = 1, c.topk_group = 1;
        c.norm_topk_prob = false, c.first_k_dense_replace = 0;
        c.max_position_embeddings = 2048, c.rms_norm_eps = 1e-6, c.bos_token_id = 1, c.eos_token_ids = {2};
        c.scoring_func = "softmax", c.moe_layer_freq = 1, c.aux_loss_alpha = 0.001, c.seq_aux = true;  // (U)
        c.rope_interleave = true;  // V2 always rotates interleaved pairs
    } else if (arch == "Glm4MoeLiteForCausalLM") {  // transformers Glm4MoeLiteConfig
        c.model_type = "glm4_moe_lite";
        c.vocab_size = 154880, c.hidden_size = 2048, c.intermediate_size = 10240, c.moe_intermediate_size = 1536;
        c.num_hidden_layers = 47, c.num_attention_heads = 20, c.q_lora_rank = 768, c.kv_lora_rank = 512;
        c.qk_nope_head_dim = 192, c.qk_rope_head_dim = 64, c.v_head_dim = 256;
        c.n_shared_experts = 1, c.n_routed_experts = 64, c.num_experts_per_tok = 4, c.routed_scaling_factor = 1.8;
        c.n_group = 1, c.topk_group = 1, c.norm_topk_prob = true, c.first_k_dense_replace = 1;
        c.topk_method = "noaux_tc", c.scoring_func = "sigmoid", c.moe_layer_freq = 1;
        c.max_position_embeddings = 202752, c.rms_norm_eps = 1e-5, c.bos_token_id = 0, c.eos_token_ids = {1};
        c.rope_interleave = true;
    } else {  // DeepseekV3Config (also LatentForCausalLM and, until validate() rejects it, anything else)
        c.model_type = arch == "LatentForCausalLM" ? "latent" : "deepseek_v3";
        c.vocab_size = 129280, c.hidden_size = 7168, c.intermediate_size = 18432, c.moe_intermediate_size = 2048;
        c.num_hidden_layers = 61, c.num_attention_heads = 128, c.q_lora_rank = 1536, c.kv_lora_rank = 512;
        c.qk_nope_head_dim = 128, c.qk_rope_head_dim = 64, c.v_head_dim = 128;
        c.n_shared_experts = 1, c.n_routed_experts = 256, c.num_experts_per_tok = 8, c.routed_scaling_factor = 2.5;
        c.n_group = 8, c.topk_group = 4, c.norm_topk_prob = true, c.first_k_dense_replace = 3;
        c.max_position_embeddings = 4096, c.rms_norm_eps = 1e-6, c.bos_token_id = 0, c.eos_token_ids = {1};
        c.topk_method = "noaux_tc", c.scoring_func = "sigmoid", c.moe_layer_freq = 1;       // (U) remote code
        c.aux_loss_alpha = 0.001, c.seq_aux = true;                                         // (U) remote code
        // num_nextn_predict_layers: remote code defaults to 1, transformers has no such field (MTP weights are
        // ignored); absent = 0 so nothing expects MTP tensors a file may not have.
        c.rope_interleave = true;
    }
    c.num_key_value_heads = 0;  // filled from num_attention_heads after parsing
    c.rope_theta = 10000.0;
    return c;
}

// "rope_scaling" (or "rope_parameters") -> RopeScaling; nullopt for absent / null / rope_type "default".
std::optional<RopeScaling> parse_rope_scaling(const json& j, const std::string& source, const std::string& field) {
    if (j.is_null()) return std::nullopt;
    ENGINE_CHECK(j.is_object(), kBadFile, source, ": field '", field, "' is ", j.dump(),
                 "; expected an object such as {\"type\": \"yarn\", \"factor\": 40, ...} or null");
    FieldReader r(j, source, field + ".");
    std::string type = r.string("type", "");
    std::string rope_type = r.string("rope_type", "");
    ENGINE_CHECK(type.empty() || rope_type.empty() || type == rope_type, kBadFile, r.where("type"), " = '", type,
                 "' disagrees with '", field, ".rope_type' = '", rope_type, "'");
    if (type.empty()) type = rope_type;
    if (type.empty() || type == "default") return std::nullopt;
    ENGINE_CHECK(type == "yarn", kUnsupported, r.where("type"), " = '", type,
                 "' is not supported; DeepSeek-family models use \"yarn\" (or no rope_scaling)");
    RopeScaling s;
    s.type = "yarn";
    ENGINE_CHECK(r.find("factor") != nullptr, kBadFile, r.where("factor"), " is missing; yarn needs a factor >= 1");
    s.factor = r.number("factor", 1.0);
    s.original_max_position_embeddings = r.integer("original_max_position_embeddings", 4096);
    s.beta_fast = r.number("beta_fast", 32.0);
    s.beta_slow = r.number("beta_slow", 1.0);
    s.mscale = r.number("mscale", 1.0);
    s.mscale_all_dim = r.number("mscale_all_dim", 0.0);
    return s;
}

// Glm4MoeLite's mlp_layer_types -> first_k_dense_replace (leading "dense" then all "sparse").
int64_t first_k_from_layer_types(const json& j, int64_t layers, const FieldReader& r) {
    ENGINE_CHECK(j.is_array(), kBadFile, r.where("mlp_layer_types"), " is ", j.dump(),
                 "; expected a list of \"dense\" / \"sparse\"");
    ENGINE_CHECK(int64_t(j.size()) == layers, kBadFile, r.where("mlp_layer_types"), " has ", j.size(),
                 " entries; expected num_hidden_layers = ", layers);
    int64_t k = 0;
    while (k < layers && j[size_t(k)] == "dense") ++k;
    for (int64_t l = k; l < layers; ++l) {
        const json& t = j[size_t(l)];
        if (t == "sparse") continue;
        // "dense" after a "sparse" layer is well-formed but a pattern we do not run; anything else is malformed.
        throw Error(t == "dense" ? ErrorKind::kUnsupported : ErrorKind::kBadFile,
                    str_cat(r.where("mlp_layer_types"), "[", l, "] is ", t.dump(),
                            "; supported: leading \"dense\" layers, then only \"sparse\""),
                    __FILE__, __LINE__);
    }
    return k;
}

}  // namespace

ModelConfig ModelConfig::from_json_text(const std::string& text, const std::string& source) {
    json j = parse_json_strict(text.data(), text.data() + text.size(), source, "config");
    ENGINE_CHECK(j.is_object(), kBadFile, source, ": expected a JSON object, got ", j.type_name());
    FieldReader r(j, source);

    std::string arch;
    if (const json* a = r.find("architectures")) {
        ENGINE_CHECK(a->is_array() && !a->empty() && (*a)[0].is_string(), kBadFile, r.where("architectures"),
                     " is ", a->dump(), "; expected a list such as [\"DeepseekV3ForCausalLM\"]");
        arch = (*a)[0].get<std::string>();
    } else {
        arch = architecture_for_model_type(r.string("model_type", ""));
    }
    ModelConfig c = defaults_for(arch);
    c.model_type = r.string("model_type", c.model_type);

    c.vocab_size = r.integer("vocab_size", c.vocab_size);
    c.hidden_size = r.integer("hidden_size", c.hidden_size);
    c.intermediate_size = r.integer("intermediate_size", c.intermediate_size);
    c.moe_intermediate_size = r.integer("moe_intermediate_size", c.moe_intermediate_size);
    c.num_hidden_layers = r.integer("num_hidden_layers", c.num_hidden_layers);
    c.num_attention_heads = r.integer("num_attention_heads", c.num_attention_heads);
    c.num_key_value_heads = r.integer("num_key_value_heads", c.num_attention_heads);  // null/absent: = H
    c.q_lora_rank = r.is_null("q_lora_rank") ? 0 : r.integer("q_lora_rank", c.q_lora_rank);
    c.kv_lora_rank = r.integer("kv_lora_rank", c.kv_lora_rank);
    c.qk_nope_head_dim = r.integer("qk_nope_head_dim", c.qk_nope_head_dim);
    c.qk_rope_head_dim = r.integer("qk_rope_head_dim", c.qk_rope_head_dim);
    c.v_head_dim = r.integer("v_head_dim", c.v_head_dim);
    c.n_shared_experts = r.is_null("n_shared_experts") ? 0 : r.integer("n_shared_experts", c.n_shared_experts);
    c.n_routed_experts = r.is_null("n_routed_experts") ? 0 : r.integer("n_routed_experts", c.n_routed_experts);
    c.num_experts_per_tok = r.is_null("num_experts_per_tok") ? 0 : r.integer("num_experts_per_tok", c.num_experts_per_tok);
    c.routed_scaling_factor = r.number("routed_scaling_factor", c.routed_scaling_factor);
    c.topk_method = r.string("topk_method", c.topk_method);
    c.n_group = r.is_null("n_group") ? 1 : r.integer("n_group", c.n_group);  // None (V2 default): no groups
    c.topk_group = r.is_null("topk_group") ? 1 : r.integer("topk_group", c.topk_group);
    c.scoring_func = r.string("scoring_func", c.scoring_func);
    c.norm_topk_prob = r.boolean("norm_topk_prob", c.norm_topk_prob);
    c.first_k_dense_replace = r.integer("first_k_dense_replace", c.first_k_dense_replace);
    c.moe_layer_freq = r.integer("moe_layer_freq", c.moe_layer_freq);
    if (const json* lt = r.find("mlp_layer_types")) {
        int64_t k = first_k_from_layer_types(*lt, c.num_hidden_layers, r);
        ENGINE_CHECK(!r.find("first_k_dense_replace") || k == c.first_k_dense_replace, kBadFile,
                     r.where("mlp_layer_types"), " starts with ", k, " dense layers but first_k_dense_replace is ",
                     c.first_k_dense_replace);
        c.first_k_dense_replace = k;
        c.moe_layer_freq = 1;
    }

    c.rope_theta = r.number("rope_theta", c.rope_theta);
    c.rope_scaling.reset();
    if (const json* rp = r.find("rope_parameters")) {
        ENGINE_CHECK(rp->is_object(), kBadFile, r.where("rope_parameters"), " is ", rp->dump(), "; expected an object");
        FieldReader rr(*rp, source, "rope_parameters.");
        c.rope_theta = rr.number("rope_theta", c.rope_theta);
        c.rope_scaling = parse_rope_scaling(*rp, source, "rope_parameters");
    }
    if (const json* rs = r.find("rope_scaling")) c.rope_scaling = parse_rope_scaling(*rs, source, "rope_scaling");
    c.rope_interleave = r.boolean("rope_interleave", c.rope_interleave);
    c.max_position_embeddings = r.integer("max_position_embeddings", c.max_position_embeddings);
    c.rms_norm_eps = r.number("rms_norm_eps", c.rms_norm_eps);
    c.tie_word_embeddings = r.boolean("tie_word_embeddings", c.tie_word_embeddings);
    c.attention_bias = r.boolean("attention_bias", c.attention_bias);
    c.hidden_act = r.string("hidden_act", c.hidden_act);
    if (r.present("bos_token_id")) {
        const json* b = r.find("bos_token_id");
        c.bos_token_id = b ? std::optional<int64_t>(r.to_int(*b, "bos_token_id")) : std::nullopt;
    }
    if (r.present("eos_token_id")) {
        c.eos_token_ids.clear();
        if (const json* e = r.find("eos_token_id")) {
            if (e->is_array()) {
                for (size_t i = 0; i < e->size(); ++i)
                    c.eos_token_ids.push_back(r.to_int((*e)[i], "eos_token_id[" + std::to_string(i) + "]"));
            } else {
                c.eos_token_ids.push_back(r.to_int(*e, "eos_token_id"));
            }
        }
    }
    c.aux_loss_alpha = r.number("aux_loss_alpha", c.aux_loss_alpha);
    c.seq_aux = r.boolean("seq_aux", c.seq_aux);
    c.num_nextn_predict_layers = r.integer("num_nextn_predict_layers", c.num_nextn_predict_layers);
    c.torch_dtype = r.string("torch_dtype", r.string("dtype", ""));

    if (c.architecture == "LatentForCausalLM") {
        const std::string rk = r.string("residual_kind", "residual");
        if (rk == "residual") c.residual_kind = ResidualKind::kResidual;
        else if (rk == "hc") c.residual_kind = ResidualKind::kHC;
        else if (rk == "mhc") c.residual_kind = ResidualKind::kMHC;
        else ENGINE_THROW(kBadFile, r.where("residual_kind"), " = '", rk, "'; expected \"residual\", \"hc\" or \"mhc\"");
        const std::string ak = r.string("attention_kind", "mla");
        if (ak == "mla") c.attention_kind = AttentionKind::kMLA;
        else if (ak == "mha") c.attention_kind = AttentionKind::kMHA;
        else ENGINE_THROW(kBadFile, r.where("attention_kind"), " = '", ak, "'; expected \"mla\" or \"mha\"");
        c.hc_mult = r.integer("hc_mult", c.hc_mult);
        c.hc_sinkhorn_iters = r.integer("hc_sinkhorn_iters", c.hc_sinkhorn_iters);
        c.hc_eps = r.number("hc_eps", c.hc_eps);
        c.hc_paper_form = r.boolean("hc_paper_form", c.hc_paper_form);
    }
    c.validate(source);
    return c;
}

ModelConfig ModelConfig::from_file(const std::filesystem::path& config_json) {
    std::ifstream in(config_json, std::ios::binary);
    ENGINE_CHECK(in.good(), kIo, "cannot open '", config_json.string(), "'; a model folder needs a config.json");
    std::ostringstream s;
    s << in.rdbuf();
    ENGINE_CHECK(!in.bad(), kIo, "cannot read '", config_json.string(), "'");
    return from_json_text(s.str(), config_json.string());
}

std::string ModelConfig::to_json_text() const {
    nlohmann::ordered_json j;
    j["architectures"] = {architecture};
    j["model_type"] = model_type;
    j["vocab_size"] = vocab_size;
    j["hidden_size"] = hidden_size;
    j["intermediate_size"] = intermediate_size;
    j["moe_intermediate_size"] = moe_intermediate_size;
    j["num_hidden_layers"] = num_hidden_layers;
    j["num_attention_heads"] = num_attention_heads;
    j["num_key_value_heads"] = num_key_value_heads;
    j["q_lora_rank"] = q_lora_rank > 0 ? json(q_lora_rank) : json(nullptr);
    j["kv_lora_rank"] = kv_lora_rank;
    j["qk_nope_head_dim"] = qk_nope_head_dim;
    j["qk_rope_head_dim"] = qk_rope_head_dim;
    j["v_head_dim"] = v_head_dim;
    j["n_shared_experts"] = n_shared_experts;
    j["n_routed_experts"] = n_routed_experts;
    j["num_experts_per_tok"] = num_experts_per_tok;
    j["routed_scaling_factor"] = routed_scaling_factor;
    j["topk_method"] = topk_method;
    j["n_group"] = n_group;
    j["topk_group"] = topk_group;
    j["scoring_func"] = scoring_func;
    j["norm_topk_prob"] = norm_topk_prob;
    j["first_k_dense_replace"] = first_k_dense_replace;
    j["moe_layer_freq"] = moe_layer_freq;
    j["rope_theta"] = rope_theta;
    if (rope_scaling) {
        j["rope_scaling"] = {{"type", rope_scaling->type},
                             {"factor", rope_scaling->factor},
                             {"original_max_position_embeddings", rope_scaling->original_max_position_embeddings},
                             {"beta_fast", rope_scaling->beta_fast},
                             {"beta_slow", rope_scaling->beta_slow},
                             {"mscale", rope_scaling->mscale},
                             {"mscale_all_dim", rope_scaling->mscale_all_dim}};
    } else {
        j["rope_scaling"] = nullptr;
    }
    j["rope_interleave"] = rope_interleave;
    j["max_position_embeddings"] = max_position_embeddings;
    j["rms_norm_eps"] = rms_norm_eps;
    j["tie_word_embeddings"] = tie_word_embeddings;
    j["attention_bias"] = attention_bias;
    j["hidden_act"] = hidden_act;
    j["bos_token_id"] = bos_token_id ? json(*bos_token_id) : json(nullptr);
    if (eos_token_ids.size() == 1) j["eos_token_id"] = eos_token_ids[0];
    else if (eos_token_ids.empty()) j["eos_token_id"] = nullptr;
    else j["eos_token_id"] = eos_token_ids;
    j["aux_loss_alpha"] = aux_loss_alpha;
    j["seq_aux"] = seq_aux;
    j["num_nextn_predict_layers"] = num_nextn_predict_layers;
    if (!torch_dtype.empty()) j["torch_dtype"] = torch_dtype;
    if (architecture == "LatentForCausalLM") {
        j["residual_kind"] = residual_kind == ResidualKind::kResidual ? "residual"
                             : residual_kind == ResidualKind::kHC     ? "hc"
                                                                      : "mhc";
        j["attention_kind"] = attention_kind == AttentionKind::kMLA ? "mla" : "mha";
        j["hc_mult"] = hc_mult;
        j["hc_sinkhorn_iters"] = hc_sinkhorn_iters;
        j["hc_eps"] = hc_eps;
        j["hc_paper_form"] = hc_paper_form;
    }
    return j.dump(2) + "\n";
}

}  // namespace engine
