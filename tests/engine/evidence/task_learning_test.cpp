// task_learning_test.cpp — training evidence (issue 4, item 9(b)): a tiny MLA model trained from scratch
// with a byte-level tokenizer learns to reverse three-letter words ("reverse cab" -> "bac") and answers
// held-out prompts — words that never occur in its training data — with >= 95% greedy exact match.
//
// The task: every word of 3 letters from a..j (1000 words); a seeded 10% of them is held out. The data
// goes through the real pipeline: chat JSONL -> Dataset (loss on the assistant turn only) -> run_training
// -> final model folder -> Model::load -> apply_chat_template + generate (temperature 0).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "engine/bpe_trainer.h"
#include "engine/chat_template.h"
#include "engine/generate.h"
#include "engine/model.h"
#include "engine/tokenizer.h"
#include "engine/train/presets.h"
#include "engine/training_run.h"

using namespace engine;
namespace fs = std::filesystem;

namespace {

// Sized for about 25 s of CPU time (one thread) (data, training, evaluation). One thread: at this model
// size the per-op threading overhead costs more than it saves.
//
// Robustness (2026-12-05, docs/training-evidence.md §1): with the usual init std 0.02 this model sat on a
// loss plateau (~1.39: the three letters unknown) for 400 to 3000+ steps depending on the seed, so a run of
// 3000-4500 steps passed or failed by luck (12 seeds at 4500 steps: 2 failed), and a float reordering in a
// kernel could flip it. With init std 0.08 (~0.6/sqrt(hidden)) the plateau ended by step 160-252 for the
// 8 seeds logged (12 of 12 passed at 3000 steps, 10 of 10 at 1000), so 1000 steps leave a 4x margin. LATENT_EVIDENCE_SEED=N reruns it with another seed.
constexpr int kEpochsInFile = 40;   // training words repeated (reshuffled) in the JSONL
constexpr int64_t kHidden = 64;
constexpr int64_t kLayers = 2;
constexpr int64_t kBatch = 16;      // packed sequences of 64 tokens per step
constexpr int64_t kSteps = 1000;
constexpr float kInitStd = 0.08f;

std::string reversed(std::string w) { return std::string(w.rbegin(), w.rend()); }

nlohmann::json conversation(const std::string& word, bool with_answer) {
    nlohmann::json m = nlohmann::json::array();
    m.push_back({{"role", "user"}, {"content", "reverse " + word}});
    if (with_answer) m.push_back({{"role", "assistant"}, {"content", reversed(word)}});
    return m;
}

}  // namespace

TEST(TaskLearning, TinyModelLearnsWordReversalToHeldOutExactMatch) {
    const auto t0 = std::chrono::steady_clock::now();
    const fs::path root = fs::temp_directory_path() / ("latent_evidence_" + std::to_string(::getpid()));
    fs::remove_all(root);
    fs::create_directories(root / "base");

    // 1. Data: every word once, shuffled with a fixed seed; the first 10% are held out.
    std::vector<std::string> words;
    for (char a = 'a'; a <= 'j'; ++a)
        for (char b = 'a'; b <= 'j'; ++b)
            for (char c = 'a'; c <= 'j'; ++c) words.push_back(std::string{a, b, c});
    std::mt19937 rng(20261125);
    std::shuffle(words.begin(), words.end(), rng);
    const size_t n_held = words.size() / 10;
    const std::vector<std::string> held(words.begin(), words.begin() + long(n_held));
    std::vector<std::string> train(words.begin() + long(n_held), words.end());
    {
        std::ofstream out(root / "train.jsonl");
        for (int epoch = 0; epoch < kEpochsInFile; ++epoch) {
            std::shuffle(train.begin(), train.end(), rng);
            for (const std::string& p : train) out << nlohmann::json{{"messages", conversation(p, true)}}.dump() << "\n";
        }
    }

    // 2. Byte-level tokenizer (no merges: 256 bytes + ChatML's specials) with the ChatML template.
    BpeTrainerOptions bo;
    bo.vocab_size = 256 + 3;
    bo.special_tokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
    bo.eos_token = "<|im_end|>";
    bo.pad_token = "<|endoftext|>";
    BpeTrainer bpe(bo);
    bpe.add_text("reverse abcdefghij\n");
    bpe.train();
    nlohmann::json tok_config = nlohmann::json::parse(bpe.tokenizer_config_json());
    tok_config["chat_template"] = std::string(default_chat_template());
    std::ofstream(root / "base" / "tokenizer.json") << bpe.tokenizer_json();
    std::ofstream(root / "base" / "tokenizer_config.json") << tok_config.dump(2);

    // 3. A tiny dense MLA model (the tiny preset, shrunk).
    PresetOptions po;
    po.size = "tiny";
    po.residual = ResidualKind::kResidual;
    po.vocab_size = int64_t(bo.vocab_size);
    ModelConfig c = make_preset(po);
    c.hidden_size = kHidden;
    c.num_hidden_layers = kLayers;
    c.num_attention_heads = c.num_key_value_heads = 4;
    c.qk_nope_head_dim = 16;
    c.qk_rope_head_dim = 8;
    c.v_head_dim = 16;
    c.kv_lora_rank = 32;
    c.intermediate_size = 4 * kHidden;
    c.max_position_embeddings = 256;
    std::ofstream(root / "base" / "config.json") << c.to_json_text();

    TrainingRunConfig rc;
    rc.base_model = root / "base";
    rc.from_scratch = true;
    rc.data = root / "train.jsonl";
    rc.data_options.validation_fraction = 0.02;
    rc.output = root / "run";
    rc.seq_len = 64;
    rc.batch_size = kBatch;
    rc.max_steps = kSteps;
    rc.train.adamw.lr = 3e-3f;
    rc.init_std = kInitStd;
    if (const char* s = std::getenv("LATENT_EVIDENCE_SEED")) rc.seed = std::strtoull(s, nullptr, 10);
    rc.train.schedule.warmup_steps = 50;
    rc.eval_every = 0;
    rc.checkpoint_every = 0;
    rc.keep_last = 1;
    auto backend = make_cpu_backend(1);
    TrainingSummary s = run_training(rc, *backend);
    ASSERT_FALSE(s.final_model.empty());
    const double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // 4. Held-out exact match, greedy.
    auto model = Model::load(s.final_model, *backend);
    auto tok = Tokenizer::from_path(s.final_model);
    Session session(*model, 64);
    GenerateOptions opt;
    opt.sampling.temperature = 0;
    opt.max_tokens = 6;
    int correct = 0;
    std::string failures;
    for (const std::string& p : held) {
        std::vector<int32_t> ids = tok->encode(apply_chat_template(*tok, conversation(p, false), true), false);
        session.reset();
        GenerateResult r = generate(session, *tok, ids, opt);
        const std::string want = reversed(p);
        if (r.text == want) ++correct;
        else if (failures.size() < 400)
            failures += p + " -> '" + r.text + "' ";
    }
    const double acc = double(correct) / double(held.size());
    std::printf("held-out exact match %d/%zu = %.3f; last loss %.4f; %lld steps; train %.1fs, total %.1fs\n", correct,
                held.size(), acc, s.last_loss, static_cast<long long>(s.steps), train_s,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    EXPECT_GE(acc, 0.95) << "wrong answers: " << failures;
    fs::remove_all(root);
}
