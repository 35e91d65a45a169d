// chat_template.h — renders a model's Jinja chat_template like transformers' apply_chat_template.
//
// Our own interpreter for the Jinja subset real templates use (shared/spec/chat-templates.md), run in a
// sandbox: no file, network or host-object access, and caps on steps, recursion and output size so a
// hostile template fails fast with Error(kTemplate) instead of hanging the app.
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace engine {

class Tokenizer;

struct TemplateLimits {
    int64_t max_steps = 10'000'000;        // evaluated nodes/iterations
    int64_t max_output_bytes = 64 << 20;
    int max_recursion = 200;
};

// ---- added by the template module (jinja): render hooks ----
// Optional inputs/outputs of one render: a fixed clock for strftime_now (tests, reproducible
// prompts) and the byte ranges of {% generation %} blocks in the output (assistant-only loss masks).
struct TemplateHooks {
    std::optional<std::time_t> fixed_now;  // strftime_now formats this instant as UTC; unset: local time now
    std::vector<std::pair<size_t, size_t>>* generation_ranges = nullptr;  // [begin, end) byte offsets
};
// ---- end of addition ----

class ChatTemplate {
public:
    // Parses; throws Error(kTemplate) "template '<name>' line L: ..." on a syntax error.
    static ChatTemplate parse(std::string_view source, std::string name = "chat_template");
    ChatTemplate(ChatTemplate&&) noexcept;
    ChatTemplate& operator=(ChatTemplate&&) noexcept;
    ~ChatTemplate();

    // `context`: {"messages": [...], "add_generation_prompt": bool, "bos_token": ..., "tools": ...}.
    std::string render(const nlohmann::json& context, const TemplateLimits& limits = {}) const;
    // (added by the template module) the same, with a fixed clock and/or generation-range tracking.
    std::string render(const nlohmann::json& context, const TemplateLimits& limits, const TemplateHooks& hooks) const;
    // (added) nlohmann::json sorts object keys; transformers keeps insertion order (visible through
    // `tools | tojson` and dict iteration). Parse user JSON as nlohmann::ordered_json and use this.
    std::string render_ordered(const nlohmann::ordered_json& context, const TemplateLimits& limits = {},
                               const TemplateHooks& hooks = {}) const;
    const std::string& name() const;  // (added) the name given to parse(), used in error messages

private:
    struct Impl;
    explicit ChatTemplate(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// The template used when a model ships none (documented in README; shown to the user): ChatML.
std::string_view default_chat_template();

// Renders `messages` with the tokenizer's template (named `template_name`, or "default", or the
// built-in default), passing the special tokens as strings the way transformers does.
std::string apply_chat_template(const Tokenizer& tokenizer, const nlohmann::json& messages,
                                bool add_generation_prompt, const nlohmann::json& extra = nlohmann::json::object(),
                                const std::string& template_name = "");

// ---- added by the template module (jinja) ----
struct TokenizerConfig;
// Same as above from a TokenizerConfig alone (the `latent template` CLI reads tokenizer_config.json
// without loading the vocabulary). Picks the template named `template_name`; else "tool_use" when
// `extra` has non-null "tools" and such a template exists; else "default"; else default_chat_template().
// JSON objects keep their key order (ordered_json), as in transformers.
std::string apply_chat_template(const TokenizerConfig& config, const nlohmann::ordered_json& messages,
                                bool add_generation_prompt,
                                const nlohmann::ordered_json& extra = nlohmann::ordered_json::object(),
                                const std::string& template_name = "", const TemplateHooks& hooks = {});
// The context transformers passes to the template: messages, tools/documents (None unless given),
// add_generation_prompt, the special tokens that are set, then every key of `extra`.
nlohmann::ordered_json chat_template_context(const TokenizerConfig& config, const nlohmann::ordered_json& messages,
                                             bool add_generation_prompt, const nlohmann::ordered_json& extra);
// ---- end of addition ----

}  // namespace engine
