// value.h — the dynamic value of the chat-template interpreter, with Python/Jinja2 semantics.
//
// Strings, lists and dicts are immutable once built (transformers renders in Jinja's
// ImmutableSandboxedEnvironment) and shared by pointer, so copying a Value is cheap. Only a
// namespace() object is mutable (`{% set ns.x = ... %}`), and the loop object is updated in place.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace engine::tmpl {

class Interpreter;
struct Value;

enum class Kind : uint8_t { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kNamespace, kCallable, kLoop };

using List = std::vector<Value>;

inline constexpr int kMaxValueNesting = 512;  // lists/dicts inside each other (real templates use < 10)

// Insertion-ordered string-keyed map (Python dict order). Linear lookup: template dicts are small.
struct Dict {
    std::vector<std::pair<std::string, Value>> items;
    const Value* find(std::string_view key) const;
    void set(const std::string& key, Value value);
};

struct CallArgs {
    std::vector<Value> pos;
    std::vector<std::pair<std::string, Value>> kw;
    // Keyword `name` or positional `index`, else nullptr.
    const Value* get(std::string_view name, size_t index) const;
};

struct Callable {
    std::string name;
    std::function<Value(Interpreter&, CallArgs&)> fn;
};

struct LoopState {
    std::shared_ptr<const List> items;
    int64_t index0 = 0;
    int64_t depth0 = 0;
};

struct Value {
    Kind kind = Kind::kUndefined;
    bool is_tuple = false;  // a list that prints as (a, b)
    bool b = false;
    // Lists/dicts: 1 + the deepest element (0 for scalars; a namespace counts as 1, it is a reference).
    // from_list/from_dict refuse more than kMaxValueNesting, so no walk over a value (repr, compare, JSON,
    // destruction) can recurse deep enough to overflow the stack; Python stops such values with
    // RecursionError too. Sits in padding: Value stays 40 bytes.
    uint16_t depth = 0;
    int64_t i = 0;
    double f = 0.0;
    // One pointer, typed by `kind` (keeps Value at 40 bytes: templates build lists of 10^5 ints):
    // kString: std::string; kUndefined: optional hint string ("'x' is undefined"); kList: List;
    // kDict / kNamespace: Dict (a kDict is never mutated after construction); kCallable: Callable;
    // kLoop: LoopState.
    std::shared_ptr<const void> p;
    const std::string* s() const { return static_cast<const std::string*>(p.get()); }
    const List* list() const { return static_cast<const List*>(p.get()); }
    Dict* dict() const { return const_cast<Dict*>(static_cast<const Dict*>(p.get())); }
    const Callable* fn() const { return static_cast<const Callable*>(p.get()); }
    LoopState* loop() const { return const_cast<LoopState*>(static_cast<const LoopState*>(p.get())); }
    std::shared_ptr<const List> list_ptr() const { return std::static_pointer_cast<const List>(p); }

    static Value undefined(std::string hint = {});
    static Value none();
    static Value boolean(bool v);
    static Value integer(int64_t v);
    static Value number(double v);
    static Value string(std::string v);
    static Value from_list(List v, bool tuple = false);
    static Value from_dict(Dict v);
    static Value callable(std::string name, std::function<Value(Interpreter&, CallArgs&)> fn);

    bool is_undefined() const { return kind == Kind::kUndefined; }
    bool is_none() const { return kind == Kind::kNone; }
    bool is_string() const { return kind == Kind::kString; }
    bool is_number() const { return kind == Kind::kInt || kind == Kind::kFloat || kind == Kind::kBool; }
    bool is_list() const { return kind == Kind::kList; }
    bool is_mapping() const { return kind == Kind::kDict || kind == Kind::kNamespace; }
    const std::string& str() const { return *s(); }
    double as_double() const { return kind == Kind::kFloat ? f : kind == Kind::kBool ? double(b) : double(i); }
};

// Python semantics.
bool truthy(const Value& v);
std::string to_str(const Value& v);   // str(v): None -> "None", 1.0 -> "1.0", ['a'] -> "['a']", undefined -> ""
std::string to_repr(const Value& v);  // repr(v)
std::string py_float_repr(double v);
std::string py_string_repr(std::string_view s);
const char* type_name(const Value& v);  // Python type name for messages: "str", "dict", ...
bool equals(const Value& a, const Value& b);
// -1/0/1; throws Error(kTemplate) for types Python cannot order.
int compare(const Value& a, const Value& b);

Value from_json(const nlohmann::json& j);
Value from_json(const nlohmann::ordered_json& j);  // keeps key order
// json.dumps(v, ensure_ascii=False, indent=indent, separators=(item_sep, key_sep), sort_keys=...).
// `indent` null: one line. Throws Error(kTemplate) for undefined, namespaces and callables.
std::string to_json(const Value& v, const std::string* indent, bool sort_keys, const std::string& item_sep,
                    const std::string& key_sep);
nlohmann::json to_nlohmann(const Value& v);

// UTF-8 helpers: Python strings index by code point.
bool is_ascii(std::string_view s);
std::vector<std::string_view> utf8_chars(std::string_view s);
int64_t py_len(const std::string& s);

}  // namespace engine::tmpl
