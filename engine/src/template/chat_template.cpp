// chat_template.cpp — the public ChatTemplate API and apply_chat_template (transformers' context).
#include "engine/chat_template.h"

#include "engine/error.h"
#include "engine/tokenizer.h"
#include "template/ast.h"
#include "template/interpreter.h"

namespace engine {

struct ChatTemplate::Impl {
    std::shared_ptr<const tmpl::Program> program;
};

ChatTemplate::ChatTemplate(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;
ChatTemplate::~ChatTemplate() = default;

ChatTemplate ChatTemplate::parse(std::string_view source, std::string name) {
    auto impl = std::make_unique<Impl>();
    impl->program = tmpl::parse_program(source, name);
    return ChatTemplate(std::move(impl));
}

const std::string& ChatTemplate::name() const { return impl_->program->name; }

std::string ChatTemplate::render(const nlohmann::json& context, const TemplateLimits& limits) const {
    return render(context, limits, TemplateHooks{});
}

template <typename Json>
static std::string render_impl(const tmpl::Program& program, const Json& context, const TemplateLimits& limits,
                               const TemplateHooks& hooks) {
    ENGINE_CHECK(context.is_object(), kInvalidArgument, "template '", program.name,
                 "': the render context must be a JSON object (messages, add_generation_prompt, ...)");
    if (hooks.generation_ranges) hooks.generation_ranges->clear();
    tmpl::Interpreter interp(program, limits, hooks);
    return interp.render(tmpl::from_json(context));
}

std::string ChatTemplate::render(const nlohmann::json& context, const TemplateLimits& limits,
                                 const TemplateHooks& hooks) const {
    return render_impl(*impl_->program, context, limits, hooks);
}

std::string ChatTemplate::render_ordered(const nlohmann::ordered_json& context, const TemplateLimits& limits,
                                         const TemplateHooks& hooks) const {
    return render_impl(*impl_->program, context, limits, hooks);
}

std::string_view default_chat_template() {
    // ChatML, the format Hugging Face used as its default template: one <|im_start|>role ... <|im_end|>
    // block per message, and "<|im_start|>assistant\n" as the generation prompt.
    return "{% for message in messages %}"
           "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
           "{% endfor %}"
           "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
}

nlohmann::ordered_json chat_template_context(const TokenizerConfig& config, const nlohmann::ordered_json& messages,
                                             bool add_generation_prompt, const nlohmann::ordered_json& extra) {
    ENGINE_CHECK(messages.is_array(), kInvalidArgument, "chat messages must be a JSON array of {role, content} objects");
    ENGINE_CHECK(extra.is_object() || extra.is_null(), kInvalidArgument,
                 "extra chat-template variables must be a JSON object");
    nlohmann::ordered_json ctx = nlohmann::ordered_json::object();
    ctx["messages"] = messages;
    ctx["tools"] = nullptr;
    ctx["documents"] = nullptr;
    ctx["add_generation_prompt"] = add_generation_prompt;
    if (config.bos_token) ctx["bos_token"] = *config.bos_token;
    if (config.eos_token) ctx["eos_token"] = *config.eos_token;
    if (config.unk_token) ctx["unk_token"] = *config.unk_token;
    if (config.pad_token) ctx["pad_token"] = *config.pad_token;
    if (extra.is_object())
        for (auto it = extra.begin(); it != extra.end(); ++it) ctx[it.key()] = it.value();
    return ctx;
}

std::string apply_chat_template(const TokenizerConfig& config, const nlohmann::ordered_json& messages,
                                bool add_generation_prompt, const nlohmann::ordered_json& extra,
                                const std::string& template_name, const TemplateHooks& hooks) {
    const NamedTemplate* chosen = nullptr;
    auto find = [&](const std::string& n) -> const NamedTemplate* {
        for (const auto& t : config.chat_templates)
            if (t.name == n) return &t;
        return nullptr;
    };
    if (!template_name.empty()) {
        chosen = find(template_name);
        if (!chosen) {
            std::string names;
            for (const auto& t : config.chat_templates) names += (names.empty() ? "" : ", ") + t.name;
            ENGINE_THROW(kInvalidArgument, "no chat template named '", template_name, "' in tokenizer_config.json (has: ",
                         names.empty() ? "none" : names, ")");
        }
    } else {
        const bool has_tools = extra.is_object() && extra.contains("tools") && !extra["tools"].is_null();
        if (has_tools) chosen = find("tool_use");
        if (!chosen) chosen = find("default");
        if (!chosen && config.chat_templates.size() == 1) chosen = &config.chat_templates.front();
    }
    const std::string source = chosen ? chosen->source : std::string(default_chat_template());
    const std::string name = chosen ? "chat_template:" + chosen->name : "default ChatML template";
    ChatTemplate t = ChatTemplate::parse(source, name);
    return t.render_ordered(chat_template_context(config, messages, add_generation_prompt, extra), TemplateLimits{}, hooks);
}

std::string apply_chat_template(const Tokenizer& tokenizer, const nlohmann::json& messages,
                                bool add_generation_prompt, const nlohmann::json& extra,
                                const std::string& template_name) {
    return apply_chat_template(tokenizer.config(), nlohmann::ordered_json(messages), add_generation_prompt,
                               nlohmann::ordered_json(extra), template_name, {});
}

}  // namespace engine
