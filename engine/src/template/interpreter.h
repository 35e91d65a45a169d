// interpreter.h — tree-walking evaluator for parsed chat templates, with sandbox caps.
#pragma once

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/chat_template.h"
#include "template/ast.h"
#include "template/value.h"

namespace engine::tmpl {

struct Scope {
    std::shared_ptr<Scope> parent;
    std::vector<std::pair<std::string, Value>> vars;
    const Value* find(const std::string& name) const;
    void set(const std::string& name, Value v);
};

class Interpreter {
public:
    Interpreter(const Program& program, const TemplateLimits& limits, const TemplateHooks& hooks);
    ~Interpreter();
    Interpreter(const Interpreter&) = delete;
    Interpreter& operator=(const Interpreter&) = delete;

    std::string render(const Value& context);

    // Used by filters, tests and methods.
    Value eval(const Expr& e);
    Value call(const Value& callee, CallArgs& args);
    Value filter(const std::string& name, Value subject, CallArgs& args);
    bool test(const std::string& name, const Value& v, CallArgs& args);
    void step(int64_t n = 1);
    // Throws when a string / list built by the template would exceed the output cap.
    void check_size(size_t bytes_or_items);
    [[noreturn]] void fail(const std::string& what) const;
    std::string strftime_now(const std::string& format) const;
    List iterate(const Value& v);  // Python iteration: list items, dict keys, string characters
    // namespace() objects are the only mutable values; they (and macro closures) can form reference
    // cycles, which the destructor breaks.
    void own_namespace(std::shared_ptr<Dict> ns) { namespaces_.push_back(std::move(ns)); }

private:
    enum class Flow { kNormal, kBreak, kContinue };
    Flow exec_body(const Body& body);
    Flow exec(const Stmt& s);
    Flow exec_for(const Stmt& s);
    void exec_set(const Stmt& s);
    std::string capture(const Body& body);
    void emit(std::string_view text);
    void assign_targets(Scope& scope, const Stmt& s, const Value& v);
    Value lookup(const std::string& name) const;
    Value eval_binary(const Expr& e);
    Value eval_compare(const Expr& e);
    Value eval_filter(const Expr& e, const Value* subject);
    Value make_macro(const Stmt& s, const Body& body, std::shared_ptr<Scope> closure, std::string name);
    CallArgs eval_args(const std::vector<Arg>& args);

    const Program& program_;
    const TemplateLimits& limits_;
    const TemplateHooks& hooks_;
    std::shared_ptr<Scope> scope_;
    std::string root_out_;
    std::string* out_ = &root_out_;
    int64_t steps_ = 0;
    int call_depth_ = 0;
    mutable int line_ = 0;
    std::vector<std::shared_ptr<Scope>> closures_;
    std::vector<std::shared_ptr<Dict>> namespaces_;
    int loop_depth_ = 0;
};

// The Python/Jinja operators (ops.cpp).
Value binary_op(Interpreter& in, const std::string& op, const Value& a, const Value& b);
bool contains(const Value& container, const Value& item);

// filters.cpp / tests.cpp / methods.cpp
Value apply_filter(Interpreter& in, const std::string& name, Value subject, CallArgs& args);
bool apply_test(Interpreter& in, const std::string& name, const Value& v, CallArgs& args);
Value get_attr(Interpreter& in, const Value& obj, const std::string& name);
Value get_item(Interpreter& in, const Value& obj, const Value& key);
Value slice(Interpreter& in, const Value& obj, const Value& start, const Value& stop, const Value& step);

// Common argument helpers.
int64_t arg_int(Interpreter& in, const Value& v, const char* what);
std::string arg_str(Interpreter& in, const Value& v, const char* what);
void fail_undefined(Interpreter& in, const Value& v);  // UndefinedError with the value's hint

}  // namespace engine::tmpl
