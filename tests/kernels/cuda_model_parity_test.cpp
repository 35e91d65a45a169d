// cuda_model_parity_test.cpp — the whole model forward on the GPU against the CPU reference backend:
// tiny random checkpoints of each family member (tests/engine/model/tiny_checkpoint.h: V2-Lite style,
// V3 style with q_lora and noaux_tc routing, our LatentForCausalLM with mHC and with HC, an MHA
// ablation), F32 weights. A 9-token prefill (explicit MLA; T ≥ 5 takes the fused prefill attention on
// the GPU) with the logits of every token, then three decode steps (absorbed MLA over the latent cache:
// the split-KV decode kernel), compared step by step.
//
// Tolerance: max |gpu − cpu| / max |cpu| ≤ 1e-4 over the logits — different GEMM and reduction orders
// compounded over 3 layers; the mHC coefficients are fp64 on the CPU and fp32 on the GPU.
//
// LATENT_PARITY_SELFTEST=1 runs the cases with a single-threaded CPU backend in the GPU's place (the
// ctest entry test_kernels_model_cpu_selftest), so the test code runs in CI without a GPU.
#include <gtest/gtest.h>

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "cuda_parity_fixture.h"
#include "engine/model.h"
#include "tiny_checkpoint.h"

using namespace engine;

namespace {

struct Case {
    const char* name;
    ModelConfig (*config)();
};

ModelConfig latent_mhc() { return tiny::latent_config(ResidualKind::kMHC); }
ModelConfig latent_hc() { return tiny::latent_config(ResidualKind::kHC); }
ModelConfig latent_mha() { return tiny::latent_config(ResidualKind::kResidual, AttentionKind::kMHA); }

const Case kCases[] = {{"v2", tiny::v2_config},
                       {"v3", tiny::v3_config},
                       {"latent_mhc", latent_mhc},
                       {"latent_hc", latent_hc},
                       {"latent_mha", latent_mha}};

class CudaModelParity : public parity::CudaParitySelftest, public ::testing::WithParamInterface<Case> {};

}  // namespace

TEST_P(CudaModelParity, PrefillAndDecodeLogitsMatchCpu) {
    const ModelConfig c = GetParam().config();
    const tiny::TensorMap weights = tiny::random_weights(c, 2024);
    auto cpu_model = Model::from_store(c, std::make_unique<tiny::MemoryStore>(weights), *cpu_);
    auto gpu_model = Model::from_store(c, std::make_unique<tiny::MemoryStore>(weights), *gpu_);
    auto cpu_cache = cpu_model->new_cache(32);
    auto gpu_cache = gpu_model->new_cache(32);
    const std::vector<int32_t> prompt = {5, 17, 3, 42, 9, 63, 0, 28, 11};
    ForwardOptions all;
    all.all_logits = true;
    std::vector<float> want, got;
    cpu_model->forward(*cpu_cache, prompt, all, want);
    gpu_model->forward(*gpu_cache, prompt, all, got);
    ASSERT_EQ(want.size(), prompt.size() * size_t(c.vocab_size));
    expect_close(got, want, 1e-4, "prefill logits");
    for (const int32_t tok : {7, 50, 2}) {
        const std::vector<int32_t> one = {tok};
        cpu_model->forward(*cpu_cache, one, ForwardOptions{}, want);
        gpu_model->forward(*gpu_cache, one, ForwardOptions{}, got);
        expect_close(got, want, 1e-4, ("decode logits after token " + std::to_string(tok)).c_str());
    }
    EXPECT_EQ(gpu_cache->size(), int64_t(prompt.size() + 3));
}

INSTANTIATE_TEST_SUITE_P(Family, CudaModelParity, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });
