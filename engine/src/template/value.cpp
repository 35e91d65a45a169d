// value.cpp — Python semantics of template values: truthiness, str()/repr(), equality, ordering.
#include "template/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "engine/error.h"

namespace engine::tmpl {

const Value* Dict::find(std::string_view key) const {
    for (const auto& [k, v] : items)
        if (k == key) return &v;
    return nullptr;
}

void Dict::set(const std::string& key, Value value) {
    for (auto& [k, v] : items)
        if (k == key) {
            v = std::move(value);
            return;
        }
    items.emplace_back(key, std::move(value));
}

const Value* CallArgs::get(std::string_view name, size_t index) const {
    for (const auto& [k, v] : kw)
        if (k == name) return &v;
    return index < pos.size() ? &pos[index] : nullptr;
}

Value Value::undefined(std::string hint) {
    Value v;
    if (!hint.empty()) v.p = std::make_shared<const std::string>(std::move(hint));
    return v;
}
Value Value::none() {
    Value v;
    v.kind = Kind::kNone;
    return v;
}
Value Value::boolean(bool x) {
    Value v;
    v.kind = Kind::kBool;
    v.b = x;
    return v;
}
Value Value::integer(int64_t x) {
    Value v;
    v.kind = Kind::kInt;
    v.i = x;
    return v;
}
Value Value::number(double x) {
    Value v;
    v.kind = Kind::kFloat;
    v.f = x;
    return v;
}
Value Value::string(std::string x) {
    Value v;
    v.kind = Kind::kString;
    v.p = std::make_shared<const std::string>(std::move(x));
    return v;
}
static uint16_t nesting_of(int deepest_element) {
    if (deepest_element + 1 > kMaxValueNesting)
        ENGINE_THROW(kTemplate, "a value nested deeper than ", kMaxValueNesting, " levels (lists or dicts inside each "
                     "other) in the template or its input; refused, it would exhaust the stack");
    return uint16_t(deepest_element + 1);
}
static int element_depth(const Value& e) { return e.kind == Kind::kNamespace ? 1 : e.depth; }

Value Value::from_list(List x, bool tuple) {
    int deepest = 0;
    for (const Value& e : x) deepest = std::max(deepest, element_depth(e));
    Value v;
    v.kind = Kind::kList;
    v.is_tuple = tuple;
    v.depth = nesting_of(deepest);
    v.p = std::make_shared<const List>(std::move(x));
    return v;
}
Value Value::from_dict(Dict x) {
    int deepest = 0;
    for (const auto& [k, e] : x.items) deepest = std::max(deepest, element_depth(e));
    Value v;
    v.kind = Kind::kDict;
    v.depth = nesting_of(deepest);
    v.p = std::make_shared<Dict>(std::move(x));
    return v;
}
Value Value::callable(std::string name, std::function<Value(Interpreter&, CallArgs&)> fn) {
    Value v;
    v.kind = Kind::kCallable;
    v.p = std::make_shared<const Callable>(Callable{std::move(name), std::move(fn)});
    return v;
}

bool truthy(const Value& v) {
    switch (v.kind) {
        case Kind::kUndefined:
        case Kind::kNone: return false;
        case Kind::kBool: return v.b;
        case Kind::kInt: return v.i != 0;
        case Kind::kFloat: return v.f != 0.0;
        case Kind::kString: return !v.s()->empty();
        case Kind::kList: return !v.list()->empty();
        case Kind::kDict: return !v.dict()->items.empty();
        default: return true;
    }
}

const char* type_name(const Value& v) {
    switch (v.kind) {
        case Kind::kUndefined: return "Undefined";
        case Kind::kNone: return "NoneType";
        case Kind::kBool: return "bool";
        case Kind::kInt: return "int";
        case Kind::kFloat: return "float";
        case Kind::kString: return "str";
        case Kind::kList: return v.is_tuple ? "tuple" : "list";
        case Kind::kDict: return "dict";
        case Kind::kNamespace: return "Namespace";
        case Kind::kCallable: return "function";
        case Kind::kLoop: return "LoopContext";
    }
    return "object";
}

// Python's float repr: the shortest digits that round-trip (std::to_chars gives those), laid out in
// fixed notation for 1e-4 <= |x| < 1e16 and in exponent notation otherwise.
std::string py_float_repr(double x) {
    if (std::isnan(x)) return "nan";
    if (std::isinf(x)) return x < 0 ? "-inf" : "inf";
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
    std::string sci(buf, res.ptr);
    std::string out;
    size_t p = 0;
    if (sci[0] == '-') {
        out = "-";
        p = 1;
    }
    size_t e = sci.find('e');
    std::string digits;
    for (size_t k = p; k < e; ++k)
        if (sci[k] != '.') digits += sci[k];
    int exp10 = std::atoi(sci.c_str() + e + 1);
    int decpt = exp10 + 1;
    const int nd = int(digits.size());
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            out += "0." + std::string(size_t(-decpt), '0') + digits;
        } else if (decpt >= nd) {
            out += digits + std::string(size_t(decpt - nd), '0') + ".0";
        } else {
            out += digits.substr(0, size_t(decpt)) + "." + digits.substr(size_t(decpt));
        }
        return out;
    }
    out += digits.substr(0, 1);
    if (nd > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
    return out + eb;
}

std::string py_string_repr(std::string_view s) {
    const bool has_single = s.find('\'') != std::string_view::npos;
    const bool has_double = s.find('"') != std::string_view::npos;
    const char q = (has_single && !has_double) ? '"' : '\'';
    std::string out(1, q);
    for (unsigned char c : s) {
        if (c == '\\') out += "\\\\";
        else if (c == static_cast<unsigned char>(q)) out += std::string("\\") + q;
        else if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (c == '\t') out += "\\t";
        else if (c < 0x20 || c == 0x7f) {
            char b[8];
            std::snprintf(b, sizeof b, "\\x%02x", c);
            out += b;
        } else out += char(c);
    }
    out += q;
    return out;
}

namespace {

// Lists and dicts are bounded by kMaxValueNesting, but namespaces are mutable references that can hold
// themselves (`set ns.a = ns`) or long chains of other namespaces. Like Python's repr (Py_ReprEnter),
// a list or dict already being printed shows as [...] / (...) / {...}; chains are cut with an error.
struct ReprWalk {
    std::vector<const void*> open;  // lists and dicts being printed, outermost first

    bool enter(const void* p, std::string& out, const char* again) {
        if (std::find(open.begin(), open.end(), p) != open.end()) {
            out += again;
            return false;
        }
        if (open.size() >= size_t(2 * kMaxValueNesting))
            ENGINE_THROW(kTemplate, "printing a value nested deeper than ", 2 * kMaxValueNesting, " levels (namespaces "
                         "inside namespaces)");
        open.push_back(p);
        return true;
    }

    void dict_into(const Dict& d, std::string& out) {
        if (!enter(&d, out, "{...}")) return;
        out += '{';
        bool first = true;
        for (const auto& [k, val] : d.items) {
            if (!first) out += ", ";
            first = false;
            out += py_string_repr(k);
            out += ": ";
            into(val, out);
        }
        out += '}';
        open.pop_back();
    }

    void into(const Value& v, std::string& out) {
        switch (v.kind) {
            case Kind::kString: out += py_string_repr(*v.s()); return;
            case Kind::kList: {
                if (!enter(v.list(), out, v.is_tuple ? "(...)" : "[...]")) return;
                out += v.is_tuple ? '(' : '[';
                for (size_t k = 0; k < v.list()->size(); ++k) {
                    if (k) out += ", ";
                    into((*v.list())[k], out);
                }
                if (v.is_tuple && v.list()->size() == 1) out += ',';
                out += v.is_tuple ? ')' : ']';
                open.pop_back();
                return;
            }
            case Kind::kDict: dict_into(*v.dict(), out); return;
            case Kind::kNamespace:
                out += "<Namespace ";
                dict_into(*v.dict(), out);
                out += '>';
                return;
            case Kind::kUndefined: out += "Undefined"; return;
            default: out += to_str(v);
        }
    }
};

}  // namespace

std::string to_repr(const Value& v) {
    std::string out;
    ReprWalk{}.into(v, out);
    return out;
}

std::string to_str(const Value& v) {
    switch (v.kind) {
        case Kind::kUndefined: return "";
        case Kind::kNone: return "None";
        case Kind::kBool: return v.b ? "True" : "False";
        case Kind::kInt: return std::to_string(v.i);
        case Kind::kFloat: return py_float_repr(v.f);
        case Kind::kString: return *v.s();
        case Kind::kCallable: return "<function " + v.fn()->name + ">";
        case Kind::kLoop: return "<LoopContext>";
        default: return to_repr(v);
    }
}

bool equals(const Value& a, const Value& b) {
    if (a.is_number() && b.is_number()) {
        if (a.kind != Kind::kFloat && b.kind != Kind::kFloat)
            return (a.kind == Kind::kBool ? int64_t(a.b) : a.i) == (b.kind == Kind::kBool ? int64_t(b.b) : b.i);
        return a.as_double() == b.as_double();
    }
    if (a.kind != b.kind) return false;
    switch (a.kind) {
        case Kind::kUndefined:
        case Kind::kNone: return true;
        case Kind::kString: return *a.s() == *b.s();
        case Kind::kList: {
            if (a.is_tuple != b.is_tuple || a.list()->size() != b.list()->size()) return false;
            for (size_t k = 0; k < a.list()->size(); ++k)
                if (!equals((*a.list())[k], (*b.list())[k])) return false;
            return true;
        }
        case Kind::kDict: {
            if (a.dict()->items.size() != b.dict()->items.size()) return false;
            for (const auto& [k, v] : a.dict()->items) {
                const Value* o = b.dict()->find(k);
                if (!o || !equals(v, *o)) return false;
            }
            return true;
        }
        case Kind::kNamespace: return a.dict() == b.dict();
        case Kind::kCallable: return a.fn() == b.fn();
        case Kind::kLoop: return a.loop() == b.loop();
        default: return false;
    }
}

int compare(const Value& a, const Value& b) {
    if (a.is_number() && b.is_number()) {
        if (a.kind != Kind::kFloat && b.kind != Kind::kFloat) {
            int64_t x = a.kind == Kind::kBool ? a.b : a.i, y = b.kind == Kind::kBool ? b.b : b.i;
            return x < y ? -1 : x > y ? 1 : 0;
        }
        double x = a.as_double(), y = b.as_double();
        return x < y ? -1 : x > y ? 1 : 0;
    }
    if (a.kind == Kind::kString && b.kind == Kind::kString) {
        int c = a.s()->compare(*b.s());
        return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    if (a.kind == Kind::kList && b.kind == Kind::kList && a.is_tuple == b.is_tuple) {
        size_t n = std::min(a.list()->size(), b.list()->size());
        for (size_t k = 0; k < n; ++k) {
            if (equals((*a.list())[k], (*b.list())[k])) continue;
            return compare((*a.list())[k], (*b.list())[k]);
        }
        return a.list()->size() < b.list()->size() ? -1 : a.list()->size() > b.list()->size() ? 1 : 0;
    }
    ENGINE_THROW(kTemplate, "'<' not supported between instances of '", type_name(a), "' and '", type_name(b), "'");
}

template <typename Json>
static Value convert_json(const Json& j) {
    switch (j.type()) {
        case Json::value_t::null: return Value::none();
        case Json::value_t::boolean: return Value::boolean(j.template get<bool>());
        case Json::value_t::number_integer: return Value::integer(j.template get<int64_t>());
        case Json::value_t::number_unsigned: {
            uint64_t u = j.template get<uint64_t>();
            if (u > uint64_t(INT64_MAX)) return Value::number(double(u));
            return Value::integer(int64_t(u));
        }
        case Json::value_t::number_float: return Value::number(j.template get<double>());
        case Json::value_t::string: return Value::string(j.template get<std::string>());
        case Json::value_t::array: {
            List l;
            l.reserve(j.size());
            for (const auto& e : j) l.push_back(convert_json(e));
            return Value::from_list(std::move(l));
        }
        case Json::value_t::object: {
            Dict d;
            d.items.reserve(j.size());
            for (auto it = j.begin(); it != j.end(); ++it) d.items.emplace_back(it.key(), convert_json(it.value()));
            return Value::from_dict(std::move(d));
        }
        default: return Value::none();  // binary / discarded: not produced by JSON parsing
    }
}

Value from_json(const nlohmann::json& j) { return convert_json(j); }
Value from_json(const nlohmann::ordered_json& j) { return convert_json(j); }

static nlohmann::json to_nlohmann_at(const Value& v, int level);

nlohmann::json to_nlohmann(const Value& v) { return to_nlohmann_at(v, 0); }

static nlohmann::json to_nlohmann_at(const Value& v, int level) {
    // Namespaces can nest without bound (see ReprWalk); lists and dicts cannot.
    if (level > 2 * kMaxValueNesting)
        ENGINE_THROW(kTemplate, "a value nested deeper than ", 2 * kMaxValueNesting, " levels cannot be converted to JSON");
    switch (v.kind) {
        case Kind::kNone:
        case Kind::kUndefined: return nullptr;
        case Kind::kBool: return v.b;
        case Kind::kInt: return v.i;
        case Kind::kFloat: return v.f;
        case Kind::kString: return *v.s();
        case Kind::kList: {
            auto a = nlohmann::json::array();
            for (const auto& e : *v.list()) a.push_back(to_nlohmann_at(e, level + 1));
            return a;
        }
        case Kind::kDict:
        case Kind::kNamespace: {
            auto o = nlohmann::json::object();
            for (const auto& [k, e] : v.dict()->items) o[k] = to_nlohmann_at(e, level + 1);
            return o;
        }
        default: return to_str(v);
    }
}

static void json_string_into(std::string_view s, std::string& out) {
    out += '"';
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                if (c < 0x20) {
                    char b[8];
                    std::snprintf(b, sizeof b, "\\u%04x", c);
                    out += b;
                } else out += char(c);
        }
    }
    out += '"';
}

namespace {
struct JsonWriter {
    const std::string* indent;
    bool sort_keys;
    const std::string& item_sep;
    const std::string& key_sep;
    std::string out;
    int depth = 0;

    void newline(int level) {
        out += '\n';
        for (int k = 0; k < level; ++k) out += *indent;
    }
    void write(const Value& v) {
        switch (v.kind) {
            case Kind::kNone: out += "null"; return;
            case Kind::kBool: out += v.b ? "true" : "false"; return;
            case Kind::kInt: out += std::to_string(v.i); return;
            case Kind::kFloat:
                if (std::isnan(v.f)) out += "NaN";
                else if (std::isinf(v.f)) out += v.f < 0 ? "-Infinity" : "Infinity";
                else out += py_float_repr(v.f);
                return;
            case Kind::kString: json_string_into(*v.s(), out); return;
            case Kind::kList: {
                if (v.list()->empty()) {
                    out += "[]";
                    return;
                }
                ENGINE_CHECK(++depth < 1000, kTemplate, "tojson: value nested too deeply");
                out += '[';
                for (size_t k = 0; k < v.list()->size(); ++k) {
                    if (k) out += item_sep;
                    if (indent) newline(depth);
                    write((*v.list())[k]);
                }
                --depth;
                if (indent) newline(depth);
                out += ']';
                return;
            }
            case Kind::kDict: {
                if (v.dict()->items.empty()) {
                    out += "{}";
                    return;
                }
                ENGINE_CHECK(++depth < 1000, kTemplate, "tojson: value nested too deeply");
                std::vector<const std::pair<std::string, Value>*> order;
                for (const auto& kv : v.dict()->items) order.push_back(&kv);
                if (sort_keys)
                    std::stable_sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->first < b->first; });
                out += '{';
                bool first = true;
                for (const auto* kv : order) {
                    if (!first) out += item_sep;
                    first = false;
                    if (indent) newline(depth);
                    json_string_into(kv->first, out);
                    out += key_sep;
                    write(kv->second);
                }
                --depth;
                if (indent) newline(depth);
                out += '}';
                return;
            }
            default:
                ENGINE_THROW(kTemplate, "tojson: Object of type ", type_name(v), " is not JSON serializable");
        }
    }
};
}  // namespace

std::string to_json(const Value& v, const std::string* indent, bool sort_keys, const std::string& item_sep,
                    const std::string& key_sep) {
    JsonWriter w{indent, sort_keys, item_sep, key_sep, {}};
    w.write(v);
    return std::move(w.out);
}

bool is_ascii(std::string_view s) {
    for (unsigned char c : s)
        if (c >= 0x80) return false;
    return true;
}

std::vector<std::string_view> utf8_chars(std::string_view s) {
    std::vector<std::string_view> out;
    out.reserve(s.size());
    size_t k = 0;
    while (k < s.size()) {
        unsigned char c = static_cast<unsigned char>(s[k]);
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
        if (k + n > s.size()) n = 1;
        for (size_t t = 1; t < n; ++t)
            if ((static_cast<unsigned char>(s[k + t]) & 0xC0) != 0x80) {
                n = 1;
                break;
            }
        out.push_back(s.substr(k, n));
        k += n;
    }
    return out;
}

int64_t py_len(const std::string& s) {
    if (is_ascii(s)) return int64_t(s.size());
    return int64_t(utf8_chars(s).size());
}

}  // namespace engine::tmpl
