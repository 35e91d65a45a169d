// fake_tokenizer.h — a byte tokenizer for dataset tests: id = byte + 8, plus two special tokens.
// Deliberately trivial so the tests check the dataset logic, not BPE.
#pragma once

#include <string>

#include "engine/tokenizer.h"

class ByteTokenizer : public engine::Tokenizer {
public:
    static constexpr int32_t kStart = 1, kEnd = 2, kBos = 3;
    ByteTokenizer() {
        config_.bos_token = "<s>";
        config_.eos_token = "<|im_end|>";
        config_.chat_templates.push_back(
            {"default",
             "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
             "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
             "{% endif %}"});
    }
    std::vector<int32_t> encode(std::string_view text, bool add_special) const override {
        std::vector<int32_t> ids;
        if (add_special) ids.push_back(kBos);
        for (size_t i = 0; i < text.size();) {
            if (text.substr(i, 12) == "<|im_start|>") { ids.push_back(kStart); i += 12; continue; }
            if (text.substr(i, 10) == "<|im_end|>") { ids.push_back(kEnd); i += 10; continue; }
            ids.push_back(int32_t(uint8_t(text[i])) + 8);
            ++i;
        }
        return ids;
    }
    std::string decode(std::span<const int32_t> ids, bool) const override {
        std::string s;
        for (int32_t id : ids) s += token_bytes(id);
        return s;
    }
    size_t vocab_size() const override { return 264; }
    std::optional<int32_t> token_to_id(std::string_view t) const override {
        if (t == "<|im_start|>") return kStart;
        if (t == "<|im_end|>") return kEnd;
        return std::nullopt;
    }
    std::string id_to_token(int32_t id) const override { return token_bytes(id); }
    bool is_special(int32_t id) const override { return id < 8; }
    const engine::TokenizerConfig& config() const override { return config_; }
    std::optional<int32_t> bos_id() const override { return kBos; }
    std::vector<int32_t> eos_ids() const override { return {kEnd}; }
    std::string token_bytes(int32_t id) const override {
        if (id == kStart) return "<|im_start|>";
        if (id == kEnd) return "<|im_end|>";
        if (id == kBos) return "<s>";
        return std::string(1, char(id - 8));
    }

private:
    engine::TokenizerConfig config_;
};
