// tests.cpp — Jinja2's built-in tests (`x is defined`, `x is string`, `x is divisibleby 3`, ...).
#include <cmath>

#include "engine/error.h"
#include "template/interpreter.h"
#include "template/strings.h"

namespace engine::tmpl {

namespace {

const Value& need_arg(Interpreter& in, const CallArgs& a, const std::string& test) {
    if (a.pos.empty() && a.kw.empty()) in.fail("test '" + test + "' expects an argument");
    return a.pos.empty() ? a.kw.front().second : a.pos.front();
}

bool is_int_like(const Value& v) { return v.kind == Kind::kInt; }

}  // namespace

bool apply_test(Interpreter& in, const std::string& n, const Value& v, CallArgs& a) {
    if (n == "defined") return !v.is_undefined();
    if (n == "undefined") return v.is_undefined();
    if (n == "none") return v.is_none();
    if (n == "string") return v.kind == Kind::kString;
    if (n == "number") return v.is_number();
    if (n == "integer") return is_int_like(v);
    if (n == "float") return v.kind == Kind::kFloat;
    if (n == "boolean") return v.kind == Kind::kBool;
    if (n == "true") return v.kind == Kind::kBool && v.b;
    if (n == "false") return v.kind == Kind::kBool && !v.b;
    if (n == "mapping") return v.kind == Kind::kDict;
    // Python: sequence = has len() and [] (str, list, tuple, dict, and Jinja's Undefined); iterable adds
    // nothing here.
    if (n == "sequence" || n == "iterable")
        return v.kind == Kind::kString || v.kind == Kind::kList || v.kind == Kind::kDict || v.kind == Kind::kUndefined;
    if (n == "callable") return v.kind == Kind::kCallable;
    if (n == "escaped") return false;
    if (n == "lower" || n == "upper") {  // str.islower()/isupper(): has cased chars, all in that case
        std::string x = to_str(v), lo = py_lower(x), up = py_upper(x);
        return n == "lower" ? (lo == x && up != x) : (up == x && lo != x);
    }
    if (n == "odd" || n == "even" || n == "divisibleby") {
        if (v.is_undefined()) fail_undefined(in, v);
        if (!v.is_number()) in.fail(std::string("test '") + n + "': unsupported operand type '" + type_name(v) + "'");
        Value divisor = n == "divisibleby" ? need_arg(in, a, n) : Value::integer(2);
        Value rem = binary_op(in, "%", v, divisor);
        bool zero = rem.kind == Kind::kFloat ? rem.f == 0.0 : rem.i == 0;
        return n == "odd" ? !zero : zero;
    }
    if (n == "eq" || n == "equalto" || n == "==") return equals(v, need_arg(in, a, n));
    if (n == "ne" || n == "!=") return !equals(v, need_arg(in, a, n));
    if (n == "lt" || n == "lessthan" || n == "<") return compare(v, need_arg(in, a, n)) < 0;
    if (n == "le" || n == "<=") return compare(v, need_arg(in, a, n)) <= 0;
    if (n == "gt" || n == "greaterthan" || n == ">") return compare(v, need_arg(in, a, n)) > 0;
    if (n == "ge" || n == ">=") return compare(v, need_arg(in, a, n)) >= 0;
    if (n == "in") return contains(need_arg(in, a, n), v);
    if (n == "sameas") {
        const Value& o = need_arg(in, a, n);
        if (v.kind != o.kind) return false;
        switch (v.kind) {
            case Kind::kNone:
            case Kind::kUndefined: return true;
            case Kind::kBool: return v.b == o.b;
            case Kind::kInt: return v.i == o.i && v.i >= -5 && v.i <= 256;  // CPython's small-int cache
            case Kind::kString: return v.s() == o.s();
            case Kind::kList: return v.list() == o.list();
            case Kind::kDict:
            case Kind::kNamespace: return v.dict() == o.dict();
            case Kind::kCallable: return v.fn() == o.fn();
            default: return false;
        }
    }
    if (n == "filter" || n == "test") {
        static const char* kFilters[] = {"tojson", "default", "d", "length", "count", "safe", "string", "trim",
                                         "upper", "lower", "capitalize", "title", "replace", "escape", "e",
                                         "forceescape", "list", "first", "last", "join", "int", "float", "abs",
                                         "round", "items", "dictsort", "sort", "unique", "min", "max", "sum",
                                         "reverse", "select", "reject", "selectattr", "rejectattr", "map", "attr",
                                         "batch", "indent", "center", "wordcount", "format"};
        static const char* kTests[] = {"defined", "undefined", "none", "string", "number", "integer", "float",
                                       "boolean", "true", "false", "mapping", "sequence", "iterable", "callable",
                                       "escaped", "lower", "upper", "odd", "even", "divisibleby", "eq", "equalto",
                                       "ne", "lt", "lessthan", "le", "gt", "greaterthan", "ge", "in", "sameas",
                                       "filter", "test", "==", "!=", "<", "<=", ">", ">="};
        if (v.kind != Kind::kString) return false;
        if (n == "filter") {
            for (const char* f : kFilters)
                if (*v.s() == f) return true;
        } else {
            for (const char* t : kTests)
                if (*v.s() == t) return true;
        }
        return false;
    }
    in.fail("no test named '" + n + "'");
}

}  // namespace engine::tmpl
