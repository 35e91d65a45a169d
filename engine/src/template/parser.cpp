// parser.cpp — recursive-descent parser for the Jinja2 statement and expression grammar
// (precedence as in jinja2/parser.py: condexpr < or < and < not < compare < +,- < ~ < *,/,//,% < ** <
// unary < postfix/filters/tests).
#include <string_view>

#include "engine/error.h"
#include "template/ast.h"
#include "template/lexer.h"

namespace engine::tmpl {
namespace {

constexpr int kMaxNesting = 150;  // expression / block nesting; real templates stay below 10

class Parser {
public:
    Parser(std::vector<Token> toks, const std::string& name) : t_(std::move(toks)), name_(name) {}

    Body parse_all() {
        std::string end;
        Body body = parse_body({}, end);
        return body;
    }

private:
    struct Depth {
        Parser& p;
        explicit Depth(Parser& parser) : p(parser) {
            if (++p.depth_ > kMaxNesting) p.fail("nesting deeper than " + std::to_string(kMaxNesting) + " levels");
        }
        ~Depth() { --p.depth_; }
    };

    [[noreturn]] void fail(const std::string& what) const {
        ENGINE_THROW(kTemplate, "template '", name_, "' line ", cur().line, ": ", what);
    }
    const Token& cur() const { return t_[pos_]; }
    const Token& peek(size_t k = 1) const { return t_[std::min(pos_ + k, t_.size() - 1)]; }
    void advance() {
        if (pos_ + 1 < t_.size()) ++pos_;
    }
    bool is_op(std::string_view op) const { return cur().type == Tok::kOp && cur().text == op; }
    bool is_name(std::string_view n) const { return cur().type == Tok::kName && cur().text == n; }
    std::string describe(const Token& t) const {
        switch (t.type) {
            case Tok::kEof: return "end of template";
            case Tok::kBlockEnd: return "end of statement block ('%}')";
            case Tok::kVarEnd: return "end of print statement ('}}')";
            case Tok::kData: return "template text";
            case Tok::kString: return "string literal";
            case Tok::kInt:
            case Tok::kFloat: return "number " + t.text;
            default: return "'" + t.text + "'";
        }
    }
    void expect_op(std::string_view op) {
        if (!is_op(op)) fail("expected '" + std::string(op) + "', got " + describe(cur()));
        advance();
    }
    std::string expect_name() {
        if (cur().type != Tok::kName) fail("expected a name, got " + describe(cur()));
        std::string n = cur().text;
        advance();
        return n;
    }
    void expect_block_end() {
        if (cur().type != Tok::kBlockEnd) fail("expected end of statement block, got " + describe(cur()));
        advance();
    }
    ExprPtr node(ExprKind k, int line) {
        auto e = std::make_unique<Expr>();
        e->kind = k;
        e->line = line;
        return e;
    }

    // Parses statements until a `{% <one of end_tags> %}`; that tag name goes to `found` (the block
    // tag's remaining tokens are left for the caller).
    Body parse_body(const std::vector<std::string_view>& end_tags, std::string& found) {
        Depth d(*this);
        Body body;
        while (true) {
            const Token& tk = cur();
            if (tk.type == Tok::kEof) {
                if (end_tags.empty()) return body;
                std::string list;
                for (auto e : end_tags) list += (list.empty() ? "'" : " or '") + std::string(e) + "'";
                fail("unexpected end of template: expected " + list);
            }
            if (tk.type == Tok::kData) {
                auto s = std::make_unique<Stmt>();
                s->kind = StmtKind::kOutput;
                s->line = tk.line;
                s->text = tk.text;
                body.push_back(std::move(s));
                advance();
            } else if (tk.type == Tok::kVarBegin) {
                auto s = std::make_unique<Stmt>();
                s->kind = StmtKind::kPrint;
                s->line = tk.line;
                advance();
                s->expr = parse_tuple(true);
                if (cur().type != Tok::kVarEnd) fail("expected end of print statement, got " + describe(cur()));
                advance();
                body.push_back(std::move(s));
            } else if (tk.type == Tok::kBlockBegin) {
                advance();
                if (cur().type != Tok::kName) fail("expected a statement name, got " + describe(cur()));
                const std::string tag = cur().text;
                for (auto e : end_tags)
                    if (tag == e) {
                        found = tag;
                        advance();
                        return body;
                    }
                body.push_back(parse_statement());
            } else {
                fail("unexpected " + describe(tk));
            }
        }
    }

    StmtPtr parse_statement() {
        const std::string tag = cur().text;
        const int line = cur().line;
        auto s = std::make_unique<Stmt>();
        s->line = line;
        advance();
        std::string found;
        if (tag == "if") {
            s->kind = StmtKind::kIf;
            IfBranch br;
            br.cond = parse_tuple(false);
            expect_block_end();
            while (true) {
                br.body = parse_body({"elif", "else", "endif"}, found);
                s->branches.push_back(std::move(br));
                if (found == "elif") {
                    br = IfBranch{};
                    br.cond = parse_tuple(false);
                    expect_block_end();
                    continue;
                }
                if (found == "else") {
                    expect_block_end();
                    s->else_body = parse_body({"endif"}, found);
                }
                break;
            }
            expect_block_end();
        } else if (tag == "for") {
            s->kind = StmtKind::kFor;
            parse_targets(*s, "in");
            if (!is_name("in")) fail("expected 'in' in for loop, got " + describe(cur()));
            advance();
            s->expr = parse_tuple(false, true);
            if (is_name("if")) {
                advance();
                s->cond = parse_expression(true);
            }
            if (is_name("recursive")) fail("recursive for loops are not supported");
            expect_block_end();
            ++loop_depth_;
            s->body = parse_body({"endfor", "else"}, found);
            --loop_depth_;
            if (found == "else") {
                expect_block_end();
                s->else_body = parse_body({"endfor"}, found);
            }
            expect_block_end();
        } else if (tag == "set") {
            std::string first = expect_name();
            if (is_op(".")) {
                advance();
                s->kind = StmtKind::kSet;
                s->targets = {first};
                s->attr = expect_name();
                expect_op("=");
                s->expr = parse_tuple(true);
                expect_block_end();
                return s;
            }
            s->targets = {first};
            while (is_op(",")) {
                advance();
                s->targets_tuple = true;
                if (cur().type != Tok::kName) break;
                s->targets.push_back(expect_name());
            }
            if (is_op("=")) {
                advance();
                s->kind = StmtKind::kSet;
                s->expr = parse_tuple(true);
                expect_block_end();
            } else {
                if (s->targets.size() != 1) fail("block set takes one name");
                s->kind = StmtKind::kSetBlock;
                if (is_op("|")) s->filter = parse_filter_chain(nullptr);
                expect_block_end();
                s->body = parse_body({"endset"}, found);
                expect_block_end();
            }
        } else if (tag == "macro") {
            s->kind = StmtKind::kMacro;
            s->text = expect_name();
            parse_params(*s);
            expect_block_end();
            const int saved = loop_depth_;
            loop_depth_ = 0;
            s->body = parse_body({"endmacro"}, found);
            loop_depth_ = saved;
            if (cur().type == Tok::kName) advance();  // {% endmacro name %}
            expect_block_end();
        } else if (tag == "call") {
            s->kind = StmtKind::kCallBlock;
            if (is_op("(")) parse_params(*s);
            s->expr = parse_expression(true);
            if (s->expr->kind != ExprKind::kCall) fail("expected a macro call after 'call'");
            expect_block_end();
            s->body = parse_body({"endcall"}, found);
            expect_block_end();
        } else if (tag == "filter") {
            s->kind = StmtKind::kFilterBlock;
            s->filter = parse_filter_chain(nullptr, true);
            expect_block_end();
            s->body = parse_body({"endfilter"}, found);
            expect_block_end();
        } else if (tag == "with") {
            s->kind = StmtKind::kWith;
            while (cur().type != Tok::kBlockEnd) {
                if (!s->targets.empty()) expect_op(",");
                s->targets.push_back(expect_name());
                expect_op("=");
                s->defaults.push_back(parse_expression(true));
            }
            expect_block_end();
            s->body = parse_body({"endwith"}, found);
            expect_block_end();
        } else if (tag == "generation") {
            s->kind = StmtKind::kGeneration;
            expect_block_end();
            s->body = parse_body({"endgeneration"}, found);
            expect_block_end();
        } else if (tag == "break" || tag == "continue") {
            if (loop_depth_ == 0) fail("'" + tag + "' outside of a loop");
            s->kind = tag == "break" ? StmtKind::kBreak : StmtKind::kContinue;
            expect_block_end();
        } else {
            --pos_;
            fail("encountered unknown tag '" + tag + "'");
        }
        return s;
    }

    // `x`, `a, b`, `(a, b)`, `a, (b)`; nested tuple unpacking is not supported.
    std::string target_name() {
        if (!is_op("(")) return expect_name();
        advance();
        std::string n = expect_name();
        if (is_op(",")) fail("nested tuple unpacking in loop targets is not supported");
        expect_op(")");
        return n;
    }
    void parse_targets(Stmt& s, std::string_view stop) {
        bool paren = is_op("(") && peek().type == Tok::kName && peek(2).type == Tok::kOp && peek(2).text == ",";
        if (paren) advance();
        s.targets.push_back(target_name());
        while (is_op(",")) {
            advance();
            s.targets_tuple = true;
            if ((cur().type != Tok::kName && !is_op("(")) || (!paren && is_name(stop))) break;
            s.targets.push_back(target_name());
        }
        if (paren) expect_op(")");
    }

    void parse_params(Stmt& s) {
        expect_op("(");
        while (!is_op(")")) {
            if (!s.params.empty()) expect_op(",");
            if (is_op(")")) break;
            s.params.push_back(expect_name());
            if (is_op("=")) {
                advance();
                s.defaults.push_back(parse_expression(true));
            } else {
                if (!s.defaults.empty() && s.defaults.back()) fail("non-default argument follows default argument");
                s.defaults.push_back(nullptr);
            }
        }
        advance();
    }

    // ---- expressions ----
    bool at_expr_end() const {
        const Token& t = cur();
        return t.type == Tok::kVarEnd || t.type == Tok::kBlockEnd || t.type == Tok::kEof ||
               (t.type == Tok::kOp && (t.text == ")" || t.text == "]" || t.text == "}")) ||
               (t.type == Tok::kName && (t.text == "if" || t.text == "recursive"));
    }

    ExprPtr parse_tuple(bool with_condexpr, bool stop_at_if = false) {
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

    ExprPtr parse_expression(bool with_condexpr) {
        Depth d(*this);
        return with_condexpr ? parse_condexpr() : parse_or();
    }

    ExprPtr parse_condexpr() {
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

    ExprPtr binary(ExprKind k, ExprPtr a, ExprPtr b, int line, std::string op = {}) {
        auto n = node(k, line);
        n->name = std::move(op);
        n->children.push_back(std::move(a));
        n->children.push_back(std::move(b));
        return n;
    }

    ExprPtr parse_or() {
        ExprPtr e = parse_and();
        while (is_name("or")) {
            int line = cur().line;
            advance();
            e = binary(ExprKind::kOr, std::move(e), parse_and(), line);
        }
        return e;
    }
    ExprPtr parse_and() {
        ExprPtr e = parse_not();
        while (is_name("and")) {
            int line = cur().line;
            advance();
            e = binary(ExprKind::kAnd, std::move(e), parse_not(), line);
        }
        return e;
    }
    ExprPtr parse_not() {
        if (is_name("not")) {
            Depth d(*this);
            auto n = node(ExprKind::kNot, cur().line);
            advance();
            n->children.push_back(parse_not());
            return n;
        }
        return parse_compare();
    }
    ExprPtr parse_compare() {
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
    ExprPtr parse_math1() {
        ExprPtr e = parse_concat();
        while (is_op("+") || is_op("-")) {
            std::string op = cur().text;
            int line = cur().line;
            advance();
            e = binary(ExprKind::kBinary, std::move(e), parse_concat(), line, op);
        }
        return e;
    }
    ExprPtr parse_concat() {
        ExprPtr e = parse_math2();
        while (is_op("~")) {
            int line = cur().line;
            advance();
            e = binary(ExprKind::kBinary, std::move(e), parse_math2(), line, "~");
        }
        return e;
    }
    ExprPtr parse_math2() {
        ExprPtr e = parse_pow();
        while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
            std::string op = cur().text;
            int line = cur().line;
            advance();
            e = binary(ExprKind::kBinary, std::move(e), parse_pow(), line, op);
        }
        return e;
    }
    ExprPtr parse_pow() {
        ExprPtr e = parse_unary(true);
        while (is_op("**")) {
            int line = cur().line;
            advance();
            e = binary(ExprKind::kBinary, std::move(e), parse_unary(true), line, "**");
        }
        return e;
    }
    ExprPtr parse_unary(bool with_filter) {
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

    ExprPtr parse_primary() {
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

    ExprPtr parse_postfix(ExprPtr e) {
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

    ExprPtr parse_subscript(ExprPtr obj, int line) {
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

    void parse_args(std::vector<Arg>& args) {
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

    ExprPtr parse_call(ExprPtr callee) {
        auto e = node(ExprKind::kCall, cur().line);
        e->children.push_back(std::move(callee));
        parse_args(e->args);
        return e;
    }

    std::string dotted_name() {
        std::string n = expect_name();
        while (is_op(".") && peek().type == Tok::kName) {
            advance();
            n += "." + expect_name();
        }
        return n;
    }

    // `| f(args) | g` applied to `subject` (null: the {% filter %} / block-set body).
    ExprPtr parse_filter_chain(ExprPtr subject, bool first_without_bar = false) {
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

    ExprPtr parse_filter_expr(ExprPtr e) {
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

    std::vector<Token> t_;
    const std::string& name_;
    size_t pos_ = 0;
    int depth_ = 0;
    int loop_depth_ = 0;
};

}  // namespace

std::shared_ptr<const Program> parse_program(std::string_view source, const std::string& name) {
    auto prog = std::make_shared<Program>();
    prog->name = name;
    prog->body = Parser(lex(source, name), name).parse_all();
    return prog;
}

}  // namespace engine::tmpl
