// test_hf_parity.cpp — logits parity with Hugging Face transformers on tiny random DeepSeek-V2 (no
// q_lora_rank) and DeepSeek-V3 (q_lora_rank) models with YaRN and a GLM-4.7-Flash-layout Glm4MoeLite model
// (v_head_dim != qk_nope_head_dim), from fixtures made by
// tests/parity/make_hf_fixtures.py on a machine with PyTorch + transformers (tests/data/parity/<name>/:
// config.json, model.safetensors, logits.json with the transformers version). Skips when absent.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/model.h"

namespace {

namespace fs = std::filesystem;

class HfParity : public ::testing::TestWithParam<const char*> {};

TEST_P(HfParity, LogitsMatchTransformers) {
    const fs::path dir = fs::path(LATENT_TEST_DATA_DIR) / "parity" / GetParam();
    if (!fs::exists(dir / "logits.json"))
        GTEST_SKIP() << dir << " not generated yet: run `python3 tests/parity/make_hf_fixtures.py` on a machine "
                     << "with PyTorch + transformers and commit tests/data/parity/";
    std::ifstream in(dir / "logits.json");
    nlohmann::json j = nlohmann::json::parse(in);
    const std::vector<int32_t> tokens = j.at("tokens").get<std::vector<int32_t>>();
    std::vector<double> ref;
    for (auto& row : j.at("logits"))
        for (auto& v : row) ref.push_back(v.get<double>());
    std::cout << "[ parity ] " << GetParam() << ": transformers " << j.value("transformers_version", "?")
              << (j.value("patched_softmax_scale", false) ? " (softmax scale pinned to m^2 by the script)" : "")
              << "\n";

    auto be = engine::make_cpu_backend(0);
    auto model = engine::Model::load(dir, *be);
    for (int64_t chunk : {int64_t(tokens.size()), int64_t(1)}) {  // explicit prefill, then absorbed decode
        auto cache = model->new_cache(int64_t(tokens.size()));
        engine::ForwardOptions o;
        o.all_logits = true;
        std::vector<float> all, step;
        for (size_t i = 0; i < tokens.size(); i += size_t(chunk)) {
            model->forward(*cache, std::span<const int32_t>(tokens.data() + i, size_t(chunk)), o, step);
            all.insert(all.end(), step.begin(), step.end());
        }
        ASSERT_EQ(all.size(), ref.size());
        double worst = 0;
        for (size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::fabs(double(all[i]) - ref[i]));
        EXPECT_LE(worst, 1e-4) << GetParam() << (chunk == 1 ? " decode" : " prefill");
    }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HfParity, ::testing::Values("deepseek_v2_tiny", "deepseek_v3_tiny",
                                                                  "glm4_moe_lite_tiny"));

}  // namespace
