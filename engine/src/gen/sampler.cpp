// sampler.cpp — turns one step's logits into a token id.
//
// Order and semantics follow Hugging Face generate(): repetition penalty on the raw logits, then
// temperature, then top-k, top-p and min-p (each filter sees what the previous one kept), then a draw
// from the softmax of what is left. temperature == 0 is greedy (argmax, lowest id on ties).
// Vocabularies are ~100-130k entries, so nothing here sorts the whole vocabulary unless top-p needs
// it: top-k uses nth_element, top-p grows a partial sort until it has enough mass.
// The uniform draw is built from the raw 64-bit mt19937_64 output (not std::uniform_real_distribution,
// whose algorithm differs between standard libraries) so a seed gives the same tokens everywhere.
#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_set>

#include "engine/error.h"
#include "engine/generate.h"
#include "gen/sampling_filters.h"

namespace engine {

namespace {

using sampling::Candidate;

bool by_logit_desc(const Candidate& a, const Candidate& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
}

// The highest logit (lowest id among equals).
const Candidate& best(const std::vector<Candidate>& cand) {
    return *std::min_element(cand.begin(), cand.end(), by_logit_desc);
}

// HF RepetitionPenaltyLogitsProcessor: each distinct token of the last `window` recent tokens once;
// positive logits are divided by the penalty, the others multiplied (so a penalty > 1 always makes the
// token less likely). Returns (id, penalised logit), sorted by id; empty when the penalty is off.
std::vector<std::pair<int32_t, float>> penalised(std::span<const float> logits, std::span<const int32_t> recent,
                                                 int window, double penalty) {
    std::vector<std::pair<int32_t, float>> out;
    if (penalty == 1.0 || recent.empty()) return out;
    size_t begin = 0;
    if (window > 0 && recent.size() > size_t(window)) begin = recent.size() - size_t(window);
    for (size_t i = begin; i < recent.size(); ++i)
        if (recent[i] >= 0 && size_t(recent[i]) < logits.size()) out.push_back({recent[i], 0.0f});
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first == b.first; }),
              out.end());
    for (auto& [id, v] : out) {
        const float l = logits[size_t(id)];
        v = l > 0 ? float(l / penalty) : float(l * penalty);
    }
    return out;
}

void check_finite_or_inf(std::span<const float> logits, size_t i) {
    ENGINE_CHECK(!std::isnan(logits[i]), kInternal, "sampler: logit ", i, " of ", logits.size(),
                 " is NaN (the forward pass produced invalid numbers)");
}

// Top-k candidates without touching the whole vocabulary twice: a heap keeps the k + P largest raw
// logits (P = penalised tokens; a penalty moves only those, so the penalised top k lies within these
// plus the penalised ones), then the exact top k (ties with the k-th kept) is cut from that set.
// Values come out penalised and divided by `t`, as the full path produces them.
void top_k_candidates(std::vector<Candidate>& cand, std::span<const float> logits, int k,
                      const std::vector<std::pair<int32_t, float>>& pen, float t) {
    const size_t m = size_t(k) + pen.size();
    cand.clear();
    cand.reserve(m + pen.size());
    // std heap with by_logit_desc as "less": front() is the smallest kept logit.
    for (size_t i = 0; i < logits.size(); ++i) {
        check_finite_or_inf(logits, i);
        const Candidate c{logits[i], int32_t(i)};
        if (cand.size() < m) {
            cand.push_back(c);
            std::push_heap(cand.begin(), cand.end(), by_logit_desc);
        } else if (by_logit_desc(c, cand.front())) {
            std::pop_heap(cand.begin(), cand.end(), by_logit_desc);
            cand.back() = c;
            std::push_heap(cand.begin(), cand.end(), by_logit_desc);
        }
    }
    const float smallest_raw = cand.front().first;
    for (const auto& [id, v] : pen) {
        auto it = std::find_if(cand.begin(), cand.end(), [id = id](const Candidate& c) { return c.second == id; });
        if (it != cand.end()) it->first = v;
        else cand.push_back({v, id});
    }
    for (auto& c : cand) c.first /= t;
    std::nth_element(cand.begin(), cand.begin() + (k - 1), cand.end(), by_logit_desc);
    const float kth = cand[size_t(k - 1)].first;
    cand.erase(std::partition(cand.begin(), cand.end(), [kth](const Candidate& c) { return c.first >= kth; }),
               cand.end());
    if (smallest_raw / t >= kth) {  // tokens left out of the heap may tie with the k-th: add them
        std::vector<int32_t> have;
        for (const auto& c : cand) have.push_back(c.second);
        for (const auto& pr : pen) have.push_back(pr.first);
        std::sort(have.begin(), have.end());
        for (size_t i = 0; i < logits.size(); ++i)
            if (logits[i] / t >= kth && !std::binary_search(have.begin(), have.end(), int32_t(i)))
                cand.push_back({logits[i] / t, int32_t(i)});
    }
}

}  // namespace

namespace sampling {

// Keeps every candidate whose logit is >= the k-th largest (HF keeps ties at the boundary).
void top_k(std::vector<Candidate>& cand, int k) {
    if (k <= 0 || size_t(k) >= cand.size()) return;
    std::nth_element(cand.begin(), cand.begin() + (k - 1), cand.end(), by_logit_desc);
    const float kth = cand[size_t(k - 1)].first;
    auto keep_end = std::partition(cand.begin() + k, cand.end(), [kth](const Candidate& c) { return c.first >= kth; });
    cand.erase(keep_end, cand.end());
}

// Keeps the smallest top set whose mass reaches top_p: a token is kept when the mass of the tokens
// ranked above it is < top_p (HF TopPLogitsWarper, at least 1 token). Instead of sorting the whole
// vocabulary, one pass drops the candidates into kBuckets buckets by logit and sums each bucket's
// mass; walking the buckets from the top finds the one where the cumulative mass reaches top_p. Every
// bucket above it is kept whole, every bucket below it is dropped, and only that one bucket is
// sorted. Same result as a full descending sort (ties ordered by id).
void top_p(std::vector<Candidate>& cand, double top_p) {
    if (top_p >= 1.0 || cand.size() <= 1) return;
    const float max_logit = best(cand).first;
    float min_logit = max_logit;
    for (const auto& c : cand) min_logit = std::min(min_logit, c.first);
    std::vector<float> mass(cand.size());  // exp(l - max)
    double total = 0;
    for (size_t i = 0; i < cand.size(); ++i) total += mass[i] = std::exp(cand[i].first - max_logit);
    const double target = top_p * total;

    constexpr int kBuckets = 1024;
    const float span = max_logit - min_logit;
    // Bucket 0 holds the highest logits. A span of 0 (all equal, or -inf below) puts all in bucket 0.
    const float scale = span > 0 && std::isfinite(span) ? float(kBuckets - 1) / span : 0.0f;
    auto bucket_of = [&](float l) {
        if (!std::isfinite(l)) return kBuckets - 1;
        return std::clamp(int((max_logit - l) * scale), 0, kBuckets - 1);
    };
    std::vector<double> bucket_mass(kBuckets, 0.0);
    for (size_t i = 0; i < cand.size(); ++i) bucket_mass[size_t(bucket_of(cand[i].first))] += mass[i];
    int boundary = 0;
    double mass_above = 0;
    while (boundary < kBuckets - 1 && mass_above + bucket_mass[size_t(boundary)] < target)
        mass_above += bucket_mass[size_t(boundary++)];
    // cand = [buckets above | the boundary bucket], dropping the rest; then sort only the boundary part.
    auto above_end = std::partition(cand.begin(), cand.end(), [&](const Candidate& c) { return bucket_of(c.first) < boundary; });
    auto in_end = std::partition(above_end, cand.end(), [&](const Candidate& c) { return bucket_of(c.first) == boundary; });
    cand.erase(in_end, cand.end());
    std::sort(above_end, cand.end(), by_logit_desc);
    size_t i = size_t(above_end - cand.begin());
    for (; i < cand.size(); ++i) {
        if (i > 0 && mass_above >= target) break;
        mass_above += std::exp(cand[i].first - max_logit);
    }
    cand.resize(i);
}

// HF MinPLogitsWarper: drop tokens whose probability is below min_p · (probability of the best).
// p_i >= min_p · p_max  <=>  logit_i >= max_logit + log(min_p).
void min_p(std::vector<Candidate>& cand, double min_p) {
    if (min_p <= 0.0 || cand.size() <= 1) return;
    const float max_logit = best(cand).first;
    const double threshold = double(max_logit) + std::log(min_p);
    auto keep_end = std::partition(cand.begin(), cand.end(),
                                   [threshold](const Candidate& c) { return double(c.first) >= threshold; });
    cand.erase(keep_end, cand.end());
}

}  // namespace sampling

namespace {

// Uniform in [0, 1) from the top 53 bits of one engine output.
double uniform01(std::mt19937_64& rng) { return double(rng() >> 11) * (1.0 / 9007199254740992.0); }

}  // namespace

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {
    ENGINE_CHECK(std::isfinite(params.temperature) && params.temperature >= 0, kInvalidArgument,
                 "sampling: temperature must be >= 0 (0 = greedy), got ", params.temperature);
    ENGINE_CHECK(params.top_k >= 0, kInvalidArgument, "sampling: top_k must be >= 0 (0 = off), got ", params.top_k);
    ENGINE_CHECK(params.top_p > 0 && params.top_p <= 1, kInvalidArgument,
                 "sampling: top_p must be in (0, 1] (1 = off), got ", params.top_p);
    ENGINE_CHECK(params.min_p >= 0 && params.min_p <= 1, kInvalidArgument,
                 "sampling: min_p must be in [0, 1] (0 = off), got ", params.min_p);
    ENGINE_CHECK(std::isfinite(params.repetition_penalty) && params.repetition_penalty > 0, kInvalidArgument,
                 "sampling: repetition_penalty must be > 0 (1 = off), got ", params.repetition_penalty);
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> recent) {
    ENGINE_CHECK(!logits.empty(), kInvalidArgument, "sampler: empty logits");
    if (params_.temperature == 0.0 && (params_.repetition_penalty == 1.0 || recent.empty())) {
        // Greedy without a penalty: one scan, no copy.
        size_t arg = 0;
        for (size_t i = 0; i < logits.size(); ++i) {
            ENGINE_CHECK(!std::isnan(logits[i]), kInternal, "sampler: logit ", i, " of ", logits.size(),
                         " is NaN (the forward pass produced invalid numbers)");
            if (logits[i] > logits[arg]) arg = i;
        }
        return int32_t(arg);
    }
    const auto pen = penalised(logits, recent, params_.repetition_window, params_.repetition_penalty);
    auto& cand = scratch_;  // (logit, id): the whole vocabulary, or the top-k set
    const float t = float(params_.temperature);
    const int k = params_.top_k;
    if (t > 0 && k > 0 && size_t(k) + pen.size() < logits.size()) {
        top_k_candidates(cand, logits, k, pen, t);
    } else {
        cand.resize(logits.size());
        for (size_t i = 0; i < logits.size(); ++i) {
            check_finite_or_inf(logits, i);
            cand[i] = {logits[i], int32_t(i)};
        }
        for (const auto& [id, v] : pen) cand[size_t(id)].first = v;  // cand is still indexed by id
        if (t == 0) return best(cand).second;  // greedy with a penalty
        for (auto& c : cand) c.first /= t;
        sampling::top_k(cand, k);
    }
    sampling::top_p(cand, params_.top_p);
    sampling::min_p(cand, params_.min_p);

    const float max_logit = best(cand).first;
    ENGINE_CHECK(std::isfinite(max_logit), kInternal, "sampler: every candidate logit is -inf or +inf");
    double total = 0;
    for (const auto& c : cand) total += std::exp(c.first - max_logit);
    double u = uniform01(rng_) * total;
    for (const auto& c : cand) {
        u -= std::exp(c.first - max_logit);
        if (u < 0) return c.second;
    }
    return cand.back().second;  // rounding left u a hair above zero
}

const char* stop_reason_name(StopReason r) {
    switch (r) {
        case StopReason::kEos: return "eos";
        case StopReason::kStopString: return "stop_string";
        case StopReason::kMaxTokens: return "max_tokens";
        case StopReason::kContextFull: return "context_full";
        case StopReason::kCancelled: return "cancelled";
    }
    return "unknown";
}

}  // namespace engine
