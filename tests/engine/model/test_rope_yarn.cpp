// test_rope_yarn.cpp — YaRN inverse frequencies, the m² softmax scale and the RoPE amplitude
// (deepseek-arch.md §2, §4), checked against values computed here in double from the spec's formulas.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "engine/config.h"

namespace {

engine::ModelConfig deepseek_yarn(double mscale, double mscale_all_dim) {
    engine::ModelConfig c;
    c.qk_nope_head_dim = 128;
    c.qk_rope_head_dim = 64;
    c.rope_theta = 10000.0;
    engine::RopeScaling y;
    y.type = "yarn";
    y.factor = 40.0;
    y.original_max_position_embeddings = 4096;
    y.beta_fast = 32.0;
    y.beta_slow = 1.0;
    y.mscale = mscale;
    y.mscale_all_dim = mscale_all_dim;
    c.rope_scaling = y;
    return c;
}

TEST(RopeYarn, SoftmaxScaleV2LiteAndV3) {
    // d_qk^-0.5 · m², m = 0.1·mscale_all_dim·ln(40) + 1
    EXPECT_NEAR(deepseek_yarn(0.707, 0.707).softmax_scale(), 0.1147214, 5e-7);
    EXPECT_NEAR(deepseek_yarn(1.0, 1.0).softmax_scale(), 0.1352338, 5e-7);
    engine::ModelConfig plain = deepseek_yarn(1.0, 1.0);
    plain.rope_scaling.reset();  // Moonlight: no YaRN
    EXPECT_NEAR(plain.softmax_scale(), 0.0721688, 5e-7);
}

TEST(RopeYarn, AttentionFactorIsOneForDeepSeekConfigs) {
    EXPECT_FLOAT_EQ(deepseek_yarn(0.707, 0.707).rope_attention_factor(), 1.0f);
    EXPECT_FLOAT_EQ(deepseek_yarn(1.0, 1.0).rope_attention_factor(), 1.0f);
    // mscale_all_dim absent: get_mscale(40, 1) / 1
    EXPECT_NEAR(deepseek_yarn(1.0, 0.0).rope_attention_factor(), 0.1 * std::log(40.0) + 1.0, 1e-6);
}

TEST(RopeYarn, InvFreqBlendLow10High23) {
    engine::ModelConfig c = deepseek_yarn(0.707, 0.707);
    std::vector<float> f = c.rope_inv_freq();
    ASSERT_EQ(f.size(), 32u);
    // corr(n) = d·ln(L/(n·2π)) / (2·ln b) gives 10.47 and 22.51 -> low 10, high 23.
    const double corr_fast = 64 * std::log(4096 / (32 * 2 * M_PI)) / (2 * std::log(10000.0));
    const double corr_slow = 64 * std::log(4096 / (1 * 2 * M_PI)) / (2 * std::log(10000.0));
    ASSERT_EQ(std::floor(corr_fast), 10.0);
    ASSERT_EQ(std::ceil(corr_slow), 23.0);
    for (int i = 0; i < 32; ++i) {
        const double fe = 1.0 / std::pow(10000.0, 2.0 * i / 64.0), fi = fe / 40.0;
        const double ramp = std::clamp((i - 10.0) / 13.0, 0.0, 1.0);
        const double expect = fi * ramp + fe * (1.0 - ramp);
        EXPECT_NEAR(f[size_t(i)], expect, 2e-6 * expect) << "i=" << i;
        if (i <= 10) {
            EXPECT_NEAR(f[size_t(i)], fe, 1e-6 * fe) << "i=" << i << " keeps the original frequency";
        }
        if (i >= 23) {
            EXPECT_NEAR(f[size_t(i)], fe / 40, 1e-6 * fe / 40) << "i=" << i << " is divided by 40";
        }
    }
    // i = 16 is strictly between: ramp 6/13.
    EXPECT_GT(f[16], 1.0 / std::pow(10000.0, 32.0 / 64.0) / 40.0);
    EXPECT_LT(f[16], 1.0 / std::pow(10000.0, 32.0 / 64.0));
}

TEST(RopeYarn, PlainRopeWithoutScaling) {
    engine::ModelConfig c = deepseek_yarn(1, 1);
    c.rope_scaling.reset();
    c.rope_theta = 50000.0;
    std::vector<float> f = c.rope_inv_freq();
    for (int i = 0; i < 32; ++i) EXPECT_NEAR(f[size_t(i)], 1.0 / std::pow(50000.0, 2.0 * i / 64.0), 1e-6 * f[size_t(i)]);
}

}  // namespace
