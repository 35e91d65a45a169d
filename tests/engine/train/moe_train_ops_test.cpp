// moe_train_ops_test.cpp — the CPU backend's MoE training ops against references written here:
//   moe_permute: the stable counting sort by expert (offsets, rows, slots, weights), an empty input,
//     and an expert id outside [0, E) (kInternal);
//   moe_seq_aux_loss: DeepSeek-V3's sequence-wise balance loss (softmax and sigmoid scores, several
//     sequences) against an fp64 forward written from its definition, and its gradient against central
//     finite differences of that forward (the choices held fixed, as the op's gradient assumes).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "engine/backend.h"
#include "engine/error.h"
#include "grad_check.h"

namespace {

using engine::DType;
using engine::TensorView;
using Scoring = engine::RouterParams::Scoring;

template <typename T>
TensorView view(std::vector<T>& v, std::initializer_list<int64_t> shape) {
    return TensorView::contiguous(v.data(), std::is_same_v<T, float> ? DType::F32 : DType::I32, shape);
}

// R rows of K distinct experts out of E.
std::vector<int32_t> choices(int64_t R, int64_t K, int64_t E, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<int32_t> out;
    for (int64_t t = 0; t < R; ++t) {
        std::vector<int32_t> all(static_cast<size_t>(E));
        for (int64_t e = 0; e < E; ++e) all[size_t(e)] = int32_t(e);
        std::shuffle(all.begin(), all.end(), rng);
        out.insert(out.end(), all.begin(), all.begin() + K);
    }
    return out;
}

TEST(MoePermute, StableSortByExpert) {
    const int64_t R = 37, K = 3, E = 7;
    std::vector<int32_t> idx = choices(R, K, E, 5);
    std::vector<float> w(static_cast<size_t>(R * K));
    for (size_t i = 0; i < w.size(); ++i) w[i] = 0.01f * float(i) + 0.5f;
    std::vector<int32_t> rows(size_t(R * K), -1), slot(size_t(R * K), -1);
    std::vector<float> scale(size_t(R * K), -1.0f);
    std::vector<int64_t> offsets(size_t(E + 1), -1);
    auto be = engine::make_cpu_backend(1);
    be->moe_permute(view(rows, {R * K}), view(slot, {R * K}), view(scale, {R * K}), offsets.data(), E,
                    view(idx, {R, K}), view(w, {R, K}));
    // Reference: for each expert in turn, its entries in (t, k) order.
    int64_t j = 0;
    for (int64_t e = 0; e < E; ++e) {
        EXPECT_EQ(offsets[size_t(e)], j) << "expert " << e;
        for (int64_t i = 0; i < R * K; ++i) {
            if (idx[size_t(i)] != e) continue;
            EXPECT_EQ(rows[size_t(j)], i / K) << j;
            EXPECT_EQ(slot[size_t(j)], i) << j;
            EXPECT_EQ(scale[size_t(j)], w[size_t(i)]) << j;
            ++j;
        }
    }
    EXPECT_EQ(offsets[size_t(E)], R * K);

    std::vector<int32_t> none;
    std::vector<float> nonef;
    std::vector<int64_t> off0(4, -1);
    be->moe_permute(view(none, {0}), view(none, {0}), view(nonef, {0}), off0.data(), 3, view(none, {0, 2}),
                    view(nonef, {0, 2}));
    EXPECT_EQ(off0, std::vector<int64_t>(4, 0));

    idx[10] = int32_t(E);
    try {
        be->moe_permute(view(rows, {R * K}), view(slot, {R * K}), view(scale, {R * K}), offsets.data(), E,
                        view(idx, {R, K}), view(w, {R, K}));
        FAIL() << "no error for an id outside [0, E)";
    } catch (const engine::Error& e) {
        EXPECT_EQ(e.kind(), engine::ErrorKind::kInternal);
        EXPECT_NE(e.message().find("expert id 7 (row 3)"), std::string::npos) << e.message();
    }
}

// The balance loss from its definition, in double (deepseek-arch.md; DeepSeek-V3 report eq. 17-20).
double aux_reference(const std::vector<double>& logits, const std::vector<int32_t>& idx, int64_t B, int64_t T,
                     int64_t E, int64_t K, double alpha, bool softmax) {
    double total = 0;
    for (int64_t b = 0; b < B; ++b) {
        std::vector<double> f(static_cast<size_t>(E), 0.0), P(static_cast<size_t>(E), 0.0);
        for (int64_t t = b * T; t < (b + 1) * T; ++t) {
            for (int64_t k = 0; k < K; ++k) f[size_t(idx[size_t(t * K + k)])] += double(E) / double(K * T);
            std::vector<double> s(static_cast<size_t>(E));
            double sum = 0;
            for (int64_t e = 0; e < E; ++e) {
                const double l = logits[size_t(t * E + e)];
                s[size_t(e)] = softmax ? std::exp(l) : 1.0 / (1.0 + std::exp(-l));
                sum += s[size_t(e)];
            }
            for (int64_t e = 0; e < E; ++e) P[size_t(e)] += s[size_t(e)] / sum / double(T);
        }
        for (int64_t e = 0; e < E; ++e) total += alpha * f[size_t(e)] * P[size_t(e)] / double(B);
    }
    return total;
}

void aux_case(bool softmax, int64_t B, int64_t T, int64_t E, int64_t K, uint32_t seed) {
    const int64_t R = B * T;
    const double alpha = 0.7;
    std::vector<double> logits = train_test::randn(size_t(R * E), seed, 1.5);
    std::vector<int32_t> idx = choices(R, K, E, seed + 1);
    std::vector<float> lf(logits.begin(), logits.end()), dl(size_t(R * E), 123.0f);
    auto be = engine::make_cpu_backend(1);
    const double loss = be->moe_seq_aux_loss(view(dl, {R, E}), view(lf, {R, E}), view(idx, {R, K}), B, float(alpha),
                                             softmax ? Scoring::kSoftmax : Scoring::kSigmoid);
    std::vector<double> lf_d(lf.begin(), lf.end());  // the reference sees the same fp32 logits
    const double want = aux_reference(lf_d, idx, B, T, E, K, alpha, softmax);
    EXPECT_NEAR(loss, want, 1e-6 * std::fabs(want)) << (softmax ? "softmax" : "sigmoid");
    EXPECT_GT(want, 0.0);
    std::vector<double> fd(lf_d.size(), 0.0);
    const double h = 1e-5;
    for (size_t i = 0; i < lf_d.size(); ++i) {
        const double keep = lf_d[i];
        lf_d[i] = keep + h;
        const double fp = aux_reference(lf_d, idx, B, T, E, K, alpha, softmax);
        lf_d[i] = keep - h;
        const double fm = aux_reference(lf_d, idx, B, T, E, K, alpha, softmax);
        lf_d[i] = keep;
        fd[i] = (fp - fm) / (2 * h);
    }
    EXPECT_LE(train_test::rel_max_diff(dl, fd), 1e-5) << (softmax ? "softmax" : "sigmoid") << " dlogits vs finite differences";
}

TEST(MoeSeqAuxLoss, SoftmaxScoresValueAndGradient) { aux_case(true, 2, 5, 6, 2, 11); }
TEST(MoeSeqAuxLoss, SigmoidScoresValueAndGradient) { aux_case(false, 3, 4, 8, 3, 21); }

TEST(MoeSeqAuxLoss, RowsNotDivisibleIntoSequencesIsAnError) {
    std::vector<float> l(5 * 4), dl(5 * 4);
    std::vector<int32_t> idx(5, 0);
    auto be = engine::make_cpu_backend(1);
    EXPECT_THROW(be->moe_seq_aux_loss(view(dl, {5, 4}), view(l, {5, 4}), view(idx, {5, 1}), 2, 0.1f, Scoring::kSoftmax),
                 engine::Error);
}

}  // namespace
