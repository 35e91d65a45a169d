// tokenizer.h — Hugging Face tokenizer.json (byte-level BPE) + tokenizer_config.json.
//
// Exact against the reference tokenizers (tests/data/tokenizer): normalizers, pre-tokenizers (Split
// with PCRE2 + JIT, ByteLevel, Digits, Sequence), BPE with merges, added/special tokens with
// lstrip/rstrip/normalized, and the ByteLevel decoder. Streaming decode never emits half a UTF-8
// character (StreamDecoder).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace engine {

struct NamedTemplate {
    std::string name;    // "default", "tool_use", ...
    std::string source;  // Jinja text
};

// From tokenizer_config.json (all optional).
struct TokenizerConfig {
    std::optional<std::string> bos_token, eos_token, pad_token, unk_token;
    bool add_bos_token = false;
    bool add_eos_token = false;
    std::vector<NamedTemplate> chat_templates;  // string form -> one entry named "default"
    int64_t model_max_length = 0;
};

class Tokenizer {
public:
    virtual ~Tokenizer() = default;
    // `tokenizer_json`: path to tokenizer.json; tokenizer_config.json (and chat_template.jinja) are read
    // from the same folder when present. Throws Error(kBadFile) naming the file and JSON field.
    static std::unique_ptr<Tokenizer> from_file(const std::filesystem::path& tokenizer_json);
    // A model folder holding tokenizer.json, or a tokenizer.json path.
    static std::unique_ptr<Tokenizer> from_path(const std::filesystem::path& path);
    static std::unique_ptr<Tokenizer> from_json_text(const std::string& tokenizer_json,
                                                     const std::string& tokenizer_config_json,
                                                     const std::string& source_name);

    // add_special_tokens: prepend BOS (and append EOS) as tokenizer_config says (add_bos_token ...).
    virtual std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = false) const = 0;
    virtual std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const = 0;

    virtual size_t vocab_size() const = 0;                 // including added tokens
    virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;
    virtual std::string id_to_token(int32_t id) const = 0; // the vocab string ("Ġhello"); "" if unknown
    virtual bool is_special(int32_t id) const = 0;

    virtual const TokenizerConfig& config() const = 0;
    virtual std::optional<int32_t> bos_id() const = 0;
    virtual std::vector<int32_t> eos_ids() const = 0;      // eos_token (+ any the model config adds)
    // Raw bytes a token stands for (after the byte-level decoder); special tokens give their text.
    virtual std::string token_bytes(int32_t id) const = 0;
};

// Incremental detokenizer: feed ids one at a time, get only complete UTF-8 text back.
class StreamDecoder {
public:
    explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = false);
    std::string push(int32_t id);  // text completed by this token (possibly empty)
    std::string flush();           // whatever is pending (invalid bytes -> U+FFFD)

private:
    const Tokenizer& tokenizer_;
    bool skip_special_;
    std::string pending_;
};

}  // namespace engine
