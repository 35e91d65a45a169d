// lexer.cpp — Jinja2 tokenizer (whitespace rules follow jinja2/lexer.py as configured by transformers).
//
// Hand-written rather than PCRE2: Jinja's rules are stateful (brace balancing decides whether `}}`
// ends a tag, lstrip_blocks depends on whether the previous token ended a line), which a scanner
// expresses more directly than a regex table.
#include "template/lexer.h"

#include <cstring>

#include "engine/error.h"
#include "text/utf8.h"

namespace engine::tmpl {

size_t space_at(std::string_view s, size_t p) {
    if (p >= s.size()) return 0;
    unsigned char c = static_cast<unsigned char>(s[p]);
    if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) return 1;
    if (c < 0x80) return 0;
    auto starts = [&](const char* u) { return s.substr(p, std::strlen(u)) == u; };
    if (starts("\xc2\x85") || starts("\xc2\xa0")) return 2;
    static const char* kThree[] = {"\xe1\x9a\x80", "\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x80\xaf",
                                   "\xe2\x81\x9f", "\xe3\x80\x80"};
    for (const char* u : kThree)
        if (starts(u)) return 3;
    if (c == 0xe2 && p + 2 < s.size() && static_cast<unsigned char>(s[p + 1]) == 0x80) {
        unsigned char d = static_cast<unsigned char>(s[p + 2]);
        if (d >= 0x80 && d <= 0x8a) return 3;  // U+2000..U+200A
    }
    return 0;
}

size_t space_before(std::string_view s, size_t end) {
    for (size_t n = 1; n <= 3 && n <= end; ++n)
        if (space_at(s, end - n) == n) return n;
    return 0;
}

namespace {

class Lexer {
public:
    Lexer(std::string_view src, const std::string& name) : name_(name) {
        // Jinja splits on \r\n, \r, \n, joins with \n, and drops one trailing newline.
        src_.reserve(src.size());
        for (size_t k = 0; k < src.size(); ++k) {
            if (src[k] == '\r') {
                src_ += '\n';
                if (k + 1 < src.size() && src[k + 1] == '\n') ++k;
            } else src_ += src[k];
        }
        if (!src_.empty() && src_.back() == '\n') src_.pop_back();
    }

    std::vector<Token> run() {
        while (pos_ < src_.size()) root_step();
        push(Tok::kEof, "");
        return std::move(out_);
    }

private:
    [[noreturn]] void fail(const std::string& what) {
        ENGINE_THROW(kTemplate, "template '", name_, "' line ", line_, ": ", what);
    }
    void push(Tok t, std::string text) {
        Token tok{t, std::move(text)};
        tok.line = line_;
        out_.push_back(std::move(tok));
    }
    // Advance over [pos_, to), counting lines; remembers whether the consumed text ended a line.
    void consume_to(size_t to) {
        for (size_t k = pos_; k < to; ++k)
            if (src_[k] == '\n') ++line_;
        if (to > pos_) line_starting_ = src_[to - 1] == '\n';
        pos_ = to;
    }
    size_t skip_spaces(size_t p) const {
        while (size_t n = space_at(src_, p)) p += n;
        return p;
    }
    // Applies `{%-` / lstrip_blocks to the text before a tag and emits it.
    void emit_text(size_t start, size_t end, char sign, bool lstrip_ok) {
        std::string_view text(src_.data() + start, end - start);
        if (sign == '-') {
            size_t e = text.size();
            while (size_t n = space_before(text, e)) e -= n;
            text = text.substr(0, e);
        } else if (sign != '+' && lstrip_ok) {
            size_t nl = text.rfind('\n');
            size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
            if ((l_pos > 0 || line_starting_) && l_pos < text.size()) {
                size_t p = l_pos;
                while (size_t n = space_at(text, p)) p += n;
                if (p == text.size()) text = text.substr(0, l_pos);
            }
        }
        if (!text.empty()) {
            int line0 = line_;
            push(Tok::kData, std::string(text));
            out_.back().line = line0;
        }
    }

    // After `{% raw %}`: everything up to `{% endraw %}` is data.
    void lex_raw() {
        size_t search = pos_;
        while (true) {
            size_t open = src_.find("{%", search);
            if (open == std::string::npos) fail("missing end of raw directive ({% endraw %})");
            size_t p = open + 2;
            char sign = 0;
            if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) sign = src_[p++];
            p = skip_spaces(p);
            if (src_.compare(p, 6, "endraw") != 0) {
                search = open + 2;
                continue;
            }
            p = skip_spaces(p + 6);
            size_t end;
            if (src_.compare(p, 3, "+%}") == 0) end = p + 3;
            else if (src_.compare(p, 3, "-%}") == 0) end = skip_spaces(p + 3);
            else if (src_.compare(p, 2, "%}") == 0) end = p + 2 + (src_.compare(p + 2, 1, "\n") == 0 ? 1 : 0);
            else {
                search = open + 2;
                continue;
            }
            emit_text(pos_, open, sign, true);
            consume_to(end);
            return;
        }
    }

    void root_step() {
        size_t open = pos_;
        while (true) {
            open = src_.find('{', open);
            if (open == std::string::npos || open + 1 >= src_.size()) {
                emit_text(pos_, src_.size(), 0, false);
                consume_to(src_.size());
                return;
            }
            char c = src_[open + 1];
            if (c == '{' || c == '%' || c == '#') break;
            ++open;
        }
        const char kind = src_[open + 1];
        size_t p = open + 2;
        char sign = 0;
        if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) sign = src_[p];
        const size_t after_open = p + (sign ? 1 : 0);

        if (kind == '%') {  // {% raw %} ?
            size_t q = skip_spaces(after_open);
            if (src_.compare(q, 3, "raw") == 0) {
                size_t r = skip_spaces(q + 3);
                size_t end = 0;
                if (src_.compare(r, 3, "-%}") == 0) end = skip_spaces(r + 3);
                else if (src_.compare(r, 2, "%}") == 0) end = r + 2;
                if (end) {
                    emit_text(pos_, open, sign, true);
                    consume_to(end);
                    lex_raw();
                    return;
                }
            }
        }
        emit_text(pos_, open, sign, kind != '{');
        consume_to(after_open);
        if (kind == '#') {
            size_t close = src_.find("#}", pos_);
            if (close == std::string::npos) fail("missing end of comment tag");
            size_t end;
            if (close > pos_ && src_[close - 1] == '-') end = skip_spaces(close + 2);
            else if (close > pos_ && src_[close - 1] == '+') end = close + 2;
            else end = close + 2 + (src_.compare(close + 2, 1, "\n") == 0 ? 1 : 0);
            consume_to(end);
            return;
        }
        lex_tag(kind == '%');
    }

    void lex_tag(bool block) {
        push(block ? Tok::kBlockBegin : Tok::kVarBegin, "");
        int balance = 0;
        while (true) {
            consume_to(skip_spaces(pos_));
            if (pos_ >= src_.size()) fail(block ? "unexpected end of template: missing '%}'" : "unexpected end of template: missing '}}'");
            if (balance == 0) {
                if (block) {
                    if (src_.compare(pos_, 3, "+%}") == 0) return end_tag(Tok::kBlockEnd, pos_ + 3);
                    if (src_.compare(pos_, 3, "-%}") == 0) return end_tag(Tok::kBlockEnd, skip_spaces(pos_ + 3));
                    if (src_.compare(pos_, 2, "%}") == 0)
                        return end_tag(Tok::kBlockEnd, pos_ + 2 + (src_.compare(pos_ + 2, 1, "\n") == 0 ? 1 : 0));
                } else {
                    if (src_.compare(pos_, 3, "-}}") == 0) return end_tag(Tok::kVarEnd, skip_spaces(pos_ + 3));
                    if (src_.compare(pos_, 2, "}}") == 0) return end_tag(Tok::kVarEnd, pos_ + 2);
                }
            }
            lex_token(balance);
        }
    }

    void end_tag(Tok t, size_t end) {
        push(t, "");
        consume_to(end);
    }

    static bool is_digit(char c) { return c >= '0' && c <= '9'; }
    static bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

    size_t scan_digits(size_t p) const {  // \d+(_\d+)*
        while (p < src_.size() && (is_digit(src_[p]) || (src_[p] == '_' && p + 1 < src_.size() && is_digit(src_[p + 1]))))
            ++p;
        return p;
    }

    void lex_token(int& balance) {
        const char c = src_[pos_];
        if (is_name_start(c)) {
            size_t p = pos_ + 1;
            while (p < src_.size() && (is_name_start(src_[p]) || is_digit(src_[p]))) ++p;
            push(Tok::kName, src_.substr(pos_, p - pos_));
            consume_to(p);
            return;
        }
        if (is_digit(c)) return lex_number();
        if (c == '\'' || c == '"') return lex_string(c);
        static const char* kOps2[] = {"//", "**", "==", "!=", ">=", "<="};
        for (const char* op : kOps2)
            if (src_.compare(pos_, 2, op) == 0) {
                push(Tok::kOp, op);
                consume_to(pos_ + 2);
                return;
            }
        if (std::strchr("+-/*%~[](){}><=.:|,;", c) && c != 0) {
            if (c == '(' || c == '[' || c == '{') ++balance;
            if (c == ')' || c == ']' || c == '}') {
                if (balance == 0) fail(std::string("unexpected '") + c + "'");
                --balance;
            }
            push(Tok::kOp, std::string(1, c));
            consume_to(pos_ + 1);
            return;
        }
        fail(std::string("unexpected char '") + c + "'");
    }

    void lex_number() {
        size_t start = pos_;
        if (src_[pos_] == '0' && pos_ + 1 < src_.size() && std::strchr("xXoObB", src_[pos_ + 1]) && src_[pos_ + 1]) {
            int base = (src_[pos_ + 1] | 0x20) == 'x' ? 16 : (src_[pos_ + 1] | 0x20) == 'o' ? 8 : 2;
            size_t p = pos_ + 2;
            std::string digits;
            while (p < src_.size() && (std::isxdigit(static_cast<unsigned char>(src_[p])) || src_[p] == '_')) {
                if (src_[p] != '_') digits += src_[p];
                ++p;
            }
            if (digits.empty()) fail("invalid integer literal");
            Token t{Tok::kInt, src_.substr(start, p - start)};
            try {
                t.int_value = std::stoll(digits, nullptr, base);
            } catch (const std::exception&) {
                fail("integer literal out of range");
            }
            t.line = line_;
            out_.push_back(std::move(t));
            consume_to(p);
            return;
        }
        size_t p = scan_digits(pos_);
        bool is_float = false;
        const bool after_dot = start > 0 && src_[start - 1] == '.';
        if (!after_dot) {
            if (p + 1 < src_.size() && src_[p] == '.' && is_digit(src_[p + 1])) {
                p = scan_digits(p + 1);
                is_float = true;
            }
            if (p < src_.size() && (src_[p] == 'e' || src_[p] == 'E')) {
                size_t q = p + 1;
                if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
                if (q < src_.size() && is_digit(src_[q])) {
                    p = scan_digits(q);
                    is_float = true;
                }
            }
        }
        std::string text;
        for (size_t k = start; k < p; ++k)
            if (src_[k] != '_') text += src_[k];
        Token t{is_float ? Tok::kFloat : Tok::kInt, text};
        try {
            if (is_float) t.float_value = std::stod(text);
            else t.int_value = std::stoll(text);
        } catch (const std::exception&) {
            if (is_float) t.float_value = std::strtod(text.c_str(), nullptr);  // overflow -> inf, like Python
            else fail("integer literal out of range: " + text);
        }
        t.line = line_;
        out_.push_back(std::move(t));
        consume_to(p);
    }

    static void append_utf8(std::string& out, uint32_t cp) { text::utf8_append(out, cp); }

    // Python string-literal escapes (Jinja decodes literals with "unicode-escape").
    void lex_string(char quote) {
        const int line0 = line_;
        size_t p = pos_ + 1;
        std::string value;
        while (true) {
            if (p >= src_.size()) fail("unterminated string literal");
            char c = src_[p];
            if (c == quote) break;
            if (c != '\\') {
                value += c;
                ++p;
                continue;
            }
            if (p + 1 >= src_.size()) fail("unterminated string literal");
            char e = src_[p + 1];
            p += 2;
            auto hex = [&](int n) -> uint32_t {
                if (p + size_t(n) > src_.size()) fail("truncated \\x/\\u escape in string literal");
                uint32_t v = 0;
                for (int k = 0; k < n; ++k) {
                    char h = src_[p + size_t(k)];
                    if (!std::isxdigit(static_cast<unsigned char>(h))) fail("invalid \\x/\\u escape in string literal");
                    v = v * 16 + uint32_t(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (h | 0x20) - 'a' + 10);
                }
                p += size_t(n);
                return v;
            };
            switch (e) {
                case 'n': value += '\n'; break;
                case 't': value += '\t'; break;
                case 'r': value += '\r'; break;
                case '\\': value += '\\'; break;
                case '\'': value += '\''; break;
                case '"': value += '"'; break;
                case 'a': value += '\a'; break;
                case 'b': value += '\b'; break;
                case 'f': value += '\f'; break;
                case 'v': value += '\v'; break;
                case '\n': break;  // line continuation
                case 'x': append_utf8(value, hex(2)); break;
                case 'u': append_utf8(value, hex(4)); break;
                case 'U': {
                    uint32_t cp = hex(8);
                    if (cp > 0x10FFFF) fail("invalid \\U escape in string literal");
                    append_utf8(value, cp);
                    break;
                }
                default:
                    if (e >= '0' && e <= '7') {
                        uint32_t v = uint32_t(e - '0');
                        for (int k = 0; k < 2 && p < src_.size() && src_[p] >= '0' && src_[p] <= '7'; ++k)
                            v = v * 8 + uint32_t(src_[p++] - '0');
                        append_utf8(value, v);
                    } else {
                        value += '\\';
                        value += e;
                    }
            }
        }
        push(Tok::kString, std::move(value));
        out_.back().line = line0;
        consume_to(p + 1);
    }

    std::string src_;
    const std::string& name_;
    std::vector<Token> out_;
    size_t pos_ = 0;
    int line_ = 1;
    bool line_starting_ = true;
};

}  // namespace

std::vector<Token> lex(std::string_view source, const std::string& name) {
    return Lexer(source, name).run();
}

}  // namespace engine::tmpl
