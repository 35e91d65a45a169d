// tiny_checkpoint.h — test helper: tiny random DeepSeek-family checkpoints in the exact HF layout
// (deepseek-arch.md §5, docs/model-family.md), held in memory (MemoryStore) or written to a folder
// (model.safetensors via save_safetensors + a hand-written config.json with HF field names).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "engine/config.h"
#include "engine/error.h"
#include "engine/weights.h"

namespace tiny {

using engine::DType;
using engine::ModelConfig;
using engine::TensorView;

struct HostTensor {
    std::vector<int64_t> shape;
    DType dtype = DType::F32;
    std::vector<uint8_t> bytes;
    TensorView view() const {
        return TensorView::contiguous(const_cast<uint8_t*>(bytes.data()), dtype, shape.data(), int(shape.size()));
    }
};

using TensorMap = std::map<std::string, HostTensor>;

// A WeightStore over host tensors (tests only).
class MemoryStore final : public engine::WeightStore {
public:
    explicit MemoryStore(TensorMap t) : t_(std::move(t)) {}
    bool has(std::string_view name) const override { return t_.count(std::string(name)) > 0; }
    TensorView get(std::string_view name) const override {
        auto it = t_.find(std::string(name));
        if (it == t_.end()) ENGINE_THROW(kBadFile, "memory: tensor '", name, "' is missing");
        return it->second.view();
    }
    TensorView get(std::string_view name, std::initializer_list<int64_t> expected) const override {
        TensorView v = get(name);
        if (std::vector<int64_t>(v.shape.begin(), v.shape.begin() + v.ndim) != std::vector<int64_t>(expected))
            ENGINE_THROW(kBadFile, "memory: tensor '", name, "' has shape ", v.shape_str());
        return v;
    }
    std::vector<engine::TensorInfo> tensors() const override {
        std::vector<engine::TensorInfo> out;
        for (auto& [k, v] : t_) out.push_back({k, v.dtype, v.shape, "memory"});
        return out;
    }
    const std::map<std::string, std::string>& metadata() const override { return meta_; }
    std::filesystem::path root() const override { return "memory"; }
    // Like a store opened with Fp8Load::kKeep: an F8_E4M3 tensor's "<name>_scale_inv" sibling.
    TensorView fp8_scale(std::string_view name) const override {
        auto w = t_.find(std::string(name));
        auto s = t_.find(std::string(name) + "_scale_inv");
        if (w == t_.end() || w->second.dtype != DType::F8_E4M3 || s == t_.end()) return {};
        return s->second.view();
    }

private:
    TensorMap t_;
    std::map<std::string, std::string> meta_;
};

// ---- configs ----

inline ModelConfig base_config() {
    ModelConfig c;
    c.architecture = "DeepseekV2ForCausalLM";
    c.model_type = "deepseek_v2";
    c.vocab_size = 64;
    c.hidden_size = 32;
    c.intermediate_size = 48;
    c.moe_intermediate_size = 16;
    c.num_hidden_layers = 3;
    c.num_attention_heads = 2;
    c.num_key_value_heads = 2;
    c.q_lora_rank = 0;
    c.kv_lora_rank = 16;
    c.qk_nope_head_dim = 8;
    c.qk_rope_head_dim = 8;
    c.v_head_dim = 12;  // ≠ qk_nope (as GLM) so a transposed W_UK / W_UV would be caught
    c.n_shared_experts = 1;
    c.n_routed_experts = 8;
    c.num_experts_per_tok = 2;
    c.routed_scaling_factor = 1.0;
    c.topk_method = "greedy";
    c.scoring_func = "softmax";
    c.first_k_dense_replace = 1;
    c.max_position_embeddings = 256;
    c.rms_norm_eps = 1e-6;
    return c;
}

// V2-Lite style: no q_lora_rank, softmax + greedy, no YaRN.
inline ModelConfig v2_config() { return base_config(); }

// V3 style: q_lora_rank, YaRN (with a blend range inside d_r/2 = 4), sigmoid + noaux_tc with groups + bias.
inline ModelConfig v3_config() {
    ModelConfig c = base_config();
    c.architecture = "DeepseekV3ForCausalLM";
    c.model_type = "deepseek_v3";
    c.q_lora_rank = 12;
    c.topk_method = "noaux_tc";
    c.scoring_func = "sigmoid";
    c.n_group = 4;
    c.topk_group = 2;
    c.norm_topk_prob = true;
    c.routed_scaling_factor = 2.5;
    engine::RopeScaling y;
    y.type = "yarn";
    y.factor = 4.0;
    y.original_max_position_embeddings = 64;
    y.beta_fast = 32.0;
    y.beta_slow = 1.0;
    y.mscale = 0.707;
    y.mscale_all_dim = 0.707;
    c.rope_scaling = y;
    return c;
}

inline ModelConfig latent_config(engine::ResidualKind kind, engine::AttentionKind attn = engine::AttentionKind::kMLA) {
    ModelConfig c = v3_config();
    c.architecture = "LatentForCausalLM";
    c.model_type = "latent";
    c.residual_kind = kind;
    c.attention_kind = attn;
    c.hc_mult = 3;
    c.hc_sinkhorn_iters = 20;
    c.hc_eps = 1e-6;
    return c;
}

// ---- random tensors in HF layout ----

inline HostTensor make_f32(std::vector<int64_t> shape, std::mt19937& rng, float mean, float std) {
    HostTensor t;
    t.shape = std::move(shape);
    int64_t n = 1;
    for (int64_t s : t.shape) n *= s;
    t.bytes.resize(size_t(n) * 4);
    std::normal_distribution<float> d(mean, std);
    auto* p = reinterpret_cast<float*>(t.bytes.data());
    for (int64_t i = 0; i < n; ++i) p[i] = d(rng);
    return t;
}

inline HostTensor to_bf16(const HostTensor& f) {
    HostTensor t;
    t.shape = f.shape;
    t.dtype = DType::BF16;
    const size_t n = f.bytes.size() / 4;
    t.bytes.resize(n * 2);
    auto* src = reinterpret_cast<const float*>(f.bytes.data());
    auto* dst = reinterpret_cast<uint16_t*>(t.bytes.data());
    for (size_t i = 0; i < n; ++i) dst[i] = engine::f32_to_bf16(src[i]);
    return t;
}

inline TensorMap random_weights(const ModelConfig& c, uint32_t seed) {
    std::mt19937 rng(seed);
    TensorMap m;
    const int64_t D = c.hidden_size, V = c.vocab_size, H = c.num_attention_heads;
    const int64_t d_n = c.qk_nope_head_dim, d_r = c.qk_rope_head_dim, d_v = c.v_head_dim, d_qk = d_n + d_r;
    const int64_t r_kv = c.kv_lora_rank, r_q = c.q_lora_rank, n = c.hc_mult;
    auto w = [&](const std::string& name, std::vector<int64_t> shape) {
        const float fan_in = float(shape.back());
        m[name] = make_f32(std::move(shape), rng, 0.0f, 1.0f / std::sqrt(fan_in));
    };
    auto norm = [&](const std::string& name, int64_t d) { m[name] = make_f32({d}, rng, 1.0f, 0.1f); };
    const bool hc = c.residual_kind != engine::ResidualKind::kResidual;
    m["model.embed_tokens.weight"] = make_f32({V, D}, rng, 0.0f, 1.0f);
    norm("model.norm.weight", D);
    if (!c.tie_word_embeddings) w("lm_head.weight", {V, D});
    auto hcw = [&](const std::string& p, int64_t rows, int64_t nscale, int64_t l) {
        m[p + "fn"] = make_f32({rows, n * D}, rng, 0.0f, 0.3f);
        HostTensor base = make_f32({rows}, rng, 0.0f, 0.5f);
        auto* b = reinterpret_cast<float*>(base.bytes.data());
        if (rows > n) {  // a perturbed version of the documented init, so streams differ
            const bool mhc = c.residual_kind == engine::ResidualKind::kMHC;
            for (int64_t i = 0; i < n; ++i) b[i] += mhc ? (i == l % n ? 2.0f : -2.0f) : (i == l % n ? 1.0f : 0.0f);
            for (int64_t i = 0; i < n; ++i) b[n + i] += mhc ? 0.0f : 1.0f;
            for (int64_t i = 0; i < n; ++i) b[2 * n + i * n + i] += mhc ? 3.0f : 1.0f;
        }
        m[p + "base"] = base;
        m[p + "scale"] = make_f32({nscale}, rng, 0.5f, 0.2f);
    };
    if (hc) hcw("model.hc_head.", n, 1, 0);
    for (int64_t l = 0; l < c.num_hidden_layers + c.num_nextn_predict_layers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        norm(p + "input_layernorm.weight", D);
        norm(p + "post_attention_layernorm.weight", D);
        const std::string s = p + "self_attn.";
        if (c.attention_kind == engine::AttentionKind::kMHA) {
            w(s + "q_proj.weight", {H * d_qk, D});
            w(s + "k_proj.weight", {H * d_qk, D});
            w(s + "v_proj.weight", {H * d_v, D});
        } else {
            if (r_q == 0) {
                w(s + "q_proj.weight", {H * d_qk, D});
            } else {
                w(s + "q_a_proj.weight", {r_q, D});
                norm(s + "q_a_layernorm.weight", r_q);
                w(s + "q_b_proj.weight", {H * d_qk, r_q});
            }
            w(s + "kv_a_proj_with_mqa.weight", {r_kv + d_r, D});
            norm(s + "kv_a_layernorm.weight", r_kv);
            w(s + "kv_b_proj.weight", {H * (d_n + d_v), r_kv});
        }
        w(s + "o_proj.weight", {D, H * d_v});
        const std::string mp = p + "mlp.";
        const bool moe = c.n_routed_experts > 0 && l >= c.first_k_dense_replace && l % c.moe_layer_freq == 0;
        if (moe) {
            const int64_t E = c.n_routed_experts, I = c.moe_intermediate_size;
            m[mp + "gate.weight"] = make_f32({E, D}, rng, 0.0f, 0.5f);
            if (c.topk_method == "noaux_tc") m[mp + "gate.e_score_correction_bias"] = make_f32({E}, rng, 0.0f, 0.1f);
            for (int64_t e = 0; e < E; ++e) {
                const std::string ep = mp + "experts." + std::to_string(e) + ".";
                w(ep + "gate_proj.weight", {I, D});
                w(ep + "up_proj.weight", {I, D});
                w(ep + "down_proj.weight", {D, I});
            }
            if (c.n_shared_experts > 0) {
                const int64_t Is = c.n_shared_experts * I;
                w(mp + "shared_experts.gate_proj.weight", {Is, D});
                w(mp + "shared_experts.up_proj.weight", {Is, D});
                w(mp + "shared_experts.down_proj.weight", {D, Is});
            }
        } else {
            w(mp + "gate_proj.weight", {c.intermediate_size, D});
            w(mp + "up_proj.weight", {c.intermediate_size, D});
            w(mp + "down_proj.weight", {D, c.intermediate_size});
        }
        if (hc) {
            hcw(p + "attn_hc.", n * n + 2 * n, 3, 2 * l);
            hcw(p + "ffn_hc.", n * n + 2 * n, 3, 2 * l + 1);
        }
    }
    return m;
}

// ---- FP8 (DeepSeek-V3 layout): E4M3 weights with F32 128x128 block scales "<name>_scale_inv" ----

// E4M3 "fn" decoded from its definition (independent of the engine's table).
inline float e4m3_value(uint8_t v) {
    const int exp = (v >> 3) & 0xf, man = v & 7;
    if (exp == 15 && man == 7) return NAN;
    const float mag = exp == 0 ? std::ldexp(float(man) / 8.0f, -6) : std::ldexp(1.0f + float(man) / 8.0f, exp - 7);
    return (v & 0x80) ? -mag : mag;
}

// Every 2-D projection weight ("*_proj.weight": attention, dense MLP, experts) quantized the way
// DeepSeek-V3's checkpoints are: per 128x128 block, scale = amax / 448 and each weight rounded to the
// nearest E4M3 value of w / scale. Embeddings, norms, the router and lm_head stay as they are.
inline TensorMap to_fp8(const TensorMap& m) {
    std::vector<float> mags;  // the 127 finite non-negative E4M3 values, ascending with their codes
    for (int code = 0; code < 127; ++code) mags.push_back(e4m3_value(uint8_t(code)));
    TensorMap out;
    for (const auto& [name, t] : m) {
        const bool proj = name.size() > 12 && name.compare(name.size() - 12, 12, "_proj.weight") == 0;
        if (!proj || t.shape.size() != 2 || t.dtype != DType::F32) {
            out[name] = t;
            continue;
        }
        const int64_t R = t.shape[0], C = t.shape[1], br = (R + 127) / 128, bc = (C + 127) / 128;
        const auto* w = reinterpret_cast<const float*>(t.bytes.data());
        HostTensor q{{R, C}, DType::F8_E4M3, std::vector<uint8_t>(size_t(R * C))};
        HostTensor sc{{br, bc}, DType::F32, std::vector<uint8_t>(size_t(br * bc) * 4)};
        auto* scale = reinterpret_cast<float*>(sc.bytes.data());
        for (int64_t bi = 0; bi < br; ++bi)
            for (int64_t bj = 0; bj < bc; ++bj) {
                float amax = 0;
                for (int64_t i = bi * 128; i < std::min(R, bi * 128 + 128); ++i)
                    for (int64_t j = bj * 128; j < std::min(C, bj * 128 + 128); ++j)
                        amax = std::max(amax, std::fabs(w[i * C + j]));
                const float s = amax > 0 ? amax / 448.0f : 1.0f;
                scale[bi * bc + bj] = s;
                for (int64_t i = bi * 128; i < std::min(R, bi * 128 + 128); ++i)
                    for (int64_t j = bj * 128; j < std::min(C, bj * 128 + 128); ++j) {
                        const float a = std::min(std::fabs(w[i * C + j]) / s, 448.0f);
                        size_t k = size_t(std::lower_bound(mags.begin(), mags.end(), a) - mags.begin());
                        if (k > 0 && (k == mags.size() || a - mags[k - 1] <= mags[k] - a)) --k;
                        q.bytes[size_t(i * C + j)] = uint8_t(k | (w[i * C + j] < 0 ? 0x80 : 0));
                    }
            }
        out[name] = std::move(q);
        out[name + "_scale_inv"] = std::move(sc);
    }
    return out;
}

// What a loader must make of to_fp8's output: BF16 = round(e4m3 · block scale), scales dropped.
inline TensorMap dequantized_fp8(const TensorMap& m) {
    TensorMap out;
    for (const auto& [name, t] : m) {
        if (name.size() > 10 && name.compare(name.size() - 10, 10, "_scale_inv") == 0) continue;
        if (t.dtype != DType::F8_E4M3) {
            out[name] = t;
            continue;
        }
        const int64_t R = t.shape[0], C = t.shape[1], bc = (C + 127) / 128;
        const auto* scale = reinterpret_cast<const float*>(m.at(name + "_scale_inv").bytes.data());
        HostTensor b{{R, C}, DType::BF16, std::vector<uint8_t>(size_t(R * C) * 2)};
        auto* dst = reinterpret_cast<uint16_t*>(b.bytes.data());
        for (int64_t i = 0; i < R; ++i)
            for (int64_t j = 0; j < C; ++j)
                dst[i * C + j] = engine::f32_to_bf16(e4m3_value(t.bytes[size_t(i * C + j)]) * scale[(i / 128) * bc + j / 128]);
        out[name] = std::move(b);
    }
    return out;
}

// config.json text with HF field names (written by hand here, so the parser is exercised too).
inline std::string config_json(const ModelConfig& c) {
    nlohmann::json j;
    j["architectures"] = {c.architecture};
    j["model_type"] = c.model_type;
    j["vocab_size"] = c.vocab_size;
    j["hidden_size"] = c.hidden_size;
    j["intermediate_size"] = c.intermediate_size;
    j["moe_intermediate_size"] = c.moe_intermediate_size;
    j["num_hidden_layers"] = c.num_hidden_layers;
    j["num_attention_heads"] = c.num_attention_heads;
    j["num_key_value_heads"] = c.num_key_value_heads;
    j["q_lora_rank"] = c.q_lora_rank == 0 ? nlohmann::json(nullptr) : nlohmann::json(c.q_lora_rank);
    j["kv_lora_rank"] = c.kv_lora_rank;
    j["qk_nope_head_dim"] = c.qk_nope_head_dim;
    j["qk_rope_head_dim"] = c.qk_rope_head_dim;
    j["v_head_dim"] = c.v_head_dim;
    j["n_shared_experts"] = c.n_shared_experts;
    j["n_routed_experts"] = c.n_routed_experts;
    j["num_experts_per_tok"] = c.num_experts_per_tok;
    j["routed_scaling_factor"] = c.routed_scaling_factor;
    j["topk_method"] = c.topk_method;
    j["n_group"] = c.n_group;
    j["topk_group"] = c.topk_group;
    j["scoring_func"] = c.scoring_func;
    j["norm_topk_prob"] = c.norm_topk_prob;
    j["first_k_dense_replace"] = c.first_k_dense_replace;
    j["moe_layer_freq"] = c.moe_layer_freq;
    j["rope_theta"] = c.rope_theta;
    j["rope_interleave"] = c.rope_interleave;
    j["max_position_embeddings"] = c.max_position_embeddings;
    j["rms_norm_eps"] = c.rms_norm_eps;
    j["tie_word_embeddings"] = c.tie_word_embeddings;
    j["attention_bias"] = false;
    j["hidden_act"] = "silu";
    j["bos_token_id"] = 0;
    j["eos_token_id"] = 1;
    j["num_nextn_predict_layers"] = c.num_nextn_predict_layers;
    j["torch_dtype"] = "float32";
    if (c.rope_scaling) {
        const auto& y = *c.rope_scaling;
        j["rope_scaling"] = {{"type", y.type},
                             {"factor", y.factor},
                             {"original_max_position_embeddings", y.original_max_position_embeddings},
                             {"beta_fast", y.beta_fast},
                             {"beta_slow", y.beta_slow},
                             {"mscale", y.mscale},
                             {"mscale_all_dim", y.mscale_all_dim}};
    } else {
        j["rope_scaling"] = nullptr;
    }
    if (c.architecture == "LatentForCausalLM") {
        const char* rk[] = {"residual", "hc", "mhc"};
        j["residual_kind"] = rk[int(c.residual_kind)];
        j["attention_kind"] = c.attention_kind == engine::AttentionKind::kMHA ? "mha" : "mla";
        j["hc_mult"] = c.hc_mult;
        j["hc_sinkhorn_iters"] = c.hc_sinkhorn_iters;
        j["hc_eps"] = c.hc_eps;
        j["hc_paper_form"] = c.hc_paper_form;
    }
    return j.dump(2);
}

// Writes <dir>/config.json and <dir>/model.safetensors.
inline void write_checkpoint(const std::filesystem::path& dir, const ModelConfig& c, const TensorMap& t,
                             const std::string& config_text = {}) {
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "config.json") << (config_text.empty() ? config_json(c) : config_text);
    std::vector<std::pair<std::string, TensorView>> list;
    for (auto& [k, v] : t) list.emplace_back(k, v.view());
    engine::save_safetensors(dir / "model.safetensors", list);
}

inline std::filesystem::path temp_dir(const std::string& name) {
    auto p = std::filesystem::temp_directory_path() /
             ("latent_model_test_" + name + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(p);
    std::filesystem::create_directories(p);
    return p;
}

}  // namespace tiny
