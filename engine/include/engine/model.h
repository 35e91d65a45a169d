// model.h — a loaded DeepSeek-V2/V3-family model and its KV cache.
//
// One Model holds read-only weights; any number of KvCaches (one per chat session) run against it.
// Attention has two paths (deepseek-arch.md §2): explicit K/V (prefill of several tokens, training)
// and the absorbed latent path (decode), whose cache holds only kv_lora_rank + qk_rope_head_dim
// values per token per layer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/config.h"
#include "engine/telemetry.h"
#include "engine/weights.h"

namespace engine {

class KvCache;

struct ModelStats {
    int64_t total_params = 0;      // every weight the forward pass uses (MTP excluded)
    int64_t active_params = 0;     // per token: dense parts + top_k routed + shared experts
    int64_t weight_bytes = 0;      // as loaded: the stored dtype (F8_E4M3 weights become BF16)
    int64_t kv_bytes_per_token = 0;       // MLA latent cache in F32 (a BF16 cache: half; KvCacheStats)
    int64_t mha_kv_bytes_per_token = 0;   // what MHA would need (same elem size)
};

// Progress for long operations: fraction in [0,1] and a short stage label; return false to cancel.
using ProgressFn = std::function<bool(double fraction, const std::string& stage)>;

enum class AttentionPath { kAuto, kExplicit, kAbsorbed };

struct ForwardOptions {
    AttentionPath attention = AttentionPath::kAuto;  // kAuto: explicit for T > 1, absorbed for T == 1
    bool all_logits = false;      // logits for every input token (perplexity) or only the last
    ExpertLoad* expert_load = nullptr;  // optional telemetry sink
    // One-token steps: let the backend record the step and replay it as one graph (Backend::begin_capture;
    // CUDA Graphs). Same results either way; false runs every op as it is called.
    bool capture_decode = true;
};

class Model {
public:
    virtual ~Model() = default;
    // Loads config.json + safetensors from `dir` onto `backend`. Throws engine::Error naming the file,
    // tensor or field. The backend must outlive the model.
    static std::unique_ptr<Model> load(const std::filesystem::path& dir, Backend& backend,
                                       const ProgressFn& progress = {});
    // Builds a model over an already-open store (tests, training exports).
    static std::unique_ptr<Model> from_store(ModelConfig config, std::unique_ptr<WeightStore> store,
                                             Backend& backend, const ProgressFn& progress = {});

    virtual const ModelConfig& config() const = 0;
    virtual Backend& backend() const = 0;
    virtual ModelStats stats() const = 0;

    // Runs `tokens` at positions cache.size() .. cache.size()+T-1, appends them to the cache and
    // writes logits (host F32) to `logits`: [T, vocab] with all_logits, else [1, vocab].
    // Throws kContextFull when the cache cannot take T more tokens.
    virtual void forward(KvCache& cache, std::span<const int32_t> tokens, const ForwardOptions& options,
                         std::vector<float>& logits) const = 0;

    // A cache for `capacity_tokens` tokens whose elements are `dtype`: F32 (exact, the default) or BF16
    // (half the memory and half the bytes a decode step reads; each latent / key / value is rounded to
    // bf16 once, when it is written, and attention still computes in fp32, as llama.cpp's f16 cache).
    // Throws kInvalidArgument for other dtypes, kOutOfMemory when the backend cannot hold it.
    virtual std::unique_ptr<KvCache> new_cache(int64_t capacity_tokens, DType dtype) const = 0;
    std::unique_ptr<KvCache> new_cache(int64_t capacity_tokens) const { return new_cache(capacity_tokens, DType::F32); }
};

// "f32" | "bf16" (also the safetensors spellings "F32" / "BF16") -> the KV cache dtype; throws
// kInvalidArgument naming the choices.
DType kv_cache_dtype_from_name(const std::string& name);
const char* kv_cache_dtype_name(DType dtype);  // "f32" | "bf16"

class KvCache {
public:
    virtual ~KvCache() = default;
    virtual int64_t size() const = 0;       // tokens cached
    virtual int64_t capacity() const = 0;
    virtual void truncate(int64_t tokens) = 0;  // drop everything after the first `tokens`
    virtual KvCacheStats stats() const = 0;
};

}  // namespace engine
