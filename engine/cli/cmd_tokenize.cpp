// cmd_tokenize.cpp — `latent tokenize` and `latent detokenize`: run a model's tokenizer from the shell.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "command.h"
#include "engine/error.h"
#include "engine/tokenizer.h"

namespace {

using nlohmann::json;

std::string read_all(const std::string& path) {
    std::ostringstream ss;
    if (path == "-") {
        ss << std::cin.rdbuf();
        return ss.str();
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) throw engine::Error(engine::ErrorKind::kIo, path + ": cannot open for reading");
    ss << in.rdbuf();
    return ss.str();
}

int run_tokenize(cli::Args& args) {
    const char* usage = "tokenize MODEL_OR_TOKENIZER (-p TEXT | -f FILE) [--ids] [--add-special]";
    const auto prompt = args.option({"-p", "--prompt"});
    const auto file = args.option({"-f", "--file"});
    const bool ids_only = args.flag({"--ids"});
    const bool add_special = args.flag({"--add-special"});
    const auto pos = args.positionals(1, 1, usage);
    if (prompt.has_value() == file.has_value())
        throw engine::Error(engine::ErrorKind::kInvalidArgument,
                            std::string("give the text with exactly one of -p TEXT or -f FILE\nusage: latent ") + usage);
    const auto tok = engine::Tokenizer::from_path(pos[0]);
    const std::string text = prompt ? *prompt : read_all(*file);
    const auto ids = tok->encode(text, add_special);
    std::printf("%s\n", json(ids).dump().c_str());
    if (!ids_only) {
        // What each token stands for; a token holding part of a UTF-8 character shows U+FFFD.
        json pieces = json::array();
        for (int32_t id : ids) pieces.push_back(tok->token_bytes(id));
        std::printf("%s\n", pieces.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
        std::fprintf(stderr, "%zu tokens, %zu bytes\n", ids.size(), text.size());
    }
    return 0;
}

// "[1, 2, 3]", "1,2,3" or "1 2 3".
std::vector<int32_t> parse_ids(const std::string& s) {
    std::string t = s;
    const auto first = t.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && t[first] != '[') t = "[" + t + "]";
    for (char& c : t)
        if (c == ' ' || c == '\t' || c == '\n') c = ',';
    // collapse empty fields left by repeated separators
    std::string clean;
    for (char c : t)
        if (!(c == ',' && (clean.empty() || clean.back() == ',' || clean.back() == '['))) clean.push_back(c);
    while (clean.size() > 1 && clean[clean.size() - 2] == ',') clean.erase(clean.size() - 2, 1);
    try {
        return json::parse(clean).get<std::vector<int32_t>>();
    } catch (const std::exception&) {
        throw engine::Error(engine::ErrorKind::kInvalidArgument,
                            "token ids should be a JSON array like [1, 2, 3] or a list like 1,2,3; got '" + s + "'");
    }
}

int run_detokenize(cli::Args& args) {
    const char* usage = "detokenize MODEL_OR_TOKENIZER IDS_JSON_OR_LIST [--skip-special]";
    const bool skip = args.flag({"--skip-special"});
    const auto pos = args.positionals(2, 2, usage);
    const auto tok = engine::Tokenizer::from_path(pos[0]);
    const auto ids = parse_ids(pos[1]);
    for (int32_t id : ids)
        if (id < 0 || static_cast<size_t>(id) >= tok->vocab_size())
            throw engine::Error(engine::ErrorKind::kInvalidArgument,
                                "token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                                    std::to_string(tok->vocab_size() - 1) + ")");
    const std::string text = tok->decode(ids, skip);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::printf("\n");
    return 0;
}

}  // namespace

LATENT_COMMAND(tokenize, "tokenize MODEL_OR_TOKENIZER (-p TEXT | -f FILE) [--ids]",
               "token ids (JSON) and pieces of a text", run_tokenize);
LATENT_COMMAND(detokenize, "detokenize MODEL_OR_TOKENIZER IDS_JSON_OR_LIST", "text of token ids", run_detokenize);
