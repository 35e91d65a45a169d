// pre_tokenizer.cpp — normalizers and pre-tokenizers of the Hugging Face tokenizer.json format.
#include "text/pre_tokenizer.h"

#include <algorithm>

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

namespace engine::text {

namespace {

// ---- Unicode helpers (ICU: normalization forms and case mapping need the Unicode tables) ----

std::u16string to_utf16(const std::string& s) {
    std::u16string out(s.size() + 1, u'\0');
    int32_t len = 0;
    UErrorCode st = U_ZERO_ERROR;
    u_strFromUTF8(reinterpret_cast<UChar*>(out.data()), static_cast<int32_t>(out.size()), &len, s.data(),
                  static_cast<int32_t>(s.size()), &st);
    if (U_FAILURE(st)) ENGINE_THROW(kInternal, "tokenizer: UTF-8 -> UTF-16 conversion failed: ", u_errorName(st));
    out.resize(static_cast<size_t>(len));
    return out;
}

std::string to_utf8(const std::u16string& s) {
    std::string out(s.size() * 3 + 1, '\0');
    int32_t len = 0;
    UErrorCode st = U_ZERO_ERROR;
    u_strToUTF8(out.data(), static_cast<int32_t>(out.size()), &len, reinterpret_cast<const UChar*>(s.data()),
                static_cast<int32_t>(s.size()), &st);
    if (U_FAILURE(st)) ENGINE_THROW(kInternal, "tokenizer: UTF-16 -> UTF-8 conversion failed: ", u_errorName(st));
    out.resize(static_cast<size_t>(len));
    return out;
}

bool is_ascii(const std::string& s) {
    for (char c : s)
        if (static_cast<unsigned char>(c) >= 0x80) return false;
    return true;
}

enum class Form { kNFC, kNFD, kNFKC, kNFKD };

class UnicodeNormalizer final : public Normalizer {
public:
    explicit UnicodeNormalizer(Form form) : form_(form) {
        UErrorCode st = U_ZERO_ERROR;
        switch (form) {
            case Form::kNFC: norm_ = unorm2_getNFCInstance(&st); break;
            case Form::kNFD: norm_ = unorm2_getNFDInstance(&st); break;
            case Form::kNFKC: norm_ = unorm2_getNFKCInstance(&st); break;
            case Form::kNFKD: norm_ = unorm2_getNFKDInstance(&st); break;
        }
        if (U_FAILURE(st)) ENGINE_THROW(kInternal, "tokenizer: ICU normalizer unavailable: ", u_errorName(st));
    }
    std::string normalize(std::string text) const override {
        if (is_ascii(text)) return text;  // ASCII is invariant under all four forms
        const std::u16string in = to_utf16(text);
        UErrorCode st = U_ZERO_ERROR;
        const auto* src = reinterpret_cast<const UChar*>(in.data());
        const auto n = static_cast<int32_t>(in.size());
        if (unorm2_quickCheck(norm_, src, n, &st) == UNORM_YES && U_SUCCESS(st)) return text;
        st = U_ZERO_ERROR;
        std::u16string out(in.size() * 4 + 16, u'\0');
        int32_t len = unorm2_normalize(norm_, src, n, reinterpret_cast<UChar*>(out.data()),
                                       static_cast<int32_t>(out.size()), &st);
        if (st == U_BUFFER_OVERFLOW_ERROR) {
            out.assign(static_cast<size_t>(len) + 1, u'\0');
            st = U_ZERO_ERROR;
            len = unorm2_normalize(norm_, src, n, reinterpret_cast<UChar*>(out.data()),
                                   static_cast<int32_t>(out.size()), &st);
        }
        if (U_FAILURE(st)) ENGINE_THROW(kInternal, "tokenizer: Unicode normalization failed: ", u_errorName(st));
        out.resize(static_cast<size_t>(len));
        return to_utf8(out);
    }

private:
    Form form_;
    const UNormalizer2* norm_ = nullptr;
};

class LowercaseNormalizer final : public Normalizer {
public:
    std::string normalize(std::string text) const override {
        if (is_ascii(text)) {
            for (char& c : text)
                if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
            return text;
        }
        const std::u16string in = to_utf16(text);
        std::u16string out(in.size() * 3 + 16, u'\0');
        UErrorCode st = U_ZERO_ERROR;
        const int32_t len = u_strToLower(reinterpret_cast<UChar*>(out.data()), static_cast<int32_t>(out.size()),
                                         reinterpret_cast<const UChar*>(in.data()), static_cast<int32_t>(in.size()),
                                         "", &st);
        if (U_FAILURE(st)) ENGINE_THROW(kInternal, "tokenizer: lowercasing failed: ", u_errorName(st));
        out.resize(static_cast<size_t>(len));
        return to_utf8(out);
    }
};

class ReplaceNormalizer final : public Normalizer {
public:
    ReplaceNormalizer(const Json& j, const JsonPath& path) {
        const Json& pat = json_require(j, "pattern", path);
        bool literal = true;
        std::string p;
        if (const Json* s = json_optional(pat, "String")) {
            p = json_string(*s, path.at("pattern").at("String"));
        } else if (const Json* r = json_optional(pat, "Regex")) {
            p = json_string(*r, path.at("pattern").at("Regex"));
            literal = false;
        } else {
            ENGINE_THROW(kBadFile, path.at("pattern").where(), " should be {\"String\": ...} or {\"Regex\": ...}");
        }
        regex_ = std::make_unique<Regex>(p, literal, path.at("pattern").where());
        content_ = json_string(json_require(j, "content", path), path.at("content"));
    }
    std::string normalize(std::string text) const override {
        RegexScratch scratch;
        std::vector<std::pair<size_t, size_t>> m;
        regex_->find_all(text, scratch, m);
        if (m.empty()) return text;
        std::string out;
        size_t last = 0;
        for (auto [b, e] : m) {
            out.append(text, last, b - last);
            out += content_;
            last = e;
        }
        out.append(text, last, std::string::npos);
        return out;
    }

private:
    std::unique_ptr<Regex> regex_;
    std::string content_;
};

class PrependNormalizer final : public Normalizer {
public:
    explicit PrependNormalizer(std::string p) : prepend_(std::move(p)) {}
    std::string normalize(std::string text) const override { return text.empty() ? text : prepend_ + text; }

private:
    std::string prepend_;
};

bool is_unicode_space(uint32_t cp) { return u_isUWhiteSpace(static_cast<UChar32>(cp)); }

class StripNormalizer final : public Normalizer {
public:
    StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
    std::string normalize(std::string text) const override {
        size_t b = 0, e = text.size();
        if (left_) {
            while (b < e) {
                size_t i = b;
                if (!is_unicode_space(utf8_next(text, i))) break;
                b = i;
            }
        }
        if (right_) {
            while (e > b) {
                size_t s = e - 1;
                while (s > b && (static_cast<uint8_t>(text[s]) & 0xC0) == 0x80) --s;
                size_t i = s;
                if (!is_unicode_space(utf8_next(text, i))) break;
                e = s;
            }
        }
        return text.substr(b, e - b);
    }

private:
    bool left_, right_;
};

class SequenceNormalizer final : public Normalizer {
public:
    std::vector<std::unique_ptr<Normalizer>> items;
    std::string normalize(std::string text) const override {
        for (const auto& n : items) text = n->normalize(std::move(text));
        return text;
    }
};

// ---- pre-tokenizers ----

class SplitPreTokenizer final : public PreTokenizer {
public:
    SplitPreTokenizer(std::unique_ptr<Regex> re, SplitBehavior b, bool invert)
        : regex_(std::move(re)), behavior_(b), invert_(invert) {}
    void split(PieceList& pieces, RegexScratch& scratch) const override {
        std::vector<std::string_view> out;
        out.reserve(pieces.views.size() * 2);
        std::vector<std::pair<size_t, size_t>> m;
        for (std::string_view p : pieces.views) {
            regex_->find_all(p, scratch, m);
            split_by_matches(p, m, behavior_, invert_, out);
        }
        pieces.views.swap(out);
    }
    void split_each(std::string_view piece, RegexScratch& scratch, const PieceSink& sink) const override {
        std::vector<std::pair<size_t, size_t>> m;
        regex_->find_all(piece, scratch, m);
        if (behavior_ == SplitBehavior::kIsolated && !invert_) {
            size_t last = 0;
            for (auto [b, e] : m) {
                if (b > last) sink(piece.substr(last, b - last));
                sink(piece.substr(b, e - b));
                last = e;
            }
            if (last < piece.size()) sink(piece.substr(last));
            return;
        }
        std::vector<std::string_view> out;
        split_by_matches(piece, m, behavior_, invert_, out);
        for (std::string_view v : out) sink(v);
    }

private:
    std::unique_ptr<Regex> regex_;
    SplitBehavior behavior_;
    bool invert_;
};

// GPT-2's pre-tokenizer regex, used by ByteLevel when use_regex is true.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevelPreTokenizer final : public PreTokenizer {
public:
    ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex, const ByteAlphabet& alphabet)
        : add_prefix_space_(add_prefix_space), alphabet_(alphabet) {
        if (use_regex) regex_ = std::make_unique<Regex>(kGpt2Pattern, false, "ByteLevel pre-tokenizer regex");
    }
    void split(PieceList& pieces, RegexScratch& scratch) const override {
        // All output text goes into one buffer; views are made once it has stopped growing.
        std::string buf;
        std::vector<std::pair<size_t, size_t>> spans, m;
        std::vector<std::string_view> parts;
        std::string tmp;
        for (std::string_view p : pieces.views) {
            if (add_prefix_space_ && (p.empty() || p[0] != ' ')) {
                tmp.assign(1, ' ');
                tmp.append(p);
                p = tmp;
            }
            parts.clear();
            if (regex_) {
                regex_->find_all(p, scratch, m);
                split_by_matches(p, m, SplitBehavior::kIsolated, false, parts);
            } else if (!p.empty()) {
                parts.push_back(p);
            }
            for (std::string_view part : parts) {
                const size_t start = buf.size();
                append_mapped(part, buf);
                spans.emplace_back(start, buf.size() - start);
            }
        }
        const std::string& stored = pieces.storage.emplace_back(std::move(buf));
        pieces.views.clear();
        for (auto [b, n] : spans) pieces.views.emplace_back(stored.data() + b, n);
    }

    void split_each(std::string_view piece, RegexScratch& scratch, const PieceSink& sink) const override {
        std::string tmp, mapped;
        if (add_prefix_space_ && (piece.empty() || piece[0] != ' ')) {
            tmp.assign(1, ' ');
            tmp.append(piece);
            piece = tmp;
        }
        auto emit = [&](std::string_view part) {
            mapped.clear();
            append_mapped(part, mapped);
            sink(mapped);
        };
        if (!regex_) {
            if (!piece.empty()) emit(piece);
            return;
        }
        std::vector<std::pair<size_t, size_t>> m;
        regex_->find_all(piece, scratch, m);
        size_t last = 0;
        for (auto [b, e] : m) {
            if (b > last) emit(piece.substr(last, b - last));
            emit(piece.substr(b, e - b));
            last = e;
        }
        if (last < piece.size()) emit(piece.substr(last));
    }

private:
    void append_mapped(std::string_view bytes, std::string& out) const {
        const size_t at = out.size();
        out.resize(at + bytes.size() * 2);  // each byte maps to 1 or 2 UTF-8 bytes
        char* p = out.data() + at;
        for (char c : bytes) {
            const std::string& t = alphabet_.encode_byte(static_cast<uint8_t>(c));
            p[0] = t[0];
            if (t.size() == 2) p[1] = t[1];
            p += t.size();
        }
        out.resize(static_cast<size_t>(p - out.data()));
    }

    bool add_prefix_space_;
    std::unique_ptr<Regex> regex_;
    const ByteAlphabet& alphabet_;
};

class SequencePreTokenizer final : public PreTokenizer {
public:
    std::vector<std::unique_ptr<PreTokenizer>> items;
    void split(PieceList& pieces, RegexScratch& scratch) const override {
        for (const auto& p : items) p->split(pieces, scratch);
    }
    void split_each(std::string_view piece, RegexScratch& scratch, const PieceSink& sink) const override {
        run(0, piece, scratch, sink);
    }

private:
    void run(size_t stage, std::string_view piece, RegexScratch& scratch, const PieceSink& sink) const {
        if (stage == items.size()) {
            sink(piece);
            return;
        }
        items[stage]->split_each(piece, scratch,
                                 [&](std::string_view next) { run(stage + 1, next, scratch, sink); });
    }
};

SplitBehavior parse_behavior(const Json& j, const JsonPath& path) {
    const std::string b = json_string(j, path);
    if (b == "Removed") return SplitBehavior::kRemoved;
    if (b == "Isolated") return SplitBehavior::kIsolated;
    if (b == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
    if (b == "MergedWithNext") return SplitBehavior::kMergedWithNext;
    if (b == "Contiguous") return SplitBehavior::kContiguous;
    ENGINE_THROW(kBadFile, path.where(), " is '", b,
                 "'; expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous");
}

}  // namespace

void PreTokenizer::split_each(std::string_view piece, RegexScratch& scratch, const PieceSink& sink) const {
    PieceList list;
    list.views.push_back(piece);
    split(list, scratch);
    for (std::string_view v : list.views) sink(v);
}

void split_by_matches(std::string_view text, const std::vector<std::pair<size_t, size_t>>& matches,
                      SplitBehavior behavior, bool invert, std::vector<std::string_view>& out) {
    if (behavior == SplitBehavior::kIsolated) {  // the common case: no intermediate spans needed
        size_t last = 0;
        for (auto [b, e] : matches) {
            if (b > last) out.push_back(text.substr(last, b - last));
            out.push_back(text.substr(b, e - b));
            last = e;
        }
        if (last < text.size()) out.push_back(text.substr(last));
        return;
    }
    // All [begin, end) spans covering the text, each flagged as a match or not.
    struct Span { size_t b, e; bool match; };
    std::vector<Span> spans;
    spans.reserve(matches.size() * 2 + 1);
    size_t last = 0;
    for (auto [b, e] : matches) {
        if (b > last) spans.push_back({last, b, invert});
        spans.push_back({b, e, !invert});
        last = e;
    }
    if (last < text.size()) spans.push_back({last, text.size(), invert});

    std::vector<std::pair<size_t, size_t>> pieces;
    pieces.reserve(spans.size());
    switch (behavior) {
        case SplitBehavior::kRemoved:
            for (const Span& s : spans)
                if (!s.match) pieces.emplace_back(s.b, s.e);
            break;
        case SplitBehavior::kIsolated:
            for (const Span& s : spans) pieces.emplace_back(s.b, s.e);
            break;
        case SplitBehavior::kMergedWithPrevious: {
            bool prev_match = false;
            for (const Span& s : spans) {
                if (s.match && !prev_match && !pieces.empty()) pieces.back().second = s.e;
                else pieces.emplace_back(s.b, s.e);
                prev_match = s.match;
            }
            break;
        }
        case SplitBehavior::kMergedWithNext: {
            bool prev_match = false;  // walking right to left
            for (size_t k = spans.size(); k-- > 0;) {
                const Span& s = spans[k];
                if (s.match && !prev_match && !pieces.empty()) pieces.back().first = s.b;
                else pieces.emplace_back(s.b, s.e);
                prev_match = s.match;
            }
            std::reverse(pieces.begin(), pieces.end());
            break;
        }
        case SplitBehavior::kContiguous: {
            bool prev_match = false;
            for (const Span& s : spans) {
                if (s.match == prev_match && !pieces.empty()) pieces.back().second = s.e;
                else pieces.emplace_back(s.b, s.e);
                prev_match = s.match;
            }
            break;
        }
    }
    for (auto [b, e] : pieces)
        if (e > b) out.push_back(text.substr(b, e - b));
}

std::unique_ptr<Normalizer> make_normalizer(const Json& j, const JsonPath& path) {
    if (j.is_null()) return nullptr;
    const std::string type = json_string(json_require(j, "type", path), path.at("type"));
    if (type == "Sequence") {
        auto seq = std::make_unique<SequenceNormalizer>();
        const Json& items = json_array(json_require(j, "normalizers", path), path.at("normalizers"));
        for (size_t i = 0; i < items.size(); ++i)
            if (auto n = make_normalizer(items[i], path.at("normalizers").index(i))) seq->items.push_back(std::move(n));
        return seq;
    }
    if (type == "NFC") return std::make_unique<UnicodeNormalizer>(Form::kNFC);
    if (type == "NFD") return std::make_unique<UnicodeNormalizer>(Form::kNFD);
    if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(Form::kNFKC);
    if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(Form::kNFKD);
    if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
    if (type == "Replace") return std::make_unique<ReplaceNormalizer>(j, path);
    if (type == "Prepend")
        return std::make_unique<PrependNormalizer>(json_string(json_require(j, "prepend", path), path.at("prepend")));
    if (type == "Strip")
        return std::make_unique<StripNormalizer>(json_bool_or(j, "strip_left", true, path),
                                                 json_bool_or(j, "strip_right", true, path));
    ENGINE_THROW(kUnsupported, path.at("type").where(), " is '", type,
                 "': supported normalizers are Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Replace, Prepend, Strip");
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& j, const JsonPath& path, const ByteAlphabet& alphabet) {
    if (j.is_null()) return nullptr;
    const std::string type = json_string(json_require(j, "type", path), path.at("type"));
    if (type == "Sequence") {
        auto seq = std::make_unique<SequencePreTokenizer>();
        const Json& items = json_array(json_require(j, "pretokenizers", path), path.at("pretokenizers"));
        for (size_t i = 0; i < items.size(); ++i)
            if (auto p = make_pre_tokenizer(items[i], path.at("pretokenizers").index(i), alphabet))
                seq->items.push_back(std::move(p));
        return seq;
    }
    if (type == "Split") {
        const JsonPath pp = path.at("pattern");
        const Json& pat = json_require(j, "pattern", path);
        std::unique_ptr<Regex> re;
        if (const Json* s = json_optional(pat, "String")) {
            re = std::make_unique<Regex>(json_string(*s, pp.at("String")), true, pp.at("String").where());
        } else if (const Json* r = json_optional(pat, "Regex")) {
            re = std::make_unique<Regex>(json_string(*r, pp.at("Regex")), false, pp.at("Regex").where());
        } else {
            ENGINE_THROW(kBadFile, pp.where(), " should be {\"Regex\": \"...\"} or {\"String\": \"...\"}");
        }
        const SplitBehavior b = parse_behavior(json_require(j, "behavior", path), path.at("behavior"));
        return std::make_unique<SplitPreTokenizer>(std::move(re), b, json_bool_or(j, "invert", false, path));
    }
    if (type == "ByteLevel")
        return std::make_unique<ByteLevelPreTokenizer>(json_bool_or(j, "add_prefix_space", true, path),
                                                       json_bool_or(j, "use_regex", true, path), alphabet);
    if (type == "Digits") {
        // HF splits on char::is_numeric, i.e. the Unicode categories Nd, Nl and No = \p{N}.
        const bool individual = json_bool_or(j, "individual_digits", false, path);
        return std::make_unique<SplitPreTokenizer>(std::make_unique<Regex>("\\p{N}", false, path.where()),
                                                   individual ? SplitBehavior::kIsolated : SplitBehavior::kContiguous,
                                                   false);
    }
    ENGINE_THROW(kUnsupported, path.at("type").where(), " is '", type,
                 "': supported pre-tokenizers are Sequence, Split, ByteLevel and Digits");
}

bool pre_tokenizer_is_byte_level(const Json& j) {
    if (!j.is_object()) return false;
    auto t = j.find("type");
    if (t == j.end() || !t->is_string()) return false;
    if (*t == "ByteLevel") return true;
    if (*t == "Sequence") {
        auto items = j.find("pretokenizers");
        if (items != j.end() && items->is_array())
            for (const Json& i : *items)
                if (pre_tokenizer_is_byte_level(i)) return true;
    }
    return false;
}

}  // namespace engine::text
