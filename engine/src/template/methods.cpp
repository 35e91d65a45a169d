// methods.cpp — attribute and item access as ImmutableSandboxedEnvironment allows it: `_`-prefixed
// attributes and mutating list/dict methods are unsafe (an undefined value that fails when used), and
// the read-only Python methods of str, dict and list, plus the `loop` object.
#include <algorithm>

#include "engine/error.h"
#include "template/interpreter.h"
#include "template/lexer.h"
#include "template/strings.h"

namespace engine::tmpl {

namespace {

// Built with str_cat: GCC 12 warns falsely (-Wrestrict) about chained std::string operator+ here.
Value attr_missing(const Value& obj, const std::string& name) {
    return Value::undefined(str_cat("'", type_name(obj), " object' has no attribute '", name, "'"));
}

Value no_element(const Value& obj, const Value& key) {
    return Value::undefined(str_cat("'", type_name(obj), " object' has no element ", to_repr(key)));
}

Value unsafe(const Value& obj, const std::string& name) {
    return Value::undefined(str_cat("access to attribute '", name, "' of '", type_name(obj), "' object is unsafe"));
}

using Method = Value (*)(Interpreter&, const Value& self, CallArgs&);

Value bind(const Value& self, const std::string& name, Method m) {
    return Value::callable(name, [self, m](Interpreter& in, CallArgs& a) { return m(in, self, a); });
}


// ---- dict ----
Value dict_items(Interpreter& in, const Value& self, CallArgs&) {
    List out;
    in.step(int64_t(self.dict()->items.size()));
    for (const auto& [k, v] : self.dict()->items) out.push_back(Value::from_list({Value::string(k), v}, true));
    return Value::from_list(std::move(out));
}
Value dict_keys(Interpreter& in, const Value& self, CallArgs&) { return Value::from_list(in.iterate(self)); }
Value dict_values(Interpreter& in, const Value& self, CallArgs&) {
    List out;
    in.step(int64_t(self.dict()->items.size()));
    for (const auto& kv : self.dict()->items) out.push_back(kv.second);
    return Value::from_list(std::move(out));
}
Value dict_get(Interpreter& in, const Value& self, CallArgs& a) {
    const Value* key = a.get("key", 0);
    if (!key) in.fail("get expected at least 1 argument, got 0");
    const Value* dflt = a.get("default", 1);
    if (key->kind == Kind::kString)
        if (const Value* v = self.dict()->find(*key->s())) return *v;
    return dflt ? *dflt : Value::none();
}
Value dict_copy(Interpreter&, const Value& self, CallArgs&) { return Value::from_dict(*self.dict()); }

// ---- list ----
Value list_index(Interpreter& in, const Value& self, CallArgs& a) {
    if (a.pos.empty()) in.fail("index expected 1 argument");
    for (size_t k = 0; k < self.list()->size(); ++k)
        if (equals((*self.list())[k], a.pos[0])) return Value::integer(int64_t(k));
    in.fail(to_repr(a.pos[0]) + " is not in list");
}
Value list_count(Interpreter& in, const Value& self, CallArgs& a) {
    if (a.pos.empty()) in.fail("count expected 1 argument");
    int64_t n = 0;
    for (const auto& e : *self.list()) n += equals(e, a.pos[0]);
    return Value::integer(n);
}

Value loop_cycle(Interpreter& in, const Value& self, CallArgs& a) {
    if (a.pos.empty()) in.fail("loop.cycle: no items for cycling given");
    return a.pos[size_t(self.loop()->index0) % a.pos.size()];
}

Value loop_attr(Interpreter&, const Value& obj, const std::string& name) {
    const LoopState& s = *obj.loop();
    const int64_t n = int64_t(s.items->size());
    if (name == "index") return Value::integer(s.index0 + 1);
    if (name == "index0") return Value::integer(s.index0);
    if (name == "revindex") return Value::integer(n - s.index0);
    if (name == "revindex0") return Value::integer(n - s.index0 - 1);
    if (name == "first") return Value::boolean(s.index0 == 0);
    if (name == "last") return Value::boolean(s.index0 == n - 1);
    if (name == "length") return Value::integer(n);
    if (name == "depth") return Value::integer(s.depth0 + 1);
    if (name == "depth0") return Value::integer(s.depth0);
    if (name == "previtem")
        return s.index0 > 0 ? (*s.items)[size_t(s.index0 - 1)] : Value::undefined("there is no previous item");
    if (name == "nextitem")
        return s.index0 + 1 < n ? (*s.items)[size_t(s.index0 + 1)] : Value::undefined("there is no next item");
    if (name == "cycle") return bind(obj, name, loop_cycle);
    return attr_missing(obj, name);
}

}  // namespace

Value get_attr(Interpreter& in, const Value& obj, const std::string& name) {
    if (obj.kind == Kind::kUndefined) fail_undefined(in, obj);
    // Python objects have dunder attributes, which the sandbox refuses; other names fall through to
    // item lookup (a dict key "_private" is reachable, as in Jinja).
    if (name.size() >= 2 && name[0] == '_' && name[1] == '_') return unsafe(obj, name);
    switch (obj.kind) {
        case Kind::kDict: {
            static const std::pair<const char*, Method> kMethods[] = {
                {"items", dict_items}, {"keys", dict_keys}, {"values", dict_values}, {"get", dict_get}, {"copy", dict_copy}};
            for (const auto& [n, m] : kMethods)
                if (name == n) return bind(obj, name, m);
            for (const char* n : {"pop", "popitem", "setdefault", "update", "clear"})
                if (name == n) return unsafe(obj, name);
            if (const Value* v = obj.dict()->find(name)) return *v;
            return attr_missing(obj, name);
        }
        case Kind::kNamespace:
            if (const Value* v = obj.dict()->find(name)) return *v;
            return attr_missing(obj, name);
        case Kind::kString:
            if (auto m = string_method(name)) return bind(obj, name, m);
            return attr_missing(obj, name);
        case Kind::kList:
            if (name == "index") return bind(obj, name, list_index);
            if (name == "count") return bind(obj, name, list_count);
            for (const char* n : {"append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"})
                if (name == n) return unsafe(obj, name);
            return attr_missing(obj, name);
        case Kind::kLoop: return loop_attr(in, obj, name);
        default: return attr_missing(obj, name);
    }
}

static int64_t list_like_size(const Value& v) {
    return v.kind == Kind::kString ? py_len(*v.s()) : int64_t(v.list()->size());
}

Value get_item(Interpreter& in, const Value& obj, const Value& key) {
    if (obj.kind == Kind::kUndefined) fail_undefined(in, obj);
    switch (obj.kind) {
        case Kind::kDict:
        case Kind::kNamespace:
            if (key.kind == Kind::kString) {
                if (const Value* v = obj.dict()->find(*key.s())) return *v;
                return get_attr(in, obj, *key.s());
            }
            return Value::undefined(str_cat("'", type_name(obj), " object' has no attribute ", to_repr(key)));
        case Kind::kList:
        case Kind::kString: {
            if (key.kind == Kind::kString) return get_attr(in, obj, *key.s());
            if (key.kind != Kind::kInt && key.kind != Kind::kBool)
                return no_element(obj, key);
            int64_t k = key.kind == Kind::kBool ? key.b : key.i;
            const int64_t n = list_like_size(obj);
            if (k < 0) k += n;
            if (k < 0 || k >= n)
                return no_element(obj, key);
            if (obj.kind == Kind::kList) return (*obj.list())[size_t(k)];
            if (is_ascii(*obj.s())) return Value::string(obj.s()->substr(size_t(k), 1));
            return Value::string(std::string(utf8_chars(*obj.s())[size_t(k)]));
        }
        case Kind::kLoop:
            if (key.kind == Kind::kString) return get_attr(in, obj, *key.s());
            return Value::undefined("'LoopContext object' has no element " + to_repr(key));
        default: return no_element(obj, key);
    }
}

Value slice(Interpreter& in, const Value& obj, const Value& start, const Value& stop, const Value& stepv) {
    if (obj.kind == Kind::kUndefined) fail_undefined(in, obj);
    if (obj.kind != Kind::kList && obj.kind != Kind::kString)
        in.fail(std::string("'") + type_name(obj) + "' object is not subscriptable");
    const int64_t n = list_like_size(obj);
    int64_t step = stepv.is_none() ? 1 : arg_int(in, stepv, "slice step");
    if (step == 0) in.fail("slice step cannot be zero");
    // CPython's PySlice_AdjustIndices.
    auto adjust = [&](const Value& v, int64_t dflt) -> int64_t {
        if (v.is_none()) return dflt;
        int64_t x = arg_int(in, v, "slice index");
        if (x < 0) {
            x += n;
            if (x < 0) x = step < 0 ? -1 : 0;
        } else if (x >= n) {
            x = step < 0 ? n - 1 : n;
        }
        return x;
    };
    int64_t lo = adjust(start, step < 0 ? n - 1 : 0);
    int64_t hi = adjust(stop, step < 0 ? -1 : n);
    std::vector<int64_t> idx;
    if (step > 0)
        for (int64_t k = lo; k < hi; k += step) idx.push_back(k);
    else
        for (int64_t k = lo; k > hi; k += step) idx.push_back(k);
    in.step(int64_t(idx.size()));
    if (obj.kind == Kind::kList) {
        List out;
        out.reserve(idx.size());
        for (int64_t k : idx) out.push_back((*obj.list())[size_t(k)]);
        return Value::from_list(std::move(out), obj.is_tuple);
    }
    std::string out;
    if (is_ascii(*obj.s())) {
        for (int64_t k : idx) out += (*obj.s())[size_t(k)];
    } else {
        auto chars = utf8_chars(*obj.s());
        for (int64_t k : idx) out += chars[size_t(k)];
    }
    return Value::string(std::move(out));
}

}  // namespace engine::tmpl
