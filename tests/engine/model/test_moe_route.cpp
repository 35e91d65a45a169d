// test_moe_route.cpp — every routing variant on hand-worked cases (deepseek-arch.md §3). The expected
// experts and weights below were worked out by hand from the logits / biases in each test.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/backend.h"
#include "engine/error.h"

namespace {

using engine::RouterParams;
using engine::TensorView;

struct Routed {
    std::vector<int32_t> idx;
    std::vector<float> w;
};

Routed route(std::vector<float> logits, std::vector<float> bias, RouterParams p) {
    auto be = engine::make_cpu_backend(1);
    const int64_t E = p.n_routed_experts, K = p.top_k, T = int64_t(logits.size()) / E;
    Routed r;
    r.idx.assign(size_t(T * K), -1);
    r.w.assign(size_t(T * K), -1.0f);
    TensorView b{};
    if (!bias.empty()) b = TensorView::contiguous(bias.data(), engine::DType::F32, {E});
    be->moe_route(TensorView::contiguous(r.idx.data(), engine::DType::I32, {T, K}),
                  TensorView::contiguous(r.w.data(), engine::DType::F32, {T, K}),
                  TensorView::contiguous(logits.data(), engine::DType::F32, {T, E}), b, p);
    return r;
}

RouterParams params(RouterParams::Scoring s, RouterParams::Method m, int E, int K, int groups, int topk_group,
                    bool norm, float rsf) {
    RouterParams p;
    p.scoring = s;
    p.method = m;
    p.n_routed_experts = E;
    p.top_k = K;
    p.n_group = groups;
    p.topk_group = topk_group;
    p.norm_topk_prob = norm;
    p.routed_scaling_factor = rsf;
    return p;
}

std::vector<float> logs(std::vector<double> v) {
    std::vector<float> o;
    for (double x : v) o.push_back(float(std::log(x)));
    return o;
}

TEST(MoeRoute, SoftmaxGreedy) {
    // softmax(ln[1,2,3,4]) = [.1,.2,.3,.4] -> experts 3, 2 with weights .4, .3; second token reversed.
    std::vector<float> l = logs({1, 2, 3, 4, 4, 3, 2, 1});
    auto r = route(l, {}, params(RouterParams::Scoring::kSoftmax, RouterParams::Method::kGreedy, 4, 2, 1, 1, false, 1.0f));
    EXPECT_EQ(r.idx, (std::vector<int32_t>{3, 2, 0, 1}));
    EXPECT_NEAR(r.w[0], 0.4f, 1e-6);
    EXPECT_NEAR(r.w[1], 0.3f, 1e-6);
    EXPECT_NEAR(r.w[2], 0.4f, 1e-6);
    EXPECT_NEAR(r.w[3], 0.3f, 1e-6);
    // routed_scaling_factor 2 (no norm): ×2.
    r = route(l, {}, params(RouterParams::Scoring::kSoftmax, RouterParams::Method::kGreedy, 4, 2, 1, 1, false, 2.0f));
    EXPECT_NEAR(r.w[0], 0.8f, 1e-6);
    EXPECT_NEAR(r.w[1], 0.6f, 1e-6);
    // V2 remote code: norm_topk_prob and rsf are exclusive branches: .4/.7, .3/.7 and NO ×2.
    r = route(l, {}, params(RouterParams::Scoring::kSoftmax, RouterParams::Method::kGreedy, 4, 2, 1, 1, true, 2.0f));
    EXPECT_NEAR(r.w[0], 0.4f / 0.7f, 1e-6);
    EXPECT_NEAR(r.w[1], 0.3f / 0.7f, 1e-6);
}

TEST(MoeRoute, SoftmaxGroupLimitedGreedyUsesGroupMax) {
    // s = [.05,.25,.15,.15,.2,.2]; groups {0,1} {2,3} {4,5}; group max = .25, .15, .2.
    std::vector<float> l = logs({1, 5, 3, 3, 4, 4});
    // topk_group 1: only group 0 -> experts 1 (.25), 0 (.05).
    auto r = route(l, {}, params(RouterParams::Scoring::kSoftmax, RouterParams::Method::kGroupLimitedGreedy, 6, 2, 3,
                                 1, false, 1.0f));
    EXPECT_EQ(r.idx, (std::vector<int32_t>{1, 0}));
    EXPECT_NEAR(r.w[0], 0.25f, 1e-6);
    EXPECT_NEAR(r.w[1], 0.05f, 1e-6);
    // topk_group 2: groups 0 and 2 -> 1 (.25), 4 (.2; ties with 5, lower id first).
    r = route(l, {}, params(RouterParams::Scoring::kSoftmax, RouterParams::Method::kGroupLimitedGreedy, 6, 2, 3, 2,
                            false, 1.0f));
    EXPECT_EQ(r.idx, (std::vector<int32_t>{1, 4}));
    EXPECT_NEAR(r.w[1], 0.2f, 1e-6);
}

TEST(MoeRoute, SigmoidNoauxTcBiasSelectsTop2SumGroupsWeightsUnbiased) {
    // s = sigmoid([0,0,ln3,-ln3,0,ln4,0,0]) = [.5,.5,.75,.25,.5,.8,.5,.5]
    // bias = [.48,0,0,.6,0,0,.45,.3] -> sc = [.98,.5,.75,.85,.5,.8,.95,.8]
    // top-2 sums per pair group: 1.48, 1.6, 1.3, 1.75 -> keep groups 3 and 1 (group 0 with .98 is out;
    // a max rule would have kept it) -> candidates 2:.75 3:.85 6:.95 7:.8 -> experts 6, 3.
    // weights from the UNBIASED s: .5, .25 -> normalised 2/3, 1/3 -> × 2.5.
    std::vector<float> l = {0, 0, float(std::log(3.0)), float(-std::log(3.0)), 0, float(std::log(4.0)), 0, 0};
    std::vector<float> bias = {0.48f, 0, 0, 0.6f, 0, 0, 0.45f, 0.3f};
    auto r = route(l, bias, params(RouterParams::Scoring::kSigmoid, RouterParams::Method::kNoauxTc, 8, 2, 4, 2, true,
                                   2.5f));
    EXPECT_EQ(r.idx, (std::vector<int32_t>{6, 3}));
    EXPECT_NEAR(r.w[0], 2.5f * 2.0f / 3.0f, 1e-5);
    EXPECT_NEAR(r.w[1], 2.5f * 1.0f / 3.0f, 1e-5);
    // Without norm: .5·2.5, .25·2.5 (V3 always applies rsf).
    r = route(l, bias, params(RouterParams::Scoring::kSigmoid, RouterParams::Method::kNoauxTc, 8, 2, 4, 2, false, 2.5f));
    EXPECT_NEAR(r.w[0], 1.25f, 1e-6);
    EXPECT_NEAR(r.w[1], 0.625f, 1e-6);
    // n_group 1 (Moonlight): no group limit -> experts 0 (.98), 6 (.95); weights .5/1.0, .5/1.0.
    r = route(l, bias, params(RouterParams::Scoring::kSigmoid, RouterParams::Method::kNoauxTc, 8, 2, 1, 1, true, 1.0f));
    EXPECT_EQ(r.idx, (std::vector<int32_t>{0, 6}));
    EXPECT_NEAR(r.w[0], 0.5f, 1e-6);
}

TEST(MoeRoute, NoauxTcMasksWithZeroLikeHF) {
    // s = .5 everywhere; bias [-1,-1,-.9,-2] -> sc [-.5,-.5,-.4,-1.5]; group sums -1.0 | -1.9 -> keep group 0.
    // HF fills the other group with 0.0, which beats the negative kept scores -> experts 2, 3.
    std::vector<float> l = {0, 0, 0, 0};
    std::vector<float> bias = {-1, -1, -0.9f, -2};
    auto r = route(l, bias, params(RouterParams::Scoring::kSigmoid, RouterParams::Method::kNoauxTc, 4, 2, 2, 1, false,
                                   1.0f));
    EXPECT_EQ(r.idx, (std::vector<int32_t>{2, 3}));
    EXPECT_NEAR(r.w[0], 0.5f, 1e-6);
    EXPECT_NEAR(r.w[1], 0.5f, 1e-6);
}

TEST(MoeRoute, ManyTokensRouteLikeOneAtATime) {
    // 40 tokens (the multi-threaded path) give the same result as routing each token alone.
    RouterParams p = params(RouterParams::Scoring::kSigmoid, RouterParams::Method::kNoauxTc, 8, 3, 4, 2, true, 2.5f);
    std::vector<float> bias = {0.1f, -0.2f, 0.05f, 0.3f, 0, -0.1f, 0.2f, 0.15f};
    std::vector<float> l(40 * 8);
    for (size_t i = 0; i < l.size(); ++i) l[i] = float(std::sin(0.37 * double(i)) * 2.0);
    auto be = engine::make_cpu_backend(2);
    std::vector<int32_t> idx(40 * 3);
    std::vector<float> w(40 * 3);
    be->moe_route(TensorView::contiguous(idx.data(), engine::DType::I32, {40, 3}),
                  TensorView::contiguous(w.data(), engine::DType::F32, {40, 3}),
                  TensorView::contiguous(l.data(), engine::DType::F32, {40, 8}),
                  TensorView::contiguous(bias.data(), engine::DType::F32, {8}), p);
    for (int t = 0; t < 40; ++t) {
        auto one = route(std::vector<float>(l.begin() + t * 8, l.begin() + t * 8 + 8), bias, p);
        for (int k = 0; k < 3; ++k) {
            EXPECT_EQ(idx[size_t(t * 3 + k)], one.idx[size_t(k)]) << "token " << t;
            EXPECT_FLOAT_EQ(w[size_t(t * 3 + k)], one.w[size_t(k)]) << "token " << t;
        }
    }
}

TEST(MoeRoute, RejectsMismatchedShapes) {
    std::vector<float> l(8, 0.0f);  // top_k 5 > 4 experts
    EXPECT_THROW(route(l, {}, params(RouterParams::Scoring::kSoftmax, RouterParams::Method::kGreedy, 4, 5, 1, 1, false,
                                     1.0f)),
                 engine::Error);
}

}  // namespace
