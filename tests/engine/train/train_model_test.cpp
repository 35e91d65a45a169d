// train_model_test.cpp — the whole trainable model: gradients against finite differences (fp32 model,
// loose tolerance justified below), logits equal to the inference Model's on the same weights, presets'
// parameter counts, and the saved layout (DeepseekV3 vs LatentForCausalLM).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#include "engine/model.h"
#include "engine/train/presets.h"
#include "engine/train/train_model.h"
#include "engine/weights.h"

namespace {

using namespace engine;

ModelConfig micro_config(ResidualKind rk, AttentionKind ak, bool moe, bool q_lora, bool sigmoid) {
    ModelConfig c;
    c.vocab_size = 11;
    c.hidden_size = 8;
    c.intermediate_size = 10;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 2;
    c.num_key_value_heads = 2;
    c.q_lora_rank = q_lora ? 5 : 0;
    c.kv_lora_rank = 6;
    c.qk_nope_head_dim = 4;
    c.qk_rope_head_dim = 2;
    c.v_head_dim = 3;
    if (moe) {
        c.n_routed_experts = 4;
        c.num_experts_per_tok = 2;
        c.n_shared_experts = 1;
        c.moe_intermediate_size = 6;
        c.first_k_dense_replace = 1;
        c.scoring_func = sigmoid ? "sigmoid" : "softmax";
        c.topk_method = sigmoid ? "noaux_tc" : "greedy";
        c.norm_topk_prob = true;  // softmax/greedy: V2's exclusive rule (normalise, rsf unused)
        c.routed_scaling_factor = sigmoid ? 1.5 : 2.0;
    }
    c.max_position_embeddings = 64;
    c.rms_norm_eps = 1e-6;
    c.residual_kind = rk;
    c.attention_kind = ak;
    c.hc_mult = rk == ResidualKind::kResidual ? 1 : 4;
    const bool v3 = rk == ResidualKind::kResidual && ak == AttentionKind::kMLA;
    c.architecture = v3 ? "DeepseekV3ForCausalLM" : "LatentForCausalLM";
    c.model_type = v3 ? "deepseek_v3" : "latent";
    c.bos_token_id = 0;
    c.eos_token_ids = {1};
    c.validate("micro test config");
    return c;
}

// Randomises every parameter (larger than the init so gradients are well above fp32 noise) and, for
// hyper-connections, keeps base near the init so the mixing stays well-conditioned.
void randomise(TrainModel& m, uint32_t seed, float stddev) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, stddev);
    m.init(seed, stddev);
    for (TrainParam& p : m.params()) {
        if (p.name.find("norm") != std::string::npos || p.name.find("_hc.base") != std::string::npos) {
            float* w = p.value.as<float>();
            for (int64_t i = 0; i < p.value.view().numel(); ++i) w[i] += 0.2f * d(rng);
        }
        if (p.name.find("_hc.scale") != std::string::npos || p.name.find("hc_head.scale") != std::string::npos) {
            float* w = p.value.as<float>();
            for (int64_t i = 0; i < p.value.view().numel(); ++i) w[i] = 0.5f + 0.3f * float(i);
        }
    }
}

// fp32 central differences on a sample of each trainable tensor's entries. Justification of the
// tolerance: with h = 2e-3 the fp32 rounding of a loss of O(2) contributes ~2·6e-8/(2h) ≈ 3e-5 per
// difference and truncation ~h² ≈ 4e-6; we compare the sampled gradient vector as a whole
// (‖a − fd‖ / ‖fd‖ ≤ 2e-2) and each entry with an absolute slack of 1e-3.
void gradient_check(const ModelConfig& cfg, float aux_alpha, uint32_t seed) {
    auto be = make_cpu_backend(1);
    TrainModel m(cfg, *be);
    randomise(m, seed, 0.35f);
    const int64_t B = 2, T = 5;
    std::vector<int32_t> tok(B * T), tgt(B * T);
    std::mt19937 rng(seed + 1);
    for (size_t i = 0; i < tok.size(); ++i) {
        tok[i] = int32_t(rng() % cfg.vocab_size);
        tgt[i] = i % 4 == 3 ? -100 : int32_t(rng() % cfg.vocab_size);
    }
    m.zero_grad();
    ForwardStats st = m.forward_backward(tok.data(), tgt.data(), B, T, 1.0f, aux_alpha);
    EXPECT_EQ(st.tokens, 8);  // two of ten targets are ignored
    if (aux_alpha > 0) {
        EXPECT_GT(st.aux_loss, 0.0);
    }
    std::vector<std::pair<std::string, std::vector<float>>> grads;
    for (TrainParam& p : m.params())
        if (p.trainable)
            grads.emplace_back(p.name, std::vector<float>(p.grad.as<float>(), p.grad.as<float>() + p.grad.view().numel()));
    auto objective = [&] {
        ForwardStats s = m.forward(tok.data(), tgt.data(), B, T);
        if (aux_alpha > 0) {  // the aux loss is only computed on the training path
            s = m.forward_backward(tok.data(), tgt.data(), B, T, 1.0f, aux_alpha);
            return double(s.loss) + s.aux_loss;
        }
        return double(s.loss);
    };
    const float h = 2e-3f;
    double num = 0, den = 0;
    int checked = 0;
    for (auto& [name, g] : grads) {
        TrainParam* p = m.find(name);
        float* w = p->value.as<float>();
        const int64_t n = p->value.view().numel();
        for (int64_t k = 0; k < std::min<int64_t>(n, 4); ++k) {
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
    EXPECT_LE(std::sqrt(num / den), 2e-2) << "relative error of the sampled gradient";
}

TEST(TrainModel, GradientsResidualMlaMoeSoftmax) {
    gradient_check(micro_config(ResidualKind::kResidual, AttentionKind::kMLA, true, false, false), 0.0f, 1);
}
TEST(TrainModel, GradientsMhcMlaQLoraMoeSigmoidWithAuxLoss) {
    gradient_check(micro_config(ResidualKind::kMHC, AttentionKind::kMLA, true, true, true), 0.05f, 2);
}
TEST(TrainModel, GradientsHcMhaDense) {
    gradient_check(micro_config(ResidualKind::kHC, AttentionKind::kMHA, false, false, false), 0.0f, 3);
}
TEST(TrainModel, GradientsMhcPaperFormDense) {
    ModelConfig c = micro_config(ResidualKind::kMHC, AttentionKind::kMLA, false, false, false);
    c.hc_paper_form = true;
    gradient_check(c, 0.0f, 4);
}

// The trainable forward equals the inference Model's forward on the same (saved and re-loaded) weights.
void inference_match(const ModelConfig& cfg, const std::string& tag) {
    auto be = make_cpu_backend(1);
    TrainModel m(cfg, *be);
    randomise(m, 7, 0.3f);
    const auto dir = std::filesystem::temp_directory_path() / ("latent_train_match_" + tag + "_" +
                                                                std::to_string(::getpid()));
    m.save(dir);
    std::unique_ptr<Model> model;
    try {
        model = Model::load(dir, *be);
    } catch (const Error& e) {
        if (std::string(e.what()).find("not implemented") != std::string::npos)
            GTEST_SKIP() << "inference Model::load is not implemented yet: " << e.what();
        throw;
    }
    const int64_t T = 7;
    std::vector<int32_t> tok = {3, 1, 4, 1, 5, 9, 2};
    std::vector<float> train_logits, inf_logits;
    m.forward(tok.data(), nullptr, 1, T, &train_logits);
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
    EXPECT_LE(worst, 1e-4 * std::max(1.0, scale)) << tag;
    std::filesystem::remove_all(dir);
}

TEST(TrainModel, LogitsMatchInferenceV3Moe) {
    inference_match(micro_config(ResidualKind::kResidual, AttentionKind::kMLA, true, true, true), "v3");
}
TEST(TrainModel, LogitsMatchInferenceMhc) {
    inference_match(micro_config(ResidualKind::kMHC, AttentionKind::kMLA, true, false, false), "mhc");
}
TEST(TrainModel, LogitsMatchInferenceMhcPaperFormMha) {
    ModelConfig c = micro_config(ResidualKind::kMHC, AttentionKind::kMHA, false, false, false);
    c.hc_paper_form = true;
    inference_match(c, "paper");
}
TEST(TrainModel, LogitsMatchInferenceHcMha) {
    inference_match(micro_config(ResidualKind::kHC, AttentionKind::kMHA, false, false, false), "hcmha");
}

TEST(Presets, ParameterCountsMatchAllocationAndSizes) {
    auto be = make_cpu_backend(1);
    for (AttentionKind ak : {AttentionKind::kMLA, AttentionKind::kMHA})
        for (bool moe : {false, true})
            for (ResidualKind rk : {ResidualKind::kResidual, ResidualKind::kHC, ResidualKind::kMHC}) {
                PresetOptions o;
                o.attention = ak;
                o.moe = moe;
                o.residual = rk;
                ModelConfig c = make_preset(o);
                TrainModel m(c, *be);
                EXPECT_EQ(count_parameters(c), m.parameter_count());
            }
    for (const char* size : {"tiny", "small", "base"}) {
        PresetOptions o;
        o.size = size;
        const int64_t n = count_parameters(make_preset(o));
        std::printf("preset %-5s (MLA, dense, mHC): %lld parameters\n", size, (long long)n);
        const double want = std::string(size) == "tiny" ? 5e6 : std::string(size) == "small" ? 25e6 : 120e6;
        EXPECT_GT(n, 0.8 * want);
        EXPECT_LT(n, 1.2 * want);
    }
    PresetOptions moe_mha;
    moe_mha.size = "small";
    moe_mha.moe = true;
    moe_mha.attention = AttentionKind::kMHA;
    moe_mha.residual = ResidualKind::kResidual;
    EXPECT_EQ(count_parameters(make_preset(moe_mha)), 38268344);  // the table in presets.h
    EXPECT_EQ(make_preset(moe_mha).architecture, "LatentForCausalLM");  // MHA is our family only
    EXPECT_THROW(make_preset(PresetOptions{"huge"}), Error);
}

TEST(Presets, SavedLayoutAndArchitecture) {
    auto be = make_cpu_backend(1);
    for (ResidualKind rk : {ResidualKind::kResidual, ResidualKind::kMHC}) {
        PresetOptions o;
        o.residual = rk;
        o.moe = true;
        o.vocab_size = 64;
        TrainModel m(make_preset(o), *be);
        m.init(1);
        const auto dir = std::filesystem::temp_directory_path() / ("latent_train_save_" + std::to_string(int(rk)) +
                                                                    "_" + std::to_string(::getpid()));
        m.save(dir);
        ModelConfig back = ModelConfig::from_file(dir / "config.json");
        auto store = WeightStore::open(dir);
        if (rk == ResidualKind::kResidual) {
            EXPECT_EQ(back.architecture, "DeepseekV3ForCausalLM");
            EXPECT_FALSE(store->has("model.hc_head.fn"));
            EXPECT_TRUE(store->has("model.layers.1.mlp.gate.e_score_correction_bias"));
            EXPECT_TRUE(store->has("model.layers.1.mlp.experts.7.down_proj.weight"));
        } else {
            EXPECT_EQ(back.architecture, "LatentForCausalLM");
            EXPECT_EQ(back.residual_kind, ResidualKind::kMHC);
            EXPECT_EQ(back.hc_mult, 4);
            EXPECT_TRUE(store->has("model.layers.3.ffn_hc.fn"));
            EXPECT_TRUE(store->has("model.hc_head.scale"));
        }
        EXPECT_EQ(int64_t(store->tensors().size()), int64_t(m.params().size()));
        // Round trip: a second model loaded from the folder has identical weights.
        TrainModel m2(back, *be);
        m2.load(*store);
        const TrainParam* a = m.find("model.layers.0.self_attn.kv_b_proj.weight");
        const TrainParam* b = m2.find("model.layers.0.self_attn.kv_b_proj.weight");
        for (int64_t i = 0; i < a->value.view().numel(); ++i) ASSERT_EQ(a->value.as<float>()[i], b->value.as<float>()[i]);
        std::filesystem::remove_all(dir);
    }
}

}  // namespace

namespace {

// mhc.md §7.9 in our setting: re-running a step from the same inputs reproduces every activation, so
// the loss and every gradient come out bit-identical (nothing depends on stale workspace state).
TEST(TrainModel, RecomputationIsBitExact) {
    auto be = make_cpu_backend(2);
    TrainModel m(micro_config(ResidualKind::kMHC, AttentionKind::kMLA, true, true, true), *be);
    randomise(m, 21, 0.3f);
    std::vector<int32_t> tok = {1, 2, 3, 4, 5, 6, 7, 8}, tgt = {2, 3, 4, 5, 6, 7, 8, -100};
    m.zero_grad();
    const ForwardStats a = m.forward_backward(tok.data(), tgt.data(), 2, 4);
    std::vector<std::vector<float>> g1;
    for (TrainParam& p : m.params())
        if (p.trainable) g1.emplace_back(p.grad.as<float>(), p.grad.as<float>() + p.grad.view().numel());
    std::vector<float> logits;
    m.forward(tok.data(), nullptr, 1, 3, &logits);  // a different shape in between
    m.zero_grad();
    const ForwardStats b = m.forward_backward(tok.data(), tgt.data(), 2, 4);
    EXPECT_EQ(a.loss, b.loss);
    size_t k = 0;
    for (TrainParam& p : m.params())
        if (p.trainable) {
            for (int64_t i = 0; i < p.grad.view().numel(); ++i) ASSERT_EQ(g1[k][size_t(i)], p.grad.as<float>()[i]) << p.name;
            ++k;
        }
}

}  // namespace
