// sampler_test.cpp — each sampling filter against a scalar reference written here, a chi-square test
// of temperature sampling, and determinism.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "engine/error.h"
#include "engine/generate.h"

using namespace engine;

namespace {

SamplingParams plain(double temperature) {
    SamplingParams p;
    p.temperature = temperature;
    p.top_k = 0;
    p.top_p = 1.0;
    p.min_p = 0.0;
    p.repetition_penalty = 1.0;
    return p;
}

// ---- scalar reference: HF order (penalty, temperature, top-k, top-p, min-p), returns the
// probability of every id (0 = filtered out). Written the obvious O(V log V) way.
std::vector<double> reference_probs(std::vector<float> logits, const SamplingParams& p,
                                    const std::vector<int32_t>& recent) {
    const size_t V = logits.size();
    std::set<int32_t> seen;
    size_t begin = (p.repetition_window > 0 && recent.size() > size_t(p.repetition_window))
                       ? recent.size() - size_t(p.repetition_window) : 0;
    for (size_t i = begin; i < recent.size(); ++i)
        if (seen.insert(recent[i]).second) {
            float& l = logits[size_t(recent[i])];
            l = l > 0 ? float(l / p.repetition_penalty) : float(l * p.repetition_penalty);
        }
    std::vector<double> s(V);
    for (size_t i = 0; i < V; ++i) s[i] = logits[i] / float(p.temperature);
    std::vector<bool> keep(V, true);
    if (p.top_k > 0 && size_t(p.top_k) < V) {
        std::vector<double> sorted = s;
        std::sort(sorted.begin(), sorted.end(), std::greater<>());
        double kth = sorted[size_t(p.top_k - 1)];
        for (size_t i = 0; i < V; ++i) keep[i] = s[i] >= kth;
    }
    auto softmax_kept = [&]() {
        double mx = -1e300;
        for (size_t i = 0; i < V; ++i) if (keep[i]) mx = std::max(mx, s[i]);
        std::vector<double> pr(V, 0.0);
        double tot = 0;
        for (size_t i = 0; i < V; ++i) if (keep[i]) tot += pr[i] = std::exp(s[i] - mx);
        for (auto& x : pr) x /= tot;
        return pr;
    };
    if (p.top_p < 1.0) {
        // HF TopP: ascending sort, cumulative sum, drop where cumulative <= 1 - top_p.
        auto pr = softmax_kept();
        std::vector<size_t> order(V);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return pr[a] < pr[b]; });
        double cum = 0;
        for (size_t r = 0; r + 1 < V; ++r) {  // the top token is always kept
            cum += pr[order[r]];
            if (cum <= 1.0 - p.top_p) keep[order[r]] = false;
        }
    }
    if (p.min_p > 0) {
        auto pr = softmax_kept();
        double top = *std::max_element(pr.begin(), pr.end());
        for (size_t i = 0; i < V; ++i) if (pr[i] < p.min_p * top) keep[i] = false;
    }
    return softmax_kept();
}

// Empirical distribution of `n` draws.
std::vector<double> empirical(const std::vector<float>& logits, const SamplingParams& p,
                              const std::vector<int32_t>& recent, int n) {
    Sampler s(p);
    std::vector<double> counts(logits.size(), 0.0);
    for (int i = 0; i < n; ++i) counts[size_t(s.sample(logits, recent))] += 1.0;
    for (auto& c : counts) c /= n;
    return counts;
}

void expect_support_matches(const std::vector<double>& ref, const std::vector<double>& got) {
    for (size_t i = 0; i < ref.size(); ++i) {
        if (ref[i] == 0.0) EXPECT_EQ(got[i], 0.0) << "id " << i << " should be filtered out";
        else EXPECT_NEAR(got[i], ref[i], 0.02 + 0.1 * ref[i]) << "id " << i;
    }
}

const std::vector<float> kLogits = {1.0f, 3.0f, 2.5f, -1.0f, 0.5f, 2.9f, -3.0f, 0.0f, 1.5f, 2.0f};

}  // namespace

TEST(Sampler, GreedyPicksArgmaxLowestIdOnTies) {
    Sampler s(plain(0.0));
    EXPECT_EQ(s.sample(kLogits, {}), 1);
    std::vector<float> tie = {0.f, 5.f, 1.f, 5.f};
    EXPECT_EQ(s.sample(tie, {}), 1);
}

TEST(Sampler, RepetitionPenaltyHfSemantics) {
    // Positive logit divided, negative multiplied; only the last `window` tokens count.
    SamplingParams p = plain(0.0);
    p.repetition_penalty = 2.0;
    p.repetition_window = 2;
    Sampler s(p);
    std::vector<float> l = {4.0f, 3.0f, -1.0f, 2.5f};
    EXPECT_EQ(s.sample(l, std::vector<int32_t>{0}), 1);   // 4/2 = 2 < 3
    EXPECT_EQ(s.sample(l, std::vector<int32_t>{0, 1}), 3);  // 2, 1.5, -1, 2.5
    // token 0 is outside the window of 2 -> not penalised
    EXPECT_EQ(s.sample(l, std::vector<int32_t>{0, 1, 3}), 0);
    // negative logits go further down: -1 * 2 = -2 < -1.5
    std::vector<float> neg = {-1.0f, -1.5f};
    EXPECT_EQ(s.sample(neg, std::vector<int32_t>{0}), 1);
    // each token penalised once even when it repeats
    std::vector<float> rep = {8.0f, 3.0f};
    EXPECT_EQ(s.sample(rep, std::vector<int32_t>{0, 0}), 0);  // 8/2 = 4 > 3 (not 8/4 = 2)
}

TEST(Sampler, TopKMatchesReference) {
    SamplingParams p = plain(1.0);
    p.top_k = 3;
    auto ref = reference_probs(kLogits, p, {});
    EXPECT_EQ(std::count_if(ref.begin(), ref.end(), [](double x) { return x > 0; }), 3);
    expect_support_matches(ref, empirical(kLogits, p, {}, 20000));
}

TEST(Sampler, TopKKeepsTiesAtBoundary) {
    SamplingParams p = plain(1.0);
    p.top_k = 2;
    std::vector<float> l = {5.0f, 1.0f, 4.0f, 4.0f, 0.0f};
    auto got = empirical(l, p, {}, 5000);
    EXPECT_GT(got[2], 0.0);
    EXPECT_GT(got[3], 0.0);
    EXPECT_EQ(got[1], 0.0);
    EXPECT_EQ(got[4], 0.0);
}

TEST(Sampler, TopPMatchesReference) {
    for (double top_p : {0.3, 0.6, 0.9}) {
        SamplingParams p = plain(0.8);
        p.top_p = top_p;
        expect_support_matches(reference_probs(kLogits, p, {}), empirical(kLogits, p, {}, 20000));
    }
}

TEST(Sampler, TopPOnLargeVocabNeedsNoFullSort) {
    // 130k vocab, peaked head: result must still match the reference support.
    std::mt19937 g(7);
    std::normal_distribution<float> nd(0.f, 1.f);
    std::vector<float> l(130000);
    for (auto& x : l) x = nd(g);
    for (int i = 0; i < 20; ++i) l[size_t(i * 997)] = 12.0f - 0.3f * float(i);
    SamplingParams p = plain(1.0);
    p.top_p = 0.5;
    auto ref = reference_probs(l, p, {});
    Sampler s(p);
    for (int i = 0; i < 300; ++i) {
        int32_t t = s.sample(l, {});
        ASSERT_GT(ref[size_t(t)], 0.0) << "sampled id " << t << " outside the top-p set";
    }
}

TEST(Sampler, MinPMatchesReference) {
    SamplingParams p = plain(1.0);
    p.min_p = 0.3;
    auto ref = reference_probs(kLogits, p, {});
    // by hand: kept iff logit >= 3 + ln 0.3 = 1.796 -> ids 1, 2, 5, 9
    for (size_t i = 0; i < kLogits.size(); ++i) EXPECT_EQ(ref[i] > 0, kLogits[i] >= 3.0f + std::log(0.3f)) << i;
    expect_support_matches(ref, empirical(kLogits, p, {}, 20000));
}

TEST(Sampler, AllFiltersCombinedMatchReference) {
    SamplingParams p = plain(0.7);
    p.top_k = 6;
    p.top_p = 0.9;
    p.min_p = 0.05;
    p.repetition_penalty = 1.3;
    std::vector<int32_t> recent = {1, 5, 5, 3};
    expect_support_matches(reference_probs(kLogits, p, recent), empirical(kLogits, p, recent, 20000));
}

TEST(Sampler, TemperatureChiSquare) {
    // 30,000 draws at T = 0.8 against softmax(l / T); df = 9, chi^2 critical at p = 0.001 is 27.88.
    SamplingParams p = plain(0.8);
    p.seed = 1234;
    const int n = 30000;
    Sampler s(p);
    std::vector<double> counts(kLogits.size(), 0.0);
    for (int i = 0; i < n; ++i) counts[size_t(s.sample(kLogits, {}))] += 1;
    double mx = *std::max_element(kLogits.begin(), kLogits.end()), tot = 0;
    std::vector<double> expect(kLogits.size());
    for (size_t i = 0; i < kLogits.size(); ++i) tot += expect[i] = std::exp((kLogits[i] - mx) / 0.8);
    double chi2 = 0;
    for (size_t i = 0; i < kLogits.size(); ++i) {
        double e = expect[i] / tot * n;
        chi2 += (counts[i] - e) * (counts[i] - e) / e;
    }
    EXPECT_LT(chi2, 27.88);
    // and a colder temperature concentrates mass on the argmax
    auto cold = empirical(kLogits, plain(0.2), {}, 5000);
    auto warm = empirical(kLogits, plain(2.0), {}, 5000);
    EXPECT_GT(cold[1], warm[1]);
}

TEST(Sampler, SameSeedSameTokensDifferentSeedDiffers) {
    SamplingParams p = plain(1.0);
    p.seed = 42;
    Sampler a(p), b(p);
    p.seed = 43;
    Sampler c(p);
    std::vector<int32_t> ta, tb, tc;
    for (int i = 0; i < 200; ++i) {
        ta.push_back(a.sample(kLogits, {}));
        tb.push_back(b.sample(kLogits, {}));
        tc.push_back(c.sample(kLogits, {}));
    }
    EXPECT_EQ(ta, tb);
    EXPECT_NE(ta, tc);
}

TEST(Sampler, RejectsBadParamsAndNaN) {
    SamplingParams p = plain(1.0);
    p.top_p = 0.0;
    EXPECT_THROW(Sampler{p}, Error);
    p = plain(-1.0);
    EXPECT_THROW(Sampler{p}, Error);
    Sampler s(plain(1.0));
    std::vector<float> bad = {0.f, std::nanf("")};
    try {
        s.sample(bad, {});
        FAIL() << "NaN logits accepted";
    } catch (const Error& e) {
        EXPECT_NE(e.message().find("NaN"), std::string::npos);
    }
}

TEST(StopReason, Names) {
    EXPECT_STREQ(stop_reason_name(StopReason::kEos), "eos");
    EXPECT_STREQ(stop_reason_name(StopReason::kStopString), "stop_string");
    EXPECT_STREQ(stop_reason_name(StopReason::kContextFull), "context_full");
}

// ---- the filters themselves, exact kept sets on large vocabularies ----
#include "gen/sampling_filters.h"

namespace {

std::vector<sampling::Candidate> candidates(const std::vector<float>& l) {
    std::vector<sampling::Candidate> c;
    for (size_t i = 0; i < l.size(); ++i) c.push_back({l[i], int32_t(i)});
    return c;
}

std::set<int32_t> ids_of(const std::vector<sampling::Candidate>& c) {
    std::set<int32_t> s;
    for (const auto& x : c) s.insert(x.second);
    return s;
}

std::set<int32_t> kept_by_reference(const std::vector<float>& l, const SamplingParams& p) {
    auto pr = reference_probs(l, p, {});
    std::set<int32_t> s;
    for (size_t i = 0; i < pr.size(); ++i)
        if (pr[i] > 0) s.insert(int32_t(i));
    return s;
}

std::vector<float> random_logits(size_t n, float sigma, uint32_t seed) {
    std::mt19937 g(seed);
    std::normal_distribution<float> nd(0.f, sigma);
    std::vector<float> l(n);
    for (auto& x : l) x = nd(g);
    return l;
}

}  // namespace

TEST(SamplingFilters, TopPExactSetOnFlatAndPeakedVocabularies) {
    // Flat (sigma 0.5: the kept set is most of the vocabulary) to peaked (sigma 4); the bucketed
    // selection must keep exactly the reference's tokens.
    for (float sigma : {0.5f, 2.0f, 4.0f})
        for (double top_p : {0.1, 0.5, 0.9, 0.99}) {
            auto l = random_logits(50000, sigma, uint32_t(sigma * 10 + top_p * 100));
            SamplingParams p = plain(1.0);
            p.top_p = top_p;
            auto c = candidates(l);
            sampling::top_p(c, top_p);
            EXPECT_EQ(ids_of(c), kept_by_reference(l, p)) << "sigma " << sigma << " top_p " << top_p;
        }
    // all equal logits: top_p keeps ceil(p * n) tokens' worth; the reference decides which (lowest ids)
    std::vector<float> flat(1000, 1.0f);
    auto c = candidates(flat);
    sampling::top_p(c, 0.25);
    EXPECT_EQ(c.size(), 250u);
    // -inf entries (masked tokens) are never kept
    std::vector<float> masked = {2.0f, -INFINITY, 1.0f, -INFINITY};
    auto m = candidates(masked);
    sampling::top_p(m, 0.999);
    EXPECT_EQ(ids_of(m), (std::set<int32_t>{0, 2}));
}

TEST(SamplingFilters, TopKAndMinPExactSets) {
    auto l = random_logits(130000, 2.0f, 3);
    for (int k : {1, 40, 1000}) {
        SamplingParams p = plain(1.0);
        p.top_k = k;
        auto c = candidates(l);
        sampling::top_k(c, k);
        EXPECT_EQ(ids_of(c), kept_by_reference(l, p)) << "k " << k;
    }
    for (double mp : {0.01, 0.2}) {
        SamplingParams p = plain(1.0);
        p.min_p = mp;
        auto c = candidates(l);
        sampling::min_p(c, mp);
        EXPECT_EQ(ids_of(c), kept_by_reference(l, p)) << "min_p " << mp;
    }
}

TEST(Sampler, TopKWithPenaltiesMatchesReference) {
    // A penalty < 1 lifts a token from outside the raw top-k into it; a penalty > 1 pushes one out;
    // ties with the k-th value (including one created by a penalty) stay in.
    auto l = random_logits(5000, 1.0f, 11);
    std::vector<int32_t> order(l.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return l[size_t(a)] > l[size_t(b)]; });
    for (double penalty : {0.5, 1.7}) {
        SamplingParams p = plain(1.0);
        p.top_k = 5;
        p.repetition_penalty = penalty;
        std::vector<int32_t> recent = {order[0], order[6], order[40], order[2]};
        auto ref = reference_probs(l, p, recent);
        Sampler s(p);
        std::set<int32_t> seen;
        for (int i = 0; i < 3000; ++i) seen.insert(s.sample(l, recent));
        std::set<int32_t> want;
        for (size_t i = 0; i < ref.size(); ++i)
            if (ref[i] > 1e-3) want.insert(int32_t(i));  // drawn at least once in 3000 with near certainty
        for (int32_t id : seen) EXPECT_GT(ref[size_t(id)], 0.0) << "penalty " << penalty << ": id " << id;
        for (int32_t id : want) EXPECT_TRUE(seen.count(id)) << "penalty " << penalty << ": id " << id << " never drawn";
    }
    // exact ties at the boundary far outside a small heap: all 6 equal values kept with k = 2
    std::vector<float> ties(1000, -5.0f);
    ties[10] = 3.0f;
    for (int i : {100, 200, 300, 400, 500, 600}) ties[size_t(i)] = 1.0f;
    SamplingParams p = plain(1.0);
    p.top_k = 2;
    Sampler s(p);
    std::set<int32_t> seen;
    for (int i = 0; i < 4000; ++i) seen.insert(s.sample(ties, {}));
    EXPECT_EQ(seen, (std::set<int32_t>{10, 100, 200, 300, 400, 500, 600}));
}
