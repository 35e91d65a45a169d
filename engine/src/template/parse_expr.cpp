// parse_expr.cpp — Jinja2 expressions: literals, names, lists/tuples/dicts, attribute/item/slice access,
// calls with keyword arguments, filters, tests, unary/binary operators, comparisons, conditionals.
#include "template/parser.h"

namespace engine::tmpl {

bool Parser::at_expr_end() const {
    const Token& t = cur();
    return t.type == Tok::kVarEnd || t.type == Tok::kBlockEnd || t.type == Tok::kEof ||
           (t.type == Tok::kOp && (t.text == ")" || t.text == "]" || t.text == "}")) ||
           (t.type == Tok::kName && (t.text == "if" || t.text == "recursive"));
}

ExprPtr Parser::parse_tuple(bool with_condexpr, bool stop_at_if) {
    const int line = cur().line;
    ExprPtr first = parse_expression(with_condexpr);
    if (!is_op(",")) return first;
    auto tup = node(ExprKind::kList, line);
    tup->is_tuple = true;
    tup->children.push_back(std::move(first));
    while (is_op(",")) {
        advance();
        if (at_expr_end() || (stop_at_if && is_name("if"))) break;
        tup->children.push_back(parse_expression(with_condexpr));
    }
    return tup;
}

ExprPtr Parser::parse_expression(bool with_condexpr) {
    Depth d(*this);
    return with_condexpr ? parse_condexpr() : parse_or();
}

ExprPtr Parser::parse_condexpr() {
    ExprPtr e = parse_or();
    while (is_name("if")) {
        const int line = cur().line;
        advance();
        auto c = node(ExprKind::kCond, line);
        c->children.push_back(parse_or());
        c->children.push_back(std::move(e));
        if (is_name("else")) {
            advance();
            c->children.push_back(parse_condexpr());
        } else {
            c->children.push_back(nullptr);
        }
        e = std::move(c);
    }
    return e;
}

ExprPtr Parser::binary(ExprKind k, ExprPtr a, ExprPtr b, int line, std::string op) {
    auto n = node(k, line);
    n->name = std::move(op);
    n->children.push_back(std::move(a));
    n->children.push_back(std::move(b));
    return n;
}

ExprPtr Parser::parse_or() {
    ExprPtr e = parse_and();
    while (is_name("or")) {
        int line = cur().line;
        advance();
        e = binary(ExprKind::kOr, std::move(e), parse_and(), line);
    }
    return e;
}

ExprPtr Parser::parse_and() {
    ExprPtr e = parse_not();
    while (is_name("and")) {
        int line = cur().line;
        advance();
        e = binary(ExprKind::kAnd, std::move(e), parse_not(), line);
    }
    return e;
}

ExprPtr Parser::parse_not() {
    if (is_name("not")) {
        Depth d(*this);
        auto n = node(ExprKind::kNot, cur().line);
        advance();
        n->children.push_back(parse_not());
        return n;
    }
    return parse_compare();
}

ExprPtr Parser::parse_compare() {
    const int line = cur().line;
    ExprPtr e = parse_math1();
    ExprPtr cmp;
    while (true) {
        std::string op;
        if (cur().type == Tok::kOp &&
            (cur().text == "==" || cur().text == "!=" || cur().text == "<" || cur().text == "<=" ||
             cur().text == ">" || cur().text == ">=")) {
            op = cur().text;
            advance();
        } else if (is_name("in")) {
            op = "in";
            advance();
        } else if (is_name("not") && peek().type == Tok::kName && peek().text == "in") {
            op = "notin";
            advance();
            advance();
        } else break;
        if (!cmp) {
            cmp = node(ExprKind::kCompare, line);
            cmp->children.push_back(std::move(e));
        }
        cmp->ops.push_back(op);
        cmp->children.push_back(parse_math1());
    }
    return cmp ? std::move(cmp) : std::move(e);
}

ExprPtr Parser::parse_math1() {
    ExprPtr e = parse_concat();
    while (is_op("+") || is_op("-")) {
        std::string op = cur().text;
        int line = cur().line;
        advance();
        e = binary(ExprKind::kBinary, std::move(e), parse_concat(), line, op);
    }
    return e;
}

ExprPtr Parser::parse_concat() {
    ExprPtr e = parse_math2();
    while (is_op("~")) {
        int line = cur().line;
        advance();
        e = binary(ExprKind::kBinary, std::move(e), parse_math2(), line, "~");
    }
    return e;
}

ExprPtr Parser::parse_math2() {
    ExprPtr e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
        std::string op = cur().text;
        int line = cur().line;
        advance();
        e = binary(ExprKind::kBinary, std::move(e), parse_pow(), line, op);
    }
    return e;
}

ExprPtr Parser::parse_pow() {
    ExprPtr e = parse_unary(true);
    while (is_op("**")) {
        int line = cur().line;
        advance();
        e = binary(ExprKind::kBinary, std::move(e), parse_unary(true), line, "**");
    }
    return e;
}

ExprPtr Parser::parse_unary(bool with_filter) {
    Depth d(*this);
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
        e = node(is_op("-") ? ExprKind::kNeg : ExprKind::kPos, cur().line);
        advance();
        e->children.push_back(parse_unary(false));
    } else {
        e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
}

ExprPtr Parser::parse_primary() {
    const Token& tk = cur();
    const int line = tk.line;
    if (tk.type == Tok::kName) {
        auto e = node(ExprKind::kLiteral, line);
        const std::string& n = tk.text;
        if (n == "true" || n == "True") e->literal = Value::boolean(true);
        else if (n == "false" || n == "False") e->literal = Value::boolean(false);
        else if (n == "none" || n == "None") e->literal = Value::none();
        else {
            e->kind = ExprKind::kName;
            e->name = n;
        }
        advance();
        return e;
    }
    if (tk.type == Tok::kString) {
        std::string s = tk.text;
        advance();
        while (cur().type == Tok::kString) {
            s += cur().text;
            advance();
        }
        auto e = node(ExprKind::kLiteral, line);
        e->literal = Value::string(std::move(s));
        return e;
    }
    if (tk.type == Tok::kInt || tk.type == Tok::kFloat) {
        auto e = node(ExprKind::kLiteral, line);
        e->literal = tk.type == Tok::kInt ? Value::integer(tk.int_value) : Value::number(tk.float_value);
        advance();
        return e;
    }
    if (is_op("(")) {
        advance();
        if (is_op(")")) {
            advance();
            auto e = node(ExprKind::kList, line);
            e->is_tuple = true;
            return e;
        }
        ExprPtr inner = parse_tuple(true);
        expect_op(")");
        return inner;
    }
    if (is_op("[")) {
        advance();
        auto e = node(ExprKind::kList, line);
        while (!is_op("]")) {
            if (!e->children.empty()) {
                expect_op(",");
                if (is_op("]")) break;
            }
            e->children.push_back(parse_expression(true));
        }
        advance();
        return e;
    }
    if (is_op("{")) {
        advance();
        auto e = node(ExprKind::kDict, line);
        while (!is_op("}")) {
            if (!e->children.empty()) {
                expect_op(",");
                if (is_op("}")) break;
            }
            e->children.push_back(parse_expression(true));
            expect_op(":");
            e->children.push_back(parse_expression(true));
        }
        advance();
        return e;
    }
    fail("unexpected " + describe(tk));
}

ExprPtr Parser::parse_postfix(ExprPtr e) {
    while (true) {
        const int line = cur().line;
        if (is_op(".")) {
            advance();
            if (cur().type == Tok::kName) {
                auto a = node(ExprKind::kAttr, line);
                a->name = cur().text;
                a->children.push_back(std::move(e));
                e = std::move(a);
                advance();
            } else if (cur().type == Tok::kInt) {
                auto it = node(ExprKind::kItem, line);
                auto idx = node(ExprKind::kLiteral, line);
                idx->literal = Value::integer(cur().int_value);
                it->children.push_back(std::move(e));
                it->children.push_back(std::move(idx));
                e = std::move(it);
                advance();
            } else fail("expected an attribute name after '.', got " + describe(cur()));
        } else if (is_op("[")) {
            advance();
            e = parse_subscript(std::move(e), line);
        } else if (is_op("(")) {
            e = parse_call(std::move(e));
        } else {
            return e;
        }
    }
}

ExprPtr Parser::parse_subscript(ExprPtr obj, int line) {
    ExprPtr parts[3];
    bool is_slice = false;
    for (int k = 0; k < 3; ++k) {
        if (!is_op(":") && !is_op("]")) parts[k] = parse_expression(true);
        if (k < 2 && is_op(":")) {
            is_slice = true;
            advance();
        } else break;
    }
    expect_op("]");
    auto e = node(is_slice ? ExprKind::kSlice : ExprKind::kItem, line);
    e->children.push_back(std::move(obj));
    if (!is_slice) {
        if (!parts[0]) fail("expected a subscript");
        e->children.push_back(std::move(parts[0]));
    } else {
        for (auto& p : parts) e->children.push_back(std::move(p));
    }
    return e;
}

void Parser::parse_args(std::vector<Arg>& args) {
    expect_op("(");
    while (!is_op(")")) {
        if (!args.empty()) {
            expect_op(",");
            if (is_op(")")) break;
        }
        if (is_op("*") || is_op("**")) fail("*args / **kwargs in calls are not supported");
        Arg a;
        if (cur().type == Tok::kName && peek().type == Tok::kOp && peek().text == "=") {
            a.name = cur().text;
            advance();
            advance();
        } else if (!args.empty() && !args.back().name.empty()) {
            fail("positional argument follows keyword argument");
        }
        a.value = parse_expression(true);
        args.push_back(std::move(a));
    }
    advance();
}

ExprPtr Parser::parse_call(ExprPtr callee) {
    auto e = node(ExprKind::kCall, cur().line);
    e->children.push_back(std::move(callee));
    parse_args(e->args);
    return e;
}

std::string Parser::dotted_name() {
    std::string n = expect_name();
    while (is_op(".") && peek().type == Tok::kName) {
        advance();
        n += '.';
        n += expect_name();
    }
    return n;
}

// `| f(args) | g` applied to `subject` (null: the {% filter %} / block-set body).
ExprPtr Parser::parse_filter_chain(ExprPtr subject, bool first_without_bar) {
    bool need_bar = !first_without_bar;
    while (!need_bar || is_op("|")) {
        if (need_bar) advance();
        need_bar = true;
        auto f = node(ExprKind::kFilter, cur().line);
        f->name = dotted_name();
        if (is_op("(")) parse_args(f->args);
        f->children.push_back(std::move(subject));
        subject = std::move(f);
    }
    return subject;
}

ExprPtr Parser::parse_filter_expr(ExprPtr e) {
    while (true) {
        if (is_op("|")) {
            e = parse_filter_chain(std::move(e));
        } else if (is_name("is")) {
            const int line = cur().line;
            advance();
            auto t = node(ExprKind::kTest, line);
            if (is_name("not")) {
                t->negated = true;
                advance();
            }
            t->name = dotted_name();
            t->children.push_back(std::move(e));
            const Token& c = cur();
            if (is_op("(")) {
                parse_args(t->args);
            } else if ((c.type == Tok::kName || c.type == Tok::kString || c.type == Tok::kInt ||
                        c.type == Tok::kFloat || is_op("[") || is_op("{")) &&
                       !(c.type == Tok::kName && (c.text == "else" || c.text == "or" || c.text == "and"))) {
                if (is_name("is")) fail("you cannot chain multiple tests with 'is'");
                Arg a;
                a.value = parse_postfix(parse_primary());
                t->args.push_back(std::move(a));
            }
            e = std::move(t);
        } else if (is_op("(")) {
            e = parse_call(std::move(e));
        } else {
            return e;
        }
    }
}

}  // namespace engine::tmpl
