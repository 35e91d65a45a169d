// fake_model.h — a deterministic stand-in for Model/KvCache/Tokenizer in the gen tests.
//
// FakeModel: after a token at position p, the logits peak (value 10, others 0) at script[p - script_from]
// when that index is inside `script`, else at `fallback`. It records every forward() call (tokens and
// the cache size it started at), so tests can see exactly which tokens were run.
// FakeTokenizer: id i stands for pieces[i]; ids listed in `specials` are special tokens.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/generate.h"
#include "engine/tokenizer.h"

namespace gen_test {

using namespace engine;

class FakeCache : public KvCache {
public:
    explicit FakeCache(int64_t capacity) : capacity_(capacity) {}
    int64_t size() const override { return int64_t(tokens.size()); }
    int64_t capacity() const override { return capacity_; }
    void truncate(int64_t n) override {
        if (n < int64_t(tokens.size())) tokens.resize(size_t(n));
    }
    KvCacheStats stats() const override {
        KvCacheStats s;
        s.tokens = size();
        s.capacity_tokens = capacity_;
        s.bytes_per_token = 100;
        s.mha_bytes_per_token = 700;
        s.bytes_allocated = capacity_ * 100;
        s.bytes_used = size() * 100;
        return s;
    }
    std::vector<int32_t> tokens;

private:
    int64_t capacity_;
};

struct ForwardCall {
    int64_t start = 0;             // cache size before the call
    std::vector<int32_t> tokens;
};

class FakeModel : public Model {
public:
    explicit FakeModel(int64_t vocab) {
        cfg_.architecture = "Fake";
        cfg_.vocab_size = vocab;
        cfg_.num_hidden_layers = 3;
        cfg_.n_routed_experts = 4;
    }
    const ModelConfig& config() const override { return cfg_; }
    Backend& backend() const override { ENGINE_THROW(kInternal, "fake model has no backend"); }
    ModelStats stats() const override { return {}; }
    using Model::new_cache;
    std::unique_ptr<KvCache> new_cache(int64_t capacity, DType dtype) const override {
        (void)dtype;
        return std::make_unique<FakeCache>(capacity);
    }
    void forward(KvCache& cache, std::span<const int32_t> tokens, const ForwardOptions& options,
                 std::vector<float>& logits) const override {
        auto& c = static_cast<FakeCache&>(cache);
        ENGINE_CHECK(c.size() + int64_t(tokens.size()) <= c.capacity(), kContextFull, "fake cache full");
        calls.push_back({c.size(), std::vector<int32_t>(tokens.begin(), tokens.end())});
        if (fail_next) {
            fail_next = false;
            c.tokens.push_back(tokens[0]);  // half-done work the session must roll back
            ENGINE_THROW(kBackend, "injected failure");
        }
        c.tokens.insert(c.tokens.end(), tokens.begin(), tokens.end());
        const int64_t pos = c.size() - 1;
        const int64_t idx = pos - script_from;
        const int32_t next = (idx >= 0 && idx < int64_t(script.size())) ? script[size_t(idx)] : fallback;
        logits.assign(size_t(cfg_.vocab_size), 0.0f);
        logits[size_t(next)] = 10.0f;
        if (options.expert_load && options.expert_load->n_layers > 0)
            for (size_t t = 0; t < tokens.size(); ++t) options.expert_load->add(1, tokens[t] % 4, 1);
    }

    std::vector<int32_t> script;   // what to predict after positions script_from, script_from+1, ...
    int64_t script_from = 0;
    int32_t fallback = 1;
    mutable std::vector<ForwardCall> calls;
    mutable bool fail_next = false;

private:
    ModelConfig cfg_;
};

class FakeTokenizer : public Tokenizer {
public:
    FakeTokenizer(std::vector<std::string> pieces, std::vector<int32_t> specials, std::vector<int32_t> eos)
        : pieces_(std::move(pieces)), specials_(std::move(specials)), eos_(std::move(eos)) {}
    std::vector<int32_t> encode(std::string_view text, bool) const override {
        // greedy longest match over the pieces (enough for the tests)
        std::vector<int32_t> out;
        size_t i = 0;
        while (i < text.size()) {
            int32_t best = -1;
            size_t best_len = 0;
            for (size_t id = 0; id < pieces_.size(); ++id)
                if (!is_special(int32_t(id)) && !pieces_[id].empty() && pieces_[id].size() > best_len &&
                    text.substr(i, pieces_[id].size()) == pieces_[id]) {
                    best = int32_t(id);
                    best_len = pieces_[id].size();
                }
            ENGINE_CHECK(best >= 0, kInvalidArgument, "fake tokenizer cannot encode '", text.substr(i), "'");
            out.push_back(best);
            i += best_len;
        }
        return out;
    }
    std::string decode(std::span<const int32_t> ids, bool skip_special) const override {
        std::string s;
        for (int32_t id : ids)
            if (!(skip_special && is_special(id))) s += token_bytes(id);
        return s;
    }
    size_t vocab_size() const override { return pieces_.size(); }
    std::optional<int32_t> token_to_id(std::string_view t) const override {
        for (size_t i = 0; i < pieces_.size(); ++i)
            if (pieces_[i] == t) return int32_t(i);
        return std::nullopt;
    }
    std::string id_to_token(int32_t id) const override { return token_bytes(id); }
    bool is_special(int32_t id) const override {
        return std::find(specials_.begin(), specials_.end(), id) != specials_.end();
    }
    const TokenizerConfig& config() const override { return config_; }
    std::optional<int32_t> bos_id() const override { return std::nullopt; }
    std::vector<int32_t> eos_ids() const override { return eos_; }
    std::string token_bytes(int32_t id) const override {
        return id >= 0 && size_t(id) < pieces_.size() ? pieces_[size_t(id)] : std::string();
    }

private:
    std::vector<std::string> pieces_;
    std::vector<int32_t> specials_, eos_;
    TokenizerConfig config_;
};

}  // namespace gen_test
