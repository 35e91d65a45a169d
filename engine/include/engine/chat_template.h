// chat_template.h — renders a model's Jinja chat_template like transformers' apply_chat_template.
//
// Our own interpreter for the Jinja subset real templates use (shared/spec/chat-templates.md), run in a
// sandbox: no file, network or host-object access, and caps on steps, recursion and output size so a
// hostile template fails fast with Error(kTemplate) instead of hanging the app.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace engine {

class Tokenizer;

struct TemplateLimits {
    int64_t max_steps = 10'000'000;        // evaluated nodes/iterations
    int64_t max_output_bytes = 64 << 20;
    int max_recursion = 200;
};

class ChatTemplate {
public:
    // Parses; throws Error(kTemplate) "template '<name>' line L: ..." on a syntax error.
    static ChatTemplate parse(std::string_view source, std::string name = "chat_template");
    ChatTemplate(ChatTemplate&&) noexcept;
    ChatTemplate& operator=(ChatTemplate&&) noexcept;
    ~ChatTemplate();

    // `context`: {"messages": [...], "add_generation_prompt": bool, "bos_token": ..., "tools": ...}.
    std::string render(const nlohmann::json& context, const TemplateLimits& limits = {}) const;

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

}  // namespace engine
