// template_fuzz.cpp — libFuzzer target: parse + render arbitrary chat templates.
//
// Input: TEMPLATE [\0 CONTEXT_JSON]. Without a (valid) context a small conversation is used. Every
// failure must be an engine::Error of kind kTemplate (kInvalidArgument for a non-object context);
// anything else — a crash, a sanitizer report, another exception type — is a finding. Tight caps keep
// each input fast; rendering twice must give the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/chat_template.h"
#include "engine/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string input(reinterpret_cast<const char*>(data), size);
    const size_t nul = input.find('\0');
    const std::string source = input.substr(0, nul);
    nlohmann::ordered_json ctx = {
        {"messages", {{{"role", "system"}, {"content", "sys"}},
                      {{"role", "user"}, {"content", "hi <think>x</think> y"}},
                      {{"role", "assistant"}, {"content", nullptr},
                       {"tool_calls", {{{"type", "function"}, {"function", {{"name", "f"}, {"arguments", {{"a", 1}}}}}}}}},
                      {{"role", "tool"}, {"content", "{\"r\": 2.5}"}}}},
        {"tools", {{{"type", "function"}, {"function", {{"name", "f"}, {"parameters", {{"type", "object"}}}}}}}},
        {"add_generation_prompt", true},
        {"bos_token", "<s>"},
        {"eos_token", "</s>"}};
    if (nul != std::string::npos) {
        auto parsed = nlohmann::ordered_json::parse(input.substr(nul + 1), nullptr, /*allow_exceptions=*/false);
        if (!parsed.is_discarded()) ctx = std::move(parsed);
    }
    engine::TemplateLimits limits;
    limits.max_steps = 200'000;
    limits.max_output_bytes = 1 << 20;
    limits.max_recursion = 50;
    engine::TemplateHooks hooks;
    hooks.fixed_now = 1785061800;
    try {
        auto t = engine::ChatTemplate::parse(source, "fuzz");
        const std::string a = t.render_ordered(ctx, limits, hooks);
        const std::string b = t.render_ordered(ctx, limits, hooks);
        if (a != b) std::abort();  // rendering must be deterministic
    } catch (const engine::Error& e) {
        if (e.kind() != engine::ErrorKind::kTemplate && e.kind() != engine::ErrorKind::kInvalidArgument) std::abort();
    }
    return 0;
}
