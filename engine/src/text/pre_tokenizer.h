// pre_tokenizer.h — the normalizer and pre-tokenizer stages of a tokenizer.json pipeline.
//
// Normalizers: Sequence, NFC/NFD/NFKC/NFKD (ICU), Lowercase, Replace, Prepend, Strip.
// Pre-tokenizers: Sequence, Split (Regex|String pattern; Removed/Isolated/MergedWithPrevious/
// MergedWithNext/Contiguous; invert), ByteLevel (add_prefix_space, use_regex), Digits.
// A pre-tokenized text is a list of pieces, each encoded by the model alone. Pieces are views into the
// input or into buffers owned by the PieceList, so splitting copies no text.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string_view>
#include <string>
#include <vector>

#include "text/json_fields.h"
#include "text/pcre_regex.h"
#include "text/utf8.h"

namespace engine::text {

class Normalizer {
public:
    virtual ~Normalizer() = default;
    virtual std::string normalize(std::string text) const = 0;
};

struct PieceList {
    std::vector<std::string_view> views;
    std::deque<std::string> storage;  // text created by a stage (e.g. ByteLevel); deque keeps addresses
};

using PieceSink = std::function<void(std::string_view)>;

class PreTokenizer {
public:
    virtual ~PreTokenizer() = default;
    // Splits every piece of the list (all of them, stage by stage).
    virtual void split(PieceList& pieces, RegexScratch& scratch) const = 0;
    // Splits one piece and hands each result to `sink` as soon as it is final (depth first through a
    // Sequence), so encoding a long text never materialises millions of pieces. A view passed to the
    // sink is valid only during the call.
    virtual void split_each(std::string_view piece, RegexScratch& scratch, const PieceSink& sink) const;
};

// null JSON -> nullptr (identity). Unknown types -> Error(kUnsupported) naming the field.
std::unique_ptr<Normalizer> make_normalizer(const Json& j, const JsonPath& path);
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& j, const JsonPath& path, const ByteAlphabet& alphabet);

// True when the pipeline maps text to the byte-level alphabet (some ByteLevel pre-tokenizer).
bool pre_tokenizer_is_byte_level(const Json& j);

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// Splits `text` at `matches` ([begin,end) offsets, sorted, non-overlapping) with HF's semantics.
// Views into `text` are appended to `out`.
void split_by_matches(std::string_view text, const std::vector<std::pair<size_t, size_t>>& matches,
                      SplitBehavior behavior, bool invert, std::vector<std::string_view>& out);

}  // namespace engine::text
