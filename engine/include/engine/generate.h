// generate.h — sessions, sampling and streaming generation.
//
// A Session owns one KvCache over a shared Model and remembers which tokens the cache holds, so the
// next chat turn prefills only what is new (prefix reuse). generate() streams tokens through a
// callback that returns false to stop (gemma.cpp's StreamFunc).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "engine/model.h"
#include "engine/telemetry.h"

namespace engine {

class Tokenizer;

struct SamplingParams {
    double temperature = 0.7;     // 0 = greedy
    int top_k = 40;               // 0 = off
    double top_p = 0.95;          // 1 = off
    double min_p = 0.05;          // 0 = off
    double repetition_penalty = 1.0;  // 1 = off; applied to tokens in the last `repetition_window`
    int repetition_window = 64;
    uint64_t seed = 0;            // same seed + same logits = same tokens
};

// Draws token ids from logits. Stateless apart from its RNG; deterministic for a given seed.
class Sampler {
public:
    explicit Sampler(const SamplingParams& params);
    // `recent`: previously generated/prompt tokens for the repetition penalty.
    int32_t sample(std::span<const float> logits, std::span<const int32_t> recent);
    const SamplingParams& params() const { return params_; }

private:
    SamplingParams params_;
    std::mt19937_64 rng_;
    std::vector<std::pair<float, int32_t>> scratch_;
};

enum class ContextPolicy {
    kError,        // throw kContextFull when prompt + max_tokens would not fit (latent generate)
    kStopAtLimit,  // generate until the window is full, then stop with kContextFull (default; chat)
};

struct GenerateOptions {
    SamplingParams sampling;
    int max_tokens = 512;
    std::vector<std::string> stop_strings;   // matched on decoded text; not emitted
    bool stop_on_eos = true;
    ContextPolicy context_policy = ContextPolicy::kStopAtLimit;

    // ---- added by gen ----
    // Called once per sampled token with that step's raw logits ([vocab], before repetition penalty
    // and temperature), before sampling: `latent generate --logits-out`, parity checks.
    std::function<void(std::span<const float> logits)> on_logits;
};

enum class StopReason { kEos, kStopString, kMaxTokens, kContextFull, kCancelled };
const char* stop_reason_name(StopReason r);

struct TokenEvent {
    int32_t token = 0;
    std::string text;          // decoded text this token completes (may be empty mid-UTF-8)
    int64_t index = 0;         // 0-based among generated tokens
    double elapsed_s = 0;      // since generate() started
};

struct GenerateResult {
    std::vector<int32_t> tokens;   // generated ids
    std::string text;
    StopReason stop = StopReason::kMaxTokens;
    Throughput throughput;
};

class Session {
public:
    // kv_dtype: the KV cache's element type, F32 or BF16 (Model::new_cache).
    Session(const Model& model, int64_t context_tokens, DType kv_dtype = DType::F32);
    const Model& model() const { return model_; }
    int64_t context_tokens() const;
    const std::vector<int32_t>& tokens() const { return tokens_; }  // what the cache holds

    // Make the cache hold exactly `tokens`: keeps the longest common prefix already cached and
    // prefills the rest. Returns the logits after the last token (host, [vocab]).
    const std::vector<float>& set_tokens(std::span<const int32_t> tokens, ExpertLoad* load = nullptr);
    // Appends tokens and returns the logits after the last one.
    const std::vector<float>& append(std::span<const int32_t> tokens, ExpertLoad* load = nullptr);
    void reset();

    KvCacheStats kv_stats() const;
    Throughput& throughput() { return throughput_; }
    ExpertLoad& expert_load() { return expert_load_; }

private:
    const Model& model_;
    std::unique_ptr<KvCache> cache_;
    std::vector<int32_t> tokens_;
    std::vector<float> logits_;
    Throughput throughput_;
    ExpertLoad expert_load_;
};

using TokenCallback = std::function<bool(const TokenEvent&)>;

// Prefills `prompt` (with prefix reuse) and generates until a stop condition. `on_token` may return
// false to cancel (StopReason::kCancelled). Throws engine::Error on failure.
GenerateResult generate(Session& session, const Tokenizer& tokenizer, std::span<const int32_t> prompt,
                        const GenerateOptions& options, const TokenCallback& on_token = {});

}  // namespace engine
