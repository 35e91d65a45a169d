// parser.h — the recursive-descent Jinja2 parser (internal): statements in parser.cpp, expressions in
// parse_expr.cpp. Precedence as in jinja2/parser.py: condexpr < or < and < not < compare < +,- < ~ <
// *,/,//,% < ** < unary < postfix/filters/tests.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/error.h"
#include "template/ast.h"
#include "template/lexer.h"

namespace engine::tmpl {

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

    // statements (parser.cpp)
    // Parses statements until a `{% <one of end_tags> %}`; that tag name goes to `found` (the block
    // tag's remaining tokens are left for the caller).
    Body parse_body(const std::vector<std::string_view>& end_tags, std::string& found);
    StmtPtr parse_statement();
    // `x`, `a, b`, `(a, b)`, `a, (b)`; nested tuple unpacking is not supported.
    std::string target_name();
    void parse_targets(Stmt& s, std::string_view stop);
    void parse_params(Stmt& s);
    // expressions (parse_expr.cpp)
    bool at_expr_end() const;
    ExprPtr parse_tuple(bool with_condexpr, bool stop_at_if = false);
    ExprPtr parse_expression(bool with_condexpr);
    ExprPtr parse_condexpr();
    ExprPtr binary(ExprKind k, ExprPtr a, ExprPtr b, int line, std::string op = {});
    ExprPtr parse_or();
    ExprPtr parse_and();
    ExprPtr parse_not();
    ExprPtr parse_compare();
    ExprPtr parse_math1();
    ExprPtr parse_concat();
    ExprPtr parse_math2();
    ExprPtr parse_pow();
    ExprPtr parse_unary(bool with_filter);
    ExprPtr parse_primary();
    ExprPtr parse_postfix(ExprPtr e);
    ExprPtr parse_subscript(ExprPtr obj, int line);
    void parse_args(std::vector<Arg>& args);
    ExprPtr parse_call(ExprPtr callee);
    std::string dotted_name();
    // `| f(args) | g` applied to `subject` (null: the {% filter %} / block-set body).
    ExprPtr parse_filter_chain(ExprPtr subject, bool first_without_bar = false);
    ExprPtr parse_filter_expr(ExprPtr e);

    std::vector<Token> t_;
    const std::string& name_;
    size_t pos_ = 0;
    int depth_ = 0;
    int loop_depth_ = 0;
};

}  // namespace engine::tmpl
