// batching.cpp — examples → fixed-shape [B, T] batches, seeded per epoch, resumable from a Position.
#include <algorithm>

#include "data/seeded_rng.h"
#include "engine/dataset.h"
#include "engine/error.h"

namespace engine {

int64_t TokenBatch::target_count() const {
    int64_t n = 0;
    for (int32_t t : targets) n += t != kIgnoreTarget;
    return n;
}

BatchIterator::BatchIterator(const std::vector<TrainExample>& examples, int64_t batch_size, int64_t seq_len,
                             bool packing, uint64_t seed, int32_t pad_id)
    : examples_(examples), batch_size_(batch_size), seq_len_(seq_len), packing_(packing), seed_(seed),
      pad_id_(pad_id) {
    ENGINE_CHECK(batch_size > 0 && seq_len > 0, kInvalidArgument, "batch size ", batch_size,
                 " and sequence length ", seq_len, " must be positive");
    ENGINE_CHECK(!examples.empty(), kInvalidArgument, "the dataset split has no examples");
    int64_t total = 0;
    for (const auto& e : examples) total += int64_t(e.tokens.size());
    ENGINE_CHECK(!packing || total >= seq_len + 1, kInvalidArgument, "the dataset has ", total,
                 " tokens, fewer than one packed row of ", seq_len + 1, "; use a shorter sequence length");
    build_epoch();
}

void BatchIterator::build_epoch() {
    if (built_epoch_ == pos_.epoch) return;
    order_.resize(examples_.size());
    for (size_t i = 0; i < order_.size(); ++i) order_[i] = int64_t(i);
    // Epoch e's permutation depends only on (seed, e): resuming at any epoch rebuilds it exactly.
    SeededRng rng(seed_ ^ (0x9E3779B97F4A7C15ull * uint64_t(pos_.epoch + 1)));
    rng.shuffle(order_);
    if (packing_) {
        stream_tokens_.clear();
        stream_trained_.clear();
        for (int64_t idx : order_) {
            const auto& e = examples_[size_t(idx)];
            stream_tokens_.insert(stream_tokens_.end(), e.tokens.begin(), e.tokens.end());
            stream_trained_.insert(stream_trained_.end(), e.trained.begin(), e.trained.end());
            // The first token of an example is never a target across the boundary with the previous one.
            if (!e.trained.empty()) stream_trained_[stream_trained_.size() - e.trained.size()] = 0;
        }
    }
    built_epoch_ = pos_.epoch;
}

void BatchIterator::set_position(const Position& p) {
    ENGINE_CHECK(p.epoch >= 0 && p.cursor >= 0, kInvalidArgument, "bad data position (", p.epoch, ", ", p.cursor, ")");
    pos_ = p;
    build_epoch();
}

int64_t BatchIterator::batches_per_epoch() const {
    if (!packing_) return std::max<int64_t>(1, int64_t(examples_.size()) / batch_size_);
    int64_t total = 0;
    for (const auto& e : examples_) total += int64_t(e.tokens.size());
    return std::max<int64_t>(1, (total - 1) / (seq_len_ * batch_size_));
}

void BatchIterator::next(TokenBatch& batch) {
    const int64_t B = batch_size_, T = seq_len_;
    batch.batch_size = B;
    batch.seq_len = T;
    batch.inputs.assign(size_t(B * T), pad_id_);
    batch.targets.assign(size_t(B * T), kIgnoreTarget);
    for (int64_t b = 0; b < B; ++b) {
        int32_t* in = batch.inputs.data() + b * T;
        int32_t* tg = batch.targets.data() + b * T;
        if (packing_) {
            // A row is stream[c .. c+T]: inputs stream[c+t], targets stream[c+t+1]; next row starts at c+T.
            if (pos_.cursor + T + 1 > int64_t(stream_tokens_.size())) {
                ++pos_.epoch;
                pos_.cursor = 0;
                build_epoch();
            }
            const int64_t c = pos_.cursor;
            for (int64_t t = 0; t < T; ++t) {
                in[t] = stream_tokens_[size_t(c + t)];
                tg[t] = stream_trained_[size_t(c + t + 1)] ? stream_tokens_[size_t(c + t + 1)] : kIgnoreTarget;
            }
            pos_.cursor += T;
        } else {
            if (pos_.cursor >= int64_t(order_.size())) {
                ++pos_.epoch;
                pos_.cursor = 0;
                build_epoch();
            }
            const auto& e = examples_[size_t(order_[size_t(pos_.cursor)])];
            const int64_t n = int64_t(e.tokens.size());
            if (n - 1 > T) ++truncated_;
            const int64_t len = std::min<int64_t>(n - 1, T);
            for (int64_t t = 0; t < len; ++t) {
                in[t] = e.tokens[size_t(t)];
                tg[t] = e.trained[size_t(t + 1)] ? e.tokens[size_t(t + 1)] : kIgnoreTarget;
            }
            ++pos_.cursor;
        }
    }
}

}  // namespace engine
