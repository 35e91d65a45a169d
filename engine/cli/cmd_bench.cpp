// cmd_bench.cpp — `latent bench MODEL [-p 512] [-n 128]`: prefill and decode tokens/s, and decode as
// a fraction of this machine's memory-bandwidth roofline, measured in the same run.
//
// Roofline: batch-1 decode must read every weight a token touches once per token, so
// tokens/s <= bandwidth / bytes_per_token, where bytes_per_token = the weights in memory minus the
// embedding table (one row is read) minus the routed experts a token does not pick (top_k of
// n_routed per MoE layer), plus the KV cache read at the mean decode context. Bandwidth is the best of
// several multi-threaded sequential reads of a buffer far larger than the caches.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>

#include "command.h"
#include "engine/error.h"

namespace cli {
namespace {

constexpr const char* kUsage = "bench MODEL [-p 512] [-n 128] [--threads N] [--device auto|cpu|cuda] [--ctx N] "
                                "[--kv-cache f32|bf16] [--bw-mib 512] [--no-warmup]";

// Read bandwidth in bytes/s: `threads` threads each sum their slice of one buffer; best of `reps`.
// Hand-written because no Debian library measures it; the sum keeps the reads from being optimised out.
double measure_read_bandwidth(size_t bytes, int threads, int reps) {
    const size_t n = bytes / sizeof(double);
    std::vector<double> buf(n);
    for (size_t i = 0; i < n; ++i) buf[i] = double(i & 1023);  // touch every page before timing
    double best = 0, sink = 0;
    std::vector<double> partial(static_cast<size_t>(threads));
    for (int r = 0; r < reps; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t)
            pool.emplace_back([&, t]() {
                const size_t lo = n * size_t(t) / size_t(threads), hi = n * size_t(t + 1) / size_t(threads);
                double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                size_t i = lo;
                for (; i + 4 <= hi; i += 4) {
                    a0 += buf[i];
                    a1 += buf[i + 1];
                    a2 += buf[i + 2];
                    a3 += buf[i + 3];
                }
                for (; i < hi; ++i) a0 += buf[i];
                partial[size_t(t)] = a0 + a1 + a2 + a3;
            });
        for (auto& th : pool) th.join();
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        for (double p : partial) sink += p;
        best = std::max(best, double(n * sizeof(double)) / secs);
    }
    if (sink == -1.0) std::fprintf(stderr, " ");  // keep `sink` alive
    return best;
}

int run_bench(Args& args) {
    const int64_t n_prompt = int64_t(args.number_or({"-p", "--prompt-tokens"}, 512));
    const int64_t n_gen = int64_t(args.number_or({"-n", "--gen-tokens"}, 128));
    const int threads_opt = int(args.number_or({"-t", "--threads"}, 0));
    const std::string device = args.option_or({"--device"}, "cpu");
    const engine::DType kv_dtype = parse_kv_cache(args);
    const double ctx_opt = args.number_or({"-c", "--ctx"}, 0);
    const double bw_mib = args.number_or({"--bw-mib"}, 512);
    const bool warmup = !args.flag({"--no-warmup"});
    auto pos = args.positionals(1, 1, kUsage);
    ENGINE_CHECK(n_prompt >= 1 && n_gen >= 1, kInvalidArgument, "-p and -n must be >= 1");
    ENGINE_CHECK(bw_mib >= 16, kInvalidArgument, "--bw-mib must be >= 16 (a buffer well beyond the caches)");
    const int threads = threads_opt > 0 ? threads_opt : int(std::max(1u, std::thread::hardware_concurrency()));

    const ModelSummary s = summarize_model(pos[0]);
    LoadedModel m = load_model(pos[0], threads_opt, /*with_tokenizer=*/false, device);
    const auto& cfg = m.model->config();
    const int64_t ctx = ctx_opt > 0 ? int64_t(ctx_opt) : n_prompt + n_gen;
    ENGINE_CHECK(n_prompt + n_gen <= ctx, kInvalidArgument, "-p + -n (", n_prompt + n_gen, ") exceeds --ctx ", ctx);

    std::printf("model      %s (%s)\n", pos[0].c_str(), cfg.architecture.c_str());
    std::printf("backend    %s\n", m.model->backend().name().c_str());
    if (m.model->backend().device() != engine::Device::CPU)
        std::printf("note       the roofline below is the host's memory bandwidth; it does not bound a GPU\n");
    std::printf("params     total %s, active %s; weights %s\n", with_commas(s.total_params).c_str(),
                with_commas(s.active_params).c_str(), human_bytes(double(s.weight_bytes)).c_str());

    const double bw = measure_read_bandwidth(size_t(bw_mib * 1024 * 1024), threads, 5);
    std::printf("memory     read bandwidth %.2f GB/s (%d threads, %.0f MiB buffer, best of 5)\n", bw / 1e9, threads, bw_mib);

    std::mt19937 rng(1);
    std::uniform_int_distribution<int32_t> pick(0, int32_t(cfg.vocab_size - 1));
    std::vector<int32_t> prompt(static_cast<size_t>(n_prompt));
    for (auto& t : prompt) t = pick(rng);
    // Warm-up, as llama-bench does before pp512: the first forward after loading faults in the
    // memory-mapped weights and first-touches scratch buffers (on a 2-vCPU VM that doubled a 512-token
    // prefill of a 300M-parameter model). It runs in its own session, freed before the timed one.
    if (warmup) {
        engine::Session warm(*m.model, ctx, kv_dtype);
        const auto t0 = std::chrono::steady_clock::now();
        warm.set_tokens(prompt);
        const double cold = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("warm-up    prefill of the same %lld tokens right after loading (cold): %.3f s\n",
                    (long long)n_prompt, cold);
    }
    engine::Session session(*m.model, ctx, kv_dtype);
    const std::vector<float>* logits = &session.set_tokens(prompt);
    for (int64_t i = 0; i < n_gen; ++i) {
        const int32_t next = int32_t(std::max_element(logits->begin(), logits->end()) - logits->begin());
        logits = &session.append(std::span<const int32_t>(&next, 1));
    }
    const auto& tp = session.throughput();
    const int64_t kv_bytes_per_token = session.kv_stats().bytes_per_token;
    const double mean_ctx = double(n_prompt) + double(n_gen) / 2.0;
    const double bytes_per_token = double(s.decode_read_bytes) + double(kv_bytes_per_token) * mean_ctx;
    const double roofline = bw / bytes_per_token;
    std::printf("prefill    %lld tokens in %.3f s: %.1f tok/s\n", (long long)tp.prefill_tokens, tp.prefill_seconds,
                tp.prefill_tps());
    std::printf("decode     %lld tokens in %.3f s: %.2f tok/s\n", (long long)tp.decode_tokens, tp.decode_seconds,
                tp.decode_tps());
    std::printf("roofline   %s weights + %s %s KV (mean context %.0f) read per decoded token -> %.2f tok/s at "
                "%.2f GB/s\n",
                human_bytes(double(s.decode_read_bytes)).c_str(),
                human_bytes(double(kv_bytes_per_token) * mean_ctx).c_str(),
                engine::kv_cache_dtype_name(session.kv_stats().dtype), mean_ctx, roofline, bw / 1e9);
    std::printf("decode = %.1f%% of the memory-bandwidth roofline\n", 100.0 * tp.decode_tps() / roofline);
    const engine::Backend::CaptureStats cs = m.model->backend().capture_stats();
    if (m.model->backend().device() != engine::Device::CPU)
        std::printf("graphs     %lld decode steps ran as one CUDA Graph each (%lld built, %lld updated in place), "
                    "%lld ran op by op after an abandoned capture%s\n",
                    (long long)cs.launched, (long long)cs.instantiated, (long long)cs.updated, (long long)cs.aborted,
                    cs.disabled ? "; capture then disabled" : "");
    return 0;
}

}  // namespace
}  // namespace cli

LATENT_COMMAND(bench, cli::kUsage, "prefill/decode tokens/s vs the memory-bandwidth roofline",
               cli::run_bench);
