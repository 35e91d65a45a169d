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
//
// Bf16KvCacheMatchesCpuBf16Cache runs the same with a BF16 KV cache on both backends.
// DecodeStepsAsGraphsMatchOpByOp checks the CUDA Graph decode path against op-by-op decode.
// The second suite (CudaTrainModelParity, below) trains on the GPU: forward_backward + AdamW.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "cuda_parity_fixture.h"
#include "engine/model.h"
#include "engine/train/optimizer.h"
#include "engine/train/train_model.h"
#include "engine/train/trainer.h"
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

void PrintTo(const Case& k, std::ostream* os) { *os << k.name; }
class CudaModelParity : public parity::CudaParitySelftest, public ::testing::WithParamInterface<Case> {
protected:
    // A 9-token prefill (all logits) then three decode steps, on the CPU and the GPU, each with a cache of
    // `kv`; logits compared at every step within `tol` of the largest.
    void prefill_and_decode_match(DType kv, uint32_t seed, double tol) {
        const ModelConfig c = GetParam().config();
        const tiny::TensorMap weights = tiny::random_weights(c, seed);
        auto cpu_model = Model::from_store(c, std::make_unique<tiny::MemoryStore>(weights), *cpu_);
        auto gpu_model = Model::from_store(c, std::make_unique<tiny::MemoryStore>(weights), *gpu_);
        auto cpu_cache = cpu_model->new_cache(32, kv);
        auto gpu_cache = gpu_model->new_cache(32, kv);
        EXPECT_EQ(gpu_cache->stats().dtype, kv);
        const std::string tag = std::string(", ") + kv_cache_dtype_name(kv) + " cache";
        const std::vector<int32_t> prompt = {5, 17, 3, 42, 9, 63, 0, 28, 11};
        ForwardOptions all;
        all.all_logits = true;
        std::vector<float> want, got;
        cpu_model->forward(*cpu_cache, prompt, all, want);
        gpu_model->forward(*gpu_cache, prompt, all, got);
        ASSERT_EQ(want.size(), prompt.size() * size_t(c.vocab_size));
        expect_close(got, want, tol, ("prefill logits" + tag).c_str());
        for (const int32_t tok : {7, 50, 2}) {
            const std::vector<int32_t> one = {tok};
            cpu_model->forward(*cpu_cache, one, ForwardOptions{}, want);
            gpu_model->forward(*gpu_cache, one, ForwardOptions{}, got);
            expect_close(got, want, tol, ("decode logits after token " + std::to_string(tok) + tag).c_str());
        }
        EXPECT_EQ(gpu_cache->size(), int64_t(prompt.size() + 3));
    }
};

}  // namespace

TEST_P(CudaModelParity, PrefillAndDecodeLogitsMatchCpu) {
    prefill_and_decode_match(DType::F32, 2024, 1e-4);
}

// The same with a BF16 KV cache on both backends (Model::new_cache(.., BF16)): new latents / keys are
// rounded to bf16 as they are written, and attention widens them. The two backends compute the latents
// in different orders (~1e-6 apart), so an element close to a bf16 rounding boundary can round one way on
// the CPU and the other on the GPU (a 2^-8 relative difference in that element); 1e-3 of the largest logit
// leaves room for that, ten times tighter than the F32-vs-BF16 cache difference (2e-3..3.3e-3 on the CPU).
TEST_P(CudaModelParity, Bf16KvCacheMatchesCpuBf16Cache) {
    prefill_and_decode_match(DType::BF16, 2025, 1e-3);
}

INSTANTIATE_TEST_SUITE_P(Family, CudaModelParity, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

// A DeepSeek-V3-style FP8 checkpoint (tiny::to_fp8: every projection weight E4M3 with 128x128 block
// scales), dequantized on load by the GPU (Backend::dequantize_fp8): the logits must be identical to
// those of the same GPU given the BF16 weights dequantized on the host from the format's definition
// (tiny::dequantized_fp8), prefill and decode. Not compared with the CPU: with BF16 weights the GPU's
// GEMMs take BF16 activations (the CPU keeps fp32), and in these tiny random MoE models that rounding
// reroutes a token now and then (seen emulated: latent_mha, 0.25 relative); the BF16 ops themselves are
// compared per op (MoeExpertsParity, MatmulAllWeightDtypes).
TEST_P(CudaModelParity, Fp8CheckpointDequantizedOnTheDeviceIsExact) {
    const ModelConfig c = GetParam().config();
    const tiny::TensorMap fp8 = tiny::to_fp8(tiny::random_weights(c, 99));
    auto fp8_model = Model::from_store(c, std::make_unique<tiny::MemoryStore>(fp8), *gpu_);
    auto bf16_model = Model::from_store(c, std::make_unique<tiny::MemoryStore>(tiny::dequantized_fp8(fp8)), *gpu_);
    auto fp8_cache = fp8_model->new_cache(16), bf16_cache = bf16_model->new_cache(16);
    ForwardOptions all;
    all.all_logits = true;
    std::vector<float> got, want;
    auto exact = [&](const char* what) {
        ASSERT_EQ(got.size(), want.size());
        ASSERT_FALSE(got.empty());
        for (size_t v = 0; v < got.size(); ++v)
            ASSERT_EQ(got[v], want[v]) << what << ", logit " << v << ": GPU dequantization differs from the host's";
    };
    const std::vector<int32_t> prompt = {4, 33, 8, 61, 20, 2};
    fp8_model->forward(*fp8_cache, prompt, all, got);
    bf16_model->forward(*bf16_cache, prompt, all, want);
    exact("prefill");
    fp8_model->forward(*fp8_cache, std::vector<int32_t>{12}, ForwardOptions{}, got);
    bf16_model->forward(*bf16_cache, std::vector<int32_t>{12}, ForwardOptions{}, want);
    exact("decode");
    EXPECT_EQ(fp8_model->stats().weight_bytes, bf16_model->stats().weight_bytes);
}

// Decode attention on TF32 tensor cores through the whole model (a backend made with
// LATENT_CUDA_ATTENTION=tf32): a V3-style config with 16 heads and a 64-wide latent, so the absorbed
// decode takes attention_decode_tc.cu. Logits within 1e-2 of the CPU's over 3 decode steps (q, k, v and
// p in TF32; emulated: 0.6e-4 to 2.6e-4, the margin is for a routing flip on a near-tie), and NOT
// identical to the default fp32 kernel's: identical bits would mean the TF32 kernel never ran.
// (Prefill, T = 6, takes the fp32 flash kernel on both backends: v_head_dim 12 is not a multiple of 8.)
class CudaTf32DecodeModel : public parity::CudaParity {};

TEST_F(CudaTf32DecodeModel, DecodeLogitsMatchCpuAndDifferFromFp32Kernel) {
    ModelConfig c = tiny::v3_config();
    c.num_attention_heads = 16;
    c.num_key_value_heads = 16;
    c.kv_lora_rank = 64;
    const tiny::TensorMap weights = tiny::random_weights(c, 31);
    const std::unique_ptr<Backend> tf32 = parity::cuda_backend_with_attention("tf32");
    auto cpu_model = Model::from_store(c, std::make_unique<tiny::MemoryStore>(weights), *cpu_);
    auto fp32_model = Model::from_store(c, std::make_unique<tiny::MemoryStore>(weights), *gpu_);
    auto tf32_model = Model::from_store(c, std::make_unique<tiny::MemoryStore>(weights), *tf32);
    auto cc = cpu_model->new_cache(16), fc = fp32_model->new_cache(16), tc = tf32_model->new_cache(16);
    const std::vector<int32_t> prompt = {9, 2, 44, 17, 30, 6};
    std::vector<float> want, fp32, got;
    cpu_model->forward(*cc, prompt, ForwardOptions{}, want);
    fp32_model->forward(*fc, prompt, ForwardOptions{}, fp32);
    tf32_model->forward(*tc, prompt, ForwardOptions{}, got);
    size_t differ = 0;
    for (const int32_t tok : {5, 61, 23}) {
        const std::vector<int32_t> one = {tok};
        cpu_model->forward(*cc, one, ForwardOptions{}, want);
        fp32_model->forward(*fc, one, ForwardOptions{}, fp32);
        tf32_model->forward(*tc, one, ForwardOptions{}, got);
        expect_close(got, want, 1e-2, ("TF32 decode logits after token " + std::to_string(tok)).c_str());
        expect_close(fp32, want, 1e-4, ("fp32 decode logits after token " + std::to_string(tok)).c_str());
        for (size_t v = 0; v < got.size(); ++v) differ += got[v] != fp32[v];
    }
    EXPECT_GT(differ, size_t(0)) << "TF32 and fp32 decode gave identical logits: the tensor-core kernel did not run";
}

// A chat turn over a cached prefix, run absorbed (what kAuto picks for a few tokens after a long history):
// with a 512-wide latent the attention is MQA over [S, 1, 520] rows with v their first 512 columns, beyond
// the flash kernel, so the split-KV kernel takes the 6 queries at once. Logits of every new token within
// 1e-4 of the CPU's (both fp32; the prompt itself runs explicit on both).
class CudaChatTurnModel : public parity::CudaParitySelftest {};

TEST_F(CudaChatTurnModel, AbsorbedChunkOverCachedPrefixMatchesCpu) {
    ModelConfig c = tiny::v3_config();
    c.kv_lora_rank = 512;
    c.validate("chat-turn parity config");
    const tiny::TensorMap weights = tiny::random_weights(c, 41);
    auto cpu_model = Model::from_store(c, std::make_unique<tiny::MemoryStore>(weights), *cpu_);
    auto gpu_model = Model::from_store(c, std::make_unique<tiny::MemoryStore>(weights), *gpu_);
    auto cc = cpu_model->new_cache(32), gc = gpu_model->new_cache(32);
    const std::vector<int32_t> history = {9, 2, 44, 17, 30, 6, 12, 3}, turn = {5, 61, 23, 8, 40, 1};
    std::vector<float> want, got;
    cpu_model->forward(*cc, history, ForwardOptions{}, want);
    gpu_model->forward(*gc, history, ForwardOptions{}, got);
    ForwardOptions absorbed;
    absorbed.attention = AttentionPath::kAbsorbed;
    absorbed.all_logits = true;
    cpu_model->forward(*cc, turn, absorbed, want);
    gpu_model->forward(*gc, turn, absorbed, got);
    ASSERT_EQ(want.size(), turn.size() * size_t(c.vocab_size));
    expect_close(got, want, 1e-4, "absorbed chat-turn logits");
}

// Decode steps recorded and replayed as CUDA Graphs (ForwardOptions::capture_decode, the default) give the
// same logits as the same steps run op by op: both run the same kernels in the same order, so the
// values must be identical. On the GPU the graph path must also have been taken: the first step aborts
// its capture (scratch and expert tables grow), the later ones launch graphs, updated in place.
TEST_P(CudaModelParity, DecodeStepsAsGraphsMatchOpByOp) {
    const ModelConfig c = GetParam().config();
    const tiny::TensorMap weights = tiny::random_weights(c, 77);
    auto model = Model::from_store(c, std::make_unique<tiny::MemoryStore>(weights), *gpu_);
    auto eager_cache = model->new_cache(32), graph_cache = model->new_cache(32);
    const std::vector<int32_t> prompt = {3, 14, 15, 9, 26, 5};
    ForwardOptions eager, graph;
    eager.capture_decode = false;
    std::vector<float> want, got;
    model->forward(*eager_cache, prompt, eager, want);
    model->forward(*graph_cache, prompt, graph, got);
    const Backend::CaptureStats before = gpu_->capture_stats();
    const int steps = 5;
    for (int i = 0; i < steps; ++i) {
        const std::vector<int32_t> one = {int32_t((7 * i + 2) % c.vocab_size)};
        model->forward(*eager_cache, one, eager, want);
        model->forward(*graph_cache, one, graph, got);
        ASSERT_EQ(got.size(), want.size());
        for (size_t v = 0; v < want.size(); ++v)
            ASSERT_EQ(got[v], want[v]) << "step " << i << ", logit " << v << ": the graph replay differs";
    }
    const Backend::CaptureStats after = gpu_->capture_stats();
    if (!selftest()) {
        EXPECT_GE(after.launched - before.launched, steps - 1) << "decode steps launched as graphs";
        EXPECT_GE(after.updated - before.updated, steps - 2) << "graphs updated in place";
        EXPECT_LE(after.aborted - before.aborted, 1) << "captures abandoned";
        EXPECT_FALSE(after.disabled);
    }
}

// ---------------------------------------------------------------------------------------------------
// Training on the GPU: TrainModel's forward_backward (every activation and gradient on the device) and an
// AdamW step, against the same model on the CPU. Micro configs covering MLA with and without q_lora,
// MHA, dense and MoE (softmax / greedy and sigmoid / noaux_tc with the balance loss), residual, mHC (V4
// and paper form) and HC. Tolerances: loss 1e-5 relative; each gradient tensor max |gpu − cpu| ≤ 1e-4 ·
// max |cpu| (fp32, different reduction orders, 2 layers); parameters after one AdamW step from the
// same gradients 1e-5 · (max |weight| + lr).

namespace {

struct TrainCase {
    const char* name;
    ResidualKind residual;
    AttentionKind attention;
    bool moe, q_lora, sigmoid, paper;
};

ModelConfig micro(const TrainCase& k) {
    ModelConfig c;
    c.vocab_size = 29;
    c.hidden_size = 16;
    c.intermediate_size = 24;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 2;
    c.num_key_value_heads = 2;
    c.q_lora_rank = k.q_lora ? 10 : 0;
    c.kv_lora_rank = 12;
    c.qk_nope_head_dim = 8;
    c.qk_rope_head_dim = 4;
    c.v_head_dim = 6;
    if (k.moe) {
        c.n_routed_experts = 6;
        c.num_experts_per_tok = 2;
        c.n_shared_experts = 1;
        c.moe_intermediate_size = 10;
        c.first_k_dense_replace = 1;
        c.scoring_func = k.sigmoid ? "sigmoid" : "softmax";
        c.topk_method = k.sigmoid ? "noaux_tc" : "greedy";
        c.norm_topk_prob = true;
        c.routed_scaling_factor = k.sigmoid ? 1.5 : 2.0;
    }
    c.max_position_embeddings = 64;
    c.rms_norm_eps = 1e-6;
    c.residual_kind = k.residual;
    c.attention_kind = k.attention;
    c.hc_mult = k.residual == ResidualKind::kResidual ? 1 : 4;
    c.hc_paper_form = k.paper;
    const bool v3 = k.residual == ResidualKind::kResidual && k.attention == AttentionKind::kMLA;
    c.architecture = v3 ? "DeepseekV3ForCausalLM" : "LatentForCausalLM";
    c.model_type = v3 ? "deepseek_v3" : "latent";
    c.bos_token_id = 0;
    c.eos_token_ids = {1};
    c.validate("GPU training parity config");
    return c;
}

const TrainCase kTrainCases[] = {
    {"v3_moe_sigmoid_qlora", ResidualKind::kResidual, AttentionKind::kMLA, true, true, true, false},
    {"mhc_mla_moe_softmax", ResidualKind::kMHC, AttentionKind::kMLA, true, false, false, false},
    {"mhc_paper_mla_dense", ResidualKind::kMHC, AttentionKind::kMLA, false, true, false, true},
    {"hc_mha_dense", ResidualKind::kHC, AttentionKind::kMHA, false, false, false, false},
};

// B·T token ids (i·ta + tb) mod V and targets (i·ya + yb) mod V; target `masked` (if >= 0) is -100.
struct TokenBatch {
    std::vector<int32_t> tokens, targets;
};
TokenBatch pattern_batch(int64_t n, int64_t V, int64_t ta, int64_t tb, int64_t ya, int64_t yb, int64_t masked = -1) {
    TokenBatch b{std::vector<int32_t>(static_cast<size_t>(n)), std::vector<int32_t>(static_cast<size_t>(n))};
    for (int64_t i = 0; i < n; ++i) {
        b.tokens[size_t(i)] = int32_t((i * ta + tb) % V);
        b.targets[size_t(i)] = i == masked ? -100 : int32_t((i * ya + yb) % V);
    }
    return b;
}

void PrintTo(const TrainCase& k, std::ostream* os) { *os << k.name; }  // test names without pointer bytes
class CudaTrainModelParity : public parity::CudaParitySelftest, public ::testing::WithParamInterface<TrainCase> {};

}  // namespace

TEST_P(CudaTrainModelParity, GradientsAndAdamWStepMatchCpu) {
    const TrainCase k = GetParam();
    const ModelConfig c = micro(k);
    TrainModel cm(c, *cpu_), gm(c, *gpu_);
    cm.init(7, 0.3f);
    gm.init(7, 0.3f);
    const int64_t B = 2, T = 7;
    const auto [tokens, targets] = pattern_batch(B * T, c.vocab_size, 11, 3, 7, 5, /*masked=*/4);
    const float aux = k.moe ? 0.01f : 0.0f;
    const ForwardStats sc = cm.forward_backward(tokens.data(), targets.data(), B, T, 0.5f, aux);
    const ForwardStats sg = gm.forward_backward(tokens.data(), targets.data(), B, T, 0.5f, aux);
    EXPECT_NEAR(sg.loss, sc.loss, 1e-5 * std::abs(sc.loss));
    EXPECT_NEAR(sg.aux_loss, sc.aux_loss, 1e-5 * std::abs(sc.aux_loss) + 1e-9);
    EXPECT_EQ(sg.tokens, sc.tokens);
    EXPECT_EQ(sg.expert_load, sc.expert_load);
    ASSERT_EQ(cm.params().size(), gm.params().size());
    for (size_t i = 0; i < cm.params().size(); ++i) {
        const TrainParam &pc = cm.params()[i], &pg = gm.params()[i];
        if (!pc.trainable) continue;
        expect_close(to_host(pg.grad.view()), values(pc.grad.view()), 1e-4, ("grad " + pc.name).c_str());
    }
    // The optimizer on its own: the same gradients on both sides (AdamW's first step moves each weight by
    // about lr·sign(g), so fp32 noise in a near-zero gradient would flip a whole step).
    for (size_t i = 0; i < cm.params().size(); ++i)
        if (cm.params()[i].trainable) gpu_->copy(gm.params()[i].grad.view(), cm.params()[i].grad.view());
    AdamW oc(cm, AdamWConfig{}), og(gm, AdamWConfig{});
    const float lr = 1e-2f;
    oc.step(lr);
    og.step(lr);
    // A step moves each weight by up to about lr, and a weight that lands near 0 keeps the rounding of
    // its old value: the error bound is relative to max |weight| + lr, not to the (possibly tiny) result.
    for (size_t i = 0; i < cm.params().size(); ++i) {
        const std::vector<float> got = to_host(gm.params()[i].value.view());
        const std::vector<float> want = values(cm.params()[i].value.view());
        double max_ref = 0, max_err = 0;
        for (size_t j = 0; j < want.size(); ++j) {
            max_ref = std::max(max_ref, double(std::fabs(want[j])));
            max_err = std::max(max_err, double(std::fabs(got[j] - want[j])));
        }
        EXPECT_LE(max_err, 1e-5 * (max_ref + lr)) << "value " << cm.params()[i].name << " (max |ref| " << max_ref << ")";
    }
}

// A Trainer step on the GPU with the default bf16 tensor-core GEMMs (TrainConfig::matmul_precision)
// against the CPU's fp32 step: the loss of a 2-layer model agrees within bf16 rounding (inputs rounded to
// 8 significant bits, fp32 accumulation: 1e-2 relative), the gradient norm too, and the backend's own
// precision setting is back to exact afterwards. The exact setting reproduces the CPU within 1e-5.
TEST_P(CudaTrainModelParity, TrainerStepOnTensorCores) {
    const ModelConfig c = micro(GetParam());
    const int64_t B = 2, T = 7;
    const auto [tokens, targets] = pattern_batch(B * T, c.vocab_size, 5, 1, 3, 2);
    const Batch batch{tokens.data(), targets.data(), B, T};
    for (MatmulPrecision p : {MatmulPrecision::kBf16, MatmulPrecision::kExact}) {
        TrainModel cm(c, *cpu_), gm(c, *gpu_);
        cm.init(9, 0.3f);
        gm.init(9, 0.3f);
        TrainConfig tc;
        tc.matmul_precision = p;
        Trainer ct(cm, tc), gt(gm, tc);
        const StepStats sc = ct.step(batch), sg = gt.step(batch);
        const double tol = p == MatmulPrecision::kBf16 && !selftest() ? 1e-2 : 1e-5;
        EXPECT_NEAR(sg.loss, sc.loss, tol * std::abs(sc.loss)) << matmul_precision_name(p);
        EXPECT_NEAR(sg.grad_norm, sc.grad_norm, 5 * tol * sc.grad_norm) << matmul_precision_name(p);
        EXPECT_EQ(gpu_->matmul_precision(), MatmulPrecision::kExact) << "the Trainer restores the backend's setting";
        if (p != MatmulPrecision::kExact) continue;
        // The router bias after the aux-loss-free update (noaux_tc configs), read back from each device.
        ASSERT_EQ(sg.router_bias.size(), sc.router_bias.size());
        for (size_t l = 0; l < sc.router_bias.size(); ++l) {
            ASSERT_EQ(sg.router_bias[l].size(), sc.router_bias[l].size()) << "layer " << l;
            for (size_t e = 0; e < sc.router_bias[l].size(); ++e)
                EXPECT_NEAR(sg.router_bias[l][e], sc.router_bias[l][e], 1e-6) << "layer " << l << " expert " << e;
        }
    }
}

// LoRA with dropout on the GPU: the mask is drawn on the host from the same seeded stream as on the CPU
// and applied with Backend::mul, so the adapters' gradients match the CPU's (base weights frozen).
TEST_P(CudaTrainModelParity, LoraWithDropoutMatchesCpu) {
    const ModelConfig c = micro(GetParam());
    LoraOptions lora;
    lora.rank = 4;
    lora.alpha = 8.0f;
    lora.dropout = 0.25f;
    lora.seed = 3;
    TrainModel cm(c, *cpu_, lora), gm(c, *gpu_, lora);
    cm.init(5, 0.3f);
    gm.init(5, 0.3f);
    const int64_t B = 2, T = 6;
    const auto [tokens, targets] = pattern_batch(B * T, c.vocab_size, 13, 2, 9, 4);
    for (int call = 0; call < 2; ++call) {  // two forwards: two different masks, still the same on both sides
        cm.zero_grad();
        gm.zero_grad();
        const ForwardStats sc = cm.forward_backward(tokens.data(), targets.data(), B, T, 1.0f, 0.0f);
        const ForwardStats sg = gm.forward_backward(tokens.data(), targets.data(), B, T, 1.0f, 0.0f);
        EXPECT_NEAR(sg.loss, sc.loss, 1e-5 * std::abs(sc.loss)) << "call " << call;
        int adapters = 0;
        for (size_t i = 0; i < cm.params().size(); ++i) {
            const TrainParam &pc = cm.params()[i], &pg = gm.params()[i];
            if (!pc.trainable || !pc.adapter) continue;
            ++adapters;
            expect_close(to_host(pg.grad.view()), values(pc.grad.view()), 1e-4, ("grad " + pc.name).c_str());
        }
        EXPECT_GT(adapters, 0);
    }
}

// Training with the flash forward on TF32 tensor cores (LATENT_CUDA_ATTENTION=tf32; the forward and the
// backward's stats pass take attention_flash_tc.cu): the dense mHC config with head dims 8 + 8 / 8 (the
// kernel needs multiples of 8). Loss within 1e-3 and every gradient within 1e-2 of the CPU's (TF32 rounds
// q, k, p, v to 10 mantissa bits), and the gradients NOT identical to the default fp32 kernels' on the
// same GPU: identical bits would mean the tensor-core kernel never ran.
class CudaTf32TrainModel : public parity::CudaParity {};

TEST_F(CudaTf32TrainModel, ForwardBackwardOnTensorCoresMatchesCpu) {
    ModelConfig c = micro(kTrainCases[2]);
    c.qk_nope_head_dim = 8, c.qk_rope_head_dim = 8, c.v_head_dim = 8;
    c.validate("TF32 training parity config");
    const std::unique_ptr<Backend> tf32 = parity::cuda_backend_with_attention("tf32");
    TrainModel cm(c, *cpu_), fm(c, *gpu_), tm(c, *tf32);
    for (TrainModel* m : {&cm, &fm, &tm}) m->init(7, 0.3f);
    const int64_t B = 2, T = 9;
    const auto [tokens, targets] = pattern_batch(B * T, c.vocab_size, 11, 3, 7, 5);
    const ForwardStats sc = cm.forward_backward(tokens.data(), targets.data(), B, T, 1.0f, 0.0f);
    const ForwardStats sf = fm.forward_backward(tokens.data(), targets.data(), B, T, 1.0f, 0.0f);
    const ForwardStats st = tm.forward_backward(tokens.data(), targets.data(), B, T, 1.0f, 0.0f);
    EXPECT_NEAR(st.loss, sc.loss, 1e-3 * std::abs(sc.loss));
    EXPECT_NEAR(sf.loss, sc.loss, 1e-5 * std::abs(sc.loss));
    size_t differ = 0;
    for (size_t i = 0; i < cm.params().size(); ++i) {
        const TrainParam &pc = cm.params()[i], &pf = fm.params()[i], &pt = tm.params()[i];
        if (!pc.trainable) continue;
        Tensor h = Tensor::cpu(DType::F32, pt.grad.view().shape.data(), pt.grad.view().ndim);
        tf32->copy(h.view(), pt.grad.view());
        const std::vector<float> got(h.as<float>(), h.as<float>() + h.view().numel()), fp32 = to_host(pf.grad.view());
        expect_close(got, values(pc.grad.view()), 1e-2, ("TF32 grad " + pc.name).c_str());
        for (size_t j = 0; j < got.size(); ++j) differ += got[j] != fp32[j];
    }
    EXPECT_GT(differ, size_t(0))
        << "TF32 and fp32 attention gave identical gradients: the tensor-core kernel did not run";
}

INSTANTIATE_TEST_SUITE_P(Configs, CudaTrainModelParity, ::testing::ValuesIn(kTrainCases),
                         [](const auto& info) { return std::string(info.param.name); });
