// model_decode_bench.cpp — whole-model decode (batch 1) on the CPU backend, for a fixed synthetic
// DeepSeek-V2-style config of ~300M total / ~60M active parameters in bf16, written as a real checkpoint
// (config.json + model.safetensors via save_safetensors) to a temp folder and loaded with Model::load.
//
// Figures, each against a limit measured in the same run (docs/performance.md):
//   decode tokens/s  vs  the bandwidth roofline = read bandwidth / bytes read per token
//                        (active weights in their stored dtype + the MLA cache at that context)
//   prefill FLOP/s   vs  sgemm peak, counting what a prefill of P tokens computes: 2 · (active params −
//                        LM head) · P for the weight GEMMs (the LM head runs for the last token only), plus
//                        the causal attention products 2 · L · H · P(P+1)/2 · (d_qk + d_v)
//
//   latent_model_decode_bench [--threads N] [--prompt P] [--tokens N] [--dir DIR (kept)]
//
// Not a test: it asserts nothing; it prints numbers.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <time.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "bench_common.h"
#include "synthetic_v2.h"
#include "engine/backend.h"
#include "engine/model.h"
#include "engine/weights.h"

using namespace engine;
using namespace engine::bench;

namespace {

double cpu_now_s() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

// The synthetic config. Per MoE layer: MLA 2.1M + 64 experts x 0.44M + shared 0.44M.
using Synth = V2Shape;
constexpr Synth kSynth{32000, 768, 9, 12, 256, 64, 32, 64, 2048, 192, 64, 4, 1, 1};

struct Weights {
    std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
    std::vector<std::vector<uint16_t>> data;
    int64_t total = 0;
    int64_t active = 0;  // read per decoded token (embedding table excluded: one row is read)
};

// Uniform bf16 values with std 1/sqrt(fan_in) (norms around 1), from a fast xorshift generator.
void add(Weights& w, const std::string& name, std::vector<int64_t> shape, bool active, bool is_norm, uint64_t& state) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<uint16_t> v(static_cast<size_t>(n));
    const float amp = is_norm ? 0.1f : std::sqrt(3.0f / float(shape.back()));
    for (int64_t i = 0; i < n; ++i) {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        const float u = float(state >> 40) / float(1 << 24) * 2.0f - 1.0f;  // [-1, 1)
        v[size_t(i)] = f32_to_bf16(is_norm ? 1.0f + amp * u : amp * u);
    }
    w.total += n;
    if (active) w.active += n;
    w.shapes.emplace_back(name, std::move(shape));
    w.data.push_back(std::move(v));
}

Weights make_weights(const Synth& s) {
    Weights w;
    uint64_t st = 0x9e3779b97f4a7c15ull;
    add(w, "model.embed_tokens.weight", {s.V, s.D}, false, false, st);
    add(w, "model.norm.weight", {s.D}, true, true, st);
    add(w, "lm_head.weight", {s.V, s.D}, true, false, st);
    for (int64_t l = 0; l < s.L; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        add(w, p + "input_layernorm.weight", {s.D}, true, true, st);
        add(w, p + "post_attention_layernorm.weight", {s.D}, true, true, st);
        add(w, p + "self_attn.q_proj.weight", {s.H * (s.d_n + s.d_r), s.D}, true, false, st);
        add(w, p + "self_attn.kv_a_proj_with_mqa.weight", {s.r_kv + s.d_r, s.D}, true, false, st);
        add(w, p + "self_attn.kv_a_layernorm.weight", {s.r_kv}, true, true, st);
        add(w, p + "self_attn.kv_b_proj.weight", {s.H * (s.d_n + s.d_v), s.r_kv}, true, false, st);
        add(w, p + "self_attn.o_proj.weight", {s.D, s.H * s.d_v}, true, false, st);
        const std::string m = p + "mlp.";
        if (l < s.first_dense) {
            add(w, m + "gate_proj.weight", {s.I_dense, s.D}, true, false, st);
            add(w, m + "up_proj.weight", {s.I_dense, s.D}, true, false, st);
            add(w, m + "down_proj.weight", {s.D, s.I_dense}, true, false, st);
            continue;
        }
        add(w, m + "gate.weight", {s.E, s.D}, true, false, st);
        for (int64_t e = 0; e < s.E; ++e) {
            const std::string ep = m + "experts." + std::to_string(e) + ".";
            add(w, ep + "gate_proj.weight", {s.I_moe, s.D}, false, false, st);
            add(w, ep + "up_proj.weight", {s.I_moe, s.D}, false, false, st);
            add(w, ep + "down_proj.weight", {s.D, s.I_moe}, false, false, st);
        }
        w.active += s.K * 3 * s.I_moe * s.D;  // top-k routed experts per token
        const int64_t Is = s.n_shared * s.I_moe;
        add(w, m + "shared_experts.gate_proj.weight", {Is, s.D}, true, false, st);
        add(w, m + "shared_experts.up_proj.weight", {Is, s.D}, true, false, st);
        add(w, m + "shared_experts.down_proj.weight", {s.D, Is}, true, false, st);
    }
    return w;
}

}  // namespace

int main(int argc, char** argv) {
    int threads = 0;
    int64_t prompt = 64, n_decode = 32;
    std::string dir_arg;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
        else if (a == "--prompt" && i + 1 < argc) prompt = std::atoll(argv[++i]);
        else if (a == "--tokens" && i + 1 < argc) n_decode = std::atoll(argv[++i]);
        else if (a == "--dir" && i + 1 < argc) dir_arg = argv[++i];
        else {
            std::fprintf(stderr, "usage: %s [--threads N] [--prompt P] [--tokens N] [--dir DIR]\n", argv[0]);
            return 2;
        }
    }
    if (threads <= 0) threads = omp_get_num_procs();
    try {
        const Synth s = kSynth;
        namespace fs = std::filesystem;
        const bool keep = !dir_arg.empty();
        const fs::path dir = keep ? fs::path(dir_arg)
                                  : fs::temp_directory_path() / ("latent_decode_bench_" + std::to_string(::getpid()));
        const Weights w = make_weights(s);
        if (!fs::exists(dir / "model.safetensors")) {
            fs::create_directories(dir);
            std::ofstream(dir / "config.json") << v2_config_json(s, 4096);
            std::vector<std::pair<std::string, TensorView>> list;
            for (size_t i = 0; i < w.shapes.size(); ++i)
                list.emplace_back(w.shapes[i].first,
                                  TensorView::contiguous(const_cast<uint16_t*>(w.data[i].data()), DType::BF16,
                                                         w.shapes[i].second.data(), int(w.shapes[i].second.size())));
            save_safetensors(dir / "model.safetensors", list);
        }
        std::printf("synthetic bf16 DeepSeek-V2-style model: %.1fM total, %.1fM active params per token (%s)\n",
                    double(w.total) * 1e-6, double(w.active) * 1e-6, dir.c_str());

        auto be = make_cpu_backend(threads);
        auto model = Model::load(dir, *be);
        const ModelStats st = model->stats();
        std::printf("backend: %s; Model::stats: %.1fM total, %.1fM active, KV %lld B/token\n", be->name().c_str(),
                    double(st.total_params) * 1e-6, double(st.active_params) * 1e-6,
                    (long long)st.kv_bytes_per_token);

        const double bw = measure_read_bandwidth(size_t(1) << 30, threads, 3);
        const double peak = measure_sgemm_peak(2048, threads, 3);
        std::printf("limit: read bandwidth %.2f GB/s; OpenBLAS sgemm peak %.1f GFLOP/s\n", bw, peak);

        auto cache = model->new_cache(prompt + n_decode + 8);
        std::vector<int32_t> toks(static_cast<size_t>(prompt));
        for (int64_t i = 0; i < prompt; ++i) toks[size_t(i)] = int32_t(2 + (i * 7919) % (s.V - 2));
        std::vector<float> logits;
        ForwardOptions opt;
        // The first prefill after loading is cold: it faults in the memory-mapped weights and first-touches
        // the cache's scratch buffers. It is reported separately; the prefill figure (like llama-bench's
        // pp512, which also warms up first) is a second prefill of the same prompt into the emptied cache.
        const double tc = now_s();
        model->forward(*cache, toks, opt, logits);
        const double t_cold = now_s() - tc;
        cache->truncate(0);
        const double t0 = now_s();
        model->forward(*cache, toks, opt, logits);
        const double t_prefill = now_s() - t0;

        std::vector<double> step;
        const double cpu0 = cpu_now_s();
        for (int64_t i = 0; i < n_decode; ++i) {
            const int32_t next =
                int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());  // greedy
            const int32_t one[1] = {next};
            const double a = now_s();
            model->forward(*cache, one, opt, logits);
            step.push_back(now_s() - a);
        }
        const double cpu_per_token = (cpu_now_s() - cpu0) / double(n_decode);
        std::vector<double> sorted = step;
        std::sort(sorted.begin(), sorted.end());
        const double med = sorted[sorted.size() / 2], best = sorted.front();
        const double ctx = double(prompt + n_decode / 2);
        const double bytes_tok = double(w.active) * 2.0 + ctx * double(st.kv_bytes_per_token);
        const double roof = bw * 1e9 / bytes_tok;
        std::printf("decode: %lld tokens after a %lld-token prompt: median %.2f ms/token (%.1f tok/s), best %.2f ms "
                    "(%.1f tok/s)\n",
                    (long long)n_decode, (long long)prompt, med * 1e3, 1.0 / med, best * 1e3, 1.0 / best);
        std::printf("decode roofline: %.1f MB read per token -> %.1f tok/s; median = %.1f%%, best = %.1f%% of roofline\n",
                    bytes_tok * 1e-6, roof, 100.0 / med / roof, 100.0 / best / roof);
        // On a shared machine the process is often not running; its CPU time per token (divided by the
        // threads) is what the decode would take with the cores to itself.
        const double cpu_wall = cpu_per_token / double(threads);
        std::printf("decode CPU time: %.2f ms/token over %d thread(s) -> %.1f tok/s if the cores were ours = %.1f%% of "
                    "roofline\n",
                    cpu_per_token * 1e3, threads, 1.0 / cpu_wall, 100.0 / cpu_wall / roof);
        // FLOPs of this prefill. Only the last token's logits are computed (ForwardOptions::all_logits is
        // off), so the LM head counts once, not P times.
        const double P = double(prompt), lm_head = double(s.V) * double(s.D);
        const double weight_flop = 2.0 * (double(w.active) - lm_head) * P + 2.0 * lm_head;
        const double attn_flop = 2.0 * double(s.L) * double(s.H) * (P * (P + 1) / 2) * double(s.d_n + s.d_r + s.d_v);
        const double prefill_tps = P / t_prefill;
        const double gf_weights = weight_flop / t_prefill * 1e-9, gf_all = (weight_flop + attn_flop) / t_prefill * 1e-9;
        std::printf("prefill: %lld tokens in %.1f ms (%.1f tok/s): weight GEMMs %.1f GFLOP/s = %.1f%% of sgemm peak; "
                    "with attention %.1f GFLOP/s = %.1f%%\n",
                    (long long)prompt, t_prefill * 1e3, prefill_tps, gf_weights, 100.0 * gf_weights / peak, gf_all,
                    100.0 * gf_all / peak);
        std::printf("prefill, first call after load (cold: weight page faults, scratch first touch): %.1f ms\n",
                    t_cold * 1e3);
        if (!keep) fs::remove_all(dir);
    } catch (const Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
