// test_config.cpp — config.json parsing (V2-Lite, V3, Moonlight, GLM-4.7-Flash-style, ours), defaults,
// to_json_text round trips, and validation failures (each naming the field).
#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "engine/config.h"
#include "engine/weights.h"
#include "st_test_util.h"

namespace engine::test {
namespace {

using nlohmann::json;

// deepseek-arch.md §1, V2-Lite(-Chat) column.
json v2_lite() {
    return json::parse(R"({
      "architectures": ["DeepseekV2ForCausalLM"], "model_type": "deepseek_v2",
      "vocab_size": 102400, "hidden_size": 2048, "intermediate_size": 10944, "moe_intermediate_size": 1408,
      "num_hidden_layers": 27, "num_attention_heads": 16, "num_key_value_heads": 16,
      "q_lora_rank": null, "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
      "n_shared_experts": 2, "n_routed_experts": 64, "num_experts_per_tok": 6, "routed_scaling_factor": 1.0,
      "topk_method": "greedy", "n_group": 1, "topk_group": 1, "scoring_func": "softmax", "norm_topk_prob": false,
      "first_k_dense_replace": 1, "moe_layer_freq": 1, "rope_theta": 10000,
      "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096, "beta_fast": 32,
                       "beta_slow": 1, "mscale": 0.707, "mscale_all_dim": 0.707},
      "max_position_embeddings": 163840, "rms_norm_eps": 1e-6, "tie_word_embeddings": false,
      "bos_token_id": 100000, "eos_token_id": 100001, "aux_loss_alpha": 0.001, "seq_aux": true,
      "attention_bias": false, "hidden_act": "silu", "torch_dtype": "bfloat16"})");
}

// V3 (671B) column, with the FP8 quantization_config the hub file carries (ignored by us).
json v3() {
    return json::parse(R"({
      "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
      "vocab_size": 129280, "hidden_size": 7168, "intermediate_size": 18432, "moe_intermediate_size": 2048,
      "num_hidden_layers": 61, "num_nextn_predict_layers": 1, "num_attention_heads": 128, "num_key_value_heads": 128,
      "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
      "n_shared_experts": 1, "n_routed_experts": 256, "num_experts_per_tok": 8, "routed_scaling_factor": 2.5,
      "topk_method": "noaux_tc", "n_group": 8, "topk_group": 4, "scoring_func": "sigmoid", "norm_topk_prob": true,
      "first_k_dense_replace": 3, "moe_layer_freq": 1, "rope_theta": 10000,
      "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096, "beta_fast": 32,
                       "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0},
      "max_position_embeddings": 163840, "rms_norm_eps": 1e-6, "tie_word_embeddings": false,
      "bos_token_id": 0, "eos_token_id": 1, "attention_bias": false, "hidden_act": "silu",
      "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                              "weight_block_size": [128, 128]}})");
}

// Moonlight-16B-A3B column (V3 architecture, no YaRN, eos as a list here).
json moonlight() {
    json j = v2_lite();
    j["architectures"] = {"DeepseekV3ForCausalLM"};
    j["model_type"] = "deepseek_v3";
    j["vocab_size"] = 163840;
    j["intermediate_size"] = 11264;
    j["routed_scaling_factor"] = 2.446;
    j["topk_method"] = "noaux_tc";
    j["scoring_func"] = "sigmoid";
    j["norm_topk_prob"] = true;
    j["rope_theta"] = 50000;
    j.erase("rope_scaling");
    j["max_position_embeddings"] = 8192;
    j["rms_norm_eps"] = 1e-5;
    j["bos_token_id"] = 163584;
    j["eos_token_id"] = {163585, 163586};
    j["num_nextn_predict_layers"] = 0;
    return j;
}

// GLM-4.7-Flash-style: transformers' Glm4MoeLiteConfig field set (no topk_method/scoring_func/
// first_k_dense_replace; mlp_layer_types and rope_parameters instead).
json glm() {
    return json::parse(R"({
      "architectures": ["Glm4MoeLiteForCausalLM"], "model_type": "glm4_moe_lite",
      "vocab_size": 154880, "hidden_size": 2048, "intermediate_size": 10240, "moe_intermediate_size": 1536,
      "num_hidden_layers": 4, "num_attention_heads": 20, "num_key_value_heads": 20,
      "q_lora_rank": 768, "kv_lora_rank": 512, "qk_nope_head_dim": 192, "qk_rope_head_dim": 64, "v_head_dim": 256,
      "n_shared_experts": 1, "n_routed_experts": 64, "num_experts_per_tok": 4, "routed_scaling_factor": 1.8,
      "n_group": 1, "topk_group": 1, "norm_topk_prob": true, "mlp_layer_types": ["dense", "dense", "sparse", "sparse"],
      "rope_parameters": {"rope_type": "default", "rope_theta": 1000000},
      "max_position_embeddings": 202752, "rms_norm_eps": 1e-5, "bos_token_id": 0, "eos_token_id": [1, 2],
      "dtype": "bfloat16"})");
}

ModelConfig parse(const json& j) { return ModelConfig::from_json_text(j.dump(), "config.json"); }

void expect_same(const ModelConfig& a, const ModelConfig& b) {
    EXPECT_EQ(a.architecture, b.architecture);
    EXPECT_EQ(a.model_type, b.model_type);
    EXPECT_EQ(a.vocab_size, b.vocab_size);
    EXPECT_EQ(a.hidden_size, b.hidden_size);
    EXPECT_EQ(a.intermediate_size, b.intermediate_size);
    EXPECT_EQ(a.moe_intermediate_size, b.moe_intermediate_size);
    EXPECT_EQ(a.num_hidden_layers, b.num_hidden_layers);
    EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
    EXPECT_EQ(a.num_key_value_heads, b.num_key_value_heads);
    EXPECT_EQ(a.q_lora_rank, b.q_lora_rank);
    EXPECT_EQ(a.kv_lora_rank, b.kv_lora_rank);
    EXPECT_EQ(a.qk_nope_head_dim, b.qk_nope_head_dim);
    EXPECT_EQ(a.qk_rope_head_dim, b.qk_rope_head_dim);
    EXPECT_EQ(a.v_head_dim, b.v_head_dim);
    EXPECT_EQ(a.n_shared_experts, b.n_shared_experts);
    EXPECT_EQ(a.n_routed_experts, b.n_routed_experts);
    EXPECT_EQ(a.num_experts_per_tok, b.num_experts_per_tok);
    EXPECT_EQ(a.routed_scaling_factor, b.routed_scaling_factor);
    EXPECT_EQ(a.topk_method, b.topk_method);
    EXPECT_EQ(a.n_group, b.n_group);
    EXPECT_EQ(a.topk_group, b.topk_group);
    EXPECT_EQ(a.scoring_func, b.scoring_func);
    EXPECT_EQ(a.norm_topk_prob, b.norm_topk_prob);
    EXPECT_EQ(a.first_k_dense_replace, b.first_k_dense_replace);
    EXPECT_EQ(a.moe_layer_freq, b.moe_layer_freq);
    EXPECT_EQ(a.rope_theta, b.rope_theta);
    ASSERT_EQ(a.rope_scaling.has_value(), b.rope_scaling.has_value());
    if (a.rope_scaling) {
        EXPECT_EQ(a.rope_scaling->type, b.rope_scaling->type);
        EXPECT_EQ(a.rope_scaling->factor, b.rope_scaling->factor);
        EXPECT_EQ(a.rope_scaling->original_max_position_embeddings, b.rope_scaling->original_max_position_embeddings);
        EXPECT_EQ(a.rope_scaling->beta_fast, b.rope_scaling->beta_fast);
        EXPECT_EQ(a.rope_scaling->beta_slow, b.rope_scaling->beta_slow);
        EXPECT_EQ(a.rope_scaling->mscale, b.rope_scaling->mscale);
        EXPECT_EQ(a.rope_scaling->mscale_all_dim, b.rope_scaling->mscale_all_dim);
    }
    EXPECT_EQ(a.rope_interleave, b.rope_interleave);
    EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
    EXPECT_EQ(a.rms_norm_eps, b.rms_norm_eps);
    EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
    EXPECT_EQ(a.attention_bias, b.attention_bias);
    EXPECT_EQ(a.hidden_act, b.hidden_act);
    EXPECT_EQ(a.bos_token_id, b.bos_token_id);
    EXPECT_EQ(a.eos_token_ids, b.eos_token_ids);
    EXPECT_EQ(a.aux_loss_alpha, b.aux_loss_alpha);
    EXPECT_EQ(a.seq_aux, b.seq_aux);
    EXPECT_EQ(a.num_nextn_predict_layers, b.num_nextn_predict_layers);
    EXPECT_EQ(a.torch_dtype, b.torch_dtype);
    EXPECT_EQ(a.residual_kind, b.residual_kind);
    EXPECT_EQ(a.attention_kind, b.attention_kind);
    EXPECT_EQ(a.hc_mult, b.hc_mult);
    EXPECT_EQ(a.hc_sinkhorn_iters, b.hc_sinkhorn_iters);
    EXPECT_EQ(a.hc_eps, b.hc_eps);
    EXPECT_EQ(a.hc_paper_form, b.hc_paper_form);
}

void round_trips(const ModelConfig& c) {
    SCOPED_TRACE(c.architecture);
    expect_same(c, ModelConfig::from_json_text(c.to_json_text(), "roundtrip.json"));
}

TEST(Config, DeepSeekV2Lite) {
    ModelConfig c = parse(v2_lite());
    EXPECT_EQ(c.architecture, "DeepseekV2ForCausalLM");
    EXPECT_EQ(c.vocab_size, 102400);
    EXPECT_EQ(c.hidden_size, 2048);
    EXPECT_EQ(c.q_lora_rank, 0);  // null: plain q_proj
    EXPECT_EQ(c.qk_head_dim(), 192);
    EXPECT_EQ(c.n_routed_experts, 64);
    EXPECT_EQ(c.num_experts_per_tok, 6);
    EXPECT_EQ(c.moe_intermediate_size, 1408);
    ASSERT_TRUE(c.rope_scaling.has_value());
    EXPECT_EQ(c.rope_scaling->type, "yarn");
    EXPECT_EQ(c.rope_scaling->factor, 40.0);
    EXPECT_EQ(c.rope_scaling->mscale, 0.707);
    EXPECT_EQ(c.rope_scaling->mscale_all_dim, 0.707);
    EXPECT_EQ(c.rope_scaling->original_max_position_embeddings, 4096);
    EXPECT_EQ(c.bos_token_id, 100000);
    EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{100001});
    EXPECT_TRUE(c.seq_aux);
    EXPECT_EQ(c.aux_loss_alpha, 0.001);
    EXPECT_EQ(c.torch_dtype, "bfloat16");
    EXPECT_FALSE(c.is_moe_layer(0));
    for (int l = 1; l < 27; ++l) EXPECT_TRUE(c.is_moe_layer(l)) << l;
    RouterParams p = c.router_params();
    EXPECT_EQ(p.method, RouterParams::Method::kGreedy);
    EXPECT_EQ(p.scoring, RouterParams::Scoring::kSoftmax);
    EXPECT_EQ(p.top_k, 6);
    EXPECT_EQ(p.n_routed_experts, 64);
    EXPECT_FALSE(p.norm_topk_prob);
    round_trips(c);
}

TEST(Config, DeepSeekV3) {
    ModelConfig c = parse(v3());
    EXPECT_EQ(c.q_lora_rank, 1536);
    EXPECT_EQ(c.num_attention_heads, 128);
    EXPECT_EQ(c.num_nextn_predict_layers, 1);
    EXPECT_EQ(c.first_k_dense_replace, 3);
    EXPECT_FALSE(c.is_moe_layer(2));
    EXPECT_TRUE(c.is_moe_layer(3));
    EXPECT_TRUE(c.is_moe_layer(60));
    EXPECT_EQ(c.rope_scaling->mscale, 1.0);
    RouterParams p = c.router_params();
    EXPECT_EQ(p.method, RouterParams::Method::kNoauxTc);
    EXPECT_EQ(p.scoring, RouterParams::Scoring::kSigmoid);
    EXPECT_EQ(p.n_group, 8);
    EXPECT_EQ(p.topk_group, 4);
    EXPECT_EQ(p.top_k, 8);
    EXPECT_TRUE(p.norm_topk_prob);
    EXPECT_FLOAT_EQ(p.routed_scaling_factor, 2.5f);
    EXPECT_EQ(c.bos_token_id, 0);
    EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{1});
    round_trips(c);
}

TEST(Config, Moonlight) {
    ModelConfig c = parse(moonlight());
    EXPECT_EQ(c.vocab_size, 163840);
    EXPECT_FALSE(c.rope_scaling.has_value());
    EXPECT_EQ(c.rope_theta, 50000.0);
    EXPECT_EQ(c.rms_norm_eps, 1e-5);
    EXPECT_EQ(c.routed_scaling_factor, 2.446);
    EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{163585, 163586}));
    EXPECT_EQ(c.max_position_embeddings, 8192);
    EXPECT_EQ(c.router_params().method, RouterParams::Method::kNoauxTc);
    round_trips(c);
}

TEST(Config, GlmFlashStyle) {
    ModelConfig c = parse(glm());
    EXPECT_EQ(c.architecture, "Glm4MoeLiteForCausalLM");
    EXPECT_EQ(c.v_head_dim, 256);
    EXPECT_EQ(c.qk_nope_head_dim, 192);
    EXPECT_EQ(c.qk_head_dim(), 256);
    EXPECT_EQ(c.first_k_dense_replace, 2);  // from mlp_layer_types
    EXPECT_FALSE(c.is_moe_layer(1));
    EXPECT_TRUE(c.is_moe_layer(2));
    EXPECT_EQ(c.topk_method, "noaux_tc");  // GLM default: V3-style routing
    EXPECT_EQ(c.scoring_func, "sigmoid");
    EXPECT_EQ(c.rope_theta, 1e6);           // from rope_parameters
    EXPECT_FALSE(c.rope_scaling.has_value());  // rope_type "default"
    EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{1, 2}));
    EXPECT_EQ(c.torch_dtype, "bfloat16");   // "dtype" spelling
    round_trips(c);
}

TEST(Config, GlmDefaultsWhenFieldsAbsent) {
    ModelConfig c = parse(json::parse(R"({"architectures": ["Glm4MoeLiteForCausalLM"]})"));
    EXPECT_EQ(c.num_hidden_layers, 47);
    EXPECT_EQ(c.first_k_dense_replace, 1);  // mlp_layer_types default: ["dense"] + ["sparse"] * 46
    EXPECT_EQ(c.q_lora_rank, 768);
    EXPECT_EQ(c.v_head_dim, 256);
    EXPECT_EQ(c.routed_scaling_factor, 1.8);
    EXPECT_EQ(c.rms_norm_eps, 1e-5);
    EXPECT_EQ(c.num_key_value_heads, 20);
}

TEST(Config, V3DefaultsWhenFieldsAbsent) {
    ModelConfig c = parse(json::parse(R"({"architectures": ["DeepseekV3ForCausalLM"], "num_key_value_heads": null})"));
    EXPECT_EQ(c.hidden_size, 7168);
    EXPECT_EQ(c.n_routed_experts, 256);
    EXPECT_EQ(c.n_group, 8);
    EXPECT_EQ(c.num_key_value_heads, 128);
    EXPECT_EQ(c.max_position_embeddings, 4096);
    EXPECT_FALSE(c.rope_scaling.has_value());
    EXPECT_EQ(c.num_nextn_predict_layers, 0);  // absent: no MTP layers assumed
    EXPECT_EQ(c.topk_method, "noaux_tc");
    EXPECT_EQ(c.scoring_func, "sigmoid");
}

TEST(Config, RopeTypeKeyAndRopeParameters) {
    json j = v3();
    j["rope_scaling"].erase("type");
    j["rope_scaling"]["rope_type"] = "yarn";
    EXPECT_EQ(parse(j).rope_scaling->factor, 40.0);
    j.erase("rope_scaling");
    j["rope_parameters"] = {{"rope_type", "yarn"}, {"rope_theta", 20000}, {"factor", 8}, {"mscale", 0.5}};
    ModelConfig c = parse(j);
    EXPECT_EQ(c.rope_theta, 20000.0);
    EXPECT_EQ(c.rope_scaling->factor, 8.0);
    EXPECT_EQ(c.rope_scaling->mscale, 0.5);
    EXPECT_EQ(c.rope_scaling->beta_fast, 32.0);  // default
}

TEST(Config, ModelTypeWithoutArchitectures) {
    json j = v2_lite();
    j.erase("architectures");
    EXPECT_EQ(parse(j).architecture, "DeepseekV2ForCausalLM");
}

TEST(Config, LatentFamilyFieldsRoundTrip) {
    json j = v3();
    j["architectures"] = {"LatentForCausalLM"};
    j["model_type"] = "latent";
    j["residual_kind"] = "mhc";
    j["attention_kind"] = "mha";
    j["hc_mult"] = 4;
    j["hc_sinkhorn_iters"] = 7;
    j["hc_eps"] = 1e-5;
    j["hc_paper_form"] = true;
    ModelConfig c = parse(j);
    EXPECT_EQ(c.residual_kind, ResidualKind::kMHC);
    EXPECT_EQ(c.attention_kind, AttentionKind::kMHA);
    EXPECT_EQ(c.hc_mult, 4);
    EXPECT_EQ(c.hc_sinkhorn_iters, 7);
    EXPECT_EQ(c.hc_eps, 1e-5);
    EXPECT_TRUE(c.hc_paper_form);
    round_trips(c);
    // Our fields are written only for our architecture.
    EXPECT_EQ(parse(v3()).to_json_text().find("hc_mult"), std::string::npos);
    EXPECT_NE(c.to_json_text().find("\"hc_mult\": 4"), std::string::npos);
}

TEST(Config, MoeLayerFreq) {
    json j = v2_lite();
    j["moe_layer_freq"] = 2;
    ModelConfig c = parse(j);
    EXPECT_FALSE(c.is_moe_layer(0));
    EXPECT_FALSE(c.is_moe_layer(1));  // 1 % 2 != 0
    EXPECT_TRUE(c.is_moe_layer(2));
    EXPECT_FALSE(c.is_moe_layer(3));
    j["n_routed_experts"] = 0;
    j["num_experts_per_tok"] = 0;
    EXPECT_FALSE(parse(j).is_moe_layer(2));  // dense model
}

TEST(Config, FromFile) {
    fs::path p = test_dir() / "config.json";
    write_file_atomic(p, v2_lite().dump(2));
    EXPECT_EQ(ModelConfig::from_file(p).hidden_size, 2048);
    expect_error([&] { ModelConfig::from_file(test_dir() / "none.json"); }, ErrorKind::kIo, {"none.json"});
}

// ---------------------------------------------------------------- validation failures

void expect_bad(json j, std::initializer_list<std::string> needles, ErrorKind kind = ErrorKind::kBadFile) {
    std::vector<std::string> all(needles);
    all.push_back("config.json");
    try {
        parse(j);
        ADD_FAILURE() << "expected an error for " << j.dump();
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), kind) << e.what();
        for (const auto& n : all) EXPECT_NE(e.message().find(n), std::string::npos) << n << " not in: " << e.message();
    }
}

template <typename T>
json with(json j, const std::string& key, T value) {
    j[key] = value;
    return j;
}

TEST(ConfigInvalid, UnknownArchitecture) {
    expect_bad(with(v2_lite(), "architectures", json::array({"LlamaForCausalLM"})),
               {"LlamaForCausalLM", "DeepseekV2ForCausalLM", "DeepseekV3ForCausalLM", "Glm4MoeLiteForCausalLM",
                "LatentForCausalLM"},
               ErrorKind::kUnsupported);
}

TEST(ConfigInvalid, MalformedJsonAndTypes) {
    expect_error([] { ModelConfig::from_json_text("{\"hidden_size\": ", "config.json"); }, ErrorKind::kBadFile,
                 {"config.json", "not valid"});
    expect_error([] { ModelConfig::from_json_text(R"({"hidden_size": 1, "hidden_size": 2})", "config.json"); },
                 ErrorKind::kBadFile, {"'hidden_size' twice"});
    expect_bad(with(v2_lite(), "hidden_size", "2048"), {"'hidden_size'", "expected an integer"});
    expect_bad(with(v2_lite(), "hidden_size", 2048.5), {"'hidden_size'", "expected an integer"});
    expect_bad(with(v2_lite(), "norm_topk_prob", 1), {"'norm_topk_prob'", "true or false"});
    expect_bad(with(v2_lite(), "rms_norm_eps", "small"), {"'rms_norm_eps'", "expected a number"});
    expect_bad(with(v2_lite(), "eos_token_id", json::array({1, "x"})), {"'eos_token_id[1]'"});
}

TEST(ConfigInvalid, NonPositiveAndAbsurdSizes) {
    expect_bad(with(v2_lite(), "hidden_size", 0), {"'hidden_size'", "expected 1 <="});
    expect_bad(with(v2_lite(), "hidden_size", -5), {"'hidden_size'", "-5"});
    expect_bad(with(v2_lite(), "num_attention_heads", 20'000'000), {"'num_attention_heads'", "20000000"});
    expect_bad(with(v2_lite(), "num_hidden_layers", 1001), {"'num_hidden_layers'", "1000"});
    expect_bad(with(v2_lite(), "vocab_size", 10'000'001), {"'vocab_size'"});
    expect_bad(with(v2_lite(), "v_head_dim", 0), {"'v_head_dim'"});
    expect_bad(with(v2_lite(), "kv_lora_rank", 0), {"'kv_lora_rank'"});
    expect_bad(with(v2_lite(), "max_position_embeddings", 0), {"'max_position_embeddings'"});
    expect_bad(with(v2_lite(), "num_key_value_heads", 17), {"'num_key_value_heads'"});
    expect_bad(with(v2_lite(), "hidden_size", int64_t(1) << 40), {"'hidden_size'"});
}

TEST(ConfigInvalid, RmsNormEpsOutOfRange) {
    expect_bad(with(v2_lite(), "rms_norm_eps", 0.0), {"'rms_norm_eps'", "0 < rms_norm_eps < 1"});
    expect_bad(with(v2_lite(), "rms_norm_eps", 1.5), {"'rms_norm_eps'"});
    expect_bad(with(v2_lite(), "rms_norm_eps", -1e-6), {"'rms_norm_eps'"});
}

TEST(ConfigInvalid, NanAndInfinityRejected) {
    // JSON has no NaN/Infinity literal: nlohmann rejects Python's NaN and overflowing 1e999 while parsing.
    expect_error([] { ModelConfig::from_json_text(R"({"architectures": ["DeepseekV2ForCausalLM"], "rms_norm_eps": NaN})",
                                                  "config.json"); },
                 ErrorKind::kBadFile, {"config.json", "not valid"});
    expect_error([] { ModelConfig::from_json_text(R"({"architectures": ["DeepseekV2ForCausalLM"], "rope_theta": 1e999})",
                                                  "config.json"); },
                 ErrorKind::kBadFile, {"config.json", "1e999"});
    // A config built in code (e.g. by the trainer) goes through validate() directly.
    const ModelConfig good = parse(v2_lite());
    auto bad_field = [&](auto mutate, const std::string& field) {
        ModelConfig c = good;
        mutate(c);
        expect_error([&] { c.validate("config.json"); }, ErrorKind::kBadFile, {"config.json", "'" + field + "'"});
    };
    const double nan = std::nan(""), inf = HUGE_VAL;
    bad_field([&](ModelConfig& c) { c.rms_norm_eps = nan; }, "rms_norm_eps");
    bad_field([&](ModelConfig& c) { c.routed_scaling_factor = nan; }, "routed_scaling_factor");
    bad_field([&](ModelConfig& c) { c.rope_theta = inf; }, "rope_theta");
    bad_field([&](ModelConfig& c) { c.rope_scaling->factor = nan; }, "rope_scaling.factor");
    bad_field([&](ModelConfig& c) { c.rope_scaling->mscale_all_dim = -inf; }, "rope_scaling.mscale_all_dim");
    bad_field([&](ModelConfig& c) { c.aux_loss_alpha = nan; }, "aux_loss_alpha");
    good.validate("config.json");  // and the untouched one passes
}

TEST(ConfigInvalid, RoutingInconsistencies) {
    expect_bad(with(v3(), "n_group", 7), {"'n_group'", "does not divide", "256"});
    expect_bad(with(v3(), "topk_group", 9), {"'topk_group'", "n_group"});
    expect_bad(with(v3(), "num_experts_per_tok", 257), {"'num_experts_per_tok'", "256"});
    expect_bad(with(with(v3(), "topk_group", 1), "num_experts_per_tok", 40), {"'topk_group'", "fewer than"});
    expect_bad(with(v3(), "topk_method", "best"), {"'topk_method'", "best", "noaux_tc"});
    expect_bad(with(v3(), "scoring_func", "tanh"), {"'scoring_func'", "tanh", "sigmoid"});
    expect_bad(with(v3(), "first_k_dense_replace", 62), {"'first_k_dense_replace'"});
    expect_bad(with(v3(), "moe_layer_freq", 0), {"'moe_layer_freq'"});
    expect_bad(with(v3(), "routed_scaling_factor", -1.0), {"'routed_scaling_factor'"});
}

TEST(ConfigInvalid, UnsupportedModelFeatures) {
    expect_bad(with(v2_lite(), "hidden_act", "gelu"), {"'hidden_act'", "gelu", "silu"});
    expect_bad(with(v2_lite(), "attention_bias", true), {"'attention_bias'", "expected false"});
    expect_bad(with(v2_lite(), "qk_rope_head_dim", 63), {"'qk_rope_head_dim'", "odd"});
    json j = v2_lite();
    j["rope_scaling"]["type"] = "linear";
    expect_bad(j, {"'rope_scaling.type'", "linear", "yarn"}, ErrorKind::kUnsupported);
    j = v2_lite();
    j["rope_scaling"].erase("factor");
    expect_bad(j, {"'rope_scaling.factor'", "missing"});
    j = v2_lite();
    j["rope_scaling"]["factor"] = 0.5;
    expect_bad(j, {"'rope_scaling.factor'", ">= 1"});
}

TEST(ConfigInvalid, TokenIdsOutsideVocab) {
    expect_bad(with(v2_lite(), "eos_token_id", 102400), {"'eos_token_id'", "102399"});
    expect_bad(with(v2_lite(), "bos_token_id", -1), {"'bos_token_id'"});
}

TEST(ConfigInvalid, GlmLayerTypes) {
    expect_bad(with(glm(), "mlp_layer_types", json::array({"dense", "sparse", "dense", "sparse"})),
               {"'mlp_layer_types'", "[2]"}, ErrorKind::kUnsupported);
    expect_bad(with(glm(), "mlp_layer_types", json::array({"dense", "sparse"})), {"'mlp_layer_types'", "num_hidden_layers"});
    expect_bad(with(glm(), "mlp_layer_types", json::array({"dense", "moe", "sparse", "sparse"})), {"'mlp_layer_types'", "[1]"});
    expect_bad(with(glm(), "first_k_dense_replace", 1), {"'mlp_layer_types'", "first_k_dense_replace"});
}

TEST(ConfigInvalid, LatentFields) {
    json j = v3();
    j["architectures"] = {"LatentForCausalLM"};
    expect_bad(with(j, "residual_kind", "dense"), {"'residual_kind'", "mhc"});
    expect_bad(with(j, "attention_kind", "gqa"), {"'attention_kind'", "mla"});
    expect_bad(with(with(j, "residual_kind", "mhc"), "hc_mult", 1), {"'hc_mult'", "at least 2"});
    expect_bad(with(j, "hc_sinkhorn_iters", 0), {"'hc_sinkhorn_iters'"});
    expect_bad(with(j, "hc_eps", 0.0), {"'hc_eps'"});
}

}  // namespace
}  // namespace engine::test
