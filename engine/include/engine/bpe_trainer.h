// bpe_trainer.h — trains a byte-level BPE tokenizer on text and writes it in the Hugging Face format
// (tokenizer.json + tokenizer_config.json) that Tokenizer::from_path and other tools read.
//
// Pre-tokenization defaults to DeepSeek-V3's (three PCRE2 Split regexes, then ByteLevel without its own
// regex). Merges are learnt from word counts with incrementally updated pair counts (only the words that
// contain the merged pair are touched), so a 50 MB corpus trains in minutes on one core.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace engine {

// DeepSeek-V3's pre-tokenizer: numbers of up to 3 digits, runs of CJK/kana, then the word/punctuation/space rule.
std::vector<std::string> deepseek_v3_split_patterns();

struct BpeTrainerOptions {
    size_t vocab_size = 32000;                // total: special tokens + 256 bytes + merges
    size_t min_frequency = 2;                 // stop when the best pair occurs fewer times than this
    std::vector<std::string> special_tokens;  // ids 0.. in this order; never split, never merged
    std::vector<std::string> split_patterns = deepseek_v3_split_patterns();  // each a Split(Isolated)
    std::optional<std::string> bos_token, eos_token, pad_token;  // must be among special_tokens (added if not)
    bool add_bos_token = false;
    int64_t model_max_length = 4096;
};

struct BpeTrainerStats {
    uint64_t bytes = 0;         // text fed in
    uint64_t words = 0;         // pre-tokenized pieces
    uint64_t unique_words = 0;
    uint64_t merges = 0;
    double count_seconds = 0, merge_seconds = 0;
};

class BpeTrainer {
public:
    explicit BpeTrainer(BpeTrainerOptions options);  // throws Error(kInvalidArgument) on bad options
    ~BpeTrainer();
    BpeTrainer(const BpeTrainer&) = delete;
    BpeTrainer& operator=(const BpeTrainer&) = delete;

    // Feed text (any bytes; invalid UTF-8 becomes U+FFFD). Special tokens inside it are not learnt.
    void add_text(std::string_view text);
    // Feeds a file in ~1 MB blocks cut at line ends. Throws Error(kIo) naming the file.
    void add_file(const std::filesystem::path& path);

    // Learns the merges (once; later calls return the same result).
    void train();
    const BpeTrainerStats& stats() const;

    std::string tokenizer_json() const;         // valid after train()
    std::string tokenizer_config_json() const;
    // Writes tokenizer.json and tokenizer_config.json into `dir` (created if missing).
    void save(const std::filesystem::path& dir) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace engine
