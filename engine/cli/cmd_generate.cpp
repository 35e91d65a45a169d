// cmd_generate.cpp — `latent generate MODEL -p PROMPT`: streams a completion to stdout.
//
// --chat wraps the prompt in the model's chat template (apply_chat_template, generation prompt on).
// --logits-out FILE writes the raw fp32 logits of every step, little-endian [steps, vocab] with no
// header: row i holds the logits generated token i was sampled from. FILE.json (the sidecar) gives
// the shape, dtype, prompt ids and generated ids. Timing and the stop reason go to stderr.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "command.h"
#include "engine/chat_template.h"
#include "engine/error.h"

namespace cli {
namespace {

constexpr const char* kUsage =
    "generate MODEL -p PROMPT [-f FILE] [--chat] [--system TEXT] [-n N] [--temp T] [--top-k K] [--top-p P] "
    "[--min-p M] [--repeat-penalty R] [--repeat-last-n N] [--seed S] [--stop STR]... [--ignore-eos] "
    "[--logits-out FILE] [--ctx N] [--kv-cache f32|bf16] [--threads N] [--device auto|cpu|cuda]";

int run_generate(Args& args) {
    auto prompt = args.option({"-p", "--prompt"});
    auto prompt_file = args.option({"-f", "--file"});
    const bool chat = args.flag({"--chat"});
    auto system = args.option({"--system"});
    const bool ignore_eos = args.flag({"--ignore-eos"});
    auto logits_out = args.option({"--logits-out"});
    const int threads = int(args.number_or({"-t", "--threads"}, 0));
    const std::string device = args.option_or({"--device"}, "auto");
    const engine::DType kv_dtype = parse_kv_cache(args);
    engine::GenerateOptions opt = parse_generate_options(args, 128);
    const double ctx_opt = args.number_or({"-c", "--ctx"}, 0);
    auto pos = args.positionals(1, 1, kUsage);
    if (prompt_file) {
        std::ifstream in(*prompt_file, std::ios::binary);
        ENGINE_CHECK(in.good(), kIo, "cannot read prompt file '", *prompt_file, "'");
        std::stringstream ss;
        ss << in.rdbuf();
        prompt = ss.str();
    }
    ENGINE_CHECK(prompt.has_value(), kInvalidArgument, "no prompt: pass -p TEXT or -f FILE\nusage: latent ", kUsage);
    opt.stop_on_eos = !ignore_eos;
    opt.context_policy = engine::ContextPolicy::kError;

    LoadedModel m = load_model(pos[0], threads, /*with_tokenizer=*/true, device);
    const auto& cfg = m.model->config();
    int64_t ctx = ctx_opt > 0 ? int64_t(ctx_opt) : std::min<int64_t>(4096, cfg.max_position_embeddings > 0 ? cfg.max_position_embeddings : 4096);

    std::vector<int32_t> ids;
    if (chat) {
        nlohmann::json messages = nlohmann::json::array();
        if (system) messages.push_back({{"role", "system"}, {"content", *system}});
        messages.push_back({{"role", "user"}, {"content", *prompt}});
        ids = m.tokenizer->encode(engine::apply_chat_template(*m.tokenizer, messages, true), false);
    } else {
        ids = m.tokenizer->encode(*prompt, /*add_special_tokens=*/true);
    }
    ENGINE_CHECK(!ids.empty(), kInvalidArgument, "the prompt encodes to no tokens; give a non-empty prompt");
    if (ctx_opt <= 0) ctx = std::max<int64_t>(ctx, int64_t(ids.size()) + opt.max_tokens);

    std::unique_ptr<LogitsWriter> writer;
    if (logits_out) {
        writer = std::make_unique<LogitsWriter>(*logits_out, cfg.vocab_size);
        opt.on_logits = [&](std::span<const float> l) { writer->write_row(l); };
    }
    engine::Session session(*m.model, ctx, kv_dtype);
    auto result = engine::generate(session, *m.tokenizer, ids, opt, [](const engine::TokenEvent& ev) {
        std::fwrite(ev.text.data(), 1, ev.text.size(), stdout);
        std::fflush(stdout);
        return true;
    });
    std::printf("\n");
    if (writer)
        writer->finish({{"source", "latent generate"}, {"prompt_tokens", ids}, {"tokens", result.tokens}});
    std::fprintf(stderr, "[%zu prompt tokens, %zu generated, stop: %s; prefill %.1f tok/s, decode %.1f tok/s]\n",
                 ids.size(), result.tokens.size(), engine::stop_reason_name(result.stop),
                 result.throughput.prefill_tps(), result.throughput.decode_tps());
    return 0;
}

}  // namespace
}  // namespace cli

LATENT_COMMAND(generate, cli::kUsage, "stream a completion (--chat, sampling, --logits-out)",
               cli::run_generate);
