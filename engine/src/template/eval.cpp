// eval.cpp — expression evaluation and the Python operators (+ - * / // % ** ~, comparisons, in).
#include <cmath>

#include "engine/error.h"
#include "template/interpreter.h"

namespace engine::tmpl {

void fail_undefined(Interpreter& in, const Value& v) {
    in.fail(v.s() ? *v.s() : std::string("value is undefined"));
}

int64_t arg_int(Interpreter& in, const Value& v, const char* what) {
    if (v.kind == Kind::kInt) return v.i;
    if (v.kind == Kind::kBool) return v.b;
    if (v.kind == Kind::kUndefined) fail_undefined(in, v);
    in.fail(std::string(what) + ": expected an integer, got '" + type_name(v) + "'");
}

std::string arg_str(Interpreter& in, const Value& v, const char* what) {
    if (v.kind == Kind::kString) return *v.s();
    if (v.kind == Kind::kUndefined) fail_undefined(in, v);
    in.fail(std::string(what) + ": expected a string, got '" + type_name(v) + "'");
}

List Interpreter::iterate(const Value& v) {
    switch (v.kind) {
        case Kind::kUndefined: return {};  // Jinja's Undefined iterates as empty
        case Kind::kList: return *v.list();
        case Kind::kDict: {
            List keys;
            keys.reserve(v.dict()->items.size());
            for (const auto& kv : v.dict()->items) keys.push_back(Value::string(kv.first));
            return keys;
        }
        case Kind::kString: {
            List chars;
            for (auto c : utf8_chars(*v.s())) chars.push_back(Value::string(std::string(c)));
            step(int64_t(chars.size()));
            return chars;
        }
        default: fail(std::string("'") + type_name(v) + "' object is not iterable");
    }
}

bool contains(const Value& container, const Value& item) {
    switch (container.kind) {
        case Kind::kString:
            if (item.kind != Kind::kString)
                ENGINE_THROW(kTemplate, "'in <string>' requires string as left operand, not ", type_name(item));
            return container.s()->find(*item.s()) != std::string::npos;
        case Kind::kList:
            for (const auto& e : *container.list())
                if (equals(e, item)) return true;
            return false;
        case Kind::kDict:
        case Kind::kNamespace:
            return item.kind == Kind::kString && container.dict()->find(*item.s()) != nullptr;
        case Kind::kUndefined: return false;
        default: ENGINE_THROW(kTemplate, "argument of type '", type_name(container), "' is not iterable");
    }
}

static int64_t int_of(const Value& v) { return v.kind == Kind::kBool ? int64_t(v.b) : v.i; }

static Value repeat(Interpreter& in, const Value& seq, int64_t n) {
    if (n < 0) n = 0;
    if (seq.kind == Kind::kString) {
        if (n > 0 && seq.s()->size() > size_t(INT64_MAX) / size_t(n)) in.check_size(SIZE_MAX);
        in.check_size(seq.s()->size() * size_t(n));
        std::string out;
        out.reserve(seq.s()->size() * size_t(n));
        for (int64_t k = 0; k < n; ++k) out += *seq.s();
        return Value::string(std::move(out));
    }
    if (n > 0 && seq.list()->size() > size_t(INT64_MAX) / sizeof(Value) / size_t(n)) in.check_size(SIZE_MAX);
    in.check_size(seq.list()->size() * size_t(n) * sizeof(Value));
    in.step(int64_t(seq.list()->size()) * n);
    List out;
    for (int64_t k = 0; k < n; ++k) out.insert(out.end(), seq.list()->begin(), seq.list()->end());
    return Value::from_list(std::move(out), seq.is_tuple);
}

static double py_fmod(double a, double b) {
    double m = std::fmod(a, b);
    if (m != 0 && ((m < 0) != (b < 0))) m += b;
    return m;
}

Value binary_op(Interpreter& in, const std::string& op, const Value& a, const Value& b) {
    if (op == "~") {
        if (a.kind == Kind::kString && b.kind == Kind::kString) {  // checked before copying anything
            in.check_size(a.s()->size() + b.s()->size());
            std::string s;
            s.reserve(a.s()->size() + b.s()->size());
            s += *a.s();
            s += *b.s();
            return Value::string(std::move(s));
        }
        std::string s = to_str(a) + to_str(b);
        in.check_size(s.size());
        return Value::string(std::move(s));
    }
    if (a.kind == Kind::kUndefined) fail_undefined(in, a);
    if (b.kind == Kind::kUndefined) fail_undefined(in, b);
    const bool nums = a.is_number() && b.is_number();
    const bool ints = nums && a.kind != Kind::kFloat && b.kind != Kind::kFloat;
    const char o = op[0];
    if (o == '+') {
        if (ints) {
            int64_t r;
            if (__builtin_add_overflow(int_of(a), int_of(b), &r)) in.fail("integer overflow in '+'");
            return Value::integer(r);
        }
        if (nums) return Value::number(a.as_double() + b.as_double());
        if (a.kind == Kind::kString && b.kind == Kind::kString) {
            in.check_size(a.s()->size() + b.s()->size());
            return Value::string(*a.s() + *b.s());
        }
        if (a.kind == Kind::kList && b.kind == Kind::kList && a.is_tuple == b.is_tuple) {
            in.check_size((a.list()->size() + b.list()->size()) * sizeof(Value));
            in.step(int64_t(a.list()->size() + b.list()->size()));
            List l = *a.list();
            l.insert(l.end(), b.list()->begin(), b.list()->end());
            return Value::from_list(std::move(l), a.is_tuple);
        }
    } else if (o == '-' && nums) {
        if (ints) {
            int64_t r;
            if (__builtin_sub_overflow(int_of(a), int_of(b), &r)) in.fail("integer overflow in '-'");
            return Value::integer(r);
        }
        return Value::number(a.as_double() - b.as_double());
    } else if (op == "*") {
        if (ints) {
            int64_t r;
            if (__builtin_mul_overflow(int_of(a), int_of(b), &r)) in.fail("integer overflow in '*'");
            return Value::integer(r);
        }
        if (nums) return Value::number(a.as_double() * b.as_double());
        if ((a.kind == Kind::kString || a.kind == Kind::kList) && (b.kind == Kind::kInt || b.kind == Kind::kBool))
            return repeat(in, a, int_of(b));
        if ((b.kind == Kind::kString || b.kind == Kind::kList) && (a.kind == Kind::kInt || a.kind == Kind::kBool))
            return repeat(in, b, int_of(a));
    } else if (op == "/" && nums) {
        if (b.as_double() == 0) in.fail("division by zero");
        return Value::number(a.as_double() / b.as_double());
    } else if (op == "//" && nums) {
        if (b.as_double() == 0) in.fail("integer division or modulo by zero");
        if (ints) {
            int64_t x = int_of(a), y = int_of(b);
            if (x == INT64_MIN && y == -1) in.fail("integer overflow in '//'");
            int64_t q = x / y;
            if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
            return Value::integer(q);
        }
        return Value::number(std::floor(a.as_double() / b.as_double()));
    } else if (op == "%" && nums) {
        if (b.as_double() == 0) in.fail("integer division or modulo by zero");
        if (ints) {
            int64_t x = int_of(a), y = int_of(b);
            if (y == -1) return Value::integer(0);
            int64_t m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) m += y;
            return Value::integer(m);
        }
        return Value::number(py_fmod(a.as_double(), b.as_double()));
    } else if (op == "**" && nums) {
        if (ints && int_of(b) >= 0) {
            int64_t base = int_of(a), e = int_of(b), r = 1;
            for (int64_t k = 0; k < e; ++k) {
                if (__builtin_mul_overflow(r, base, &r)) in.fail("integer overflow in '**'");
                if (r == 0 || r == 1) break;
                if (r == -1) {
                    r = ((e - k - 1) % 2 == 0) ? -1 : 1;
                    break;
                }
            }
            return Value::integer(r);
        }
        if (a.as_double() == 0 && b.as_double() < 0) in.fail("0.0 cannot be raised to a negative power");
        return Value::number(std::pow(a.as_double(), b.as_double()));
    }
    in.fail("unsupported operand type(s) for " + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'");
}

Value Interpreter::eval_compare(const Expr& e) {
    Value left = eval(*e.children[0]);
    for (size_t k = 0; k < e.ops.size(); ++k) {
        Value right = eval(*e.children[k + 1]);
        const std::string& op = e.ops[k];
        bool r;
        line_ = e.line;
        if (op == "==") r = equals(left, right);
        else if (op == "!=") r = !equals(left, right);
        else if (op == "in") r = contains(right, left);
        else if (op == "notin") r = !contains(right, left);
        else {
            if (left.kind == Kind::kUndefined) fail_undefined(*this, left);
            if (right.kind == Kind::kUndefined) fail_undefined(*this, right);
            int c = compare(left, right);
            r = op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
        }
        if (!r) return Value::boolean(false);
        left = std::move(right);
    }
    return Value::boolean(true);
}

Value Interpreter::eval(const Expr& e) {
    step();
    switch (e.kind) {
        case ExprKind::kLiteral: return e.literal;
        case ExprKind::kName: return lookup(e.name);
        case ExprKind::kList: {
            List l;
            l.reserve(e.children.size());
            for (const auto& c : e.children) l.push_back(eval(*c));
            return Value::from_list(std::move(l), e.is_tuple);
        }
        case ExprKind::kDict: {
            Dict d;
            for (size_t k = 0; k + 1 < e.children.size(); k += 2) {
                Value key = eval(*e.children[k]);
                if (key.kind != Kind::kString) {
                    line_ = e.line;
                    fail("dict literal keys must be strings here, got '" + std::string(type_name(key)) + "'");
                }
                d.set(*key.s(), eval(*e.children[k + 1]));
            }
            return Value::from_dict(std::move(d));
        }
        case ExprKind::kAttr: {
            Value obj = eval(*e.children[0]);
            line_ = e.line;
            return get_attr(*this, obj, e.name);
        }
        case ExprKind::kItem: {
            Value obj = eval(*e.children[0]);
            Value key = eval(*e.children[1]);
            line_ = e.line;
            return get_item(*this, obj, key);
        }
        case ExprKind::kSlice: {
            Value obj = eval(*e.children[0]);
            Value parts[3];
            for (int k = 0; k < 3; ++k) parts[k] = e.children[size_t(k) + 1] ? eval(*e.children[size_t(k) + 1]) : Value::none();
            line_ = e.line;
            return slice(*this, obj, parts[0], parts[1], parts[2]);
        }
        case ExprKind::kCall: {
            Value callee = eval(*e.children[0]);
            CallArgs args = eval_args(e.args);
            line_ = e.line;
            const int saved = line_;
            Value r = call(callee, args);
            line_ = saved;
            return r;
        }
        case ExprKind::kFilter: return eval_filter(e, nullptr);
        case ExprKind::kTest: {
            Value v = eval(*e.children[0]);
            CallArgs args = eval_args(e.args);
            line_ = e.line;
            bool r = test(e.name, v, args);
            return Value::boolean(e.negated ? !r : r);
        }
        case ExprKind::kNeg:
        case ExprKind::kPos: {
            Value v = eval(*e.children[0]);
            line_ = e.line;
            if (v.kind == Kind::kUndefined) fail_undefined(*this, v);
            if (!v.is_number())
                fail(std::string("bad operand type for unary ") + (e.kind == ExprKind::kNeg ? "-" : "+") + ": '" + type_name(v) + "'");
            if (e.kind == ExprKind::kPos) return v.kind == Kind::kBool ? Value::integer(v.b) : v;
            if (v.kind == Kind::kFloat) return Value::number(-v.f);
            int64_t x = v.kind == Kind::kBool ? v.b : v.i;
            if (x == INT64_MIN) fail("integer overflow in unary '-'");
            return Value::integer(-x);
        }
        case ExprKind::kNot: return Value::boolean(!truthy(eval(*e.children[0])));
        case ExprKind::kAnd: {
            Value a = eval(*e.children[0]);
            return truthy(a) ? eval(*e.children[1]) : a;
        }
        case ExprKind::kOr: {
            Value a = eval(*e.children[0]);
            return truthy(a) ? a : eval(*e.children[1]);
        }
        case ExprKind::kBinary: {
            Value a = eval(*e.children[0]);
            Value b = eval(*e.children[1]);
            line_ = e.line;
            return binary_op(*this, e.name, a, b);
        }
        case ExprKind::kCompare: return eval_compare(e);
        case ExprKind::kCond: {
            if (truthy(eval(*e.children[0]))) return eval(*e.children[1]);
            if (e.children[2]) return eval(*e.children[2]);
            return Value::undefined("the inline 'if' expression on line " + std::to_string(e.line) +
                                    " evaluated to false and no else section was defined");
        }
    }
    return Value();
}

}  // namespace engine::tmpl
