// lora_test.cpp — LoRA adapters in TrainModel: frozen base (no gradient buffers, AdamW sees only the
// adapters), adapter gradients (A and B, all nine target kinds incl. routed/shared experts, with and
// without dropout) against finite differences, merge-and-export loaded by the inference Model, and the
// peft-format adapter files.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/model.h"
#include "engine/train/optimizer.h"
#include "engine/train/train_model.h"
#include "engine/weights.h"

namespace {

using namespace engine;

// A DeepSeek-V2-layout micro model: MLA without q_lora_rank, softmax/greedy MoE with a shared expert.
ModelConfig v2_config() {
    ModelConfig c;
    c.vocab_size = 11;
    c.hidden_size = 8;
    c.intermediate_size = 10;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 2;
    c.num_key_value_heads = 2;
    c.q_lora_rank = 0;
    c.kv_lora_rank = 6;
    c.qk_nope_head_dim = 4;
    c.qk_rope_head_dim = 2;
    c.v_head_dim = 3;
    c.n_routed_experts = 4;
    c.num_experts_per_tok = 2;
    c.n_shared_experts = 1;
    c.moe_intermediate_size = 6;
    c.first_k_dense_replace = 1;
    c.scoring_func = "softmax";
    c.topk_method = "greedy";
    c.norm_topk_prob = false;
    c.routed_scaling_factor = 1.0;
    c.max_position_embeddings = 64;
    c.rms_norm_eps = 1e-6;
    c.architecture = "DeepseekV2ForCausalLM";
    c.model_type = "deepseek_v2";
    c.bos_token_id = 0;
    c.eos_token_ids = {1};
    c.validate("LoRA test config");
    return c;
}

const std::vector<std::string> kAllTargets = {"q_proj",    "kv_a_proj_with_mqa", "kv_b_proj", "o_proj",
                                              "gate_proj", "up_proj",            "down_proj"};

LoraOptions lora_opts(float dropout, std::vector<std::string> targets = kAllTargets) {
    LoraOptions o;
    o.rank = 2;
    o.alpha = 3.0f;
    o.dropout = dropout;
    o.targets = std::move(targets);
    o.seed = 99;
    return o;
}

// Base weights random (init), adapters' B random too so A's gradient is non-zero.
void randomise(TrainModel& m, uint32_t seed, float stddev) {
    m.init(seed, stddev);
    std::mt19937 rng(seed + 7);
    std::normal_distribution<float> d(0.0f, 0.5f);
    for (TrainParam& p : m.params())
        if (p.adapter) {
            float* w = p.value.as<float>();
            for (int64_t i = 0; i < p.value.view().numel(); ++i) w[i] = d(rng);
        }
}

TEST(Lora, BaseFrozenAdaptersNamedAndOptimised) {
    auto be = make_cpu_backend(1);
    TrainModel m(v2_config(), *be, lora_opts(0.0f));
    int adapters = 0;
    for (const TrainParam& p : m.params()) {
        if (p.adapter) {
            ++adapters;
            EXPECT_TRUE(p.trainable) << p.name;
            EXPECT_FALSE(p.grad.empty()) << p.name;
        } else {
            EXPECT_FALSE(p.trainable) << p.name;
            EXPECT_TRUE(p.grad.empty()) << p.name << " must have no gradient buffer";
        }
    }
    // Per layer: q, kv_a, kv_b, o = 4; layer 0 dense MLP 3; layer 1 MoE: 4 experts + shared = 5 × 3.
    EXPECT_EQ(adapters, 2 * (4 + 4 + 3 + 15));
    const TrainParam* a = m.find("model.layers.1.mlp.experts.2.down_proj.lora_A.weight");
    const TrainParam* b = m.find("model.layers.1.mlp.experts.2.down_proj.lora_B.weight");
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->value.view().shape[0], 2);  // [r, in = moe_intermediate]
    EXPECT_EQ(a->value.view().shape[1], 6);
    EXPECT_EQ(b->value.view().shape[0], 8);  // [out = hidden, r]
    EXPECT_EQ(b->value.view().shape[1], 2);
    ASSERT_TRUE(m.find("model.layers.0.self_attn.kv_b_proj.lora_A.weight"));
    EXPECT_FALSE(m.find("model.layers.0.mlp.gate.lora_A.weight"));  // the router is not a target
    AdamW opt(m, AdamWConfig{});
    EXPECT_EQ(int(opt.slots().size()), adapters);
    // Default targets: attention projections only.
    LoraOptions def = lora_opts(0.0f, {});
    TrainModel d(v2_config(), *be, def);
    int n_def = 0;
    for (const TrainParam& p : d.params()) n_def += p.adapter;
    EXPECT_EQ(n_def, 2 * 2 * 4);
    // A target that matches nothing is an error naming it.
    try {
        TrainModel bad(v2_config(), *be, lora_opts(0.0f, {"q_b_proj"}));
        ADD_FAILURE() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("q_b_proj"), std::string::npos) << e.what();
    }
    // Fresh adapters: B = 0 so the adapted model equals the base.
    m.init(5);
    std::vector<int32_t> tok = {3, 1, 4, 1, 5, 9};
    std::vector<float> l1, l2;
    m.forward(tok.data(), nullptr, 1, 6, &l1);
    for (TrainParam& p : m.params())
        if (p.adapter && p.name.find("lora_A") != std::string::npos) {
            float s = 0;
            for (int64_t i = 0; i < p.value.view().numel(); ++i) s += std::abs(p.value.as<float>()[i]);
            EXPECT_GT(s, 0.0f) << p.name << ": A is random";
        }
    TrainModel base(v2_config(), *be);
    base.init(5);
    base.forward(tok.data(), nullptr, 1, 6, &l2);
    ASSERT_EQ(l1.size(), l2.size());
    for (size_t i = 0; i < l1.size(); ++i) EXPECT_EQ(l1[i], l2[i]);
}

// fp32 central differences on sampled adapter entries (tolerance as in train_model_test.cpp: h = 2e-3,
// fp32 rounding ~3e-5 per difference; vector-wise relative error ≤ 2e-2, per entry 1e-3 + 3%).
// With dropout the objective is forward_backward's loss with the dropout stream rewound, i.e. the
// same masks as the analytic pass.
// Our family's mHC layout with q_lora_rank (frozen hyper-connection parameters, q_a/q_b adapters).
ModelConfig mhc_config() {
    ModelConfig c = v2_config();
    c.q_lora_rank = 5;
    c.residual_kind = ResidualKind::kMHC;
    c.hc_mult = 4;
    c.architecture = "LatentForCausalLM";
    c.model_type = "latent";
    c.validate("LoRA mHC test config");
    return c;
}

void adapter_grad_check(float dropout, const ModelConfig& cfg = v2_config(), LoraOptions opts = {}) {
    auto be = make_cpu_backend(1);
    if (!opts.enabled()) opts = lora_opts(dropout);
    TrainModel m(cfg, *be, opts);
    randomise(m, 3, 0.35f);
    const int64_t B = 2, T = 5;
    std::vector<int32_t> tok(B * T), tgt(B * T);
    std::mt19937 rng(11);
    for (size_t i = 0; i < tok.size(); ++i) {
        tok[i] = int32_t(rng() % 11);
        tgt[i] = int32_t(rng() % 11);
    }
    m.zero_grad();
    const uint64_t calls = m.dropout_calls();
    m.forward_backward(tok.data(), tgt.data(), B, T);
    std::vector<std::pair<std::string, std::vector<float>>> grads;
    for (TrainParam& p : m.params())
        if (p.adapter)
            grads.emplace_back(p.name, std::vector<float>(p.grad.as<float>(), p.grad.as<float>() + p.grad.view().numel()));
    auto objective = [&] {
        if (dropout == 0) return double(m.forward(tok.data(), tgt.data(), B, T).loss);
        m.set_dropout_calls(calls);
        return double(m.forward_backward(tok.data(), tgt.data(), B, T).loss);
    };
    if (dropout > 0) {  // the masks really drop something: the training loss differs from eval's
        m.set_dropout_calls(calls);
        const double train_loss = m.forward_backward(tok.data(), tgt.data(), B, T).loss;
        EXPECT_NE(train_loss, double(m.forward(tok.data(), tgt.data(), B, T).loss));
    }
    const float h = 2e-3f;
    double num = 0, den = 0;
    int checked = 0;
    for (auto& [name, g] : grads) {
        float* w = m.find(name)->value.as<float>();
        const int64_t n = int64_t(g.size());
        for (int64_t k = 0; k < std::min<int64_t>(n, 2); ++k) {
            const int64_t i = (k * 7919 + 13) % n;
            const float keep = w[i];
            w[i] = keep + h;
            const double fp = objective();
            w[i] = keep - h;
            const double fm = objective();
            w[i] = keep;
            const double fd = (fp - fm) / (2.0 * double(h));
            num += (g[size_t(i)] - fd) * (g[size_t(i)] - fd);
            den += fd * fd;
            EXPECT_NEAR(g[size_t(i)], fd, 1e-3 + 3e-2 * std::abs(fd)) << name << "[" << i << "]";
            ++checked;
        }
    }
    EXPECT_GT(checked, 40);
    EXPECT_GT(den, 1e-6) << "gradients should not all vanish";
    EXPECT_LE(std::sqrt(num / den), 2e-2) << "relative error of the sampled adapter gradient";
}

TEST(Lora, AdapterGradientsMatchFiniteDifferences) { adapter_grad_check(0.0f); }
TEST(Lora, AdapterGradientsWithDropoutMatchFiniteDifferences) { adapter_grad_check(0.3f); }
TEST(Lora, AdapterGradientsMhcQLoraMatchFiniteDifferences) {
    LoraOptions o = lora_opts(0.0f, {"q_a_proj", "q_b_proj", "kv_b_proj", "o_proj", "down_proj"});
    adapter_grad_check(0.0f, mhc_config(), o);
}

// W' = W + (alpha/r)·B·A saved under the base names: the inference Model loads it and its logits equal
// TrainModel's forward with the adapters. Adapters alone go out in peft's format.
TEST(Lora, MergedExportMatchesAdaptedForwardAndPeftFiles) {
    auto be = make_cpu_backend(1);
    TrainModel m(v2_config(), *be, lora_opts(0.1f));
    randomise(m, 8, 0.3f);
    const auto dir = std::filesystem::temp_directory_path() / ("latent_lora_merge_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    m.save(dir / "merged");
    m.save_adapters(dir / "adapter", "base-model");
    // The merged folder has exactly the base tensors and the base architecture.
    auto store = WeightStore::open(dir / "merged");
    TrainModel plain(v2_config(), *be);
    for (const TrainParam& p : plain.params()) EXPECT_NO_THROW(store->get(p.name)) << p.name;
    EXPECT_EQ(ModelConfig::from_file(dir / "merged" / "config.json").architecture, "DeepseekV2ForCausalLM");
    std::unique_ptr<Model> model = Model::load(dir / "merged", *be);
    std::vector<int32_t> tok = {3, 1, 4, 1, 5, 9, 2};
    std::vector<float> train_logits, inf_logits;
    m.forward(tok.data(), nullptr, 1, int64_t(tok.size()), &train_logits);  // eval: no dropout
    auto cache = model->new_cache(16);
    ForwardOptions fo;
    fo.all_logits = true;
    fo.attention = AttentionPath::kExplicit;
    model->forward(*cache, tok, fo, inf_logits);
    ASSERT_EQ(inf_logits.size(), train_logits.size());
    double worst = 0, scale = 0;
    for (size_t i = 0; i < inf_logits.size(); ++i) {
        worst = std::max(worst, double(std::abs(inf_logits[i] - train_logits[i])));
        scale = std::max(scale, double(std::abs(inf_logits[i])));
    }
    EXPECT_LE(worst, 1e-4 * std::max(1.0, scale));
    // The merge changed the weights (the adapters are not zero).
    plain.load(*store);
    std::vector<float> base_logits;
    TrainModel base(v2_config(), *be);
    base.init(8, 0.3f);
    base.forward(tok.data(), nullptr, 1, int64_t(tok.size()), &base_logits);
    double moved = 0;
    for (size_t i = 0; i < base_logits.size(); ++i) moved = std::max(moved, double(std::abs(base_logits[i] - train_logits[i])));
    EXPECT_GT(moved, 1e-3);
    // peft files.
    std::ifstream cf(dir / "adapter" / "adapter_config.json");
    nlohmann::json j = nlohmann::json::parse(cf);
    EXPECT_EQ(j.at("peft_type"), "LORA");
    EXPECT_EQ(j.at("r"), 2);
    EXPECT_FLOAT_EQ(j.at("lora_alpha").get<float>(), 3.0f);
    EXPECT_EQ(j.at("target_modules").size(), kAllTargets.size());
    auto ad = WeightStore::open(dir / "adapter" / "adapter_model.safetensors");
    TensorView a = ad->get("base_model.model.model.layers.1.mlp.shared_experts.up_proj.lora_A.weight");
    const TrainParam* pa = m.find("model.layers.1.mlp.shared_experts.up_proj.lora_A.weight");
    ASSERT_EQ(a.numel(), pa->value.view().numel());
    for (int64_t i = 0; i < a.numel(); ++i) EXPECT_EQ(a.as<float>()[i], pa->value.as<float>()[i]);
    // Adapters restore by name into a fresh LoRA model (checkpoint resume path).
    TrainModel r(v2_config(), *be, lora_opts(0.1f));
    r.load(*store);
    r.init_lora();
    std::vector<std::string> names = r.checkpoint_names();
    EXPECT_EQ(names.size(), size_t(2 * (4 + 4 + 3 + 15)));
    std::filesystem::create_directories(dir / "ck");
    std::vector<std::pair<std::string, TensorView>> ts;
    for (const std::string& n : names) ts.emplace_back(n, m.find(n)->value.view());
    save_safetensors(dir / "ck" / "model.safetensors", ts);
    r.load_matching(*WeightStore::open(dir / "ck" / "model.safetensors"), names);
    // r = merged base + the same adapters: not equal to m. Load the true base into r instead.
    TrainModel r2(v2_config(), *be, lora_opts(0.1f));
    r2.init(8, 0.3f);
    r2.load_matching(*WeightStore::open(dir / "ck" / "model.safetensors"), names);
    std::vector<float> r_logits;
    r2.forward(tok.data(), nullptr, 1, int64_t(tok.size()), &r_logits);
    ASSERT_EQ(r_logits.size(), train_logits.size());
    for (size_t i = 0; i < r_logits.size(); ++i) EXPECT_EQ(r_logits[i], train_logits[i]);
    std::filesystem::remove_all(dir);
}

}  // namespace
