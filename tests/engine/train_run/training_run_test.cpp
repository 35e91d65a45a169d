// training_run_test.cpp — a whole run on a tiny MLA + MoE + mHC model: metrics log, checkpoints,
// the final model folder, and resume that is bit-identical to an uninterrupted run on the CPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/bpe_trainer.h"
#include "engine/checkpoint.h"
#include "engine/error.h"
#include "engine/train/presets.h"
#include "engine/training_run.h"
#include "engine/weights.h"

using namespace engine;
namespace fs = std::filesystem;

namespace {

std::string corpus() {
    std::string s;
    for (int i = 0; i < 60; ++i)
        s += "The kettle holds " + std::to_string(i % 7 + 1) + " litres. Tea is served at " +
             std::to_string(60 + i % 30) + " degrees.\n";
    return s;
}

class TrainingRunTest : public ::testing::Test {
protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() / ("latent_run_" + std::to_string(::getpid()) + "_" +
                                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(root_);
        fs::create_directories(root_ / "base");
        BpeTrainerOptions bo;
        bo.vocab_size = 320;
        bo.special_tokens = {"<s>", "</s>"};
        bo.bos_token = "<s>";
        bo.eos_token = "</s>";
        BpeTrainer bpe(bo);
        bpe.add_text(corpus());
        bpe.train();
        bpe.save(root_ / "base");
        PresetOptions po;
        po.size = "tiny";
        po.moe = true;
        po.residual = ResidualKind::kMHC;
        po.vocab_size = 320;
        ModelConfig c = make_preset(po);
        // Shrink the tiny preset further so a step takes milliseconds.
        c.hidden_size = 32;
        c.num_hidden_layers = 2;
        c.num_attention_heads = c.num_key_value_heads = 2;
        c.qk_nope_head_dim = 8;
        c.qk_rope_head_dim = 8;
        c.v_head_dim = 8;
        c.kv_lora_rank = 16;
        c.intermediate_size = 64;
        c.moe_intermediate_size = 16;
        c.n_routed_experts = 4;
        c.num_experts_per_tok = 2;
        std::ofstream(root_ / "base" / "config.json") << c.to_json_text();
        std::ofstream(root_ / "data.txt") << corpus();
    }
    void TearDown() override { fs::remove_all(root_); }
    TrainingRunConfig config(const std::string& out) {
        TrainingRunConfig rc;
        rc.base_model = root_ / "base";
        rc.from_scratch = true;
        rc.data = root_ / "data.txt";
        rc.data_options.text_chunk_tokens = 64;
        rc.data_options.validation_fraction = 0.2;
        rc.output = root_ / out;
        rc.seq_len = 16;
        rc.batch_size = 2;
        rc.max_steps = 6;
        rc.train.adamw.lr = 3e-3f;
        rc.train.schedule.warmup_steps = 2;
        rc.train.grad_accum_steps = 2;
        rc.eval_every = 3;
        rc.checkpoint_every = 2;
        rc.keep_last = 2;
        return rc;
    }
    static std::vector<std::string> lines(const fs::path& p) {
        std::ifstream in(p);
        std::vector<std::string> out;
        for (std::string l; std::getline(in, l);) out.push_back(l);
        return out;
    }
    fs::path root_;
};

}  // namespace

TEST_F(TrainingRunTest, ResumeIsBitIdenticalAndLogsEveryStepOnce) {
    auto backend = make_cpu_backend(0);
    TrainingSummary straight = run_training(config("straight"), *backend);
    EXPECT_EQ(straight.steps, 6);
    ASSERT_FALSE(straight.final_model.empty());
    ASSERT_TRUE(straight.validation_loss.has_value());
    EXPECT_TRUE(std::isfinite(*straight.validation_loss));

    // The same run, stopped by its callback after step 3, then resumed.
    TrainingSummary first = run_training(config("resumed"), *backend,
                                         [](const TrainingEvent& ev) { return ev.step.step < 3; });
    EXPECT_TRUE(first.stopped);
    EXPECT_EQ(first.steps, 3);
    TrainingSummary second = run_training(config("resumed"), *backend);
    EXPECT_EQ(second.resumed_from, 3);
    EXPECT_EQ(second.steps, 6);

    auto a = WeightStore::open(straight.final_model);
    auto b = WeightStore::open(second.final_model);
    int compared = 0;
    for (const TensorInfo& t : a->tensors()) {
        TensorView x = a->get(t.name), y = b->get(t.name);
        ASSERT_EQ(x.nbytes(), y.nbytes()) << t.name;
        EXPECT_EQ(std::memcmp(x.data, y.data, x.nbytes()), 0) << "tensor " << t.name << " differs after resume";
        ++compared;
    }
    EXPECT_GT(compared, 20);

    // metrics.jsonl: steps 1..6 once each, with validation at 3 and 6, mHC gains, expert load.
    auto log = lines(root_ / "resumed" / "metrics.jsonl");
    ASSERT_EQ(log.size(), 6u);
    for (size_t i = 0; i < log.size(); ++i) {
        auto j = nlohmann::json::parse(log[i]);
        EXPECT_EQ(j["step"], int64_t(i + 1));
        EXPECT_EQ(j.contains("validation_loss"), i == 2 || i == 5) << log[i];
        EXPECT_TRUE(j.contains("hc_forward_gain"));
        // Per-block grad norms: embedding, 2 layers, head; their squares add up to the global norm².
        ASSERT_EQ(j["block_grad_norm"].size(), 4u) << log[i];
        double sq = 0;
        for (const auto& b : j["block_grad_norm"]) sq += b.get<double>() * b.get<double>();
        EXPECT_NEAR(std::sqrt(sq), j["grad_norm"].get<double>(), 1e-9 * j["grad_norm"].get<double>());
        EXPECT_GT(j["block_grad_norm"][1].get<double>(), 0.0);
        EXPECT_TRUE(j.contains("expert_load"));
    }
    // keep_last = 2: checkpoints 4 and 6 remain (all healthy).
    auto ck = list_checkpoints(root_ / "resumed" / "checkpoints");
    ASSERT_EQ(ck.size(), 2u);
    EXPECT_EQ(ck[0].step, 4);
    EXPECT_EQ(ck[1].step, 6);
    // The final folder is a loadable model folder with the tokenizer beside it.
    EXPECT_TRUE(fs::exists(second.final_model / "tokenizer.json"));
    EXPECT_TRUE(fs::exists(second.final_model / "config.json"));
    auto cfg = TrainingRunConfig::from_json(nlohmann::json::parse(std::ifstream(root_ / "resumed" / "run.json")), "run.json");
    EXPECT_EQ(cfg.max_steps, 6);
}

TEST_F(TrainingRunTest, BadSettingsAndBadDataAreReported) {
    auto backend = make_cpu_backend(0);
    nlohmann::json j = config("x").to_json();
    j["lr"] = 5.0;
    EXPECT_THROW(TrainingRunConfig::from_json(j, "run.json"), Error);
    j = config("x").to_json();
    j["init_std"] = 0.0;
    try {
        TrainingRunConfig::from_json(j, "run.json");
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(e.message().find("\"init_std\""), std::string::npos) << e.message();
    }
    j["init_std"] = 0.08;  // round trip
    EXPECT_FLOAT_EQ(TrainingRunConfig::from_json(j, "run.json").init_std, 0.08f);
    j.erase("init_std");   // run.json files written before the field existed
    EXPECT_FLOAT_EQ(TrainingRunConfig::from_json(j, "run.json").init_std, 0.02f);
    j = config("x").to_json();
    j["seq_len"] = "long";
    try {
        TrainingRunConfig::from_json(j, "run.json");
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(e.message().find("\"seq_len\""), std::string::npos) << e.message();
    }
    // GPU GEMM precision: bf16 by default, round trip, an unknown name names the field and the choices.
    j = config("x").to_json();
    EXPECT_EQ(j.at("matmul_precision"), "bf16");
    j["matmul_precision"] = "tf32";
    EXPECT_EQ(TrainingRunConfig::from_json(j, "run.json").train.matmul_precision, MatmulPrecision::kTf32);
    j.erase("matmul_precision");  // older run.json files
    EXPECT_EQ(TrainingRunConfig::from_json(j, "run.json").train.matmul_precision, MatmulPrecision::kBf16);
    j["matmul_precision"] = "fp8";
    try {
        TrainingRunConfig::from_json(j, "run.json");
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(e.message().find("\"matmul_precision\": unknown matmul precision 'fp8'; expected exact, tf32 or bf16"),
                  std::string::npos)
            << e.message();
    }
    // Where the caller runs it: cpu by default, cuda/auto accepted, anything else named.
    j = config("x").to_json();
    EXPECT_EQ(j.at("device"), "cpu");
    j["device"] = "cuda";
    EXPECT_EQ(TrainingRunConfig::from_json(j, "run.json").device, "cuda");
    j["device"] = "tpu";
    try {
        TrainingRunConfig::from_json(j, "run.json");
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(e.message().find("\"device\": unknown backend 'tpu'; expected auto, cpu or cuda"), std::string::npos)
            << e.message();
    }
    std::ofstream(root_ / "bad.jsonl") << "{\"messages\": 3}\n";
    TrainingRunConfig rc = config("bad");
    rc.data = root_ / "bad.jsonl";
    try {
        run_training(rc, *backend);
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(e.message().find("bad.jsonl:1"), std::string::npos) << e.message();
    }
}
