// bpe_model.h — the BPE model of tokenizer.json: vocab, ranked merges, and the merge loop.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "text/json_fields.h"

namespace engine::text {

struct BpeSymbol {
    int32_t id;          // -1 once merged into its left neighbour
    int32_t prev, next;  // neighbours in the word, -1 at the ends
};

class BpeModel {
public:
    // `j` is tokenizer.json's "model" object (type "BPE"). Throws Error(kBadFile) naming the field.
    BpeModel(const Json& j, const JsonPath& path);

    // Appends the ids of one pre-tokenized piece. Thread-safe (the word cache is locked).
    void encode_word(std::string_view word, std::vector<int32_t>& out) const;

    std::optional<int32_t> token_to_id(std::string_view token) const;
    const std::string* id_to_token(int32_t id) const;  // nullptr when id is not in the vocab
    size_t id_bound() const { return id_to_token_.size(); }  // 1 + largest id
    bool byte_fallback() const { return byte_fallback_; }

private:
    void merge_word(std::string_view word, std::vector<int32_t>& out) const;
    void merge_long(std::vector<BpeSymbol>& sym, int32_t n) const;

    struct StringHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    template <typename V>
    using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

    StringMap<int32_t> vocab_;
    // Fast path for the initial symbols: id of each single code point < 2^16 that is a vocab token
    // (-1 if not), used when there is no subword prefix/suffix.
    std::vector<int32_t> char_ids_;
    std::vector<std::string> id_to_token_;
    std::vector<bool> has_id_;
    struct Merge { int32_t rank, new_id; };
    std::unordered_map<uint64_t, Merge> merges_;  // key: (left id << 32) | right id
    std::optional<int32_t> unk_id_;
    std::string prefix_, suffix_;  // continuing_subword_prefix, end_of_word_suffix
    bool ignore_merges_ = false, byte_fallback_ = false, fuse_unk_ = false;
    int32_t byte_ids_[256];  // byte_fallback: id of "<0xXX>", or -1

    // Word cache: most words repeat, so a piece's ids are remembered (bounded; cleared when full).
    mutable std::mutex cache_mutex_;
    mutable StringMap<std::vector<int32_t>> cache_;
};

}  // namespace engine::text
