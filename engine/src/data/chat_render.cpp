// chat_render.cpp — a conversation → tokens with the assistant turns marked as trained.
//
// The template is rendered for each prefix of the conversation: for assistant message i,
//   P_i = render(messages[:i], add_generation_prompt = true)   (the prompt the model sees)
//   Q_i = render(messages[:i+1])                              (prompt + the assistant's answer)
// and the trained text is Q_i minus P_i (it includes the end-of-turn marker the template writes, so
// the model learns to stop). When every Q_i is a prefix of the full rendering, the conversation is one
// example; templates that rewrite earlier turns (e.g. dropping past reasoning) break that property, and
// then each assistant turn i becomes its own example Q_i. Segments are tokenized separately, so a merge
// never spans the prompt/answer boundary.
#include <string>
#include <vector>

#include "engine/chat_template.h"
#include "engine/dataset.h"
#include "engine/error.h"
#include "engine/tokenizer.h"

namespace engine {

namespace {

void append_segment(TrainExample& ex, const Tokenizer& tok, const std::string& text, bool trained) {
    if (text.empty()) return;
    std::vector<int32_t> ids = tok.encode(text, /*add_special_tokens=*/false);
    ex.tokens.insert(ex.tokens.end(), ids.begin(), ids.end());
    ex.trained.insert(ex.trained.end(), ids.size(), trained ? 1 : 0);
}

void check_messages(const nlohmann::json& messages, const std::string& source) {
    ENGINE_CHECK(messages.is_array() && !messages.empty(), kBadFile, source,
                 ": \"messages\" must be a non-empty array of {\"role\", \"content\"} objects");
    bool has_assistant = false;
    for (size_t i = 0; i < messages.size(); ++i) {
        const auto& m = messages[i];
        ENGINE_CHECK(m.is_object(), kBadFile, source, ": messages[", i, "] is not an object");
        ENGINE_CHECK(m.contains("role") && m["role"].is_string(), kBadFile, source, ": messages[", i,
                     "] has no string \"role\"");
        const std::string role = m["role"];
        ENGINE_CHECK(role == "system" || role == "user" || role == "assistant" || role == "tool", kBadFile,
                     source, ": messages[", i, "] has role \"", role,
                     "\"; expected system, user, assistant or tool");
        const bool has_calls = m.contains("tool_calls") && !m["tool_calls"].is_null();
        ENGINE_CHECK((m.contains("content") && (m["content"].is_string() || m["content"].is_null())) ||
                         has_calls,
                     kBadFile, source, ": messages[", i, "] has no string \"content\"");
        if (role == "assistant") has_assistant = true;
    }
    ENGINE_CHECK(has_assistant, kBadFile, source,
                 ": the conversation has no assistant message, so there is nothing to train on");
}

}  // namespace

std::vector<TrainExample> render_chat_examples(const nlohmann::json& messages, const Tokenizer& tokenizer,
                                               const std::string& template_name, const std::string& source) {
    check_messages(messages, source);
    auto render = [&](size_t count, bool generation_prompt) {
        nlohmann::json part = nlohmann::json::array();
        for (size_t i = 0; i < count; ++i) part.push_back(messages[i]);
        try {
            return apply_chat_template(tokenizer, part, generation_prompt, nlohmann::json::object(),
                                       template_name);
        } catch (const Error& e) {
            ENGINE_THROW(kBadFile, source, ": the chat template failed on this record: ", e.message());
        }
    };

    const std::string full = render(messages.size(), false);
    TrainExample ex;
    ex.source = source;
    size_t done = 0;  // bytes of `full` already tokenized
    for (size_t i = 0; i < messages.size(); ++i) {
        if (messages[i]["role"] != "assistant") continue;
        const std::string prompt = render(i, true);
        const std::string answered = render(i + 1, false);
        ENGINE_CHECK(answered.size() >= prompt.size() && answered.compare(0, prompt.size(), prompt) == 0,
                     kBadFile, source, ": messages[", i,
                     "]: the chat template renders this assistant turn in a way that does not extend "
                     "its prompt, so the answer's tokens cannot be located; use a template whose "
                     "generation prompt is a prefix of the rendered answer");
        const bool prefix_of_full = full.size() >= answered.size() && prompt.size() >= done &&
                                    full.compare(0, answered.size(), answered) == 0;
        if (!prefix_of_full) {
            // The template rewrites earlier turns: one example per assistant turn, each with the
            // conversation up to it as (untrained) context.
            std::vector<TrainExample> turns;
            for (size_t j = 0; j < messages.size(); ++j) {
                if (messages[j]["role"] != "assistant") continue;
                const std::string p = render(j, true);
                const std::string q = render(j + 1, false);
                ENGINE_CHECK(q.size() >= p.size() && q.compare(0, p.size(), p) == 0, kBadFile, source,
                             ": messages[", j, "]: the assistant turn does not extend its prompt");
                TrainExample turn;
                turn.source = source;
                append_segment(turn, tokenizer, p, false);
                append_segment(turn, tokenizer, q.substr(p.size()), true);
                turns.push_back(std::move(turn));
            }
            return turns;
        }
        append_segment(ex, tokenizer, full.substr(done, prompt.size() - done), false);
        append_segment(ex, tokenizer, full.substr(prompt.size(), answered.size() - prompt.size()), true);
        done = answered.size();
    }
    append_segment(ex, tokenizer, full.substr(done), false);
    return {std::move(ex)};
}

}  // namespace engine
