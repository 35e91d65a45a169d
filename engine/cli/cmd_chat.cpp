// cmd_chat.cpp — `latent chat MODEL`: an interactive conversation on stdin/stdout.
//
// Each turn renders the whole conversation with the chat template and hands it to one Session, which
// keeps the longest common prefix in its KV cache, so a turn prefills only its new tokens (the
// reuse is printed after each answer). Commands: /reset, /system TEXT, /exit (or end of input).
// Ctrl-C while an answer streams stops that answer (the generate() callback cancels); at the prompt
// it quits as usual.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>

#include "command.h"
#include "engine/chat_template.h"
#include "engine/error.h"

namespace cli {
namespace {

// Signal handlers can only talk through globals; these two are the CLI's only ones.
volatile std::sig_atomic_t g_generating = 0;
volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void on_sigint(int sig) {
    if (!g_generating) {  // at the prompt: quit as the default action would
        std::signal(sig, SIG_DFL);
        std::raise(sig);
        return;
    }
    g_interrupted = 1;
}

constexpr const char* kUsage =
    "chat MODEL [--system TEXT] [-n N] [--temp T] [--top-k K] [--top-p P] [--min-p M] [--repeat-penalty R] "
    "[--seed S] [--stop STR]... [--ctx N] [--kv-cache f32|bf16] [--threads N] [--device auto|cpu|cuda]";

int run_chat(Args& args) {
    auto system = args.option({"--system"});
    const int threads = int(args.number_or({"-t", "--threads"}, 0));
    const std::string device = args.option_or({"--device"}, "auto");
    const engine::DType kv_dtype = parse_kv_cache(args);
    engine::GenerateOptions opt = parse_generate_options(args, 512);
    opt.context_policy = engine::ContextPolicy::kStopAtLimit;
    const double ctx_opt = args.number_or({"-c", "--ctx"}, 0);
    auto pos = args.positionals(1, 1, kUsage);

    LoadedModel m = load_model(pos[0], threads, /*with_tokenizer=*/true, device);
    const auto& cfg = m.model->config();
    const int64_t ctx = ctx_opt > 0 ? int64_t(ctx_opt)
                                    : std::min<int64_t>(4096, cfg.max_position_embeddings > 0 ? cfg.max_position_embeddings : 4096);
    engine::Session session(*m.model, ctx, kv_dtype);
    nlohmann::json messages = nlohmann::json::array();
    auto start_conversation = [&]() {
        messages = nlohmann::json::array();
        if (system) messages.push_back({{"role", "system"}, {"content", *system}});
    };
    start_conversation();
    std::fprintf(stderr, "latent chat: %s, context %lld tokens (%s KV cache). /reset, /system TEXT, /exit\n",
                 pos[0].c_str(), (long long)ctx, engine::kv_cache_dtype_name(kv_dtype));

    std::signal(SIGINT, on_sigint);
    std::string line;
    while (true) {
        std::fprintf(stderr, "> ");
        std::fflush(stderr);
        if (!std::getline(std::cin, line)) break;
        if (line.empty()) continue;
        if (line == "/exit" || line == "/quit") break;
        if (line == "/reset") {
            start_conversation();
            session.reset();
            std::fprintf(stderr, "[conversation cleared]\n");
            continue;
        }
        if (line.rfind("/system", 0) == 0) {
            std::string text = line.size() > 7 ? line.substr(line.find_first_not_of(' ', 7) == std::string::npos ? line.size() : line.find_first_not_of(' ', 7)) : "";
            system = text.empty() ? std::nullopt : std::optional<std::string>(text);
            start_conversation();
            std::fprintf(stderr, "[system prompt %s; conversation restarted]\n", system ? "set" : "cleared");
            continue;
        }
        messages.push_back({{"role", "user"}, {"content", line}});
        try {
            const std::string rendered = engine::apply_chat_template(*m.tokenizer, messages, true);
            const std::vector<int32_t> ids = m.tokenizer->encode(rendered, false);
            g_interrupted = 0;
            g_generating = 1;
            engine::GenerateResult result;
            try {
                result = engine::generate(session, *m.tokenizer, ids, opt, [](const engine::TokenEvent& ev) {
                    std::fwrite(ev.text.data(), 1, ev.text.size(), stdout);
                    std::fflush(stdout);
                    return g_interrupted == 0;
                });
            } catch (...) {
                g_generating = 0;
                throw;
            }
            g_generating = 0;
            std::printf("\n");
            std::fflush(stdout);
            messages.push_back({{"role", "assistant"}, {"content", result.text}});
            const int64_t ran = result.throughput.prefill_tokens;
            std::fprintf(stderr, "[prompt %zu tokens: %lld reused from the cache, %lld prefilled; %zu generated, stop: %s; "
                                 "decode %.1f tok/s; KV %lld/%lld tokens]\n",
                         ids.size(), (long long)(int64_t(ids.size()) - ran), (long long)ran, result.tokens.size(),
                         engine::stop_reason_name(result.stop), result.throughput.decode_tps(),
                         (long long)session.kv_stats().tokens, (long long)ctx);
            if (result.stop == engine::StopReason::kContextFull)
                std::fprintf(stderr, "[the context window is full: /reset to start over, or restart with a larger --ctx]\n");
        } catch (const engine::Error& e) {
            messages.erase(messages.end() - 1);  // drop the turn that failed
            if (e.kind() != engine::ErrorKind::kContextFull && e.kind() != engine::ErrorKind::kTemplate) throw;
            std::fprintf(stderr, "[%s]\n", e.message().c_str());
        }
    }
    return 0;
}

}  // namespace
}  // namespace cli

LATENT_COMMAND(chat, cli::kUsage, "interactive chat (/reset, /system TEXT, /exit) with KV prefix reuse",
               cli::run_chat);
