// apply_test.cpp — apply_chat_template: template selection and the context transformers passes.
#include <gtest/gtest.h>

#include "engine/chat_template.h"
#include "engine/error.h"
#include "engine/tokenizer.h"

namespace {

using ojson = nlohmann::ordered_json;

engine::TokenizerConfig config_with(std::vector<engine::NamedTemplate> templates) {
    engine::TokenizerConfig c;
    c.bos_token = "<s>";
    c.eos_token = "</s>";
    c.chat_templates = std::move(templates);
    return c;
}

const ojson kMessages = ojson::array({{{"role", "user"}, {"content", "Hi"}}});

TEST(ApplyChatTemplate, PassesSpecialTokensToolsAndExtras) {
    auto c = config_with({{"default",
                           "{{ bos_token }}|{{ eos_token }}|{{ pad_token is defined }}|{{ tools is none }}|"
                           "{{ documents is none }}|{{ add_generation_prompt }}|{{ enable_thinking | default('unset') }}|"
                           "{{ messages[0].content }}"}});
    EXPECT_EQ(engine::apply_chat_template(c, kMessages, true), "<s>|</s>|False|True|True|True|unset|Hi");
    EXPECT_EQ(engine::apply_chat_template(c, kMessages, false, {{"enable_thinking", false}}),
              "<s>|</s>|False|True|True|False|False|Hi");
}

TEST(ApplyChatTemplate, SelectsNamedTemplates) {
    auto c = config_with({{"default", "D"}, {"tool_use", "T{{ tools | length }}"}, {"rag", "R"}});
    EXPECT_EQ(engine::apply_chat_template(c, kMessages, false), "D");
    EXPECT_EQ(engine::apply_chat_template(c, kMessages, false, {{"tools", ojson::array({{{"name", "f"}}})}}), "T1");
    EXPECT_EQ(engine::apply_chat_template(c, kMessages, false, ojson::object(), "rag"), "R");
    try {
        engine::apply_chat_template(c, kMessages, false, ojson::object(), "nope");
        FAIL() << "no error";
    } catch (const engine::Error& e) {
        EXPECT_EQ(e.kind(), engine::ErrorKind::kInvalidArgument);
        EXPECT_NE(e.message().find("default, tool_use, rag"), std::string::npos) << e.message();
    }
}

TEST(ApplyChatTemplate, NoTemplateFallsBackToChatML) {
    auto c = config_with({});
    EXPECT_EQ(engine::apply_chat_template(c, kMessages, true), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ApplyChatTemplate, BadMessagesAreInvalidArgument) {
    auto c = config_with({});
    EXPECT_THROW(engine::apply_chat_template(c, ojson::object(), true), engine::Error);
}

}  // namespace
