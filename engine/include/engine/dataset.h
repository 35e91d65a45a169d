// dataset.h — training data: files → token sequences with loss masks → fixed-shape batches.
//
// Formats (chosen by extension or explicitly):
//   * plain text (.txt, .md): every token is trained; one file = one document, EOS appended;
//   * chat JSONL: {"messages": [{"role": "system"|"user"|"assistant"|"tool", "content": "..."}]} per
//     line, rendered through the model's chat template; loss on assistant tokens only;
//   * alpaca JSONL: {"instruction", "input"?, "output", "system"?} per line, turned into a user/assistant
//     conversation and rendered the same way;
//   * CSV (RFC 4180, header row) with prompt/response columns (names configurable).
// A malformed record is an Error(kBadFile) naming the file and line: nothing is silently dropped.
// Examples longer than the sequence length are truncated and counted (DatasetStats::truncated).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace engine {

class Tokenizer;

enum class DatasetFormat { kAuto, kText, kChatJsonl, kAlpacaJsonl, kCsv };
const char* dataset_format_name(DatasetFormat f);
DatasetFormat dataset_format_from_name(const std::string& name);  // "auto", "text", "chat", "alpaca", "csv"

struct DatasetOptions {
    DatasetFormat format = DatasetFormat::kAuto;
    double validation_fraction = 0.05;  // of records (of chunks for plain text), seeded
    uint64_t seed = 1234;
    std::string template_name;          // named chat template, "" = default
    std::string system_prompt;          // added to chat/alpaca/csv records that have none ("" = none)
    std::string csv_prompt_column = "prompt";
    std::string csv_response_column = "response";
    int64_t text_chunk_tokens = 0;      // plain text: split documents into records of this many tokens
                                        // (0 = whole document); lets a validation split exist for one file
};

// One training record.
struct TrainExample {
    std::vector<int32_t> tokens;
    std::vector<uint8_t> trained;  // trained[i] = 1: tokens[i] is a loss target (predicted from i-1)
    std::string source;            // "data.jsonl:17" for error messages and previews
};

struct DatasetStats {
    int64_t records = 0;
    int64_t tokens = 0;
    int64_t trained_tokens = 0;
    int64_t truncated = 0;  // filled by batching
};

struct Dataset {
    std::vector<TrainExample> train;
    std::vector<TrainExample> validation;
    DatasetStats stats;
};

// Reads one file (or every supported file in a folder, sorted by name).
Dataset load_dataset(const std::filesystem::path& path, const Tokenizer& tokenizer, const DatasetOptions& options);

// Renders one conversation through the tokenizer's chat template and tokenizes it with the assistant
// turns marked as trained. Shared with the app's preview ("exactly as the model will see it").
// Usually one example; templates that rewrite earlier turns give one example per assistant turn.
std::vector<TrainExample> render_chat_examples(const nlohmann::json& messages, const Tokenizer& tokenizer,
                                               const std::string& template_name, const std::string& source);

// Target id of positions that carry no loss (PyTorch's / transformers' ignore_index).
constexpr int32_t kIgnoreTarget = -100;

// A batch of B rows of T positions: inputs[b*T + t] predicts targets[b*T + t]; kIgnoreTarget = no loss.
struct TokenBatch {
    int64_t batch_size = 0;  // B
    int64_t seq_len = 0;     // T
    std::vector<int32_t> inputs;
    std::vector<int32_t> targets;
    int64_t target_count() const;
};

// Iterates over examples forever, epoch after epoch, reshuffled per epoch with a seeded RNG.
// packing = true: examples are concatenated and cut into rows of T+1 tokens (no padding);
// packing = false: one example per row, truncated to T+1 (counted) or padded (pad targets ignored).
// Its position is two integers, saved in checkpoints so a resumed run sees the same batches.
class BatchIterator {
public:
    struct Position {
        int64_t epoch = 0;
        int64_t cursor = 0;  // index into the epoch's permutation (or token offset when packing)
    };
    BatchIterator(const std::vector<TrainExample>& examples, int64_t batch_size, int64_t seq_len,
                  bool packing, uint64_t seed, int32_t pad_id = 0);
    void next(TokenBatch& batch);
    Position position() const { return pos_; }
    void set_position(const Position& p);
    int64_t truncated() const { return truncated_; }
    // Batches per epoch (approximate for packing: total tokens / (B·T)).
    int64_t batches_per_epoch() const;

private:
    void build_epoch();
    const std::vector<TrainExample>& examples_;
    int64_t batch_size_, seq_len_;
    bool packing_;
    uint64_t seed_;
    int32_t pad_id_;
    Position pos_;
    std::vector<int64_t> order_;         // permutation of examples for pos_.epoch
    std::vector<int32_t> stream_tokens_; // packing: the epoch's concatenated tokens
    std::vector<uint8_t> stream_trained_;
    int64_t truncated_ = 0;
    int64_t built_epoch_ = -1;
};

}  // namespace engine
