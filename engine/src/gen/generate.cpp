// generate.cpp — prefill (with prefix reuse), then decode token by token with streaming and stops.
//
// Per step: sample from the logits, then decide whether this token ends generation (EOS, a stop
// string in the decoded text, max_tokens, a full context window), then report it through the
// callback, then run it through the model only if another token is wanted. The last sampled token is
// therefore not in the KV cache; the next set_tokens() prefills it when the conversation continues.
//
// Text: a StreamDecoder turns ids into whole UTF-8 characters, and a StopStringMatcher holds back any
// tail that could begin a stop string, so a stop string and what follows it are never emitted.
// The final event carries whatever was held back (or the text before the stop string).
#include <algorithm>
#include <chrono>

#include "engine/error.h"
#include "engine/generate.h"
#include "engine/tokenizer.h"
#include "gen/stop_strings.h"

namespace engine {

namespace {

std::vector<int32_t> eos_ids(const Tokenizer& tokenizer, const ModelConfig& cfg) {
    std::vector<int32_t> ids = tokenizer.eos_ids();
    for (int64_t id : cfg.eos_token_ids) ids.push_back(int32_t(id));
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return ids;
}

}  // namespace

GenerateResult generate(Session& session, const Tokenizer& tokenizer, std::span<const int32_t> prompt,
                        const GenerateOptions& options, const TokenCallback& on_token) {
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    ENGINE_CHECK(!prompt.empty(), kInvalidArgument, "generate: the prompt has no tokens");
    ENGINE_CHECK(options.max_tokens >= 0, kInvalidArgument, "generate: max_tokens must be >= 0, got ",
                 options.max_tokens);
    const int64_t capacity = session.context_tokens();
    const int64_t n_prompt = int64_t(prompt.size());
    ENGINE_CHECK(n_prompt <= capacity, kContextFull, "the prompt has ", n_prompt,
                 " tokens but the context window holds ", capacity,
                 "; shorten the prompt or raise the context size");
    if (options.context_policy == ContextPolicy::kError)
        ENGINE_CHECK(n_prompt + options.max_tokens <= capacity, kContextFull, "prompt (", n_prompt,
                     " tokens) + max_tokens (", options.max_tokens, ") = ", n_prompt + options.max_tokens,
                     " exceeds the context window of ", capacity,
                     " tokens; lower max_tokens, shorten the prompt or raise the context size");

    GenerateResult result;
    const Throughput before = session.throughput();
    Sampler sampler(options.sampling);
    StreamDecoder decoder(tokenizer, /*skip_special_tokens=*/true);
    StopStringMatcher stops(options.stop_strings);
    const std::vector<int32_t> eos = options.stop_on_eos ? eos_ids(tokenizer, session.model().config())
                                                         : std::vector<int32_t>{};
    std::vector<int32_t> recent(prompt.begin(), prompt.end());  // prompt + generated, for the penalty

    const std::vector<float>* logits = &session.set_tokens(prompt);
    bool done = options.max_tokens == 0;
    while (!done) {
        if (options.on_logits) options.on_logits(*logits);
        const int32_t token = sampler.sample(*logits, recent);
        recent.push_back(token);
        result.tokens.push_back(token);
        const int64_t generated = int64_t(result.tokens.size());

        TokenEvent ev;
        ev.token = token;
        ev.index = generated - 1;
        if (std::binary_search(eos.begin(), eos.end(), token)) {
            result.stop = StopReason::kEos;
            done = true;
        } else {
            ev.text = stops.push(decoder.push(token));
            if (stops.stopped()) {
                result.stop = StopReason::kStopString;
                done = true;
            } else if (generated >= options.max_tokens) {
                result.stop = StopReason::kMaxTokens;
                done = true;
            } else if (int64_t(session.tokens().size()) >= capacity) {
                result.stop = StopReason::kContextFull;  // no room to run this token
                done = true;
            }
        }
        if (done && result.stop != StopReason::kStopString) {
            ev.text += stops.push(decoder.flush());
            if (!stops.stopped()) ev.text += stops.flush();
            else result.stop = StopReason::kStopString;
        }
        result.text += ev.text;
        ev.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
        if (on_token && !on_token(ev) && !done) {
            result.stop = StopReason::kCancelled;
            done = true;
        }
        if (!done) logits = &session.append(std::span<const int32_t>(&token, 1));
    }

    const Throughput& after = session.throughput();
    result.throughput.prefill_tokens = after.prefill_tokens - before.prefill_tokens;
    result.throughput.prefill_seconds = after.prefill_seconds - before.prefill_seconds;
    result.throughput.decode_tokens = after.decode_tokens - before.decode_tokens;
    result.throughput.decode_seconds = after.decode_seconds - before.decode_seconds;
    return result;
}

}  // namespace engine
