// test_kv_cache_bf16.cpp — a BF16 KV cache (Model::new_cache(capacity, DType::BF16)) on tiny checkpoints:
//   * every attention path reads the same rounded latents / keys, so absorbed decode, explicit prefill,
//     token-by-token and chunked runs agree ≤ 1e-5 relative, as they do with an F32 cache;
//   * the logits stay near the F32 cache's (bf16 keeps 8 bits: ≤ 1e-2 of the largest logit; 2e-3..3.3e-3 seen) and
//     differ from them (the rounding really happened);
//   * the cache's memory and bytes per token halve; bad dtypes and names are refused with the choices.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/model.h"
#include "tiny_checkpoint.h"

namespace {

using engine::AttentionPath;
using engine::DType;
using engine::ForwardOptions;
using engine::Model;
using engine::ModelConfig;

const std::vector<int32_t> kTokens = {5, 17, 3, 42, 9, 63, 0, 28, 11, 7, 2};

// Logits for every token, fed `chunk` tokens per forward call into a cache of `dtype`.
std::vector<float> run(const Model& m, DType dtype, AttentionPath path, int64_t chunk) {
    auto cache = m.new_cache(32, dtype);
    std::vector<float> all, step;
    ForwardOptions o;
    o.attention = path;
    o.all_logits = true;
    for (size_t i = 0; i < kTokens.size(); i += size_t(chunk)) {
        const size_t n = std::min(size_t(chunk), kTokens.size() - i);
        m.forward(*cache, std::span<const int32_t>(kTokens.data() + i, n), o, step);
        all.insert(all.end(), step.begin(), step.end());
    }
    EXPECT_EQ(cache->size(), int64_t(kTokens.size()));
    return all;
}

// max |a − b| / max |a|
double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
    EXPECT_EQ(a.size(), b.size());
    double scale = 0, worst = 0;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
        scale = std::max(scale, double(std::fabs(a[i])));
        worst = std::max(worst, std::fabs(double(a[i]) - double(b[i])));
    }
    EXPECT_GT(scale, 1e-3) << "degenerate logits";
    return worst / std::max(scale, 1e-30);
}

ModelConfig config_for(int which) {
    switch (which) {
        case 0: return tiny::v2_config();
        case 1: return tiny::v3_config();
        case 2: return tiny::latent_config(engine::ResidualKind::kMHC);
        default: return tiny::latent_config(engine::ResidualKind::kResidual, engine::AttentionKind::kMHA);
    }
}

class KvCacheBf16 : public ::testing::TestWithParam<int> {};

TEST_P(KvCacheBf16, PathsAgreeAndStayNearF32) {
    auto be = engine::make_cpu_backend(1);
    const ModelConfig c = config_for(GetParam());
    auto m = Model::from_store(c, std::make_unique<tiny::MemoryStore>(tiny::random_weights(c, 77 + GetParam())), *be);
    const int64_t n = int64_t(kTokens.size());
    const std::vector<float> f32 = run(*m, DType::F32, AttentionPath::kAuto, n);
    const std::vector<float> prefill = run(*m, DType::BF16, AttentionPath::kAuto, n);  // explicit
    EXPECT_LE(rel_diff(prefill, run(*m, DType::BF16, AttentionPath::kAuto, 1)), 1e-5) << "decode token by token";
    EXPECT_LE(rel_diff(prefill, run(*m, DType::BF16, AttentionPath::kAuto, 4)), 1e-5) << "chunks of 4";
    if (c.attention_kind == engine::AttentionKind::kMLA) {
        EXPECT_LE(rel_diff(prefill, run(*m, DType::BF16, AttentionPath::kAbsorbed, n)), 1e-5) << "absorbed prefill";
        EXPECT_LE(rel_diff(prefill, run(*m, DType::BF16, AttentionPath::kExplicit, 3)), 1e-5) << "explicit chunks";
    }
    const double vs_f32 = rel_diff(f32, prefill);
    RecordProperty("bf16_vs_f32_rel", std::to_string(vs_f32));
    EXPECT_LE(vs_f32, 1e-2) << "BF16 cache vs F32 cache";
    EXPECT_GT(vs_f32, 1e-6) << "the BF16 cache gave the F32 cache's logits: were the latents rounded?";
}

std::string config_name(const ::testing::TestParamInfo<int>& info) {
    static const char* const kNames[] = {"V2NoQLora", "V3QLoraYarn", "LatentMhc", "Mha"};
    return kNames[info.param];
}

INSTANTIATE_TEST_SUITE_P(Configs, KvCacheBf16, ::testing::Values(0, 1, 2, 3), config_name);

TEST(KvCacheBf16Stats, HalvesMemoryAndNamesItsType) {
    auto be = engine::make_cpu_backend(1);
    const ModelConfig c = tiny::v3_config();
    auto m = Model::from_store(c, std::make_unique<tiny::MemoryStore>(tiny::random_weights(c, 5)), *be);
    auto f = m->new_cache(16), b = m->new_cache(16, DType::BF16);
    const engine::KvCacheStats fs = f->stats(), bs = b->stats();
    EXPECT_EQ(fs.dtype, DType::F32);
    EXPECT_EQ(bs.dtype, DType::BF16);
    EXPECT_EQ(bs.bytes_per_token, 3 * (16 + 8) * 2);  // layers · (r_kv + d_r) · 2
    EXPECT_EQ(fs.bytes_per_token, 2 * bs.bytes_per_token);
    EXPECT_EQ(bs.bytes_allocated, 16 * bs.bytes_per_token);
    EXPECT_EQ(bs.mha_bytes_per_token * 2, fs.mha_bytes_per_token) << "the MHA comparison uses the same element";
}

TEST(KvCacheBf16Stats, RefusesOtherTypesWithTheChoices) {
    auto be = engine::make_cpu_backend(1);
    const ModelConfig c = tiny::v2_config();
    auto m = Model::from_store(c, std::make_unique<tiny::MemoryStore>(tiny::random_weights(c, 6)), *be);
    try {
        (void)m->new_cache(8, DType::F16);
        ADD_FAILURE() << "an F16 cache was accepted";
    } catch (const engine::Error& e) {
        EXPECT_EQ(e.kind(), engine::ErrorKind::kInvalidArgument);
        EXPECT_NE(e.message().find("F16"), std::string::npos) << e.message();
        EXPECT_NE(e.message().find("bf16"), std::string::npos) << e.message();
    }
    EXPECT_EQ(engine::kv_cache_dtype_from_name("bf16"), DType::BF16);
    EXPECT_EQ(engine::kv_cache_dtype_from_name("F32"), DType::F32);
    EXPECT_STREQ(engine::kv_cache_dtype_name(DType::BF16), "bf16");
    try {
        (void)engine::kv_cache_dtype_from_name("q4_0");
        ADD_FAILURE() << "q4_0 was accepted";
    } catch (const engine::Error& e) {
        EXPECT_NE(e.message().find("'q4_0'"), std::string::npos) << e.message();
        EXPECT_NE(e.message().find("f32"), std::string::npos) << e.message();
    }
}

}  // namespace
