// test_fp8_model.cpp — DeepSeek-V3-style FP8 checkpoints (E4M3 weights + 128x128 block scales) loaded
// with Model::load, which keeps the FP8 bytes and lets the backend dequantize each weight where it
// lives. The logits must equal, bit for bit, those of the same model given the BF16 dequantization
// computed here from the format's definition; the FP8 model must also differ from the unquantized one
// (so the quantized weights really are the ones used), and the quantizer here is checked per weight.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/backend.h"
#include "engine/model.h"
#include "tiny_checkpoint.h"

namespace {

using engine::Model;
using engine::ModelConfig;

std::vector<float> run(Model& m) {
    auto cache = m.new_cache(32);
    engine::ForwardOptions o;
    o.all_logits = true;
    const std::vector<int32_t> prompt = {3, 17, 42, 8, 63, 1};
    std::vector<float> all, step;
    m.forward(*cache, prompt, o, step);
    all = step;
    for (int32_t t : {9, 55}) {  // two decode steps
        m.forward(*cache, std::vector<int32_t>{t}, o, step);
        all.insert(all.end(), step.begin(), step.end());
    }
    return all;
}

struct Fp8Case {
    const char* name;
    ModelConfig config;
};

class Fp8Model : public ::testing::TestWithParam<int> {};

Fp8Case make_case(int which) {
    switch (which) {
        case 0: return {"v2", tiny::v2_config()};
        case 1: return {"v3", tiny::v3_config()};
        case 2: {  // q/k rope rows in rotate_half order: the loader permutes the dequantized rows
            ModelConfig c = tiny::v3_config();
            c.rope_interleave = false;
            return {"v3_rotate_half", c};
        }
        default: return {"latent_mhc", tiny::latent_config(engine::ResidualKind::kMHC)};
    }
}

TEST_P(Fp8Model, LoadsLikeItsBf16DequantizationBitForBit) {
    const Fp8Case k = make_case(GetParam());
    const tiny::TensorMap f32 = tiny::random_weights(k.config, 4242);
    const tiny::TensorMap fp8 = tiny::to_fp8(f32);
    int64_t fp8_tensors = 0;
    for (const auto& [name, t] : fp8) fp8_tensors += t.dtype == engine::DType::F8_E4M3;
    ASSERT_GT(fp8_tensors, 10) << "every projection weight is FP8";

    const auto dir = tiny::temp_dir(std::string("fp8_") + k.name);
    tiny::write_checkpoint(dir, k.config, fp8);
    const ModelConfig cfg = ModelConfig::from_file(dir / "config.json");
    auto cpu = engine::make_cpu_backend(2);

    auto loaded = Model::load(dir, *cpu);
    auto reference = Model::from_store(cfg, std::make_unique<tiny::MemoryStore>(tiny::dequantized_fp8(fp8)), *cpu);
    auto unquantized = Model::from_store(cfg, std::make_unique<tiny::MemoryStore>(f32), *cpu);

    const std::vector<float> got = run(*loaded), want = run(*reference), exact = run(*unquantized);
    ASSERT_EQ(got.size(), want.size());
    int64_t differ = 0;
    for (size_t i = 0; i < got.size(); ++i) differ += got[i] != want[i];
    EXPECT_EQ(differ, 0) << k.name << ": logits differ from the host-dequantized model";

    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(double(got[i]) - double(exact[i])));
    EXPECT_GT(worst, 0.0) << "FP8 rounding must change the logits";
    // The test's quantizer is sane: each dequantized weight is within half an E4M3 step (2^-4 relative) of
    // the original, or below the block's subnormal step. (Logits are not compared with a bound: a tiny
    // random MoE reroutes tokens on perturbations this size.)
    const tiny::TensorMap deq = tiny::dequantized_fp8(fp8);
    for (const auto& [name, t] : fp8) {
        if (t.dtype != engine::DType::F8_E4M3) continue;
        const auto* w = reinterpret_cast<const float*>(f32.at(name).bytes.data());
        const auto* d = reinterpret_cast<const uint16_t*>(deq.at(name).bytes.data());
        const auto* scale = reinterpret_cast<const float*>(fp8.at(name + "_scale_inv").bytes.data());
        const int64_t cols = t.shape[1], bc = (cols + 127) / 128;
        int bad = 0;
        for (size_t i = 0; i < t.bytes.size(); ++i) {
            const int64_t r = int64_t(i) / cols, c = int64_t(i) % cols;
            const double err = std::fabs(double(engine::bf16_to_f32(d[i])) - double(w[i]));
            bad += err > std::fabs(double(w[i])) / 16.0 * 1.01 + std::ldexp(double(scale[(r / 128) * bc + c / 128]), -10);
        }
        EXPECT_EQ(bad, 0) << name;
    }

    // Weight memory counts FP8 weights as the BF16 they become.
    EXPECT_EQ(loaded->stats().weight_bytes, reference->stats().weight_bytes);
    EXPECT_EQ(loaded->stats().total_params, unquantized->stats().total_params);
    std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Families, Fp8Model, ::testing::Range(0, 4),
                         [](const auto& info) { return std::string(make_case(info.param).name); });

}  // namespace
