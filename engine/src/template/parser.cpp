// parser.cpp — Jinja2 statements: if/elif/else, for (filter, else), set (attribute, tuple, block),
// macro, call, filter, with, generation, break/continue. Expressions: parse_expr.cpp.
#include "template/parser.h"

namespace engine::tmpl {

// Parses statements until a `{% <one of end_tags> %}`; that tag name goes to `found` (the block
// tag's remaining tokens are left for the caller).
Body Parser::parse_body(const std::vector<std::string_view>& end_tags, std::string& found) {
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

StmtPtr Parser::parse_statement() {
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
std::string Parser::target_name() {
    if (!is_op("(")) return expect_name();
    advance();
    std::string n = expect_name();
    if (is_op(",")) fail("nested tuple unpacking in loop targets is not supported");
    expect_op(")");
    return n;
}

void Parser::parse_targets(Stmt& s, std::string_view stop) {
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

void Parser::parse_params(Stmt& s) {
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

std::shared_ptr<const Program> parse_program(std::string_view source, const std::string& name) {
    auto prog = std::make_shared<Program>();
    prog->name = name;
    prog->body = Parser(lex(source, name), name).parse_all();
    return prog;
}

}  // namespace engine::tmpl
