// ast.h — syntax tree of a parsed chat template.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "template/value.h"

namespace engine::tmpl {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class ExprKind : uint8_t {
    kLiteral,   // literal
    kName,      // name
    kList,      // children = items (is_tuple for tuples)
    kDict,      // children = key0, value0, key1, value1, ...
    kAttr,      // children[0].name
    kItem,      // children[0][children[1]]
    kSlice,     // children[0][c1:c2:c3], null children for omitted parts
    kCall,      // children[0](args)
    kFilter,    // children[0] | name(args); children[0] null inside {% filter %}
    kTest,      // children[0] is [not] name(args)
    kNeg,       // -children[0]
    kPos,       // +children[0]
    kNot,       // not children[0]
    kBinary,    // children[0] op children[1]  (+ - * / // % ** ~)
    kAnd,       // children[0] and children[1]
    kOr,        // children[0] or children[1]
    kCompare,   // children[0] ops[0] children[1] ops[1] children[2] ... (== != < <= > >= in notin)
    kCond,      // children[1] if children[0] else children[2] (may be null)
};

struct Arg {
    std::string name;  // empty for a positional argument
    ExprPtr value;
};

struct Expr {
    ExprKind kind;
    int line = 0;
    bool is_tuple = false;
    bool negated = false;  // `is not`
    Value literal;
    std::string name;      // name / attribute / filter / test / binary operator
    std::vector<ExprPtr> children;
    std::vector<Arg> args;
    std::vector<std::string> ops;
};

enum class StmtKind : uint8_t {
    kOutput,      // text
    kPrint,       // {{ expr }}
    kIf,          // branches (+ else_body)
    kFor,         // targets in expr [if cond] ... else_body
    kSet,         // targets = expr, or targets[0].attr = expr
    kSetBlock,    // {% set targets[0] [| filter] %}body{% endset %}
    kMacro,       // {% macro text(params=defaults) %}body
    kCallBlock,   // {% call(params) expr %}body
    kBreak,
    kContinue,
    kGeneration,  // {% generation %}body
    kFilterBlock, // {% filter filter %}body
    kWith,        // {% with targets = values %}body
};

struct IfBranch {
    ExprPtr cond;
    Body body;
};

struct Stmt {
    StmtKind kind;
    int line = 0;
    std::string text;
    ExprPtr expr;
    std::vector<IfBranch> branches;
    Body body, else_body;
    std::vector<std::string> targets;
    bool targets_tuple = false;  // `for a, b in` / `set a, b =`
    std::string attr;            // {% set ns.attr = ... %}
    ExprPtr cond;                // for-loop filter
    ExprPtr filter;              // kSetBlock / kFilterBlock
    std::vector<std::string> params;
    std::vector<ExprPtr> defaults;  // per param, null when none; kWith: the values
};

struct Program {
    std::string name;
    Body body;
};

// Throws Error(kTemplate) "template '<name>' line L: ..." on a syntax error.
std::shared_ptr<const Program> parse_program(std::string_view source, const std::string& name);

}  // namespace engine::tmpl
