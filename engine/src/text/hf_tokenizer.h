// hf_tokenizer.h — the tokenizer.json implementation of engine::Tokenizer (internal).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/tokenizer.h"
#include "text/added_tokens.h"
#include "text/bpe_model.h"
#include "text/pre_tokenizer.h"

namespace engine::text {

// Parses tokenizer_config.json text ("" = absent). `where` names the file in errors.
TokenizerConfig parse_tokenizer_config(const std::string& json_text, const std::string& where);

class HfTokenizer final : public Tokenizer {
public:
    HfTokenizer(const std::string& tokenizer_json, TokenizerConfig config, const std::string& source_name);

    std::vector<int32_t> encode(std::string_view text, bool add_special_tokens) const override;
    std::string decode(std::span<const int32_t> ids, bool skip_special_tokens) const override;
    size_t vocab_size() const override { return vocab_size_; }
    std::optional<int32_t> token_to_id(std::string_view token) const override;
    std::string id_to_token(int32_t id) const override;
    bool is_special(int32_t id) const override;
    const TokenizerConfig& config() const override { return config_; }
    std::optional<int32_t> bos_id() const override;
    std::vector<int32_t> eos_ids() const override;
    std::string token_bytes(int32_t id) const override;

private:
    void encode_plain(const std::string& text, RegexScratch& scratch, std::vector<int32_t>& out) const;
    void load_post_processor(const Json& j, const JsonPath& path);
    void load_decoder(const Json& j, const JsonPath& path);

    ByteAlphabet alphabet_;
    std::unique_ptr<BpeModel> model_;
    std::unique_ptr<Normalizer> normalizer_;
    std::unique_ptr<PreTokenizer> pre_tokenizer_;
    std::vector<AddedToken> added_;
    std::unordered_map<int32_t, size_t> added_by_id_;
    std::unordered_map<std::string, int32_t> added_by_content_;
    std::unique_ptr<AddedTokenMatcher> raw_matcher_, normalized_matcher_;
    bool decoder_byte_level_ = false, decoder_byte_fallback_ = false;
    // TemplateProcessing "single": ids before and after the sequence; unset when there is none.
    bool has_template_ = false;
    std::vector<int32_t> template_prefix_, template_suffix_;
    TokenizerConfig config_;
    size_t vocab_size_ = 0;
    // Reused PCRE2 match state (creating a JIT stack per encode would dominate short texts).
    mutable std::mutex scratch_mutex_;
    mutable std::vector<std::unique_ptr<RegexScratch>> scratch_pool_;
};

}  // namespace engine::text
