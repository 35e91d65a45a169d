// session.cpp — one conversation's KV cache over a shared, read-only Model.
//
// The session remembers which tokens its cache holds (tokens_) and, when it has them, the logits
// after the last one (logits_; empty = not known, e.g. after a truncation). set_tokens() keeps the
// longest common prefix with what is cached and runs only the rest, so the next chat turn costs only
// its new tokens. Timing: set_tokens() counts as prefill; append() of one token counts as decode, of
// several as prefill.
#include <algorithm>
#include <chrono>

#include "engine/error.h"
#include "engine/generate.h"

namespace engine {

namespace {

enum class Phase { kPrefill, kDecode };

// layers x experts, with an empty row for each dense layer (telemetry.h), as the model fills it.
void reset_expert_load(ExpertLoad& load, const ModelConfig& cfg) {
    load.reset(cfg.num_hidden_layers, cfg.n_routed_experts);
    for (int64_t l = 0; l < cfg.num_hidden_layers; ++l)
        if (cfg.n_routed_experts > 0 && !cfg.is_moe_layer(l)) {
            load.last_step[size_t(l)].clear();
            load.cumulative[size_t(l)].clear();
        }
}

// Copies the last step of `from` into `to` (resetting `to` to the same shape when it differs).
void mirror_last_step(const ExpertLoad& from, ExpertLoad& to) {
    if (to.n_layers != from.n_layers || to.n_experts != from.n_experts) {
        to.reset(from.n_layers, from.n_experts);
        for (size_t l = 0; l < from.last_step.size() && l < to.last_step.size(); ++l)
            if (from.last_step[l].empty()) {  // dense layer: empty row, as in the session's
                to.last_step[l].clear();
                to.cumulative[l].clear();
            }
    }
    to.begin_step();
    for (int64_t l = 0; l < from.n_layers && l < int64_t(from.last_step.size()); ++l)
        for (int64_t e = 0; e < from.n_experts && e < int64_t(from.last_step[size_t(l)].size()); ++e)
            if (int64_t c = from.last_step[size_t(l)][size_t(e)]) to.add(l, e, c);
}

// Runs `tokens` after what the cache holds; on success the cache, tokens and logits agree again. On
// failure the cache is cut back to the tokens known good and the logits are marked unknown.
void run_forward(const Model& model, KvCache& cache, std::vector<int32_t>& cached, std::vector<float>& logits,
                 std::span<const int32_t> tokens, ExpertLoad& session_load, ExpertLoad* extra_load,
                 Throughput& throughput, Phase phase) {
    const int64_t have = cache.size(), room = cache.capacity() - have, n = int64_t(tokens.size());
    ENGINE_CHECK(n <= room, kContextFull, "context window full: the session holds ", have, " of ",
                 cache.capacity(), " tokens and ", n, " more were requested (", have + n, " > ",
                 cache.capacity(), "); start a new chat, shorten the prompt or raise the context size");
    ForwardOptions opt;
    opt.expert_load = &session_load;
    if (session_load.n_layers > 0) session_load.begin_step();
    const auto t0 = std::chrono::steady_clock::now();
    try {
        model.forward(cache, tokens, opt, logits);
    } catch (...) {
        logits.clear();
        if (cache.size() > int64_t(cached.size())) cache.truncate(int64_t(cached.size()));
        throw;
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const size_t vocab = size_t(model.config().vocab_size);
    ENGINE_CHECK(vocab == 0 || logits.size() >= vocab, kInternal, "forward returned ", logits.size(),
                 " logits, expected at least vocab_size = ", vocab);
    if (vocab > 0 && logits.size() > vocab) logits.erase(logits.begin(), logits.end() - long(vocab));  // last row
    cached.insert(cached.end(), tokens.begin(), tokens.end());
    if (phase == Phase::kPrefill) {
        throughput.prefill_tokens += n;
        throughput.prefill_seconds += secs;
    } else {
        throughput.decode_tokens += n;
        throughput.decode_seconds += secs;
    }
    if (extra_load) mirror_last_step(session_load, *extra_load);
}

}  // namespace

Session::Session(const Model& model, int64_t context_tokens, DType kv_dtype) : model_(model) {
    ENGINE_CHECK(context_tokens > 0, kInvalidArgument, "session: context size must be > 0 tokens, got ",
                 context_tokens);
    cache_ = model_.new_cache(context_tokens, kv_dtype);
    ENGINE_CHECK(cache_ != nullptr, kInternal, "session: the model returned no KV cache");
    reset_expert_load(expert_load_, model_.config());
}

int64_t Session::context_tokens() const { return cache_->capacity(); }

const std::vector<float>& Session::set_tokens(std::span<const int32_t> tokens, ExpertLoad* load) {
    ENGINE_CHECK(!tokens.empty(), kInvalidArgument, "session: set_tokens needs at least one token");
    ENGINE_CHECK(int64_t(tokens.size()) <= context_tokens(), kContextFull, "context window full: ",
                 tokens.size(), " tokens do not fit in the session's ", context_tokens(),
                 " (shorten the conversation or raise the context size)");
    // The cache can only be trusted up to tokens_.size(); a failed forward may have left it longer.
    size_t keep = 0;
    const size_t limit = std::min(tokens.size(), tokens_.size());
    while (keep < limit && tokens[keep] == tokens_[keep]) ++keep;
    if (keep == tokens.size() && keep == tokens_.size() && !logits_.empty()) return logits_;
    if (keep == tokens.size()) --keep;  // need the logits after the last token: run it again
    if (keep < tokens_.size() || cache_->size() != int64_t(keep)) {
        cache_->truncate(int64_t(keep));
        tokens_.resize(keep);
        logits_.clear();
    }
    run_forward(model_, *cache_, tokens_, logits_, tokens.subspan(keep), expert_load_, load, throughput_,
                Phase::kPrefill);
    return logits_;
}

const std::vector<float>& Session::append(std::span<const int32_t> tokens, ExpertLoad* load) {
    if (tokens.empty()) {
        ENGINE_CHECK(!logits_.empty(), kInvalidArgument,
                     "session: append of no tokens to a session with no logits (call set_tokens first)");
        return logits_;
    }
    if (cache_->size() != int64_t(tokens_.size())) cache_->truncate(int64_t(tokens_.size()));
    run_forward(model_, *cache_, tokens_, logits_, tokens, expert_load_, load, throughput_,
                tokens.size() == 1 ? Phase::kDecode : Phase::kPrefill);
    return logits_;
}

void Session::reset() {
    cache_->truncate(0);
    tokens_.clear();
    logits_.clear();
    throughput_ = Throughput{};
    reset_expert_load(expert_load_, model_.config());
}

KvCacheStats Session::kv_stats() const { return cache_->stats(); }

}  // namespace engine
