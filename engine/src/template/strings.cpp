// strings.cpp — Python str methods for templates (startswith, split, strip, replace, find, format, ...).
#include "template/strings.h"

#include <algorithm>
#include <clocale>
#include <cwctype>
#include <locale.h>
#include <wctype.h>

#include "engine/error.h"
#include "template/interpreter.h"
#include "template/lexer.h"
#include "text/utf8.h"

namespace engine::tmpl {

namespace {

bool is_lower_ascii(char c) { return c >= 'a' && c <= 'z'; }
bool is_upper_ascii(char c) { return c >= 'A' && c <= 'Z'; }

// Byte offset -> code-point index.
int64_t cp_index(std::string_view s, size_t byte_pos) {
    int64_t n = 0;
    for (size_t k = 0; k < byte_pos && k < s.size(); ++k)
        if ((static_cast<unsigned char>(s[k]) & 0xC0) != 0x80) ++n;
    return n;
}

// Code-point index (Python semantics for negative / out-of-range start/end) -> byte offset.
size_t byte_offset(std::string_view s, int64_t cp) {
    if (cp <= 0) return 0;
    int64_t n = 0;
    for (size_t k = 0; k < s.size(); ++k) {
        if ((static_cast<unsigned char>(s[k]) & 0xC0) != 0x80) {
            if (n == cp) return k;
            ++n;
        }
    }
    return s.size();
}

// The [start, end) byte window of optional start/end code-point arguments.
std::pair<size_t, size_t> window(Interpreter& in, std::string_view s, const CallArgs& a, size_t first) {
    const int64_t n = py_len(std::string(s));
    auto idx = [&](size_t k, int64_t dflt) {
        if (k >= a.pos.size() || a.pos[k].is_none()) return dflt;
        int64_t x = arg_int(in, a.pos[k], "string index");
        if (x < 0) x = std::max<int64_t>(0, x + n);
        return std::min(x, n);
    };
    int64_t lo = idx(first, 0), hi = idx(first + 1, n);
    size_t b_lo = byte_offset(s, lo), b_hi = byte_offset(s, hi);
    return {b_lo, std::max(b_lo, b_hi)};
}

const std::string& self_str(const Value& v) { return *v.s(); }

std::string need_str(Interpreter& in, const CallArgs& a, size_t k, const char* method) {
    if (k >= a.pos.size()) in.fail(std::string(method) + "() missing a required argument");
    return arg_str(in, a.pos[k], method);
}

Value starts_ends(Interpreter& in, const Value& self, CallArgs& a, bool ends) {
    if (a.pos.empty()) in.fail(std::string(ends ? "endswith" : "startswith") + "() takes at least 1 argument");
    auto [lo, hi] = window(in, self_str(self), a, 1);
    std::string_view w = std::string_view(self_str(self)).substr(lo, hi - lo);
    auto check = [&](const Value& p) {
        std::string x = arg_str(in, p, ends ? "endswith" : "startswith");
        if (x.size() > w.size()) return false;
        return ends ? w.substr(w.size() - x.size()) == x : w.substr(0, x.size()) == x;
    };
    if (a.pos[0].kind == Kind::kList && a.pos[0].is_tuple) {
        for (const auto& p : *a.pos[0].list())
            if (check(p)) return Value::boolean(true);
        return Value::boolean(false);
    }
    return Value::boolean(check(a.pos[0]));
}
Value m_startswith(Interpreter& in, const Value& self, CallArgs& a) { return starts_ends(in, self, a, false); }
Value m_endswith(Interpreter& in, const Value& self, CallArgs& a) { return starts_ends(in, self, a, true); }

Value split_impl(Interpreter& in, const Value& self, CallArgs& a, bool right) {
    const std::string& s = self_str(self);
    const Value* sepv = a.get("sep", 0);
    const Value* maxv = a.get("maxsplit", 1);
    int64_t maxsplit = (maxv && !maxv->is_none()) ? arg_int(in, *maxv, "split maxsplit") : -1;
    std::vector<std::string> parts;
    if (!sepv || sepv->is_none()) {  // runs of whitespace, no empty strings
        std::vector<std::pair<size_t, size_t>> words;
        size_t k = 0;
        while (k < s.size()) {
            while (size_t n = space_at(s, k)) k += n;
            if (k >= s.size()) break;
            size_t b = k;
            while (k < s.size() && !space_at(s, k)) ++k;
            words.emplace_back(b, k);
        }
        if (maxsplit < 0 || size_t(maxsplit) >= words.size()) {
            for (auto [b, e] : words) parts.push_back(s.substr(b, e - b));
        } else if (!right) {
            for (int64_t w = 0; w < maxsplit; ++w) parts.push_back(s.substr(words[size_t(w)].first, words[size_t(w)].second - words[size_t(w)].first));
            size_t rest = words[size_t(maxsplit)].first;
            parts.push_back(py_strip(std::string_view(s).substr(rest), nullptr, false, true));
        } else {
            size_t first_kept = words.size() - size_t(maxsplit);
            parts.push_back(py_strip(std::string_view(s).substr(0, words[first_kept - 1].second), nullptr, true, false));
            for (size_t w = first_kept; w < words.size(); ++w) parts.push_back(s.substr(words[w].first, words[w].second - words[w].first));
        }
    } else {
        std::string sep = arg_str(in, *sepv, "split separator");
        if (sep.empty()) in.fail("split(): empty separator");
        if (!right) {
            size_t b = 0;
            while (maxsplit < 0 || int64_t(parts.size()) < maxsplit) {
                size_t f = s.find(sep, b);
                if (f == std::string::npos) break;
                parts.push_back(s.substr(b, f - b));
                b = f + sep.size();
            }
            parts.push_back(s.substr(b));
        } else {
            size_t e = s.size();
            std::vector<std::string> rev;
            while (maxsplit < 0 || int64_t(rev.size()) < maxsplit) {
                if (e < sep.size()) break;
                size_t f = s.rfind(sep, e - sep.size());
                if (f == std::string::npos) break;
                rev.push_back(s.substr(f + sep.size(), e - f - sep.size()));
                e = f;
            }
            rev.push_back(s.substr(0, e));
            parts.assign(rev.rbegin(), rev.rend());
        }
    }
    in.step(int64_t(parts.size()));
    List out;
    out.reserve(parts.size());
    for (auto& p : parts) out.push_back(Value::string(std::move(p)));
    return Value::from_list(std::move(out));
}
Value m_split(Interpreter& in, const Value& self, CallArgs& a) { return split_impl(in, self, a, false); }
Value m_rsplit(Interpreter& in, const Value& self, CallArgs& a) { return split_impl(in, self, a, true); }

Value strip_impl(Interpreter& in, const Value& self, CallArgs& a, bool l, bool r) {
    const Value* c = a.get("chars", 0);
    if (c && !c->is_none()) {
        std::string chars = arg_str(in, *c, "strip chars");
        return Value::string(py_strip(self_str(self), &chars, l, r));
    }
    return Value::string(py_strip(self_str(self), nullptr, l, r));
}
Value m_strip(Interpreter& in, const Value& self, CallArgs& a) { return strip_impl(in, self, a, true, true); }
Value m_lstrip(Interpreter& in, const Value& self, CallArgs& a) { return strip_impl(in, self, a, true, false); }
Value m_rstrip(Interpreter& in, const Value& self, CallArgs& a) { return strip_impl(in, self, a, false, true); }
Value m_upper(Interpreter&, const Value& self, CallArgs&) { return Value::string(py_upper(self_str(self))); }
Value m_lower(Interpreter&, const Value& self, CallArgs&) { return Value::string(py_lower(self_str(self))); }
Value m_title(Interpreter&, const Value& self, CallArgs&) { return Value::string(py_title(self_str(self))); }
Value m_capitalize(Interpreter&, const Value& self, CallArgs&) { return Value::string(py_capitalize(self_str(self))); }

Value m_replace(Interpreter& in, const Value& self, CallArgs& a) {
    std::string old = need_str(in, a, 0, "replace"), repl = need_str(in, a, 1, "replace");
    const Value* c = a.get("count", 2);
    int64_t count = (c && !c->is_none()) ? arg_int(in, *c, "replace count") : -1;
    std::string out = py_replace(self_str(self), old, repl, count);
    in.check_size(out.size());
    return Value::string(std::move(out));
}

Value find_impl(Interpreter& in, const Value& self, CallArgs& a, bool rev, bool raise) {
    std::string sub = need_str(in, a, 0, rev ? "rfind" : "find");
    const std::string& s = self_str(self);
    auto [lo, hi] = window(in, s, a, 1);
    std::string_view w = std::string_view(s).substr(lo, hi - lo);
    size_t f = rev ? w.rfind(sub) : w.find(sub);
    if (f == std::string_view::npos) {
        if (raise) in.fail("substring not found");
        return Value::integer(-1);
    }
    return Value::integer(cp_index(s, lo + f));
}
Value m_find(Interpreter& in, const Value& self, CallArgs& a) { return find_impl(in, self, a, false, false); }
Value m_rfind(Interpreter& in, const Value& self, CallArgs& a) { return find_impl(in, self, a, true, false); }
Value m_index(Interpreter& in, const Value& self, CallArgs& a) { return find_impl(in, self, a, false, true); }
Value m_rindex(Interpreter& in, const Value& self, CallArgs& a) { return find_impl(in, self, a, true, true); }

Value m_count(Interpreter& in, const Value& self, CallArgs& a) {
    std::string sub = need_str(in, a, 0, "count");
    const std::string& s = self_str(self);
    auto [lo, hi] = window(in, s, a, 1);
    std::string_view w = std::string_view(s).substr(lo, hi - lo);
    if (sub.empty()) return Value::integer(py_len(std::string(w)) + 1);
    int64_t n = 0;
    for (size_t f = w.find(sub); f != std::string_view::npos; f = w.find(sub, f + sub.size())) ++n;
    return Value::integer(n);
}

Value m_join(Interpreter& in, const Value& self, CallArgs& a) {
    if (a.pos.empty()) in.fail("join() takes exactly one argument");
    std::string out;
    bool first = true;
    for (const auto& v : in.iterate(a.pos[0])) {
        if (!first) out += self_str(self);
        first = false;
        if (v.kind != Kind::kString) in.fail(std::string("sequence item: expected str instance, ") + type_name(v) + " found");
        out += *v.s();
        in.check_size(out.size());
    }
    return Value::string(std::move(out));
}

template <bool (*Pred)(unsigned char)>
Value is_all(Interpreter&, const Value& self, CallArgs&) {
    const std::string& s = self_str(self);
    if (s.empty()) return Value::boolean(false);
    for (unsigned char c : s)
        if (!Pred(c)) return Value::boolean(false);
    return Value::boolean(true);
}
bool p_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool p_alpha(unsigned char c) { return is_lower_ascii(char(c)) || is_upper_ascii(char(c)); }
bool p_alnum(unsigned char c) { return p_digit(c) || p_alpha(c); }

Value m_isspace(Interpreter&, const Value& self, CallArgs&) {
    const std::string& s = self_str(self);
    if (s.empty()) return Value::boolean(false);
    size_t k = 0;
    while (size_t n = space_at(s, k)) k += n;
    return Value::boolean(k == s.size());
}
Value case_check(const Value& self, bool want_lower) {
    const std::string& x = self_str(self);
    std::string lo = py_lower(x), up = py_upper(x);
    return Value::boolean(want_lower ? (lo == x && up != x) : (up == x && lo != x));
}
Value m_islower(Interpreter&, const Value& self, CallArgs&) { return case_check(self, true); }
Value m_isupper(Interpreter&, const Value& self, CallArgs&) { return case_check(self, false); }

Value m_splitlines(Interpreter& in, const Value& self, CallArgs& a) {
    const Value* keep = a.get("keepends", 0);
    const bool keepends = keep && truthy(*keep);
    const std::string& s = self_str(self);
    List out;
    size_t b = 0, k = 0;
    while (k < s.size()) {
        size_t nl = 0;
        unsigned char c = static_cast<unsigned char>(s[k]);
        if (c == '\r' && k + 1 < s.size() && s[k + 1] == '\n') nl = 2;
        else if (c == '\n' || c == '\r' || c == '\v' || c == '\f' || (c >= 0x1c && c <= 0x1e)) nl = 1;
        if (!nl) {
            ++k;
            continue;
        }
        out.push_back(Value::string(s.substr(b, (keepends ? k + nl : k) - b)));
        k += nl;
        b = k;
    }
    if (b < s.size()) out.push_back(Value::string(s.substr(b)));
    in.step(int64_t(out.size()));
    return Value::from_list(std::move(out));
}

Value pad_impl(Interpreter& in, const Value& self, CallArgs& a, int mode) {  // 0 center, 1 ljust, 2 rjust
    if (a.pos.empty()) in.fail("padding method expects a width");
    int64_t width = arg_int(in, a.pos[0], "width");
    std::string fill = a.pos.size() > 1 ? arg_str(in, a.pos[1], "fill character") : " ";
    if (py_len(fill) != 1) in.fail("The fill character must be exactly one character long");
    const std::string& s = self_str(self);
    int64_t n = py_len(s);
    if (width <= n) return self;
    in.check_size(size_t(width) * fill.size());
    int64_t total = width - n, left = mode == 1 ? 0 : mode == 2 ? total : total / 2 + (total & width & 1);
    std::string out;
    for (int64_t k = 0; k < left; ++k) out += fill;
    out += s;
    for (int64_t k = 0; k < total - left; ++k) out += fill;
    return Value::string(std::move(out));
}
Value m_center(Interpreter& in, const Value& self, CallArgs& a) { return pad_impl(in, self, a, 0); }
Value m_ljust(Interpreter& in, const Value& self, CallArgs& a) { return pad_impl(in, self, a, 1); }
Value m_rjust(Interpreter& in, const Value& self, CallArgs& a) { return pad_impl(in, self, a, 2); }

Value m_partition(Interpreter& in, const Value& self, CallArgs& a) {
    std::string sep = need_str(in, a, 0, "partition");
    if (sep.empty()) in.fail("partition(): empty separator");
    const std::string& s = self_str(self);
    size_t f = s.find(sep);
    if (f == std::string::npos) return Value::from_list({self, Value::string(""), Value::string("")}, true);
    return Value::from_list({Value::string(s.substr(0, f)), Value::string(sep), Value::string(s.substr(f + sep.size()))}, true);
}

Value m_removeprefix(Interpreter& in, const Value& self, CallArgs& a) {
    std::string p = need_str(in, a, 0, "removeprefix");
    const std::string& s = self_str(self);
    return s.compare(0, p.size(), p) == 0 ? Value::string(s.substr(p.size())) : self;
}
Value m_removesuffix(Interpreter& in, const Value& self, CallArgs& a) {
    std::string p = need_str(in, a, 0, "removesuffix");
    const std::string& s = self_str(self);
    if (!p.empty() && s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0)
        return Value::string(s.substr(0, s.size() - p.size()));
    return self;
}

// str.format with {}, {0}, {name}, {{ and }}; conversions !s / !r; no format specs.
Value m_format(Interpreter& in, const Value& self, CallArgs& a) {
    const std::string& f = self_str(self);
    std::string out;
    size_t auto_idx = 0;
    for (size_t k = 0; k < f.size(); ++k) {
        char c = f[k];
        if (c == '}') {
            if (k + 1 < f.size() && f[k + 1] == '}') ++k;
            else in.fail("format: single '}' encountered in format string");
            out += '}';
            continue;
        }
        if (c != '{') {
            out += c;
            continue;
        }
        if (k + 1 < f.size() && f[k + 1] == '{') {
            out += '{';
            ++k;
            continue;
        }
        size_t close = f.find('}', k);
        if (close == std::string::npos) in.fail("format: single '{' encountered in format string");
        std::string field = f.substr(k + 1, close - k - 1);
        k = close;
        char conv = 0;
        if (size_t bang = field.find('!'); bang != std::string::npos) {
            conv = bang + 1 < field.size() ? field[bang + 1] : 0;
            field = field.substr(0, bang);
        }
        if (field.find(':') != std::string::npos) in.fail("format: format specs are not supported");
        const Value* v = nullptr;
        if (field.empty()) v = auto_idx < a.pos.size() ? &a.pos[auto_idx++] : nullptr;
        else if (field.size() <= 9 && std::all_of(field.begin(), field.end(), [](char d) { return d >= '0' && d <= '9'; }))
            v = size_t(std::stoul(field)) < a.pos.size() ? &a.pos[std::stoul(field)] : nullptr;
        else
            for (const auto& [n, x] : a.kw)
                if (n == field) v = &x;
        if (!v) in.fail("format: no argument for field '{" + field + "}'");
        out += conv == 'r' ? to_repr(*v) : to_str(*v);
        in.check_size(out.size());
    }
    return Value::string(std::move(out));
}

}  // namespace

std::string py_strip(std::string_view s, const std::string* chars, bool left, bool right) {
    size_t b = 0, e = s.size();
    if (!chars) {
        if (left)
            while (size_t n = space_at(s, b)) b += n;
        if (right)
            while (e > b) {
                size_t n = space_before(s, e);
                if (!n) break;
                e -= n;
            }
        return std::string(s.substr(b, e - b));
    }
    auto set = utf8_chars(*chars);
    auto in_set = [&](std::string_view c) { return std::find(set.begin(), set.end(), c) != set.end(); };
    auto cs = utf8_chars(s);
    size_t lo = 0, hi = cs.size();
    if (left)
        while (lo < hi && in_set(cs[lo])) ++lo;
    if (right)
        while (hi > lo && in_set(cs[hi - 1])) --hi;
    std::string out;
    for (size_t k = lo; k < hi; ++k) out += cs[k];
    return out;
}

namespace {

// Case mapping of non-ASCII text through glibc's C.UTF-8 locale (towupper_l / towlower_l: Unicode
// simple case mappings), plus Python's full mapping of 'ß' -> "SS". Bytes that are not valid UTF-8
// pass through unchanged.
class CaseMapper {
public:
    CaseMapper() : loc_(newlocale(LC_CTYPE_MASK, "C.UTF-8", locale_t(nullptr))) {}
    ~CaseMapper() {
        if (loc_) freelocale(loc_);
    }
    CaseMapper(const CaseMapper&) = delete;
    CaseMapper& operator=(const CaseMapper&) = delete;
    uint32_t upper(uint32_t c) const {
        if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
        return loc_ && c < 0x110000 ? uint32_t(towupper_l(wint_t(c), loc_)) : c;
    }
    uint32_t lower(uint32_t c) const {
        if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
        return loc_ && c < 0x110000 ? uint32_t(towlower_l(wint_t(c), loc_)) : c;
    }
    bool cased(uint32_t c) const { return c == 0xDF || upper(c) != c || lower(c) != c; }

private:
    locale_t loc_;
};

constexpr uint32_t kRawByte = 0x110000;  // marks a byte that was not valid UTF-8

std::vector<uint32_t> decode(std::string_view s) {
    std::vector<uint32_t> out;
    for (auto ch : utf8_chars(s)) {
        unsigned char c0 = static_cast<unsigned char>(ch[0]);
        if (ch.size() == 1) {
            out.push_back(c0 < 0x80 ? c0 : kRawByte + c0);
            continue;
        }
        uint32_t cp = c0 & (ch.size() == 2 ? 0x1F : ch.size() == 3 ? 0x0F : 0x07);
        for (size_t k = 1; k < ch.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(ch[k]) & 0x3F);
        out.push_back(cp);
    }
    return out;
}

void encode_into(uint32_t cp, std::string& out) {
    if (cp >= kRawByte) out += char(cp - kRawByte);  // a byte that was not valid UTF-8, kept as it was
    else text::utf8_append(out, cp);
}

void append_upper(const CaseMapper& m, uint32_t c, std::string& out) {
    if (c == 0xDF) out += "SS";
    else encode_into(m.upper(c), out);
}

std::string map_case(std::string_view s, bool up) {
    if (is_ascii(s)) {
        std::string out(s);
        for (char& c : out)
            if (up ? (c >= 'a' && c <= 'z') : (c >= 'A' && c <= 'Z')) c = char(up ? c - 32 : c + 32);
        return out;
    }
    CaseMapper m;
    std::string out;
    for (uint32_t c : decode(s)) {
        if (up) append_upper(m, c, out);
        else encode_into(m.lower(c), out);
    }
    return out;
}

}  // namespace

std::string py_upper(std::string_view s) { return map_case(s, true); }
std::string py_lower(std::string_view s) { return map_case(s, false); }

std::string py_capitalize(std::string_view s) {
    CaseMapper m;
    std::string out;
    bool first = true;
    for (uint32_t c : decode(s)) {
        if (first) append_upper(m, c, out);
        else encode_into(m.lower(c), out);
        first = false;
    }
    return out;
}

std::string py_title(std::string_view s) {
    CaseMapper m;
    std::string out;
    bool prev_cased = false;
    for (uint32_t c : decode(s)) {
        const bool cased = c < kRawByte && m.cased(c);
        if (cased) {
            if (prev_cased) encode_into(m.lower(c), out);
            else append_upper(m, c, out);
        } else encode_into(c, out);
        prev_cased = cased;
    }
    return out;
}

std::string jinja_title(std::string_view s) {
    CaseMapper m;
    std::string out;
    bool start = true;
    for (uint32_t c : decode(s)) {
        const bool sep = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || c == ' ' || (c >= 0x09 && c <= 0x0d) ||
                         (c >= 0x1c && c <= 0x1f) || c == 0x85 || c == 0xA0 || c == 0x3000 || (c >= 0x2000 && c <= 0x200A);
        if (sep) encode_into(c, out);
        else if (start) append_upper(m, c, out);
        else encode_into(m.lower(c), out);
        start = sep;
    }
    return out;
}

std::string py_replace(std::string_view s, std::string_view old, std::string_view repl, int64_t count) {
    std::string out;
    if (old.empty()) {
        auto chars = utf8_chars(s);
        int64_t done = 0;
        for (auto c : chars) {
            if (count < 0 || done < count) {
                out += repl;
                ++done;
            }
            out += c;
        }
        if (count < 0 || done < count) out += repl;
        return out;
    }
    size_t b = 0;
    int64_t done = 0;
    while (count < 0 || done < count) {
        size_t f = s.find(old, b);
        if (f == std::string_view::npos) break;
        out += s.substr(b, f - b);
        out += repl;
        b = f + old.size();
        ++done;
    }
    out += s.substr(b);
    return out;
}

StrMethod string_method(const std::string& name) {
    static const std::pair<const char*, StrMethod> kMethods[] = {
        {"startswith", m_startswith}, {"endswith", m_endswith}, {"split", m_split}, {"rsplit", m_rsplit},
        {"strip", m_strip}, {"lstrip", m_lstrip}, {"rstrip", m_rstrip}, {"upper", m_upper}, {"lower", m_lower},
        {"title", m_title}, {"capitalize", m_capitalize}, {"replace", m_replace}, {"find", m_find},
        {"rfind", m_rfind}, {"index", m_index}, {"rindex", m_rindex}, {"count", m_count}, {"join", m_join},
        {"isdigit", is_all<p_digit>}, {"isalpha", is_all<p_alpha>}, {"isalnum", is_all<p_alnum>},
        {"isspace", m_isspace}, {"islower", m_islower}, {"isupper", m_isupper}, {"splitlines", m_splitlines},
        {"center", m_center}, {"ljust", m_ljust}, {"rjust", m_rjust}, {"partition", m_partition},
        {"removeprefix", m_removeprefix}, {"removesuffix", m_removesuffix}, {"format", m_format},
    };
    for (const auto& [n, m] : kMethods)
        if (name == n) return m;
    return nullptr;
}

}  // namespace engine::tmpl
