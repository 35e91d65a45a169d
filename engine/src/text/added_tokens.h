// added_tokens.h — tokenizer.json "added_tokens": found in the text before the model sees it.
//
// As HF tokenizers: tokens with normalized=false are matched on the raw text, those with normalized=true
// on each remaining segment after normalization; the longest token wins at the leftmost position;
// lstrip/rstrip swallow neighbouring whitespace; single_word requires word boundaries.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "text/pcre_regex.h"

namespace engine::text {

struct AddedToken {
    int32_t id = -1;
    std::string content;
    bool special = false, lstrip = false, rstrip = false, normalized = false, single_word = false;
};

// A segment of text: either an added token (id >= 0) or plain text to normalize/pre-tokenize.
struct Segment {
    std::string text;
    int32_t id = -1;
};

class AddedTokenMatcher {
public:
    // Tokens with `normalized == want_normalized` are matched; the others are ignored.
    AddedTokenMatcher(const std::vector<AddedToken>& tokens, bool want_normalized);
    bool empty() const { return !regex_; }
    // Splits `text` into added-token and plain segments (appended to `out`).
    void split(const std::string& text, RegexScratch& scratch, std::vector<Segment>& out) const;

private:
    std::unique_ptr<Regex> regex_;
    std::unordered_map<std::string, const AddedToken*> by_content_;
};

}  // namespace engine::text
