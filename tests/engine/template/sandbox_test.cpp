// sandbox_test.cpp — hostile templates fail fast with Error(kTemplate); errors name template and line.
#include <gtest/gtest.h>

#include <cstdio>
#include <ctime>
#include <string>

#include "engine/chat_template.h"
#include "engine/error.h"

namespace {

using nlohmann::json;

// CPU time of this thread: the caps bound work, and CI machines are shared (wall time would measure
// the neighbours).
double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

struct Failure {
    std::string message;
    double seconds = 0;  // thread CPU time until the error
};

Failure render_failure(const std::string& source, const engine::TemplateLimits& limits = {}, const json& ctx = json::object()) {
    const double t0 = thread_cpu_seconds();
    try {
        auto t = engine::ChatTemplate::parse(source, "hostile");
        std::string out = t.render(ctx, limits);
        ADD_FAILURE() << "expected an error, rendered " << out.size() << " bytes";
    } catch (const engine::Error& e) {
        EXPECT_EQ(e.kind(), engine::ErrorKind::kTemplate) << e.what();
        const double cpu = thread_cpu_seconds() - t0;
        std::printf("  stopped after %.3f s CPU: %s\n", cpu, e.message().substr(0, 90).c_str());
        return {e.message(), cpu};
    }
    return {};
}

TEST(TemplateSandbox, NestedRangeBombStopsAtStepCapUnderOneSecond) {
    Failure f = render_failure("{% for i in range(100000) %}{% for j in range(100000) %}{{ j }}{% endfor %}{% endfor %}");
    EXPECT_NE(f.message.find("exceeded"), std::string::npos) << f.message;
    EXPECT_NE(f.message.find("steps"), std::string::npos) << f.message;
    EXPECT_LT(f.seconds, 1.0);
}

TEST(TemplateSandbox, EmptyBodyBombAlsoStops) {
    Failure f = render_failure("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}");
    EXPECT_NE(f.message.find("steps"), std::string::npos) << f.message;
    EXPECT_LT(f.seconds, 1.0);
}

TEST(TemplateSandbox, OutputCap) {
    engine::TemplateLimits limits;
    limits.max_output_bytes = 1 << 20;
    Failure f = render_failure("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", limits);
    EXPECT_NE(f.message.find("output"), std::string::npos) << f.message;
    EXPECT_LT(f.seconds, 1.0);
}

TEST(TemplateSandbox, StringDoublingHitsSizeCap) {
    Failure f = render_failure(
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}");
    EXPECT_NE(f.message.find("exceeded"), std::string::npos) << f.message;
    EXPECT_LT(f.seconds, 1.0);
    Failure g = render_failure("{{ 'x' * 1000000000000 }}");
    EXPECT_NE(g.message.find("exceeded"), std::string::npos) << g.message;
}

TEST(TemplateSandbox, ListDoublingHitsCaps) {
    Failure f = render_failure(
        "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}");
    EXPECT_NE(f.message.find("exceeded"), std::string::npos) << f.message;
    EXPECT_LT(f.seconds, 1.0);
}

TEST(TemplateSandbox, MacroRecursionCap) {
    Failure f = render_failure("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
    EXPECT_NE(f.message.find("max_recursion"), std::string::npos) << f.message;
}

TEST(TemplateSandbox, DeepNestingIsASyntaxErrorNotAStackOverflow) {
    Failure f = render_failure("{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}");
    EXPECT_NE(f.message.find("nesting"), std::string::npos) << f.message;
    Failure g = render_failure(std::string(100000, '-') + "{{ 1 }}" + [] {
        std::string s;
        for (int k = 0; k < 5000; ++k) s += "{% if true %}";
        return s;
    }());
    EXPECT_NE(g.message.find("nesting"), std::string::npos) << g.message;
}

TEST(TemplateSandbox, NoHostAttributeEscapes) {
    // Jinja's sandbox answers dunder attributes with an unsafe-undefined; using it further fails.
    auto t = engine::ChatTemplate::parse("[{{ ''.__class__ }}][{{ messages.__len__ }}]", "probe");
    EXPECT_EQ(t.render({{"messages", json::array()}}), "[][]");
    Failure f = render_failure("{{ ''.__class__.__mro__[1].__subclasses__() }}");
    EXPECT_FALSE(f.message.empty());
    Failure g = render_failure("{% set l = [] %}{{ l.append(1) }}");
    EXPECT_NE(g.message.find("unsafe"), std::string::npos) << g.message;
}

TEST(TemplateErrors, SyntaxErrorNamesTemplateAndLine) {
    try {
        engine::ChatTemplate::parse("line one\nline two\n{% if x %}\n{{ 1 + }}\n{% endif %}", "my_template");
        FAIL() << "no error";
    } catch (const engine::Error& e) {
        EXPECT_EQ(e.kind(), engine::ErrorKind::kTemplate);
        EXPECT_NE(e.message().find("template 'my_template' line 4"), std::string::npos) << e.message();
    }
    try {
        engine::ChatTemplate::parse("{% for m in messages %}\n{% endif %}", "t2");
        FAIL() << "no error";
    } catch (const engine::Error& e) {
        EXPECT_NE(e.message().find("line 2"), std::string::npos) << e.message();
        EXPECT_NE(e.message().find("endif"), std::string::npos) << e.message();
    }
}

TEST(TemplateErrors, RuntimeErrorNamesLineAndRaiseExceptionMessage) {
    auto t = engine::ChatTemplate::parse(
        "ok\n{% for m in messages %}\n{% if m.role == 'bad' %}{{ raise_exception('roles must alternate') }}{% endif %}\n{% endfor %}",
        "strict");
    EXPECT_EQ(t.render({{"messages", {{{"role", "user"}}}}}), "ok\n");
    try {
        t.render({{"messages", {{{"role", "bad"}}}}});
        FAIL() << "no error";
    } catch (const engine::Error& e) {
        EXPECT_EQ(e.kind(), engine::ErrorKind::kTemplate);
        EXPECT_NE(e.message().find("template 'strict' line 3"), std::string::npos) << e.message();
        EXPECT_NE(e.message().find("roles must alternate"), std::string::npos) << e.message();
    }
}

TEST(TemplateRender, GenerationRangesAndFixedClock) {
    auto t = engine::ChatTemplate::parse("A{% generation %}B{{ x }}{% endgeneration %}C{% generation %}{% endgeneration %}|{{ strftime_now('%Y-%m-%d %H:%M') }}");
    std::vector<std::pair<size_t, size_t>> ranges;
    engine::TemplateHooks hooks;
    hooks.fixed_now = 1785061800;  // 2026-07-26 10:30 UTC
    hooks.generation_ranges = &ranges;
    EXPECT_EQ(t.render({{"x", 12}}, {}, hooks), "AB12C|2026-07-26 10:30");
    ASSERT_EQ(ranges.size(), 2u);
    EXPECT_EQ(ranges[0], (std::pair<size_t, size_t>{1, 4}));
    EXPECT_EQ(ranges[1], (std::pair<size_t, size_t>{5, 5}));
}

TEST(TemplateRender, OrderedContextKeepsKeyOrder) {
    auto t = engine::ChatTemplate::parse("{{ d | tojson }} {% for k in d %}{{ k }}{% endfor %}");
    nlohmann::ordered_json ctx = {{"d", {{"zeta", 1}, {"alpha", 2}}}};
    EXPECT_EQ(t.render_ordered(ctx), "{\"zeta\": 1, \"alpha\": 2} zetaalpha");
    // nlohmann::json sorts keys on insertion; render() sees that order.
    EXPECT_EQ(t.render(json(ctx)), "{\"alpha\": 2, \"zeta\": 1} alphazeta");
}

TEST(TemplateRender, DefaultChatTemplateIsChatML) {
    auto t = engine::ChatTemplate::parse(engine::default_chat_template(), "default");
    json ctx = {{"messages", {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "Hi"}}}},
                {"add_generation_prompt", true}};
    EXPECT_EQ(t.render(ctx),
              "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

}  // namespace

// Found by fuzzing: `set ns.a = ns` made repr recurse until the stack overflowed. Python's repr marks a
// container it is already printing; Jinja2 (python3-jinja2, ImmutableSandboxedEnvironment) printed
// exactly these strings.
TEST(TemplateSandbox, SelfReferencingNamespacePrintsLikePython) {
    auto render = [](const std::string& src) { return engine::ChatTemplate::parse(src, "t").render(json::object()); };
    EXPECT_EQ(render("{% set ns = namespace(a=1) %}{% set ns.a = ns %}{{ ns }}"), "<Namespace {'a': <Namespace {...}>}>");
    EXPECT_EQ(render("{% set ns = namespace(a=1, b=[2]) %}{% set ns.b = [ns, 3] %}{{ ns.b }}"),
              "[<Namespace {'a': 1, 'b': [...]}>, 3]");
}

// Python stops these with RecursionError; we refuse to build them (no walk can then overflow the stack,
// destruction included).
TEST(TemplateSandbox, UnboundedNestingIsRefused) {
    Failure f = render_failure("{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}"
                               "{% endfor %}{{ ns.x }}");
    EXPECT_NE(f.message.find("nested deeper than 512"), std::string::npos) << f.message;
    // A chain of namespaces, each holding the previous one.
    f = render_failure("{% set ns = namespace(p=none) %}{% for i in range(100000) %}{% set ns.p = namespace(p=ns.p) %}"
                       "{% endfor %}{{ ns }}");
    EXPECT_NE(f.message.find("nested deeper than"), std::string::npos) << f.message;
    f = render_failure("{% set ns = namespace(p=none) %}{% for i in range(100000) %}{% set ns.p = namespace(p=ns.p) %}"
                       "{% endfor %}{{ ns | tojson }}");
    EXPECT_FALSE(f.message.empty());
}
