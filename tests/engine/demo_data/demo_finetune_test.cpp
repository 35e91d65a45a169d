// demo_finetune_test.cpp — the shipped demo fine-tune (resources/demo, issue 8 item 2) is usable as
// shipped: resources/demo/finetune.json parses as a TrainingRunConfig whose paths (relative to the
// repository root) name the bundled default model and the demo training set; that set loads through the
// real dataset pipeline with the default model's tokenizer and chat template; and the held-out set is a
// real held-out set (>= 30 questions, none of them asked in the training data).
// No training here: the fine-tune itself is measured by resources/recipes/train_default_model.sh
// (figures in resources/README.md).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/dataset.h"
#include "engine/tokenizer.h"
#include "engine/training_run.h"

using namespace engine;
namespace fs = std::filesystem;

namespace {

const fs::path kRoot = LATENT_SOURCE_DIR;

nlohmann::json read_json(const fs::path& p) {
    std::ifstream in(p);
    EXPECT_TRUE(in.good()) << p;
    std::stringstream s;
    s << in.rdbuf();
    return nlohmann::json::parse(s.str());
}

// The user questions of a chat JSONL file, and the number of conversations in it.
std::multiset<std::string> user_questions(const fs::path& p, size_t& conversations) {
    std::ifstream in(p);
    EXPECT_TRUE(in.good()) << p;
    std::multiset<std::string> out;
    conversations = 0;
    for (std::string line; std::getline(in, line);) {
        if (line.empty()) continue;
        const auto row = nlohmann::json::parse(line);
        ++conversations;
        for (const auto& m : row.at("messages"))
            if (m.at("role") == "user") out.insert(m.at("content").get<std::string>());
    }
    return out;
}

TrainingRunConfig shipped_config() {
    const fs::path file = kRoot / "resources/demo/finetune.json";
    return TrainingRunConfig::from_json(read_json(file), file.string());
}

}  // namespace

TEST(DemoFinetune, ConfigParsesAndNamesTheShippedFiles) {
    const TrainingRunConfig c = shipped_config();
    // Relative paths, resolved against the repository root (documented in resources/README.md).
    ASSERT_TRUE(c.base_model.is_relative()) << c.base_model;
    ASSERT_TRUE(c.data.is_relative()) << c.data;
    EXPECT_EQ(c.base_model, fs::path("resources/models/default"));
    EXPECT_EQ(c.data, fs::path("resources/demo/train.jsonl"));
    EXPECT_TRUE(fs::exists(kRoot / c.base_model / "config.json"));
    EXPECT_TRUE(fs::exists(kRoot / c.base_model / "model.safetensors"));
    EXPECT_TRUE(fs::exists(kRoot / c.data));
    EXPECT_FALSE(c.from_scratch);  // a fine-tune of the default model, not a fresh model
    EXPECT_GT(c.max_steps, 0);     // a fixed, short run
    // Round trip: what the app writes back as run.json reads the same.
    const TrainingRunConfig again = TrainingRunConfig::from_json(c.to_json(), "round trip");
    EXPECT_EQ(again.to_json(), c.to_json());
}

TEST(DemoFinetune, TrainingSetLoadsWithTheDefaultModelsTokenizer) {
    const TrainingRunConfig c = shipped_config();
    auto tok = Tokenizer::from_path(kRoot / c.base_model);
    DatasetOptions opt = c.data_options;
    opt.validation_fraction = 0;
    const Dataset d = load_dataset(kRoot / c.data, *tok, opt);
    size_t lines = 0;
    user_questions(kRoot / c.data, lines);
    EXPECT_EQ(d.stats.records, int64_t(lines));
    EXPECT_EQ(d.train.size(), lines);  // one assistant turn per conversation
    EXPECT_GT(d.stats.trained_tokens, 0);
    for (const auto& ex : d.train) {
        // Every conversation fits the configured sequence length (nothing truncated away).
        EXPECT_LE(int64_t(ex.tokens.size()), c.seq_len) << ex.source;
        size_t trained = 0;
        for (uint8_t t : ex.trained) trained += t;
        EXPECT_GT(trained, 0u) << ex.source << ": no assistant tokens to learn";
    }
}

TEST(DemoFinetune, HeldOutQuestionsAreNotInTheTrainingSet) {
    const TrainingRunConfig c = shipped_config();
    size_t train_lines = 0, held_lines = 0;
    const auto trained = user_questions(kRoot / c.data, train_lines);
    const fs::path heldout = (kRoot / c.data).parent_path() / "heldout.jsonl";
    const auto held = user_questions(heldout, held_lines);
    EXPECT_GE(held_lines, 30u) << "too few held-out questions for a meaningful percentage";
    EXPECT_EQ(held.size(), held_lines);
    for (const auto& q : held) EXPECT_EQ(trained.count(q), 0u) << "held-out question is in the training set: " << q;
    // The held-out set loads as chat data too (what `latent eval` reads).
    auto tok = Tokenizer::from_path(kRoot / c.base_model);
    DatasetOptions opt;
    opt.validation_fraction = 0;
    EXPECT_EQ(load_dataset(heldout, *tok, opt).stats.records, int64_t(held_lines));
}
