// cmd_perplexity.cpp — `latent perplexity MODEL TEXTFILE`: perplexity over sliding windows.
//
// The text is tokenized once (BOS first when the tokenizer adds one). Windows of --ctx tokens start
// every --stride tokens (default ctx/2); each token is scored exactly once: the first window scores
// all its positions, every later window only the tokens the previous one did not reach (with the
// default stride, its second half), so every scored token after the first window sees at least
// ctx - stride tokens of context. Like llama-perplexity, PPL = exp(mean NLL) and the ± is the
// standard error of the mean NLL carried through exp (PPL · stderr).
// --logits-out FILE: little-endian f32 [scored tokens, vocab], row i = logits that predicted
// targets[i] (listed in FILE.json with their positions).
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "command.h"
#include "engine/error.h"

namespace cli {
namespace {

constexpr const char* kUsage = "perplexity MODEL TEXTFILE [--ctx N] [--kv-cache f32|bf16] [--stride S] "
                                "[--logits-out FILE] [--threads N] [--device auto|cpu|cuda]";

int run_perplexity(Args& args) {
    const int threads = int(args.number_or({"-t", "--threads"}, 0));
    const std::string device = args.option_or({"--device"}, "auto");
    const engine::DType kv_dtype = parse_kv_cache(args);
    const double ctx_opt = args.number_or({"-c", "--ctx"}, 512);
    const double stride_opt = args.number_or({"--stride"}, 0);
    auto logits_out = args.option({"--logits-out"});
    auto pos = args.positionals(2, 2, kUsage);
    ENGINE_CHECK(ctx_opt >= 2, kInvalidArgument, "--ctx must be >= 2, got ", ctx_opt);

    std::ifstream in(pos[1], std::ios::binary);
    ENGINE_CHECK(in.good(), kIo, "cannot read text file '", pos[1], "'");
    std::stringstream ss;
    ss << in.rdbuf();
    LoadedModel m = load_model(pos[0], threads, /*with_tokenizer=*/true, device);
    const std::vector<int32_t> tokens = m.tokenizer->encode(ss.str(), /*add_special_tokens=*/true);
    const int64_t n = int64_t(tokens.size());
    ENGINE_CHECK(n >= 2, kInvalidArgument, "'", pos[1], "' gives only ", n, " token(s); perplexity needs at least 2");
    const int64_t ctx = std::min<int64_t>(int64_t(ctx_opt), n);
    const int64_t stride = stride_opt > 0 ? int64_t(stride_opt) : std::max<int64_t>(1, ctx / 2);
    ENGINE_CHECK(stride <= ctx - 1 || ctx == n, kInvalidArgument, "--stride (", stride, ") must be < --ctx (", ctx, ")");
    const int64_t vocab = m.model->config().vocab_size;

    std::unique_ptr<LogitsWriter> writer;
    if (logits_out) writer = std::make_unique<LogitsWriter>(*logits_out, vocab);
    nlohmann::json targets = nlohmann::json::array(), positions = nlohmann::json::array();

    auto cache = m.model->new_cache(ctx, kv_dtype);
    engine::ForwardOptions fo;
    fo.all_logits = true;
    std::vector<float> logits;  // [T, vocab]
    double sum = 0, sum2 = 0;
    int64_t count = 0, windows = 0, scored_until = 1;  // tokens [1, scored_until) are done
    for (int64_t start = 0; scored_until < n; start += stride) {
        if (start + ctx > n) start = n - ctx;  // last window ends at the text's end
        const int64_t end = start + ctx;
        cache->truncate(0);
        m.model->forward(*cache, std::span<const int32_t>(tokens.data() + start, size_t(ctx)), fo, logits);
        ENGINE_CHECK(int64_t(logits.size()) == ctx * vocab, kInternal, "forward gave ", logits.size(),
                     " logits for a window of ", ctx, " tokens (vocab ", vocab, ")");
        for (int64_t p = std::max(scored_until, start + 1); p < end; ++p) {
            const float* row = logits.data() + (p - 1 - start) * vocab;  // predicts tokens[p]
            double mx = row[0];
            for (int64_t v = 1; v < vocab; ++v) mx = std::max(mx, double(row[v]));
            double z = 0;
            for (int64_t v = 0; v < vocab; ++v) z += std::exp(double(row[v]) - mx);
            const double nll = std::log(z) + mx - double(row[tokens[size_t(p)]]);
            sum += nll;
            sum2 += nll * nll;
            ++count;
            if (writer) {
                writer->write_row(std::span<const float>(row, size_t(vocab)));
                targets.push_back(tokens[size_t(p)]);
                positions.push_back(p);
            }
        }
        scored_until = end;
        ++windows;
        const double ppl_now = std::exp(sum / double(count));
        std::fprintf(stderr, "\r[window %lld: %lld tokens scored, running PPL %.4f]", (long long)windows,
                     (long long)count, ppl_now);
    }
    std::fprintf(stderr, "\n");
    const double mean = sum / double(count);
    const double var = count > 1 ? std::max(0.0, (sum2 / double(count) - mean * mean) * double(count) / double(count - 1)) : 0.0;
    const double stderr_mean = count > 1 ? std::sqrt(var / double(count)) : 0.0;
    const double ppl = std::exp(mean);
    if (writer)
        writer->finish({{"source", "latent perplexity"}, {"ctx", ctx}, {"stride", stride}, {"targets", targets},
                        {"positions", positions}});
    std::printf("tokens %lld, windows %lld (ctx %lld, stride %lld), scored %lld\n", (long long)n, (long long)windows,
                (long long)ctx, (long long)stride, (long long)count);
    std::printf("mean NLL %.6f nats\n", mean);
    std::printf("PPL = %.4f +/- %.4f\n", ppl, ppl * stderr_mean);
    return 0;
}

}  // namespace
}  // namespace cli

LATENT_COMMAND(perplexity, cli::kUsage, "perplexity over sliding windows (like llama-perplexity)",
               cli::run_perplexity);
