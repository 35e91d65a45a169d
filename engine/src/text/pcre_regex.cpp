// pcre_regex.cpp — PCRE2 wrapper used by Split/ByteLevel/Digits pre-tokenizers and added-token search.
#include "text/pcre_regex.h"

#include <pcre2.h>

#include "engine/error.h"
#include "text/utf8.h"

namespace engine::text {

namespace {
// Backtracking caps: far above anything the tokenizer regexes need on megabytes of text, but a
// pathological pattern from a hostile tokenizer.json stops with an error instead of hanging.
constexpr uint32_t kMatchLimit = 200'000'000;
constexpr uint32_t kDepthLimit = 10'000'000;
constexpr size_t kJitStackMax = 8u << 20;
}  // namespace

RegexScratch::RegexScratch() {
    match_data_ = pcre2_match_data_create(1, nullptr);
    context_ = pcre2_match_context_create(nullptr);
    jit_stack_ = pcre2_jit_stack_create(32 * 1024, kJitStackMax, nullptr);
    if (!match_data_ || !context_ || !jit_stack_)
        ENGINE_THROW(kOutOfMemory, "tokenizer: could not allocate PCRE2 match state");
    pcre2_set_match_limit(context_, kMatchLimit);
    pcre2_set_depth_limit(context_, kDepthLimit);
    pcre2_jit_stack_assign(context_, nullptr, jit_stack_);
}

RegexScratch::~RegexScratch() {
    pcre2_jit_stack_free(jit_stack_);
    pcre2_match_context_free(context_);
    pcre2_match_data_free(match_data_);
}

Regex::Regex(const std::string& pattern, bool literal, const std::string& where) : where_(where) {
    int err = 0;
    PCRE2_SIZE err_offset = 0;
    const uint32_t options = PCRE2_UTF | PCRE2_UCP;
    if (!utf8_is_valid(pattern)) ENGINE_THROW(kBadFile, where, ": the pattern is not valid UTF-8");
    const std::string source = literal ? regex_escape(pattern) : pattern;  // (PCRE2_LITERAL excludes UCP)
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(), options, &err,
                          &err_offset, nullptr);
    if (!code_) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        ENGINE_THROW(kBadFile, where, ": invalid regular expression at offset ", err_offset, ": ",
                     reinterpret_cast<const char*>(msg), " (pattern: ", pattern.substr(0, 200), ")");
    }
    // JIT is an optimisation: if it is unavailable (e.g. no executable memory) the interpreter is used.
    pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);
}

Regex::~Regex() { pcre2_code_free(code_); }

void Regex::find_all(std::string_view subject, RegexScratch& scratch,
                     std::vector<std::pair<size_t, size_t>>& matches) const {
    matches.clear();
    const auto* s = reinterpret_cast<PCRE2_SPTR>(subject.data());
    size_t pos = 0;
    while (pos <= subject.size()) {
        const int rc = pcre2_match(code_, s, subject.size(), pos, PCRE2_NO_UTF_CHECK, scratch.match_data(),
                                   scratch.context());
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            ENGINE_THROW(kUnsupported, where_, ": matching failed at byte ", pos, " of a ", subject.size(),
                         "-byte text: ", reinterpret_cast<const char*>(msg),
                         " (the pattern backtracks too much on this input)");
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(scratch.match_data());
        const size_t b = ov[0], e = ov[1];
        if (e > b) {
            matches.emplace_back(b, e);
            pos = e;
        } else {  // empty match: step over one whole character
            if (b >= subject.size()) break;
            pos = b + 1;
            while (pos < subject.size() && (static_cast<uint8_t>(subject[pos]) & 0xC0) == 0x80) ++pos;
        }
    }
}

std::string regex_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size() * 2);
    for (char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if ((u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u >= 0x80) {
            out.push_back(c);
        } else {
            static const char* hex = "0123456789abcdef";
            out += "\\x";
            out.push_back(hex[u >> 4]);
            out.push_back(hex[u & 15]);
        }
    }
    return out;
}

}  // namespace engine::text
