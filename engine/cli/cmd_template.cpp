// cmd_template.cpp — `latent template MODEL_OR_TOKENIZER_CONFIG CHAT.json [--add-generation-prompt]`:
// prints the prompt the model's chat template renders for a conversation, byte for byte (for users
// debugging templates, and for checks against transformers).
//
// MODEL_OR_TOKENIZER_CONFIG: a model folder (tokenizer_config.json, plus chat_template.jinja when
// present), a tokenizer_config.json, or a bare .jinja file. Only the config is read (not the vocabulary).
// CHAT.json: a messages array, or an object {"messages": [...], "tools": [...], other template variables}.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "command.h"
#include "engine/chat_template.h"
#include "engine/error.h"
#include "engine/tokenizer.h"

namespace {

using ojson = nlohmann::ordered_json;
namespace fs = std::filesystem;

constexpr const char* kUsage =
    "template MODEL_OR_TOKENIZER_CONFIG CHAT.json [--add-generation-prompt] [--template NAME] [--now UNIX_SECONDS]";

std::string read_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw engine::Error(engine::ErrorKind::kIo, path.string() + ": cannot open for reading");
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

ojson read_json(const fs::path& path) {
    try {
        return ojson::parse(read_text(path));
    } catch (const ojson::exception& e) {  // parse_error, or out_of_range (number overflow)
        throw engine::Error(engine::ErrorKind::kBadFile, path.string() + ": not valid JSON: " + e.what());
    }
}

// A special token is a string, an AddedToken object {"content": ...}, or null.
std::optional<std::string> token_field(const ojson& cfg, const char* key, const fs::path& file) {
    if (!cfg.contains(key) || cfg[key].is_null()) return std::nullopt;
    const ojson& v = cfg[key];
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
    throw engine::Error(engine::ErrorKind::kBadFile, file.string() + ": field '" + key +
                                                         "' must be a string or an object with \"content\"");
}

engine::TokenizerConfig load_config(const fs::path& arg) {
    engine::TokenizerConfig config;
    if (arg.extension() == ".jinja") {
        config.chat_templates.push_back({"default", read_text(arg)});
        return config;
    }
    fs::path file = arg, folder = arg.parent_path();
    if (fs::is_directory(arg)) {
        folder = arg;
        file = arg / "tokenizer_config.json";
        if (!fs::exists(file) && !fs::exists(arg / "chat_template.jinja"))
            throw engine::Error(engine::ErrorKind::kIo, arg.string() + ": no tokenizer_config.json or chat_template.jinja in this folder");
    }
    if (!fs::is_directory(arg) && !fs::exists(file))
        throw engine::Error(engine::ErrorKind::kIo, arg.string() + ": no such file or folder");
    if (fs::exists(file)) {
        const ojson cfg = read_json(file);
        if (!cfg.is_object()) throw engine::Error(engine::ErrorKind::kBadFile, file.string() + ": expected a JSON object");
        config.bos_token = token_field(cfg, "bos_token", file);
        config.eos_token = token_field(cfg, "eos_token", file);
        config.pad_token = token_field(cfg, "pad_token", file);
        config.unk_token = token_field(cfg, "unk_token", file);
        if (cfg.contains("chat_template") && !cfg["chat_template"].is_null()) {
            const ojson& t = cfg["chat_template"];
            if (t.is_string()) {
                config.chat_templates.push_back({"default", t.get<std::string>()});
            } else if (t.is_array()) {
                for (const auto& e : t) {
                    if (!e.is_object() || !e.contains("name") || !e.contains("template") || !e["name"].is_string() ||
                        !e["template"].is_string())
                        throw engine::Error(engine::ErrorKind::kBadFile,
                                            file.string() + ": chat_template list entries need string \"name\" and \"template\"");
                    config.chat_templates.push_back({e["name"].get<std::string>(), e["template"].get<std::string>()});
                }
            } else {
                throw engine::Error(engine::ErrorKind::kBadFile, file.string() + ": chat_template must be a string or a list");
            }
        }
    }
    // transformers prefers a separate chat_template.jinja next to the config.
    const fs::path jinja = folder / "chat_template.jinja";
    if (!folder.empty() && fs::exists(jinja)) {
        std::erase_if(config.chat_templates, [](const engine::NamedTemplate& t) { return t.name == "default"; });
        config.chat_templates.insert(config.chat_templates.begin(), {"default", read_text(jinja)});
    }
    return config;
}

int run_template(cli::Args& args) {
    bool agp = args.flag({"--add-generation-prompt", "-g"});
    const std::string name = args.option_or({"--template"}, "");
    const auto now = args.option({"--now"});
    const auto pos = args.positionals(2, 2, kUsage);

    const engine::TokenizerConfig config = load_config(pos[0]);
    const ojson chat = read_json(pos[1]);
    ojson messages, extra = ojson::object();
    if (chat.is_array()) {
        messages = chat;
    } else if (chat.is_object() && chat.contains("messages")) {
        for (auto it = chat.begin(); it != chat.end(); ++it) {
            if (it.key() == "messages") messages = it.value();
            else if (it.key() == "add_generation_prompt") agp = agp || it.value().get<bool>();
            else extra[it.key()] = it.value();
        }
    } else {
        throw engine::Error(engine::ErrorKind::kBadFile,
                            pos[1] + ": expected a messages array or an object with \"messages\"");
    }
    if (!messages.is_array())
        throw engine::Error(engine::ErrorKind::kBadFile, pos[1] + ": \"messages\" must be an array");

    engine::TemplateHooks hooks;
    if (now) {
        try {
            hooks.fixed_now = std::time_t(std::stoll(*now));
        } catch (const std::exception&) {
            throw engine::Error(engine::ErrorKind::kInvalidArgument, "--now expects Unix seconds, got '" + *now + "'");
        }
    }
    if (config.chat_templates.empty())
        std::fprintf(stderr, "note: %s has no chat_template; using the default ChatML template\n", pos[0].c_str());
    const std::string out = engine::apply_chat_template(config, messages, agp, extra, name, hooks);
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
}

}  // namespace

LATENT_COMMAND(template, kUsage, "print the prompt a model's chat template renders for CHAT.json (as transformers does)",
               run_template);
