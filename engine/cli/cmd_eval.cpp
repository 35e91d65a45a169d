// cmd_eval.cpp — `latent eval MODEL HELDOUT.jsonl`: held-out exact match. For every conversation
// ({"messages": [...]}, chat JSONL as written by resources/recipes/make_default_data.py) the messages
// before the last assistant turn are rendered with the model's chat template (generation prompt on),
// the model answers greedily (temperature 0), and the answer counts as correct when it equals the
// reference assistant text after trimming surrounding whitespace. Prints the accuracy and writes one
// JSON line per item (prompt, reference, answer, correct) to --out.
#include <cstdio>
#include <fstream>
#include <string>

#include "command.h"
#include "engine/chat_template.h"
#include "engine/error.h"

namespace cli {
namespace {

constexpr const char* kUsage =
    "eval MODEL HELDOUT.jsonl [-n MAX_TOKENS] [--limit K] [--out RESULTS.jsonl] [--threads N] [--device auto|cpu|cuda] "
    "[--kv-cache f32|bf16]";

std::string trim(const std::string& s) {
    const char* ws = " \t\r\n";
    const size_t b = s.find_first_not_of(ws);
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

int run_eval(Args& args) {
    const int max_tokens = int(args.number_or({"-n", "--max-tokens"}, 64));
    const long limit = long(args.number_or({"--limit"}, 0));
    const int threads = int(args.number_or({"-t", "--threads"}, 0));
    const std::string device = args.option_or({"--device"}, "cpu");
    const engine::DType kv_dtype = parse_kv_cache(args);
    auto out_opt = args.option({"-o", "--out"});
    auto pos = args.positionals(2, 2, kUsage);
    ENGINE_CHECK(max_tokens > 0, kInvalidArgument, "-n must be > 0, got ", max_tokens);
    const std::string heldout = pos[1];
    std::ifstream in(heldout);
    ENGINE_CHECK(in.good(), kIo, "cannot read the held-out file '", heldout, "'");

    LoadedModel m = load_model(pos[0], threads, /*with_tokenizer=*/true, device);
    const auto& cfg = m.model->config();
    const int64_t ctx = std::min<int64_t>(2048, cfg.max_position_embeddings > 0 ? cfg.max_position_embeddings : 2048);
    engine::Session session(*m.model, ctx, kv_dtype);
    engine::GenerateOptions opt;
    opt.sampling.temperature = 0;  // greedy
    opt.max_tokens = max_tokens;
    opt.stop_on_eos = true;
    opt.context_policy = engine::ContextPolicy::kStopAtLimit;

    std::ofstream results;
    const std::string out_path = out_opt ? *out_opt : "";
    if (!out_path.empty()) {
        results.open(out_path);
        ENGINE_CHECK(results.good(), kIo, "cannot write the results file '", out_path, "'");
    }
    long n = 0, correct = 0, line_no = 0;
    for (std::string line; std::getline(in, line);) {
        ++line_no;
        if (trim(line).empty()) continue;
        if (limit > 0 && n >= limit) break;
        nlohmann::json row;
        try {
            row = nlohmann::json::parse(line);
        } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range (number overflow)
            ENGINE_THROW(kBadFile, heldout, ":", line_no, ": invalid JSON (", e.what(), ")");
        }
        ENGINE_CHECK(row.contains("messages") && row["messages"].is_array() && !row["messages"].empty(), kBadFile,
                     heldout, ":", line_no, ": expected {\"messages\": [...]} with at least one message");
        nlohmann::json messages = row["messages"];
        const nlohmann::json& last = messages.back();
        ENGINE_CHECK(last.value("role", "") == "assistant" && last.contains("content") && last["content"].is_string(),
                     kBadFile, heldout, ":", line_no, ": the last message must be the assistant's reference answer");
        const std::string reference = last["content"].get<std::string>();
        messages.erase(messages.size() - 1);
        const std::string prompt_text = engine::apply_chat_template(*m.tokenizer, messages, true);
        std::vector<int32_t> ids = m.tokenizer->encode(prompt_text, false);
        session.reset();
        engine::GenerateResult r = engine::generate(session, *m.tokenizer, ids, opt);
        const std::string answer = trim(r.text);
        const bool ok = answer == trim(reference);
        ++n;
        correct += ok ? 1 : 0;
        if (results.is_open()) {
            nlohmann::json rec = {{"line", line_no},
                                  {"prompt", messages.back().value("content", "")},
                                  {"reference", reference},
                                  {"answer", answer},
                                  {"correct", ok}};
            results << rec.dump() << "\n";
        }
    }
    ENGINE_CHECK(n > 0, kInvalidArgument, heldout, " holds no conversations to evaluate");
    std::printf("accuracy %.4f (%ld/%ld exact match)\n", double(correct) / double(n), correct, n);
    if (!out_path.empty()) std::fprintf(stderr, "per-item results written to %s\n", out_path.c_str());
    return 0;
}

}  // namespace
}  // namespace cli

LATENT_COMMAND(eval, cli::kUsage, "held-out exact match: greedy answers vs reference (chat JSONL)", cli::run_eval);
