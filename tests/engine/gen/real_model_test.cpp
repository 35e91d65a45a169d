// real_model_test.cpp — Session and generate() on the real forward pass (the checked-in tiny
// DeepseekV3 checkpoint tests/data/model/v3_tiny): prefix reuse and truncation give the logits a fresh
// full prefill gives, cached decoding picks the tokens a from-scratch prefill of every step picks, and
// the expert-load telemetry counts top_k experts per token in each MoE layer.
#include <gtest/gtest.h>

#include <cmath>

#include "fake_model.h"

using namespace gen_test;

namespace {

struct Fixture {
    std::unique_ptr<Backend> backend = make_cpu_backend(1);
    std::unique_ptr<Model> model = Model::load(std::string(LATENT_TEST_DATA_DIR) + "/model/v3_tiny", *backend);
};

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    EXPECT_EQ(a.size(), b.size());
    float d = 0;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) d = std::max(d, std::fabs(a[i] - b[i]));
    return d;
}

std::vector<int32_t> seq(std::initializer_list<int32_t> ids) { return ids; }

FakeTokenizer tokenizer_for(int64_t vocab) {  // id i -> one printable character
    std::vector<std::string> pieces;
    for (int64_t i = 0; i < vocab; ++i) pieces.push_back(std::string(1, char('0' + i % 64)));
    return FakeTokenizer(pieces, {}, {});
}

}  // namespace

TEST(SessionOnModel, PrefixReuseAndTruncationMatchAFreshPrefill) {
    Fixture f;
    const auto a = seq({3, 14, 15, 9, 26}), ab = seq({3, 14, 15, 9, 26, 53, 58, 9}), ac = seq({3, 14, 15, 7, 7});
    Session reused(*f.model, 32);
    reused.set_tokens(a);
    std::vector<float> got_ab = reused.set_tokens(ab);  // runs only 53, 58, 9 against the cached prefix
    Session fresh(*f.model, 32);
    std::vector<float> want_ab = fresh.set_tokens(ab);
    EXPECT_LE(max_abs_diff(got_ab, want_ab), 1e-4f);
    EXPECT_EQ(reused.kv_stats().tokens, 8);

    std::vector<float> got_ac = reused.set_tokens(ac);  // diverges at index 3: cache cut to 3 tokens
    fresh.reset();
    std::vector<float> want_ac = fresh.set_tokens(ac);
    EXPECT_LE(max_abs_diff(got_ac, want_ac), 1e-4f);
    EXPECT_EQ(reused.kv_stats().tokens, 5);
    EXPECT_EQ(reused.throughput().prefill_tokens, 5 + 3 + 2);
}

TEST(SessionOnModel, CachedGreedyDecodeMatchesFullRecompute) {
    Fixture f;
    const auto tok = tokenizer_for(f.model->config().vocab_size);
    Session s(*f.model, 64);
    GenerateOptions o;
    o.sampling.temperature = 0;
    o.max_tokens = 8;
    o.stop_on_eos = false;
    const auto prompt = seq({5, 17, 33, 2, 40});
    auto r = generate(s, tok, prompt, o);
    ASSERT_EQ(r.tokens.size(), 8u);
    // Reference: no cache reuse at all, one full prefill per step, argmax.
    std::vector<int32_t> ctx = prompt;
    for (size_t i = 0; i < r.tokens.size(); ++i) {
        Session once(*f.model, 64);
        const auto& l = once.set_tokens(ctx);
        const int32_t want = int32_t(std::max_element(l.begin(), l.end()) - l.begin());
        ASSERT_EQ(r.tokens[i], want) << "step " << i;
        ctx.push_back(want);
    }
    EXPECT_EQ(r.throughput.prefill_tokens, 5);
    EXPECT_EQ(r.throughput.decode_tokens, 7);
}

TEST(SessionOnModel, ExpertLoadCountsTopKPerTokenInMoeLayers) {
    Fixture f;
    const auto& cfg = f.model->config();
    Session s(*f.model, 32);
    ASSERT_EQ(s.expert_load().n_layers, cfg.num_hidden_layers);
    ASSERT_EQ(s.expert_load().n_experts, cfg.n_routed_experts);
    const auto p = seq({1, 2, 3, 4, 5, 6});
    ExpertLoad mirror;
    s.set_tokens(p, &mirror);
    for (int64_t l = 0; l < cfg.num_hidden_layers; ++l) {
        const auto& row = s.expert_load().cumulative[size_t(l)];
        if (!cfg.is_moe_layer(l)) {
            EXPECT_TRUE(row.empty()) << "dense layer " << l;
            continue;
        }
        int64_t total = 0;
        for (int64_t c : row) total += c;
        EXPECT_EQ(total, 6 * cfg.num_experts_per_tok) << "layer " << l;
        EXPECT_EQ(mirror.last_step[size_t(l)], s.expert_load().last_step[size_t(l)]) << "layer " << l;
    }
    s.append(seq({7}));
    for (int64_t l = 0; l < cfg.num_hidden_layers; ++l) {
        if (!cfg.is_moe_layer(l)) continue;
        int64_t step = 0;
        for (int64_t c : s.expert_load().last_step[size_t(l)]) step += c;
        EXPECT_EQ(step, cfg.num_experts_per_tok) << "layer " << l;
    }
    s.reset();
    for (int64_t l = 0; l < cfg.num_hidden_layers; ++l)
        for (int64_t c : s.expert_load().cumulative[size_t(l)]) EXPECT_EQ(c, 0);
}

TEST(SessionOnModel, KvStatsReportLatentAndMhaBytes) {
    Fixture f;
    const auto& cfg = f.model->config();
    Session s(*f.model, 16);
    s.set_tokens(seq({1, 2, 3}));
    const KvCacheStats st = s.kv_stats();
    EXPECT_EQ(st.tokens, 3);
    EXPECT_EQ(st.capacity_tokens, 16);
    EXPECT_EQ(st.bytes_per_token, cfg.num_hidden_layers * (cfg.kv_lora_rank + cfg.qk_rope_head_dim) * 4);
    EXPECT_EQ(st.bytes_used, 3 * st.bytes_per_token);
    EXPECT_EQ(st.dtype, engine::DType::F32);

    // A BF16 cache (Session's kv_dtype): half the bytes per token.
    Session b(*f.model, 16, engine::DType::BF16);
    b.set_tokens(seq({1, 2, 3}));
    EXPECT_EQ(b.kv_stats().dtype, engine::DType::BF16);
    EXPECT_EQ(b.kv_stats().bytes_per_token * 2, st.bytes_per_token);
    EXPECT_EQ(b.kv_stats().bytes_used, 3 * b.kv_stats().bytes_per_token);
}
