// pcre_regex.h — the tokenizer's regular expressions: PCRE2 (UTF + UCP, JIT-compiled, match limits).
//
// Subjects must be valid UTF-8 (the tokenizer repairs its input once, up front), so matching skips
// PCRE2's per-call UTF check; otherwise scanning a long text match by match would be quadratic.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct pcre2_real_code_8;
struct pcre2_real_match_data_8;
struct pcre2_real_match_context_8;
struct pcre2_real_jit_stack_8;

namespace engine::text {

// Per-call matching state (match data, match context with limits, JIT stack). One per encode call, so
// a shared Tokenizer can encode from several threads at once.
class RegexScratch {
public:
    RegexScratch();
    ~RegexScratch();
    RegexScratch(const RegexScratch&) = delete;
    RegexScratch& operator=(const RegexScratch&) = delete;
    pcre2_real_match_data_8* match_data() const { return match_data_; }
    pcre2_real_match_context_8* context() const { return context_; }

private:
    pcre2_real_match_data_8* match_data_ = nullptr;
    pcre2_real_match_context_8* context_ = nullptr;
    pcre2_real_jit_stack_8* jit_stack_ = nullptr;
};

class Regex {
public:
    // `literal`: match `pattern` as plain text. `where` names the pattern's origin for errors
    // ("tokenizer.json: pre_tokenizer.pretokenizers[0].pattern.Regex"). Throws Error(kBadFile).
    Regex(const std::string& pattern, bool literal, const std::string& where);
    ~Regex();
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;

    // Non-empty, non-overlapping matches of the pattern in `subject`, left to right, as [begin, end)
    // byte offsets. Empty matches are skipped (as HF tokenizers does).
    void find_all(std::string_view subject, RegexScratch& scratch,
                  std::vector<std::pair<size_t, size_t>>& matches) const;

private:
    pcre2_real_code_8* code_ = nullptr;
    std::string where_;
};

// Escapes `text` so that it matches itself inside a larger PCRE2 pattern.
std::string regex_escape(std::string_view text);

}  // namespace engine::text
