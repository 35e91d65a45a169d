// filters.cpp — Jinja2's built-in filters (semantics of jinja2/filters.py 3.1) plus transformers' tojson.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "engine/error.h"
#include "template/interpreter.h"
#include "template/strings.h"

namespace engine::tmpl {

namespace {

const Value* opt(const CallArgs& a, const char* name, size_t idx) {
    const Value* v = a.get(name, idx);
    return (v && v->kind != Kind::kNone) ? v : nullptr;
}
bool opt_bool(const CallArgs& a, const char* name, size_t idx, bool dflt) {
    const Value* v = a.get(name, idx);
    return v ? truthy(*v) : dflt;
}

// jinja2.filters.make_attrgetter: "a.b.0" looked up item by item with getitem semantics.
Value attr_path(Interpreter& in, const Value& item, const Value& attribute) {
    if (attribute.kind == Kind::kInt) return get_item(in, item, attribute);
    std::string path = to_str(attribute);
    Value cur = item;
    size_t b = 0;
    while (true) {
        size_t dot = path.find('.', b);
        std::string part = path.substr(b, dot == std::string::npos ? std::string::npos : dot - b);
        bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
        cur = digits && part.size() <= 18 ? get_item(in, cur, Value::integer(std::strtoll(part.c_str(), nullptr, 10)))
                                           : get_item(in, cur, Value::string(part));
        if (dot == std::string::npos) return cur;
        b = dot + 1;
    }
}

Value lower_key(const Value& v, bool case_sensitive) {
    return (!case_sensitive && v.kind == Kind::kString) ? Value::string(py_lower(*v.s())) : v;
}

void sort_values(Interpreter& in, std::vector<std::pair<Value, Value>>& keyed, bool reverse) {
    in.step(int64_t(keyed.size()) * 4);
    std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
        return reverse ? compare(y.first, x.first) < 0 : compare(x.first, y.first) < 0;
    });
}

// select / reject / selectattr / rejectattr
Value select_impl(Interpreter& in, const Value& seq, CallArgs& a, bool by_attr, bool keep) {
    size_t first = 0;
    Value attribute;
    if (by_attr) {
        if (a.pos.empty()) in.fail("selectattr/rejectattr: missing attribute name");
        attribute = a.pos[0];
        first = 1;
    }
    std::string test_name;
    CallArgs test_args;
    if (a.pos.size() > first) {
        test_name = arg_str(in, a.pos[first], "test name");
        test_args.pos.assign(a.pos.begin() + long(first) + 1, a.pos.end());
        test_args.kw = a.kw;
    }
    List out;
    for (const auto& item : in.iterate(seq)) {
        in.step();
        Value v = by_attr ? attr_path(in, item, attribute) : item;
        bool ok = test_name.empty() ? truthy(v) : in.test(test_name, v, test_args);
        if (ok == keep) out.push_back(item);
    }
    return Value::from_list(std::move(out));
}

Value to_int(const Value& v, const Value& dflt, int base) {
    if (v.kind == Kind::kInt) return v;
    if (v.kind == Kind::kBool) return Value::integer(v.b);
    if (v.kind == Kind::kFloat) return std::isfinite(v.f) ? Value::integer(int64_t(v.f)) : dflt;
    if (v.kind != Kind::kString) return dflt;
    std::string s = py_strip(*v.s(), nullptr, true, true);
    std::string clean;
    for (size_t k = 0; k < s.size(); ++k)
        if (!(s[k] == '_' && k > 0 && k + 1 < s.size())) clean += s[k];
    if (!clean.empty()) {
        char* end = nullptr;
        errno = 0;
        long long x = std::strtoll(clean.c_str(), &end, base);
        if (*end == 0 && errno == 0 && clean.find_first_of(" \t") == std::string::npos) return Value::integer(x);
        double d = std::strtod(s.c_str(), &end);
        if (*end == 0 && std::isfinite(d)) return Value::integer(int64_t(d));
    }
    return dflt;
}

Value to_float(const Value& v, const Value& dflt) {
    if (v.kind == Kind::kFloat) return v;
    if (v.kind == Kind::kInt) return Value::number(double(v.i));
    if (v.kind == Kind::kBool) return Value::number(v.b);
    if (v.kind != Kind::kString) return dflt;
    std::string s = py_strip(*v.s(), nullptr, true, true);
    if (s.empty()) return dflt;
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    return *end == 0 ? Value::number(d) : dflt;
}

std::string html_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&#34;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

// Python's `format % args` (jinja's |format): %[flags][width][.precision](s r d i f F e E g G x X o c %).
std::string percent_format(Interpreter& in, const std::string& f, const CallArgs& a) {
    std::string out;
    size_t next = 0;
    for (size_t k = 0; k < f.size(); ++k) {
        if (f[k] != '%') {
            out += f[k];
            continue;
        }
        size_t spec_begin = k;
        ++k;
        while (k < f.size() && std::strchr("-+ #0", f[k]) && f[k]) ++k;
        while (k < f.size() && f[k] >= '0' && f[k] <= '9') ++k;
        if (k < f.size() && f[k] == '.') {
            ++k;
            while (k < f.size() && f[k] >= '0' && f[k] <= '9') ++k;
        }
        if (k >= f.size()) in.fail("format: incomplete format");
        const char c = f[k];
        std::string spec = f.substr(spec_begin, k - spec_begin);
        if (c == '%') {
            out += '%';
            continue;
        }
        if (spec.size() > 12) in.fail("format: format spec too long");
        if (next >= a.pos.size()) in.fail("format: not enough arguments for format string");
        const Value& v = a.pos[next++];
        char buf[512];
        if (c == 's' || c == 'r') {
            std::string text = c == 's' ? to_str(v) : to_repr(v);
            // width/precision count code points in Python; good enough for ASCII padding here
            std::string fmt = spec + "s";
            int need = std::snprintf(nullptr, 0, fmt.c_str(), text.c_str());
            std::string r(size_t(std::max(need, 0)), '\0');
            std::snprintf(r.data(), r.size() + 1, fmt.c_str(), text.c_str());
            out += r;
        } else if (std::strchr("dioxXc", c)) {
            if (!v.is_number()) in.fail(std::string("format: %") + c + " format: a number is required, not " + type_name(v));
            long long x = v.kind == Kind::kFloat ? (long long)v.f : v.kind == Kind::kBool ? v.b : v.i;
            std::string fmt = spec + "ll" + (c == 'i' ? 'd' : c == 'c' ? 'd' : c);
            if (c == 'c') {
                out += char(x);
                continue;
            }
            std::snprintf(buf, sizeof buf, fmt.c_str(), x);
            out += buf;
        } else if (std::strchr("fFeEgG", c)) {
            if (!v.is_number()) in.fail(std::string("format: %") + c + " format: a real number is required, not " + type_name(v));
            std::string fmt = spec + c;
            std::snprintf(buf, sizeof buf, fmt.c_str(), v.as_double());
            out += buf;
        } else {
            in.fail(std::string("format: unsupported format character '") + c + "'");
        }
        in.check_size(out.size());
    }
    if (next < a.pos.size()) in.fail("format: not all arguments converted during string formatting");
    return out;
}

}  // namespace

Value apply_filter(Interpreter& in, const std::string& name, Value v, CallArgs& a) {
    const std::string& n = name;
    if (n == "tojson") {
        const Value* ind = opt(a, "indent", 0);
        std::string indent_str;
        if (ind) indent_str = ind->kind == Kind::kString ? *ind->s() : std::string(size_t(std::max<int64_t>(0, arg_int(in, *ind, "tojson indent"))), ' ');
        std::string item_sep = ind ? "," : ", ", key_sep = ": ";
        if (const Value* sep = opt(a, "separators", 2)) {
            List parts = in.iterate(*sep);
            if (parts.size() != 2) in.fail("tojson: separators must be a pair");
            item_sep = arg_str(in, parts[0], "separator");
            key_sep = arg_str(in, parts[1], "separator");
        }
        bool sort_keys = opt_bool(a, "sort_keys", 3, false);
        std::string out = to_json(v, ind ? &indent_str : nullptr, sort_keys, item_sep, key_sep);
        in.check_size(out.size());
        return Value::string(std::move(out));
    }
    if (n == "default" || n == "d") {
        const Value* dv = a.get("default_value", 0);
        bool boolean = opt_bool(a, "boolean", 1, false);
        if (v.is_undefined() || (boolean && !truthy(v))) return dv ? *dv : Value::string("");
        return v;
    }
    if (n == "length" || n == "count") {
        switch (v.kind) {
            case Kind::kUndefined: return Value::integer(0);
            case Kind::kString: return Value::integer(py_len(*v.s()));
            case Kind::kList: return Value::integer(int64_t(v.list()->size()));
            case Kind::kDict: return Value::integer(int64_t(v.dict()->items.size()));
            default: in.fail(std::string("object of type '") + type_name(v) + "' has no len()");
        }
    }
    if (n == "safe" || n == "string") return v.kind == Kind::kString ? v : Value::string(to_str(v));
    if (n == "trim") {
        const Value* c = opt(a, "chars", 0);
        std::string chars = c ? to_str(*c) : "";
        return Value::string(py_strip(to_str(v), c ? &chars : nullptr, true, true));
    }
    if (n == "upper") return Value::string(py_upper(to_str(v)));
    if (n == "lower") return Value::string(py_lower(to_str(v)));
    if (n == "capitalize") return Value::string(py_capitalize(to_str(v)));
    if (n == "title") return Value::string(jinja_title(to_str(v)));
    if (n == "replace") {
        const Value* old = a.get("old", 0);
        const Value* repl = a.get("new", 1);
        if (!old || !repl) in.fail("replace filter expects (old, new)");
        const Value* c = opt(a, "count", 2);
        std::string out = py_replace(to_str(v), to_str(*old), to_str(*repl), c ? arg_int(in, *c, "replace count") : -1);
        in.check_size(out.size());
        return Value::string(std::move(out));
    }
    if (n == "escape" || n == "e" || n == "forceescape") return Value::string(html_escape(to_str(v)));
    if (n == "list") return Value::from_list(in.iterate(v));
    if (n == "first" || n == "last") {
        List items = in.iterate(v);
        if (items.empty()) return Value::undefined(std::string("No ") + n + " item, sequence was empty.");
        return n == "first" ? items.front() : items.back();
    }
    if (n == "join") {
        const Value* d = a.get("d", 0);
        const Value* attribute = opt(a, "attribute", 1);
        std::string sep = d ? to_str(*d) : "", out;
        bool first = true;
        for (const auto& item : in.iterate(v)) {
            if (!first) out += sep;
            first = false;
            out += to_str(attribute ? attr_path(in, item, *attribute) : item);
            in.check_size(out.size());
        }
        return Value::string(std::move(out));
    }
    if (n == "int") {
        const Value* dv = a.get("default", 0);
        const Value* base = opt(a, "base", 1);
        return to_int(v, dv ? *dv : Value::integer(0), base ? int(arg_int(in, *base, "int base")) : 10);
    }
    if (n == "float") {
        const Value* dv = a.get("default", 0);
        return to_float(v, dv ? *dv : Value::number(0.0));
    }
    if (n == "abs") {
        if (v.kind == Kind::kInt) return Value::integer(v.i < 0 ? -v.i : v.i);
        if (v.kind == Kind::kBool) return Value::integer(v.b);
        if (v.kind == Kind::kFloat) return Value::number(std::fabs(v.f));
        in.fail(std::string("bad operand type for abs(): '") + type_name(v) + "'");
    }
    if (n == "round") {
        const Value* p = opt(a, "precision", 0);
        const Value* m = opt(a, "method", 1);
        int64_t prec = p ? arg_int(in, *p, "round precision") : 0;
        std::string method = m ? arg_str(in, *m, "round method") : "common";
        if (!v.is_number()) in.fail(std::string("round: expected a number, got '") + type_name(v) + "'");
        if (method == "common") {
            if (v.kind != Kind::kFloat) return Value::integer(v.kind == Kind::kBool ? v.b : v.i);
            if (!std::isfinite(v.f) || prec > 300 || prec < -300) return v;
            if (prec >= 0) {  // printf rounds the exact binary value half-to-even, as Python's round does
                char buf[512];
                std::snprintf(buf, sizeof buf, "%.*f", int(prec), v.f);
                return Value::number(std::strtod(buf, nullptr));
            }
            double scale = std::pow(10.0, double(-prec));
            return Value::number(std::nearbyint(v.f / scale) * scale);
        }
        if (method != "floor" && method != "ceil") in.fail("round: method must be 'common', 'ceil' or 'floor'");
        double scale = std::pow(10.0, double(prec)), x = v.as_double() * scale;
        return Value::number((method == "floor" ? std::floor(x) : std::ceil(x)) / scale);
    }
    if (n == "items") {
        if (v.is_undefined()) return Value::from_list({});
        if (v.kind != Kind::kDict) in.fail("items: can only get item pairs from a mapping");
        List out;
        for (const auto& [k, x] : v.dict()->items) out.push_back(Value::from_list({Value::string(k), x}, true));
        return Value::from_list(std::move(out));
    }
    if (n == "dictsort") {
        if (v.kind != Kind::kDict) in.fail("dictsort: expected a mapping");
        bool cs = opt_bool(a, "case_sensitive", 0, false);
        const Value* by = opt(a, "by", 1);
        bool by_value = by && to_str(*by) == "value";
        bool reverse = opt_bool(a, "reverse", 2, false);
        std::vector<std::pair<Value, Value>> keyed;
        for (const auto& [k, x] : v.dict()->items)
            keyed.emplace_back(lower_key(by_value ? x : Value::string(k), cs), Value::from_list({Value::string(k), x}, true));
        sort_values(in, keyed, reverse);
        List out;
        for (auto& kv : keyed) out.push_back(std::move(kv.second));
        return Value::from_list(std::move(out));
    }
    if (n == "sort") {
        bool reverse = opt_bool(a, "reverse", 0, false);
        bool cs = opt_bool(a, "case_sensitive", 1, false);
        const Value* attribute = opt(a, "attribute", 2);
        std::vector<std::pair<Value, Value>> keyed;
        for (const auto& item : in.iterate(v))
            keyed.emplace_back(lower_key(attribute ? attr_path(in, item, *attribute) : item, cs), item);
        sort_values(in, keyed, reverse);
        List out;
        for (auto& kv : keyed) out.push_back(std::move(kv.second));
        return Value::from_list(std::move(out));
    }
    if (n == "unique") {
        bool cs = opt_bool(a, "case_sensitive", 0, false);
        const Value* attribute = opt(a, "attribute", 1);
        List out, seen;
        for (const auto& item : in.iterate(v)) {
            in.step(int64_t(seen.size()) + 1);
            Value key = lower_key(attribute ? attr_path(in, item, *attribute) : item, cs);
            if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, key); })) continue;
            seen.push_back(key);
            out.push_back(item);
        }
        return Value::from_list(std::move(out));
    }
    if (n == "min" || n == "max") {
        bool cs = opt_bool(a, "case_sensitive", 0, false);
        const Value* attribute = opt(a, "attribute", 1);
        List items = in.iterate(v);
        if (items.empty()) return Value::undefined(std::string("No aggregated item, sequence was empty."));
        size_t best = 0;
        Value best_key = lower_key(attribute ? attr_path(in, items[0], *attribute) : items[0], cs);
        for (size_t k = 1; k < items.size(); ++k) {
            Value key = lower_key(attribute ? attr_path(in, items[k], *attribute) : items[k], cs);
            int c = compare(key, best_key);
            if (n == "min" ? c < 0 : c > 0) {
                best = k;
                best_key = key;
            }
        }
        return items[best];
    }
    if (n == "sum") {
        const Value* attribute = opt(a, "attribute", 0);
        const Value* start = a.get("start", 1);
        Value total = start ? *start : Value::integer(0);
        for (const auto& item : in.iterate(v)) total = binary_op(in, "+", total, attribute ? attr_path(in, item, *attribute) : item);
        return total;
    }
    if (n == "reverse") {
        if (v.kind == Kind::kString) {
            auto chars = utf8_chars(*v.s());
            std::string out;
            for (auto it = chars.rbegin(); it != chars.rend(); ++it) out += *it;
            return Value::string(std::move(out));
        }
        List items = in.iterate(v);
        std::reverse(items.begin(), items.end());
        return Value::from_list(std::move(items));
    }
    if (n == "select" || n == "reject") return select_impl(in, v, a, false, n == "select");
    if (n == "selectattr" || n == "rejectattr") return select_impl(in, v, a, true, n == "selectattr");
    if (n == "map") {
        const Value* attribute = a.get("attribute", 99);
        List out;
        if (attribute) {
            const Value* dflt = a.get("default", 99);
            for (const auto& item : in.iterate(v)) {
                in.step();
                Value x = attr_path(in, item, *attribute);
                out.push_back(x.is_undefined() && dflt ? *dflt : x);
            }
        } else {
            if (a.pos.empty()) in.fail("map: expected a filter name or attribute=");
            std::string filter = arg_str(in, a.pos[0], "map filter name");
            CallArgs rest;
            rest.pos.assign(a.pos.begin() + 1, a.pos.end());
            rest.kw = a.kw;
            for (const auto& item : in.iterate(v)) {
                in.step();
                CallArgs copy = rest;
                out.push_back(in.filter(filter, item, copy));
            }
        }
        return Value::from_list(std::move(out));
    }
    if (n == "attr") {
        const Value* name_v = a.get("name", 0);
        if (!name_v) in.fail("attr: missing attribute name");
        return get_attr(in, v, to_str(*name_v));
    }
    if (n == "batch") {
        const Value* count = a.get("linecount", 0);
        if (!count) in.fail("batch: missing linecount");
        int64_t size = arg_int(in, *count, "batch linecount");
        if (size <= 0) in.fail("batch: linecount must be positive");
        const Value* fill = opt(a, "fill_with", 1);
        List out, cur;
        for (const auto& item : in.iterate(v)) {
            cur.push_back(item);
            if (int64_t(cur.size()) == size) {
                out.push_back(Value::from_list(std::move(cur)));
                cur.clear();
            }
        }
        if (!cur.empty()) {
            if (fill)
                while (int64_t(cur.size()) < size) cur.push_back(*fill);
            out.push_back(Value::from_list(std::move(cur)));
        }
        return Value::from_list(std::move(out));
    }
    if (n == "indent") {
        const Value* w = a.get("width", 0);
        std::string ind = !w ? "    " : w->kind == Kind::kString ? *w->s() : std::string(size_t(std::max<int64_t>(0, arg_int(in, *w, "indent width"))), ' ');
        bool first = opt_bool(a, "first", 1, false), blank = opt_bool(a, "blank", 2, false);
        std::string s = to_str(v) + "\n";
        CallArgs none;
        Value lines_v = string_method("splitlines")(in, Value::string(s), none);
        const List& lines = *lines_v.list();
        std::string out;
        for (size_t k = 0; k < lines.size(); ++k) {
            const std::string& line = *lines[k].s();
            if (k > 0) out += "\n";
            if (k > 0 && (blank || !line.empty())) out += ind;
            out += line;
        }
        if (first) out = ind + out;
        in.check_size(out.size());
        return Value::string(std::move(out));
    }
    if (n == "center") {
        CallArgs pa;
        const Value* w = a.get("width", 0);
        pa.pos.push_back(w ? *w : Value::integer(80));
        return string_method("center")(in, Value::string(to_str(v)), pa);
    }
    if (n == "wordcount") {
        std::string s = to_str(v);
        int64_t words = 0;
        bool in_word = false;
        for (unsigned char c : s) {
            bool w = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
            if (w && !in_word) ++words;
            in_word = w;
        }
        return Value::integer(words);
    }
    if (n == "format") return Value::string(percent_format(in, to_str(v), a));
    in.fail("no filter named '" + name + "'");
}

}  // namespace engine::tmpl
