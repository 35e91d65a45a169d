// gpu_decode_bench.cpp — batch-1 decode of a DeepSeek-V2-Lite-shaped model with random bf16 weights on
// the GPU backend, against the bytes roofline measured in the same run.
//
//   limit      the backend's device-to-device copy bandwidth (a 1 GiB contiguous copy: cudaMemcpyAsync;
//              read + write bytes counted), best of 5
//   figure     decode tokens/s vs that bandwidth / bytes read per token, where bytes per token = the
//              active weights in bf16 (every dense weight, the router, the LM head, the shared experts and
//              the top-k routed experts; the embedding table contributes one row) + the MLA latent cache
//              at the mean context of the run; with decode steps as CUDA Graphs (the default) and op by
//              op (ForwardOptions::capture_decode = false), same tokens; then again with a BF16 KV cache
//              (`--kv-cache bf16`: half the cache bytes), graphs only
//
// The weights never touch the disk: a synthetic WeightStore makes each tensor on demand (uniform values
// with std 1/sqrt(fan_in), seeded by the tensor's name) into a small ring of host buffers, and the CUDA
// backend uploads it before the next one is made. 15.7B parameters (31 GB of bf16) need about 32 GB of
// GPU memory.
//
//   latent_gpu_decode_bench [--shape v2-lite|tiny] [--prompt P] [--tokens N] [--device cuda|cpu]
//
// Also printed, against the same limit: loading an FP8 checkpoint, Backend::dequantize_fp8 of a
// [7168 x 18432] E4M3 weight with 128x128 block scales (DeepSeek-V3's largest dense shape; 1 byte read +
// 2 written per weight); and the step's dense GEMVs one by one (M = 1, bf16: q_proj, kv_a_proj, o_proj,
// the dense layer, lm_head) with our kernel and, on a GPU, with cuBLAS (LATENT_CUDA_GEMV=cublas).
//
// --shape tiny (a few MB) with --device cpu checks the program itself on a machine without a GPU. Not a
// test: it asserts nothing; it prints numbers.
#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "bench_common.h"
#include "synthetic_v2.h"
#include "engine/backend.h"
#include "engine/config.h"
#include "engine/model.h"
#include "engine/weights.h"

using namespace engine;
using namespace engine::bench;

namespace {

using Shape = V2Shape;
// DeepSeek-V2-Lite's config.json (15.7B total, 2.4B active).
constexpr Shape kV2Lite{102400, 2048, 27, 16, 512, 128, 64, 128, 10944, 1408, 64, 6, 2, 1};
constexpr Shape kTiny{512, 64, 3, 4, 32, 16, 8, 16, 96, 32, 8, 2, 1, 1};

// Every tensor name and shape of the checkpoint (HF names).
std::map<std::string, std::vector<int64_t>> tensor_shapes(const Shape& s) {
    std::map<std::string, std::vector<int64_t>> t;
    t["model.embed_tokens.weight"] = {s.V, s.D};
    t["model.norm.weight"] = {s.D};
    t["lm_head.weight"] = {s.V, s.D};
    for (int64_t l = 0; l < s.L; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        t[p + "input_layernorm.weight"] = {s.D};
        t[p + "post_attention_layernorm.weight"] = {s.D};
        t[p + "self_attn.q_proj.weight"] = {s.H * (s.d_n + s.d_r), s.D};
        t[p + "self_attn.kv_a_proj_with_mqa.weight"] = {s.r_kv + s.d_r, s.D};
        t[p + "self_attn.kv_a_layernorm.weight"] = {s.r_kv};
        t[p + "self_attn.kv_b_proj.weight"] = {s.H * (s.d_n + s.d_v), s.r_kv};
        t[p + "self_attn.o_proj.weight"] = {s.D, s.H * s.d_v};
        const std::string m = p + "mlp.";
        auto mlp = [&](const std::string& q, int64_t I) {
            t[q + "gate_proj.weight"] = {I, s.D};
            t[q + "up_proj.weight"] = {I, s.D};
            t[q + "down_proj.weight"] = {s.D, I};
        };
        if (l < s.first_dense) {
            mlp(m, s.I_dense);
            continue;
        }
        t[m + "gate.weight"] = {s.E, s.D};
        for (int64_t e = 0; e < s.E; ++e) mlp(m + "experts." + std::to_string(e) + ".", s.I_moe);
        mlp(m + "shared_experts.", s.n_shared * s.I_moe);
    }
    return t;
}

// Tensors made on demand. ring == true: into one of 4 reused host buffers (the CUDA backend uploads a
// weight before the loader asks for the next; the loader holds at most two views at once); false: each
// tensor kept (the CPU backend aliases host weights).
class SyntheticStore final : public WeightStore {
public:
    SyntheticStore(std::map<std::string, std::vector<int64_t>> shapes, bool ring)
        : shapes_(std::move(shapes)), ring_(ring) {}
    bool has(std::string_view name) const override { return shapes_.count(std::string(name)) > 0; }
    TensorView get(std::string_view name) const override {
        auto it = shapes_.find(std::string(name));
        if (it == shapes_.end()) ENGINE_THROW(kBadFile, "synthetic: tensor '", name, "' is missing");
        const std::vector<int64_t>& shape = it->second;
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        std::vector<uint16_t>& buf = ring_ ? ring_bufs_[next_++ % ring_bufs_.size()] : kept_[it->first];
        if (!ring_ && !buf.empty()) return view(buf, shape);
        buf.resize(size_t(n));
        fill(buf, it->first, shape);
        return view(buf, shape);
    }
    TensorView get(std::string_view name, std::initializer_list<int64_t>) const override { return get(name); }
    std::vector<TensorInfo> tensors() const override {
        std::vector<TensorInfo> out;
        for (const auto& [k, v] : shapes_) out.push_back({k, DType::BF16, v, "synthetic"});
        return out;
    }
    const std::map<std::string, std::string>& metadata() const override { return meta_; }
    std::filesystem::path root() const override { return "synthetic"; }

private:
    static TensorView view(std::vector<uint16_t>& buf, const std::vector<int64_t>& shape) {
        return TensorView::contiguous(buf.data(), DType::BF16, shape.data(), int(shape.size()));
    }
    // Uniform in ±sqrt(3/fan_in) (norm weights: 1 ± 0.1), xorshift per 64K-element chunk, in parallel.
    static void fill(std::vector<uint16_t>& buf, const std::string& name, const std::vector<int64_t>& shape) {
        uint64_t seed = 1469598103934665603ull;
        for (char c : name) seed = (seed ^ uint64_t(uint8_t(c))) * 1099511628211ull;
        const bool norm = shape.size() == 1;
        const float amp = norm ? 0.1f : std::sqrt(3.0f / float(shape.back()));
        const int64_t n = int64_t(buf.size()), chunk = 1 << 16;
#pragma omp parallel for schedule(static)
        for (int64_t c0 = 0; c0 < n; c0 += chunk) {
            uint64_t st = seed ^ (uint64_t(c0 / chunk + 1) * 0x9e3779b97f4a7c15ull);
            for (int64_t i = c0; i < std::min(n, c0 + chunk); ++i) {
                st ^= st << 13, st ^= st >> 7, st ^= st << 17;
                const float u = float(st >> 40) / float(1 << 24) * 2.0f - 1.0f;  // [-1, 1)
                buf[size_t(i)] = f32_to_bf16(norm ? 1.0f + amp * u : amp * u);
            }
        }
    }
    std::map<std::string, std::vector<int64_t>> shapes_;
    bool ring_;
    mutable std::array<std::vector<uint16_t>, 4> ring_bufs_;
    mutable size_t next_ = 0;
    mutable std::map<std::string, std::vector<uint16_t>> kept_;
    std::map<std::string, std::string> meta_;
};

// Device-to-device copy bandwidth through the backend (GB/s, read + write), best of 5 after a warm-up.
double copy_bandwidth(Backend& be, int64_t bytes) {
    Tensor a = be.alloc(DType::F32, {bytes / 4}), b = be.alloc(DType::F32, {bytes / 4});
    be.synchronize();
    const double best = best_of(5, [&] {
        be.copy(b.view(), a.view());
        be.synchronize();
    });
    return 2.0 * double(bytes) / best * 1e-9;
}

// Backend::dequantize_fp8 throughput (GB/s of bytes read + written), best of 5 after a warm-up.
double dequant_bandwidth(Backend& be, int64_t rows, int64_t cols) {
    Tensor w = be.alloc(DType::F8_E4M3, {rows, cols}), out = be.alloc(DType::BF16, {rows, cols});
    Tensor scale = be.alloc(DType::F32, {(rows + 127) / 128, (cols + 127) / 128});
    be.fill(scale.view(), 0.01f);  // the codes are zeros (alloc zero-fills): no NaN, same work per weight
    be.synchronize();
    const double best = best_of(5, [&] {
        be.dequantize_fp8(out.view(), w.view(), scale.view());
        be.synchronize();
    });
    return 3.0 * double(rows * cols) / best * 1e-9;
}

// Backend::matmul with one row of x and a bf16 [N, K] weight (a decode step's dense Linear layers): GB/s
// of weight bytes, best of 3 passes after a warm-up pass. Each pass multiplies by every one of several
// copies of the weight (≥ 512 MiB in all), so the weights come from memory, not from a cache. Calls are
// issued back to back: below a few MB per weight the launch rate, not the kernel, can be the limit.
double gemv_bandwidth(Backend& be, int64_t N, int64_t K) {
    const int64_t bytes = N * K * 2;
    const int64_t copies = std::clamp<int64_t>(((int64_t(512) << 20) + bytes - 1) / bytes, 1, 256);
    std::vector<Tensor> w;
    for (int64_t c = 0; c < copies; ++c) w.push_back(be.alloc(DType::BF16, {N, K}));  // zeros: same work
    Tensor x = be.alloc(DType::F32, {1, K}), y = be.alloc(DType::F32, {1, N});
    be.fill(x.view(), 0.5f);
    be.synchronize();
    const double best = best_of(3, [&] {
        for (const Tensor& wc : w) be.matmul(y.view(), x.view(), wc.view(), /*w_transposed=*/true, false);
        be.synchronize();
    });
    return double(bytes * copies) / best * 1e-9;
}

// The dense GEMV shapes of one decode step of `s` (M = 1, bf16), on `be` and, on a GPU, also on a backend
// made with LATENT_CUDA_GEMV=cublas (the same products through cublasGemmEx), as % of the copy limit.
void gemv_table(Backend& be, const BackendChoice& choice, const Shape& s, double bw) {
    struct Row {
        const char* name;
        int64_t N, K;
    };
    const Row rows[] = {{"q_proj", s.H * (s.d_n + s.d_r), s.D},   {"kv_a_proj", s.r_kv + s.d_r, s.D},
                        {"o_proj", s.D, s.H * s.d_v},              {"dense gate/up", s.I_dense, s.D},
                        {"dense down", s.D, s.I_dense},            {"lm_head", s.V, s.D}};
    std::unique_ptr<Backend> cublas;
    if (be.device() == Device::CUDA) {
        ::setenv("LATENT_CUDA_GEMV", "cublas", 1);
        try {
            cublas = make_backend(choice);
        } catch (const Error& e) {
            std::printf("(no cuBLAS comparison: %s)\n", e.what());
        }
        ::unsetenv("LATENT_CUDA_GEMV");
    }
    std::printf("dense GEMV, M = 1, bf16 weights: GB/s of weights read, %% of the copy limit; %s\n",
                cublas ? "our kernel (gemv.cu) | cuBLAS (LATENT_CUDA_GEMV=cublas)" : be.name().c_str());
    for (const Row& r : rows) {
        const double ours = gemv_bandwidth(be, r.N, r.K);
        std::printf("  %-14s [%6lld x %5lld] %5.2f MB  %7.1f GB/s %5.1f%%", r.name, (long long)r.N, (long long)r.K,
                    2e-6 * double(r.N * r.K), ours, 100.0 * ours / bw);
        if (cublas) {
            const double cb = gemv_bandwidth(*cublas, r.N, r.K);
            std::printf("  |  %7.1f GB/s %5.1f%%", cb, 100.0 * cb / bw);
        }
        std::printf("\n");
    }
}

struct DecodeRun {
    double median_s = 0, best_s = 0;
};

// n greedy decode steps after the cached prompt; the cache is truncated back to the prompt afterwards.
DecodeRun decode(Model& model, KvCache& cache, std::vector<float>& logits, int64_t n, bool capture) {
    const int64_t prompt = cache.size();
    const std::vector<float> first = logits;
    ForwardOptions opt;
    opt.capture_decode = capture;
    std::vector<double> step;
    for (int64_t i = 0; i < n; ++i) {
        const int32_t next = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
        const int32_t one[1] = {next};
        const double a = now_s();
        model.forward(cache, one, opt, logits);  // returns after the logits are on the host
        step.push_back(now_s() - a);
    }
    cache.truncate(prompt);
    logits = first;
    std::sort(step.begin(), step.end());
    return {step[step.size() / 2], step.front()};
}

}  // namespace

int main(int argc, char** argv) {
    Shape s = kV2Lite;
    std::string shape_name = "v2-lite", device = "cuda";
    int64_t prompt = 512, n_decode = 64;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--shape" && i + 1 < argc) shape_name = argv[++i];
        else if (a == "--prompt" && i + 1 < argc) prompt = std::atoll(argv[++i]);
        else if (a == "--tokens" && i + 1 < argc) n_decode = std::atoll(argv[++i]);
        else if (a == "--device" && i + 1 < argc) device = argv[++i];
        else {
            std::fprintf(stderr, "usage: %s [--shape v2-lite|tiny] [--prompt P] [--tokens N] [--device cuda|cpu]\n",
                         argv[0]);
            return 2;
        }
    }
    if (shape_name == "tiny") s = kTiny;
    else if (shape_name != "v2-lite") {
        std::fprintf(stderr, "unknown shape '%s' (v2-lite or tiny)\n", shape_name.c_str());
        return 2;
    }
    if (prompt < 1 || n_decode < 2) {
        std::fprintf(stderr, "--prompt must be >= 1 and --tokens >= 2\n");
        return 2;
    }
    try {
        BackendChoice choice;
        choice.kind = backend_kind_from_name(device);
        std::string note;
        auto be = make_backend(choice, &note);
        if (!note.empty()) std::printf("%s\n", note.c_str());
        const bool gpu = be->device() == Device::CUDA;
        const int64_t copy_bytes = gpu ? (int64_t(1) << 30) : (int64_t(1) << 26);
        const double bw = copy_bandwidth(*be, copy_bytes);
        std::printf("backend: %s; limit: device copy %.1f GB/s (read + write of %lld MiB)\n", be->name().c_str(), bw,
                    (long long)(copy_bytes >> 20));
        {
            const int64_t rows = gpu ? 7168 : 1024, cols = gpu ? 18432 : 2048;
            const double dq = dequant_bandwidth(*be, rows, cols);
            std::printf("load: dequantize_fp8 [%lld x %lld] %.1f GB/s = %.1f%% of the copy limit\n", (long long)rows,
                        (long long)cols, dq, 100.0 * dq / bw);
        }

        gemv_table(*be, choice, s, bw);

        const ModelConfig cfg = ModelConfig::from_json_text(v2_config_json(s, 163840), "gpu_decode_bench " + shape_name);
        const double t_load0 = now_s();
        auto model = Model::from_store(cfg, std::make_unique<SyntheticStore>(tensor_shapes(s), gpu), *be);
        const double t_load = now_s() - t_load0;
        const ModelStats st = model->stats();
        // Bytes per token: active weights in bf16, but the embedding table contributes one row.
        const double weight_bytes = 2.0 * double(st.active_params - s.V * s.D + s.D);
        std::printf("model: %s shape, %.1fM total / %.1fM active params, made and loaded in %.1f s; KV %lld B/token\n",
                    shape_name.c_str(), double(st.total_params) * 1e-6, double(st.active_params) * 1e-6, t_load,
                    (long long)st.kv_bytes_per_token);

        for (const DType kv : {DType::F32, DType::BF16}) {
            auto cache = model->new_cache(prompt + n_decode + 8, kv);
            const double kv_tok = double(cache->stats().bytes_per_token);
            std::vector<int32_t> toks(static_cast<size_t>(prompt));
            for (int64_t i = 0; i < prompt; ++i) toks[size_t(i)] = int32_t(2 + (i * 7919) % (s.V - 2));
            std::vector<float> logits;
            model->forward(*cache, toks, ForwardOptions{}, logits);
            decode(*model, *cache, logits, 4, true);  // warm-up: scratch, expert tables, graphs, cuBLAS heuristics

            const double ctx = double(prompt) + double(n_decode) / 2;
            const double bytes_tok = weight_bytes + ctx * kv_tok;
            const double roof = bw * 1e9 / bytes_tok;  // tokens/s if every byte moved at the copy bandwidth
            std::printf("%s KV cache: bytes per token: %.1f MB (weights %.1f MB + MLA cache %.1f MB at mean context "
                        "%.0f) -> roofline %.1f tok/s\n",
                        kv_cache_dtype_name(kv), bytes_tok * 1e-6, weight_bytes * 1e-6,
                        (bytes_tok - weight_bytes) * 1e-6, ctx, roof);
            const Backend::CaptureStats c0 = be->capture_stats();
            const DecodeRun graphs = decode(*model, *cache, logits, n_decode, true);
            const Backend::CaptureStats c1 = be->capture_stats();
            const char* captured = gpu ? "decode, CUDA Graphs" : "decode, capture on (the CPU never captures)";
            std::vector<std::pair<const char*, DecodeRun>> runs = {{captured, graphs}};
            if (kv == DType::F32)  // op by op once, for the graphs' gain
                runs.push_back({"decode, op by op   ", decode(*model, *cache, logits, n_decode, false)});
            for (const auto& [name, r] : runs)
                std::printf("%s: median %.3f ms/token (%.1f tok/s) = %.1f%% of roofline; best %.3f ms = %.1f%%\n",
                            name, r.median_s * 1e3, 1.0 / r.median_s, 100.0 / r.median_s / roof, r.best_s * 1e3,
                            100.0 / r.best_s / roof);
            std::printf("graph steps in the timed run: %lld launched (%lld instantiated, %lld updated), %lld "
                        "aborted%s\n",
                        (long long)(c1.launched - c0.launched), (long long)(c1.instantiated - c0.instantiated),
                        (long long)(c1.updated - c0.updated), (long long)(c1.aborted - c0.aborted),
                        c1.disabled ? "; capture disabled" : "");
        }
    } catch (const Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
