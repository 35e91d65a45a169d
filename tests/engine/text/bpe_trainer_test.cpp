// bpe_trainer_test.cpp — the byte-level BPE trainer: learns the expected first merges, writes a HF-format
// tokenizer.json that our loader reads back, and that tokenizer round-trips text (seen and unseen).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>

#include "engine/bpe_trainer.h"
#include "engine/error.h"
#include "engine/tokenizer.h"

namespace fs = std::filesystem;

namespace {

std::string training_text() {
    std::string t;
    const char* lines[] = {
        "The quick brown fox jumps over the lazy dog.\n",
        "A tokenizer splits text into tokens; the tokens are numbers the model reads.\n",
        "def train(model, data):\n    for batch in data:\n        model.step(batch)\n",
        "Numbers: 12345 678 9 2024-11-25, prices $3.50 and 1,000,000.\n",
        "中文文本也可以训练。日本語のテキストもあります。\n",
        "<|endoftext|>Special tokens are never split<|endoftext|>\n",
    };
    for (int rep = 0; rep < 40; ++rep)
        for (const char* l : lines) t += l;
    return t;
}

TEST(BpeTrainer, FirstMergeIsTheMostFrequentPair) {
    engine::BpeTrainerOptions opt;
    opt.vocab_size = 256 + 1;
    engine::BpeTrainer tr(opt);
    tr.add_text("ab ab ab ab cd");  // pieces "ab", " ab" x3, " cd": (a,b) occurs 4 times
    tr.train();
    EXPECT_EQ(tr.stats().merges, 1u);
    auto tok = engine::Tokenizer::from_json_text(tr.tokenizer_json(), tr.tokenizer_config_json(), "trained");
    EXPECT_EQ(tok->vocab_size(), 257u);
    const auto ids = tok->encode("ab");
    ASSERT_EQ(ids.size(), 1u);
    EXPECT_EQ(tok->id_to_token(ids[0]), "ab");
    EXPECT_EQ(tok->encode("cd").size(), 2u);
}

TEST(BpeTrainer, RoundTripThroughFilesWithSpecialTokens) {
    const fs::path dir = fs::temp_directory_path() / ("latent_bpe_train_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const fs::path corpus = dir / "corpus.txt";
    std::ofstream(corpus) << training_text();

    engine::BpeTrainerOptions opt;
    opt.vocab_size = 700;
    opt.min_frequency = 2;
    opt.special_tokens = {"<|endoftext|>", "<|pad|>"};
    opt.bos_token = "<|begin|>";  // added to the special tokens
    opt.eos_token = "<|endoftext|>";
    opt.add_bos_token = true;
    engine::BpeTrainer tr(opt);
    tr.add_file(corpus);
    tr.train();
    const auto& st = tr.stats();
    EXPECT_EQ(st.bytes, training_text().size());
    EXPECT_GT(st.unique_words, 50u);
    EXPECT_GT(st.merges, 100u);
    EXPECT_LE(st.merges, 700u - 256u - 3u);
    tr.save(dir / "tok");

    // The file follows the HF format: BPE model, merges as "a b", ByteLevel decoder, added tokens.
    nlohmann::json j = nlohmann::json::parse(std::ifstream(dir / "tok" / "tokenizer.json"));
    EXPECT_EQ(j["model"]["type"], "BPE");
    EXPECT_EQ(j["model"]["merges"].size(), st.merges);
    EXPECT_TRUE(j["model"]["merges"][0].is_string());
    EXPECT_EQ(j["decoder"]["type"], "ByteLevel");
    EXPECT_EQ(j["added_tokens"].size(), 3u);
    EXPECT_EQ(j["pre_tokenizer"]["pretokenizers"].size(), 4u);

    auto tok = engine::Tokenizer::from_path(dir / "tok");
    EXPECT_EQ(tok->vocab_size(), 256u + 3u + st.merges);
    EXPECT_EQ(tok->token_to_id("<|endoftext|>"), 0);
    EXPECT_EQ(tok->bos_id(), 2);
    EXPECT_EQ(tok->eos_ids(), std::vector<int32_t>{0});
    EXPECT_TRUE(tok->is_special(1));

    const std::string seen = training_text();
    const auto ids = tok->encode(seen);
    EXPECT_EQ(tok->decode(ids), seen);
    EXPECT_LT(ids.size() * 4, seen.size()) << "the learnt merges should compress the training text well";
    for (const std::string unseen : {"Completely new words: zygote, quixotic, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🤖👍🏽",
                                     "한국어 문장 and العربية\r\n\ttabs", "x<|pad|>y"})
        EXPECT_EQ(tok->decode(tok->encode(unseen)), unseen);
    const auto special = tok->encode("a<|endoftext|>b");
    ASSERT_EQ(special.size(), 3u);
    EXPECT_EQ(special[1], 0);
    EXPECT_EQ(tok->encode("hi", true)[0], 2);  // add_bos_token
    // Frequent training words became single tokens.
    EXPECT_EQ(tok->encode(" tokens").size(), 1u);
    fs::remove_all(dir);
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// tests/data/tokenizer/trained holds what this trainer wrote from corpus.json (vocab 1000, one special
// token); reference_ids.json["trained"] holds the ids the JavaScript tokenizer (@lenml/tokenizers) gives
// with that file. Training again must reproduce the file byte for byte (deterministic), and our loader
// must give the same ids as the other implementation does with our file.
TEST(BpeTrainer, DeterministicAndReadByTheJavaScriptTokenizer) {
    const fs::path data = fs::path(LATENT_TEST_DATA_DIR) / "tokenizer";
    const auto corpus = nlohmann::json::parse(std::ifstream(data / "corpus.json"));
    engine::BpeTrainerOptions opt;
    opt.vocab_size = 1000;
    opt.special_tokens = {"<|endoftext|>"};
    opt.eos_token = "<|endoftext|>";
    engine::BpeTrainer tr(opt);
    for (const auto& c : corpus["cases"])
        if (c.contains("text")) tr.add_text(c["text"].get<std::string>());
    tr.train();
    EXPECT_EQ(tr.tokenizer_json(), slurp(data / "trained" / "tokenizer.json"));
    EXPECT_EQ(tr.tokenizer_config_json(), slurp(data / "trained" / "tokenizer_config.json"));

    const auto ref = nlohmann::json::parse(std::ifstream(data / "reference_ids.json"));
    ASSERT_TRUE(ref.contains("trained"));
    auto tok = engine::Tokenizer::from_path(data / "trained");
    size_t checked = 0;
    for (const auto& c : corpus["cases"]) {
        if (!c.contains("text")) continue;
        const std::string name = c["name"];
        EXPECT_EQ(tok->encode(c["text"].get<std::string>()), ref["trained"]["cases"][name].get<std::vector<int32_t>>())
            << name;
        ++checked;
    }
    EXPECT_GE(checked, 35u);
}

TEST(BpeTrainer, BadOptionsAreErrors) {
    engine::BpeTrainerOptions opt;
    opt.vocab_size = 100;
    EXPECT_THROW(engine::BpeTrainer{opt}, engine::Error);
    opt.vocab_size = 300;
    opt.split_patterns = {"(unclosed"};
    EXPECT_THROW(engine::BpeTrainer{opt}, engine::Error);
    opt.split_patterns = engine::deepseek_v3_split_patterns();
    engine::BpeTrainer tr(opt);
    EXPECT_THROW(tr.tokenizer_json(), engine::Error);  // before train()
    EXPECT_THROW(tr.add_file("/nonexistent/corpus.txt"), engine::Error);
}

}  // namespace
