// added_tokens.cpp — leftmost-longest search for added tokens (one PCRE2 alternation, longest first).
#include "text/added_tokens.h"

#include <algorithm>

#include <unicode/uchar.h>

#include "text/utf8.h"

namespace engine::text {

namespace {

// Code point ending at byte `end` (exclusive) / starting at `begin`.
uint32_t cp_before(const std::string& s, size_t end) {
    size_t b = end - 1;
    while (b > 0 && (static_cast<uint8_t>(s[b]) & 0xC0) == 0x80) --b;
    return utf8_next(s, b);
}
uint32_t cp_at(const std::string& s, size_t begin) { return utf8_next(s, begin); }

bool is_space(uint32_t cp) { return u_isUWhiteSpace(static_cast<UChar32>(cp)); }
bool is_word_char(uint32_t cp) { return cp == '_' || u_isalnum(static_cast<UChar32>(cp)); }

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(const std::vector<AddedToken>& tokens, bool want_normalized) {
    std::vector<const AddedToken*> list;
    for (const AddedToken& t : tokens)
        if (t.normalized == want_normalized && !t.content.empty()) list.push_back(&t);
    if (list.empty()) return;
    // Longest first: PCRE2 alternation is leftmost-first, so this gives leftmost-longest (HF's rule).
    std::stable_sort(list.begin(), list.end(),
                     [](const AddedToken* a, const AddedToken* b) { return a->content.size() > b->content.size(); });
    std::string pattern;
    for (const AddedToken* t : list) {
        if (!by_content_.emplace(t->content, t).second) continue;
        if (!pattern.empty()) pattern += '|';
        pattern += regex_escape(t->content);
    }
    regex_ = std::make_unique<Regex>(pattern, false, "tokenizer.json: added_tokens");
}

void AddedTokenMatcher::split(const std::string& text, RegexScratch& scratch, std::vector<Segment>& out) const {
    if (!regex_) {
        out.push_back({text, -1});
        return;
    }
    std::vector<std::pair<size_t, size_t>> matches;
    regex_->find_all(text, scratch, matches);
    size_t done = 0;  // end of the last emitted segment
    for (auto [b, e] : matches) {
        if (b < done) continue;  // inside whitespace an rstrip token already took
        const AddedToken& t = *by_content_.at(text.substr(b, e - b));
        if (t.single_word) {
            const bool start_ok = b == 0 || !is_word_char(cp_before(text, b));
            const bool stop_ok = e == text.size() || !is_word_char(cp_at(text, e));
            if (!start_ok || !stop_ok) continue;
        }
        if (t.lstrip)
            while (b > done && is_space(cp_before(text, b))) {
                size_t k = b - 1;
                while (k > 0 && (static_cast<uint8_t>(text[k]) & 0xC0) == 0x80) --k;
                b = k;
            }
        if (t.rstrip)
            while (e < text.size() && is_space(cp_at(text, e))) {
                size_t k = e;
                utf8_next(text, k);
                e = k;
            }
        if (b > done) out.push_back({text.substr(done, b - done), -1});
        out.push_back({text.substr(b, e - b), t.id});
        done = e;
    }
    if (done < text.size()) out.push_back({text.substr(done), -1});
}

}  // namespace engine::text
