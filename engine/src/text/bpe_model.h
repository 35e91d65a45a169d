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

// Merge table: (left id, right id) -> (rank, merged id), open addressing with linear probing. Hand-written
// because std::unordered_map is node-based (a cache miss per lookup, and BPE does several lookups per
// character) and no flat hash map is among our dependencies.
class PairTable {
public:
    struct Entry { uint64_t key; int32_t rank, new_id; };
    void reserve(size_t n) {
        size_t cap = 16;
        while (cap < n * 2) cap <<= 1;
        slots_.assign(cap, Entry{kEmpty, 0, 0});
        shift_ = 64;
        for (size_t c = cap; c > 1; c >>= 1) --shift_;
    }
    // Keeps the first entry for a key (the lower rank, as merges are inserted in rank order).
    void insert(uint64_t key, int32_t rank, int32_t new_id) {
        for (size_t i = slot(key);; i = (i + 1) & (slots_.size() - 1)) {
            if (slots_[i].key == key) return;
            if (slots_[i].key == kEmpty) { slots_[i] = {key, rank, new_id}; return; }
        }
    }
    const Entry* find(uint64_t key) const {
        if (slots_.empty()) return nullptr;
        for (size_t i = slot(key);; i = (i + 1) & (slots_.size() - 1)) {
            if (slots_[i].key == key) return &slots_[i];
            if (slots_[i].key == kEmpty) return nullptr;
        }
    }

private:
    static constexpr uint64_t kEmpty = ~uint64_t{0};
    size_t slot(uint64_t key) const { return size_t((key * 0x9E3779B97F4A7C15ull) >> shift_); }
    std::vector<Entry> slots_;
    int shift_ = 64;
};

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
    PairTable merges_;  // key: (left id << 32) | right id
    std::optional<int32_t> unk_id_;
    std::string prefix_, suffix_;  // continuing_subword_prefix, end_of_word_suffix
    bool ignore_merges_ = false, byte_fallback_ = false, fuse_unk_ = false;
    int32_t byte_ids_[256];  // byte_fallback: id of "<0xXX>", or -1

    // Word cache: most words repeat, so a piece's ids are remembered (bounded; cleared when full).
    mutable std::mutex cache_mutex_;
    mutable StringMap<std::vector<int32_t>> cache_;
};

}  // namespace engine::text
