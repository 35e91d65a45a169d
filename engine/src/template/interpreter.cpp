// interpreter.cpp — executes a parsed template: statements, scoping, macros, loops and the sandbox caps.
//
// Scoping follows Jinja2: `for`, macro and `with` bodies get their own scope (a `set` inside does not
// leak out), `if` does not. Steps are counted per evaluated expression, statement and loop iteration.
#include "template/interpreter.h"

#include <cstring>
#include <locale.h>
#include <time.h>
#include <new>

#include "engine/error.h"

namespace engine::tmpl {

const Value* Scope::find(const std::string& name) const {
    for (const Scope* s = this; s; s = s->parent.get())
        for (const auto& [k, v] : s->vars)
            if (k == name) return &v;
    return nullptr;
}

void Scope::set(const std::string& name, Value v) {
    for (auto& [k, val] : vars)
        if (k == name) {
            val = std::move(v);
            return;
        }
    vars.emplace_back(name, std::move(v));
}

Interpreter::Interpreter(const Program& program, const TemplateLimits& limits, const TemplateHooks& hooks)
    : program_(program), limits_(limits), hooks_(hooks) {}

Interpreter::~Interpreter() {
    // A macro holds its defining scope, which holds the macro (and namespaces can hold themselves):
    // empty them so the shared pointers can free everything.
    std::vector<std::pair<std::string, Value>> drop;
    for (auto& s : closures_) {
        drop.insert(drop.end(), std::make_move_iterator(s->vars.begin()), std::make_move_iterator(s->vars.end()));
        s->vars.clear();
        s->parent.reset();
    }
    for (auto& d : namespaces_) {
        drop.insert(drop.end(), std::make_move_iterator(d->items.begin()), std::make_move_iterator(d->items.end()));
        d->items.clear();
    }
}

void Interpreter::fail(const std::string& what) const {
    ENGINE_THROW(kTemplate, "template '", program_.name, "' line ", line_, ": ", what);
}

void Interpreter::step(int64_t n) {
    steps_ += n;
    if (steps_ > limits_.max_steps)
        fail("rendering exceeded the limit of " + std::to_string(limits_.max_steps) +
             " steps (TemplateLimits::max_steps); the template loops too much for this input");
}

void Interpreter::check_size(size_t n) {
    if (n > size_t(INT64_MAX) || int64_t(n) > limits_.max_output_bytes)
        fail("a value built by the template exceeded the output limit of " + std::to_string(limits_.max_output_bytes) +
             " bytes (TemplateLimits::max_output_bytes)");
}

void Interpreter::emit(std::string_view text) {
    if (int64_t(out_->size() + text.size()) > limits_.max_output_bytes)
        fail("output exceeded the limit of " + std::to_string(limits_.max_output_bytes) +
             " bytes (TemplateLimits::max_output_bytes)");
    out_->append(text);
}

std::string Interpreter::strftime_now(const std::string& format) const {
    std::time_t t = hooks_.fixed_now ? *hooks_.fixed_now : std::time(nullptr);
    std::tm tm{};
    if (hooks_.fixed_now) gmtime_r(&t, &tm);
    else localtime_r(&t, &tm);
    if (format.empty()) return "";
    std::string buf(format.size() * 8 + 64, '\0');
    // The "C" locale, as in Python (which leaves LC_TIME alone): a Qt app calls setlocale(LC_ALL, ""),
    // and "%b"/"%A" must not turn into the user's language.
    locale_t c_locale = newlocale(LC_ALL_MASK, "C", locale_t(nullptr));
    size_t n = c_locale ? strftime_l(buf.data(), buf.size(), format.c_str(), &tm, c_locale)
                        : std::strftime(buf.data(), buf.size(), format.c_str(), &tm);
    if (c_locale) freelocale(c_locale);
    if (n == 0) fail("strftime_now: cannot format '" + format + "'");
    buf.resize(n);
    return buf;
}

static Value make_namespace(Interpreter& in, CallArgs& args) {
    Value v;
    v.kind = Kind::kNamespace;
    auto dict = std::make_shared<Dict>();
    in.own_namespace(dict);
    v.p = dict;
    for (const auto& p : args.pos)
        if (p.kind == Kind::kDict)
            for (const auto& [k, x] : p.dict()->items) v.dict()->set(k, x);
    for (const auto& [k, x] : args.kw) v.dict()->set(k, x);
    return v;
}

Value Interpreter::lookup(const std::string& name) const {
    if (const Value* v = scope_->find(name)) return *v;
    // Globals transformers provides (and the Jinja defaults templates use).
    if (name == "range")
        return Value::callable("range", [](Interpreter& in, CallArgs& a) {
            if (a.pos.empty() || a.pos.size() > 3) in.fail("range expected 1 to 3 arguments");
            int64_t start = 0, stop, stepv = 1;
            if (a.pos.size() == 1) stop = arg_int(in, a.pos[0], "range");
            else {
                start = arg_int(in, a.pos[0], "range");
                stop = arg_int(in, a.pos[1], "range");
                if (a.pos.size() == 3) stepv = arg_int(in, a.pos[2], "range");
            }
            if (stepv == 0) in.fail("range() arg 3 must not be zero");
            int64_t count = stepv > 0 ? (stop > start ? (stop - start + stepv - 1) / stepv : 0)
                                      : (start > stop ? (start - stop - stepv - 1) / -stepv : 0);
            in.check_size(size_t(count) * sizeof(Value));  // a list's memory counts against the output cap
            in.step(count);
            List l;
            l.reserve(size_t(count));
            for (int64_t k = 0; k < count; ++k) l.push_back(Value::integer(start + k * stepv));
            return Value::from_list(std::move(l));
        });
    if (name == "namespace") return Value::callable("namespace", [](Interpreter& in, CallArgs& a) { return make_namespace(in, a); });
    if (name == "dict")
        return Value::callable("dict", [](Interpreter&, CallArgs& a) {
            Dict d;
            for (const auto& p : a.pos)
                if (p.kind == Kind::kDict) d = *p.dict();
            for (const auto& [k, x] : a.kw) d.set(k, x);
            return Value::from_dict(std::move(d));
        });
    if (name == "raise_exception")
        return Value::callable("raise_exception", [](Interpreter& in, CallArgs& a) -> Value {
            in.fail("raise_exception: " + (a.pos.empty() ? std::string() : to_str(a.pos[0])));
        });
    if (name == "strftime_now")
        return Value::callable("strftime_now", [](Interpreter& in, CallArgs& a) {
            const Value* f = a.get("format", 0);
            return Value::string(in.strftime_now(f ? arg_str(in, *f, "strftime_now format") : ""));
        });
    return Value::undefined("'" + name + "' is undefined");
}

std::string Interpreter::render(const Value& context) {
    scope_ = std::make_shared<Scope>();
    if (context.kind == Kind::kDict)
        for (const auto& [k, v] : context.dict()->items) scope_->vars.emplace_back(k, v);
    try {
        exec_body(program_.body);
    } catch (const Error& e) {
        if (e.message().rfind("template '", 0) == 0) throw;
        fail(e.message());  // an error from a value operation: add the template name and line
    } catch (const std::bad_alloc&) {
        ENGINE_THROW(kOutOfMemory, "template '", program_.name, "' line ", line_, ": out of memory while rendering");
    } catch (const std::exception& e) {  // a standard-library failure we did not anticipate: still typed
        fail(std::string("internal error: ") + e.what());
    }
    return std::move(root_out_);
}

Interpreter::Flow Interpreter::exec_body(const Body& body) {
    for (const auto& s : body) {
        Flow f = exec(*s);
        if (f != Flow::kNormal) return f;
    }
    return Flow::kNormal;
}

std::string Interpreter::capture(const Body& body) {
    std::string buf;
    std::string* saved = out_;
    out_ = &buf;
    try {
        exec_body(body);
    } catch (...) {
        out_ = saved;
        throw;
    }
    out_ = saved;
    return buf;
}

Interpreter::Flow Interpreter::exec(const Stmt& s) {
    step();
    line_ = s.line;
    switch (s.kind) {
        case StmtKind::kOutput: emit(s.text); return Flow::kNormal;
        case StmtKind::kPrint: {
            Value v = eval(*s.expr);
            if (v.kind == Kind::kString) emit(*v.s());
            else emit(to_str(v));
            return Flow::kNormal;
        }
        case StmtKind::kIf:
            for (const auto& br : s.branches)
                if (truthy(eval(*br.cond))) return exec_body(br.body);
            return exec_body(s.else_body);
        case StmtKind::kFor: return exec_for(s);
        case StmtKind::kSet: exec_set(s); return Flow::kNormal;
        case StmtKind::kSetBlock: {
            Value v = Value::string(capture(s.body));
            if (s.filter) v = eval_filter(*s.filter, &v);
            scope_->set(s.targets[0], std::move(v));
            return Flow::kNormal;
        }
        case StmtKind::kMacro:
            scope_->set(s.text, make_macro(s, s.body, scope_, s.text));
            return Flow::kNormal;
        case StmtKind::kCallBlock: {
            const Expr& call_expr = *s.expr;
            Value callee = eval(*call_expr.children[0]);
            CallArgs args = eval_args(call_expr.args);
            args.kw.emplace_back("caller", make_macro(s, s.body, scope_, "caller"));
            Value r = call(callee, args);
            emit(to_str(r));
            return Flow::kNormal;
        }
        case StmtKind::kBreak: return Flow::kBreak;
        case StmtKind::kContinue: return Flow::kContinue;
        case StmtKind::kGeneration: {
            const bool track = hooks_.generation_ranges && out_ == &root_out_;
            const size_t begin = out_->size();
            Flow f = exec_body(s.body);
            if (track) hooks_.generation_ranges->emplace_back(begin, root_out_.size());
            return f;
        }
        case StmtKind::kFilterBlock: {
            Value v = Value::string(capture(s.body));
            v = eval_filter(*s.filter, &v);
            emit(to_str(v));
            return Flow::kNormal;
        }
        case StmtKind::kWith: {
            auto inner = std::make_shared<Scope>();
            inner->parent = scope_;
            for (size_t k = 0; k < s.targets.size(); ++k) inner->set(s.targets[k], eval(*s.defaults[k]));
            auto saved = scope_;
            scope_ = inner;
            Flow f;
            try {
                f = exec_body(s.body);
            } catch (...) {
                scope_ = saved;
                throw;
            }
            scope_ = saved;
            return f;
        }
    }
    return Flow::kNormal;
}

void Interpreter::assign_targets(Scope& scope, const Stmt& s, const Value& v) {
    if (!s.targets_tuple) {
        scope.set(s.targets[0], v);
        return;
    }
    List items = iterate(v);
    if (items.size() != s.targets.size())
        fail(items.size() > s.targets.size() ? "too many values to unpack (expected " + std::to_string(s.targets.size()) + ")"
                                             : "not enough values to unpack (expected " + std::to_string(s.targets.size()) +
                                                   ", got " + std::to_string(items.size()) + ")");
    for (size_t k = 0; k < items.size(); ++k) scope.set(s.targets[k], items[k]);
}

void Interpreter::exec_set(const Stmt& s) {
    Value v = eval(*s.expr);
    if (!s.attr.empty()) {
        Value ns = lookup(s.targets[0]);
        if (ns.kind != Kind::kNamespace) fail("cannot assign attribute on non-namespace object '" + s.targets[0] + "'");
        ns.dict()->set(s.attr, std::move(v));
        return;
    }
    assign_targets(*scope_, s, v);
}

Interpreter::Flow Interpreter::exec_for(const Stmt& s) {
    Value seq = eval(*s.expr);
    // A list is iterated in place (no copy: range(100000) bombs must stay cheap).
    std::shared_ptr<const List> items = seq.kind == Kind::kList ? seq.list_ptr() : std::make_shared<const List>(iterate(seq));
    auto loop_scope = std::make_shared<Scope>();
    loop_scope->parent = scope_;
    auto saved = scope_;
    scope_ = loop_scope;
    try {
        if (s.cond) {  // `for x in xs if cond`: filtered before loop.* is computed
            List kept;
            for (const auto& it : *items) {
                step();
                loop_scope->vars.clear();
                assign_targets(*loop_scope, s, it);
                if (truthy(eval(*s.cond))) kept.push_back(it);
            }
            items = std::make_shared<const List>(std::move(kept));
        }
        Value loop;
        loop.kind = Kind::kLoop;
        loop.p = std::make_shared<LoopState>();
        loop.loop()->items = items;
        loop.loop()->depth0 = 0;  // only recursive loops (unsupported) go deeper
        const List& list = *loop.loop()->items;
        ++loop_depth_;
        for (size_t k = 0; k < list.size(); ++k) {
            step();
            loop.loop()->index0 = int64_t(k);
            loop_scope->vars.clear();
            assign_targets(*loop_scope, s, list[k]);
            loop_scope->set("loop", loop);
            Flow f = exec_body(s.body);
            if (f == Flow::kBreak) break;
        }
        --loop_depth_;
        if (list.empty()) {
            loop_scope->vars.clear();
            exec_body(s.else_body);
        }
    } catch (...) {
        scope_ = saved;
        throw;
    }
    scope_ = saved;
    return Flow::kNormal;
}

Value Interpreter::make_macro(const Stmt& s, const Body& body, std::shared_ptr<Scope> closure, std::string name) {
    const Stmt* def = &s;
    const Body* b = &body;
    closures_.push_back(closure);
    return Value::callable(name, [def, b, closure, name](Interpreter& in, CallArgs& args) {
        if (++in.call_depth_ > in.limits_.max_recursion) {
            --in.call_depth_;
            in.fail("macro calls nested deeper than " + std::to_string(in.limits_.max_recursion) +
                    " (TemplateLimits::max_recursion)");
        }
        auto frame = std::make_shared<Scope>();
        frame->parent = closure;
        List varargs;
        Dict kwargs;
        std::vector<bool> bound(def->params.size(), false);
        for (size_t k = 0; k < args.pos.size(); ++k) {
            if (k < def->params.size()) {
                frame->set(def->params[k], args.pos[k]);
                bound[k] = true;
            } else varargs.push_back(args.pos[k]);
        }
        for (const auto& [k, v] : args.kw) {
            bool known = k == "caller";
            for (size_t p = 0; p < def->params.size(); ++p)
                if (def->params[p] == k) {
                    if (bound[p]) in.fail("macro '" + name + "' got multiple values for argument '" + k + "'");
                    bound[p] = known = true;
                }
            if (known) frame->set(k, v);
            else kwargs.set(k, v);
        }
        auto saved = in.scope_;
        in.scope_ = frame;
        const int saved_line = in.line_;
        const int saved_loop_depth = in.loop_depth_;
        in.loop_depth_ = 0;
        std::string out;
        try {
            for (size_t k = 0; k < def->params.size(); ++k) {
                if (bound[k]) continue;
                if (k < def->defaults.size() && def->defaults[k]) frame->set(def->params[k], in.eval(*def->defaults[k]));
                else frame->set(def->params[k], Value::undefined("parameter '" + def->params[k] + "' was not provided"));
            }
            frame->set("varargs", Value::from_list(std::move(varargs), true));
            frame->set("kwargs", Value::from_dict(std::move(kwargs)));
            out = in.capture(*b);
        } catch (...) {
            in.scope_ = saved;
            in.line_ = saved_line;
            in.loop_depth_ = saved_loop_depth;
            --in.call_depth_;
            throw;
        }
        in.scope_ = saved;
        in.line_ = saved_line;
        in.loop_depth_ = saved_loop_depth;
        --in.call_depth_;
        return Value::string(std::move(out));
    });
}

CallArgs Interpreter::eval_args(const std::vector<Arg>& args) {
    CallArgs out;
    for (const auto& a : args) {
        if (a.name.empty()) out.pos.push_back(eval(*a.value));
        else out.kw.emplace_back(a.name, eval(*a.value));
    }
    return out;
}

Value Interpreter::call(const Value& callee, CallArgs& args) {
    if (callee.kind == Kind::kCallable) return callee.fn()->fn(*this, args);
    if (callee.kind == Kind::kUndefined) fail_undefined(*this, callee);
    fail(std::string("'") + type_name(callee) + "' object is not callable");
}

Value Interpreter::filter(const std::string& name, Value subject, CallArgs& args) {
    return apply_filter(*this, name, std::move(subject), args);
}

bool Interpreter::test(const std::string& name, const Value& v, CallArgs& args) {
    return apply_test(*this, name, v, args);
}

Value Interpreter::eval_filter(const Expr& e, const Value* subject) {
    Value v;
    const Expr* inner = e.children[0].get();
    if (!inner) v = *subject;
    else if (inner->kind == ExprKind::kFilter) v = eval_filter(*inner, subject);
    else v = eval(*inner);
    CallArgs args = eval_args(e.args);
    line_ = e.line;
    return filter(e.name, std::move(v), args);
}

}  // namespace engine::tmpl
