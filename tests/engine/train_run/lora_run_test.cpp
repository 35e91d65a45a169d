// lora_run_test.cpp — a LoRA fine-tune run of a tiny DeepSeek-V2-layout checkpoint (MLA with
// q_lora_rank null, softmax/greedy MoE): loss goes down, checkpoints hold only the adapters, resume is
// bit-identical, final/ is the merged model (loads with Model::load, matches base + adapters) and
// adapter/ holds the peft-format adapters.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <sys/wait.h>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "engine/bpe_trainer.h"
#include "engine/checkpoint.h"
#include "engine/error.h"
#include "engine/model.h"
#include "engine/train/train_model.h"
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

ModelConfig v2_tiny() {
    ModelConfig c;
    c.vocab_size = 320;
    c.hidden_size = 32;
    c.intermediate_size = 64;
    c.num_hidden_layers = 2;
    c.num_attention_heads = c.num_key_value_heads = 2;
    c.q_lora_rank = 0;
    c.kv_lora_rank = 16;
    c.qk_nope_head_dim = 8;
    c.qk_rope_head_dim = 8;
    c.v_head_dim = 8;
    c.n_routed_experts = 4;
    c.num_experts_per_tok = 2;
    c.n_shared_experts = 1;
    c.moe_intermediate_size = 16;
    c.first_k_dense_replace = 1;
    c.scoring_func = "softmax";
    c.topk_method = "greedy";
    c.norm_topk_prob = false;
    c.routed_scaling_factor = 1.0;
    c.max_position_embeddings = 128;
    c.rms_norm_eps = 1e-6;
    c.architecture = "DeepseekV2ForCausalLM";
    c.model_type = "deepseek_v2";
    c.bos_token_id = 0;
    c.eos_token_ids = {1};
    c.validate("LoRA run test config");
    return c;
}

std::string slurp_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

class LoraRunTest : public ::testing::Test {
protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() / ("latent_lora_run_" + std::to_string(::getpid()));
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
        auto be = make_cpu_backend(1);
        TrainModel base(v2_tiny(), *be);
        base.init(42, 0.05f);
        base.save(root_ / "base");  // model.safetensors + config.json (DeepseekV2ForCausalLM)
        std::ofstream(root_ / "data.txt") << corpus();
    }
    void TearDown() override { fs::remove_all(root_); }
    TrainingRunConfig config(const std::string& out) {
        TrainingRunConfig rc;
        rc.base_model = root_ / "base";
        rc.data = root_ / "data.txt";
        rc.data_options.text_chunk_tokens = 64;
        rc.data_options.validation_fraction = 0.2;
        rc.output = root_ / out;
        rc.seq_len = 16;
        rc.batch_size = 2;
        rc.max_steps = 8;
        rc.train.adamw.lr = 2e-2f;
        rc.train.schedule.warmup_steps = 1;
        rc.eval_every = 4;
        rc.checkpoint_every = 2;
        rc.keep_last = 2;
        rc.lora.rank = 4;
        rc.lora.alpha = 8.0f;
        rc.lora.dropout = 0.1f;
        rc.lora.targets = {"q_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
        return rc;
    }
    fs::path root_;
};

}  // namespace

TEST_F(LoraRunTest, FineTuneResumesBitIdenticallyAndExportsMergedModel) {
    auto backend = make_cpu_backend(0);
    TrainingSummary straight = run_training(config("straight"), *backend);
    EXPECT_EQ(straight.steps, 8);
    ASSERT_FALSE(straight.final_model.empty());

    // Loss goes down: first two steps vs last two.
    std::vector<double> losses;
    {
        std::ifstream in(root_ / "straight" / "metrics.jsonl");
        for (std::string l; std::getline(in, l);) losses.push_back(nlohmann::json::parse(l)["loss"].get<double>());
    }
    ASSERT_EQ(losses.size(), 8u);
    std::printf("LoRA fine-tune loss %.4f %.4f -> %.4f %.4f\n", losses[0], losses[1], losses[6], losses[7]);
    EXPECT_LT(losses[6] + losses[7], 0.9 * (losses[0] + losses[1])) << losses[0] << " -> " << losses[7];

    // Checkpoints hold only the adapters (the base is re-read from base_model).
    auto cks = list_checkpoints(root_ / "straight" / "checkpoints");
    ASSERT_FALSE(cks.empty());
    LoadedCheckpoint ck = read_checkpoint(cks.back().dir);
    int adapters = 0;
    for (const TensorInfo& t : ck.model->tensors()) {
        EXPECT_NE(t.name.find(".lora_"), std::string::npos) << t.name << " is a base weight in a LoRA checkpoint";
        ++adapters;
    }
    EXPECT_EQ(adapters, 2 * (4 + 3 + 5 * 3) + 2 * 4);  // per layer q, kv_a, kv_b, o (+ MLPs), A and B

    // Stopped after step 3, resumed: bit-identical final model and adapters.
    TrainingSummary first = run_training(config("resumed"), *backend,
                                         [](const TrainingEvent& ev) { return ev.step.step < 3; });
    EXPECT_TRUE(first.stopped);
    TrainingSummary second = run_training(config("resumed"), *backend);
    EXPECT_EQ(second.resumed_from, 3);
    EXPECT_EQ(second.steps, 8);
    for (const auto& [a_path, b_path] :
         {std::pair{straight.final_model, second.final_model},
          std::pair{root_ / "straight" / "adapter" / "adapter_model.safetensors",
                    root_ / "resumed" / "adapter" / "adapter_model.safetensors"}}) {
        auto a = WeightStore::open(a_path), b = WeightStore::open(b_path);
        int compared = 0;
        for (const TensorInfo& t : a->tensors()) {
            TensorView x = a->get(t.name), y = b->get(t.name);
            ASSERT_EQ(x.nbytes(), y.nbytes()) << t.name;
            EXPECT_EQ(std::memcmp(x.data, y.data, x.nbytes()), 0) << t.name << " differs after resume";
            ++compared;
        }
        EXPECT_GT(compared, 20);
    }
    EXPECT_TRUE(fs::exists(root_ / "resumed" / "adapter" / "adapter_config.json"));

    // final/ = merged: Model::load's logits equal TrainModel(base + the last checkpoint's adapters).
    ModelConfig mc = ModelConfig::from_file(straight.final_model / "config.json");
    EXPECT_EQ(mc.architecture, "DeepseekV2ForCausalLM");
    auto be = make_cpu_backend(1);
    LoraOptions lo = config("x").lora;
    TrainModel adapted(mc, *be, lo);
    adapted.load(*WeightStore::open(root_ / "base"));
    adapted.load_matching(*ck.model, adapted.checkpoint_names());
    std::vector<int32_t> tok = {5, 17, 99, 3, 250, 64, 8, 120};
    std::vector<float> train_logits, inf_logits;
    adapted.forward(tok.data(), nullptr, 1, int64_t(tok.size()), &train_logits);
    std::unique_ptr<Model> model = Model::load(straight.final_model, *be);
    auto cache = model->new_cache(16);
    ForwardOptions fo;
    fo.all_logits = true;
    fo.attention = AttentionPath::kExplicit;
    model->forward(*cache, tok, fo, inf_logits);
    ASSERT_EQ(inf_logits.size(), train_logits.size());
    double worst = 0;
    for (size_t i = 0; i < inf_logits.size(); ++i)
        worst = std::max(worst, double(std::abs(inf_logits[i] - train_logits[i])));
    EXPECT_LE(worst, 1e-4);
    // ...and differs from the base model (the fine-tune changed something).
    TrainModel plain(mc, *be);
    plain.load(*WeightStore::open(root_ / "base"));
    std::vector<float> base_logits;
    plain.forward(tok.data(), nullptr, 1, int64_t(tok.size()), &base_logits);
    double moved = 0;
    for (size_t i = 0; i < base_logits.size(); ++i) moved = std::max(moved, double(std::abs(base_logits[i] - inf_logits[i])));
    EXPECT_GT(moved, 1e-2);
}

namespace {

// Every tensor of two model folders, byte for byte; returns how many were compared.
int expect_same_tensors(const fs::path& a_dir, const fs::path& b_dir) {
    auto a = WeightStore::open(a_dir), b = WeightStore::open(b_dir);
    EXPECT_EQ(a->tensors().size(), b->tensors().size());
    int compared = 0;
    for (const TensorInfo& t : a->tensors()) {
        TensorView x = a->get(t.name), y = b->get(t.name);
        EXPECT_EQ(x.shape_str(), y.shape_str()) << t.name;
        if (x.nbytes() != y.nbytes()) continue;
        EXPECT_EQ(std::memcmp(x.data, y.data, x.nbytes()), 0) << t.name << " differs from " << b_dir;
        ++compared;
    }
    return compared;
}

}  // namespace

// export_checkpoint_model: the last LoRA checkpoint merged onto the base equals final/ bit for bit; an
// earlier one loads as a model and differs; a full fine-tune's checkpoint exports without optimizer state.
TEST_F(LoraRunTest, CheckpointExportEqualsFinalModel) {
    auto backend = make_cpu_backend(1);
    TrainingRunConfig rc = config("lora");
    rc.max_steps = 4;
    rc.eval_every = 0;
    TrainingSummary s = run_training(rc, *backend);
    ASSERT_FALSE(s.final_model.empty());
    auto cks = list_checkpoints(rc.output / "checkpoints");
    ASSERT_EQ(cks.size(), 2u);  // steps 2 and 4
    ASSERT_EQ(cks.back().step, 4);

    const fs::path last = export_checkpoint_model(rc.output, cks.back().dir, cks.back().dir / "merged", *backend);
    EXPECT_EQ(last, cks.back().dir / "merged");
    EXPECT_GT(expect_same_tensors(s.final_model, last), 20);
    EXPECT_EQ(slurp_bytes(s.final_model / "config.json"), slurp_bytes(last / "config.json"));
    EXPECT_EQ(slurp_bytes(s.final_model / "tokenizer.json"), slurp_bytes(last / "tokenizer.json"));
    for (const TensorInfo& t : WeightStore::open(last)->tensors()) EXPECT_EQ(t.name.find("lora"), std::string::npos) << t.name;
    for (const auto& e : fs::directory_iterator(cks.back().dir))  // no temporary folder left behind
        EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();

    // The step-2 checkpoint: a loadable model, not the final one. Exporting again replaces the folder.
    const fs::path early = rc.output / "early";
    for (int i = 0; i < 2; ++i) export_checkpoint_model(rc.output, cks.front().dir, early, *backend);
    std::unique_ptr<Model> model = Model::load(early, *backend);
    auto fin = WeightStore::open(s.final_model), ear = WeightStore::open(early);
    bool differs = false;
    for (const TensorInfo& t : fin->tensors()) {
        TensorView x = fin->get(t.name), y = ear->get(t.name);
        differs = differs || std::memcmp(x.data, y.data, x.nbytes()) != 0;
    }
    EXPECT_TRUE(differs) << "the step-2 merge equals the step-4 final model";

    // A full fine-tune: its checkpoint already holds every weight.
    TrainingRunConfig full = config("full");
    full.max_steps = 2;
    full.eval_every = 0;
    full.lora = {};
    TrainingSummary fs2 = run_training(full, *backend);
    auto fcks = list_checkpoints(full.output / "checkpoints");
    ASSERT_FALSE(fcks.empty());
    const fs::path fexp = export_checkpoint_model(full.output, fcks.back().dir, root_ / "full-export", *backend);
    EXPECT_GT(expect_same_tensors(fs2.final_model, fexp), 20);
    EXPECT_FALSE(fs::exists(fexp / "optimizer.safetensors"));
    EXPECT_FALSE(fs::exists(fexp / "state.json"));

    // Not a run folder: an error naming run.json.
    try {
        export_checkpoint_model(root_ / "base", cks.back().dir, root_ / "nope", *backend);
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("run.json"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(root_ / "nope"));
}

#ifdef LATENT_CLI
namespace {

// Runs the CLI, returning its exit status; stdout+stderr go to `log`.
int run_cli(const std::string& args, const fs::path& log) {
    const std::string cmd = std::string("\"") + LATENT_CLI + "\" " + args + " > \"" + log.string() + "\" 2>&1";
    const int rc = std::system(cmd.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

// `latent train --lora-rank ...` on the V2-layout checkpoint: merged final/, peft adapter/, and a target
// that matches nothing is an error naming it.
TEST_F(LoraRunTest, CliLoraFineTuneOfV2Checkpoint) {
    const fs::path log = root_ / "cli.log";
    const std::string common = "--base \"" + (root_ / "base").string() + "\" --data \"" + (root_ / "data.txt").string() +
                               "\" --steps 4 --seq-len 16 --batch 2 --lr 1e-2 --threads 1 ";
    ASSERT_EQ(run_cli("train \"" + (root_ / "cli").string() + "\" " + common +
                          "--lora-rank 4 --lora-alpha 8 --lora-dropout 0.05 --lora-targets q_proj,kv_b_proj,gate_proj,down_proj",
                      log), 0)
        << slurp(log);
    const std::string out = slurp(log);
    EXPECT_NE(out.find("4 steps"), std::string::npos) << out;
    EXPECT_NE(out.find("adapters written"), std::string::npos) << out;
    nlohmann::json ac = nlohmann::json::parse(std::ifstream(root_ / "cli" / "adapter" / "adapter_config.json"));
    EXPECT_EQ(ac.at("r"), 4);
    EXPECT_EQ(ac.at("target_modules"), nlohmann::json({"q_proj", "kv_b_proj", "gate_proj", "down_proj"}));
    auto run = TrainingRunConfig::from_json(nlohmann::json::parse(std::ifstream(root_ / "cli" / "run.json")), "run.json");
    EXPECT_EQ(run.lora.rank, 4);
    EXPECT_FLOAT_EQ(run.lora.alpha, 8.0f);
    auto be = make_cpu_backend(1);
    std::unique_ptr<Model> model = Model::load(root_ / "cli" / "final", *be);
    EXPECT_EQ(ModelConfig::from_file(root_ / "cli" / "final" / "config.json").architecture, "DeepseekV2ForCausalLM");
    auto merged = WeightStore::open(root_ / "cli" / "final");
    for (const TensorInfo& t : merged->tensors()) EXPECT_EQ(t.name.find("lora"), std::string::npos) << t.name;

    // Resuming that run folder with another rank is refused, naming both ranks.
    EXPECT_NE(run_cli("train \"" + (root_ / "cli").string() + "\" " + common + "--lora-rank 2", log), 0);
    EXPECT_NE(slurp(log).find("lora_rank 4 but the run now asks for 2"), std::string::npos) << slurp(log);
    EXPECT_NE(run_cli("train \"" + (root_ / "cli_bad").string() + "\" " + common + "--lora-rank 4 --lora-targets q_a_proj",
                      log), 0);
    EXPECT_NE(slurp(log).find("'q_a_proj' matches no Linear weight"), std::string::npos) << slurp(log);
    EXPECT_NE(run_cli("train \"" + (root_ / "cli_bad2").string() + "\" " + common + "--lora-rank 4 --from-scratch", log), 0);
    EXPECT_NE(slurp(log).find("drop from_scratch"), std::string::npos) << slurp(log);
}
// `latent export RUN_DIR OUT_DIR`: the newest checkpoint of a LoRA run, merged (= final/); --checkpoint
// picks another; a step that was not kept is an error listing the kept ones.
TEST_F(LoraRunTest, CliExportsCheckpoints) {
    auto backend = make_cpu_backend(1);
    TrainingRunConfig rc = config("run");
    rc.max_steps = 4;
    rc.eval_every = 0;
    TrainingSummary s = run_training(rc, *backend);
    const fs::path log = root_ / "export.log";
    ASSERT_EQ(run_cli("export \"" + rc.output.string() + "\" \"" + (root_ / "newest").string() + "\" --threads 1", log), 0)
        << slurp(log);
    EXPECT_NE(slurp(log).find("exported checkpoint 4"), std::string::npos) << slurp(log);
    EXPECT_GT(expect_same_tensors(s.final_model, root_ / "newest"), 20);
    ASSERT_EQ(run_cli("export \"" + rc.output.string() + "\" --checkpoint 2 \"" + (root_ / "step2").string() + "\"", log), 0)
        << slurp(log);
    EXPECT_TRUE(fs::exists(root_ / "step2" / "tokenizer.json"));
    EXPECT_NE(run_cli("export \"" + rc.output.string() + "\" --checkpoint 3 \"" + (root_ / "step3").string() + "\"", log), 0);
    EXPECT_NE(slurp(log).find("no checkpoint at step 3 (kept: 2, 4)"), std::string::npos) << slurp(log);
    EXPECT_FALSE(fs::exists(root_ / "step3"));
}
#endif
