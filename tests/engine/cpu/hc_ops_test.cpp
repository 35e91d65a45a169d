// hc_ops_test.cpp — the CPU backend's hyper-connection ops (backend.h "hyper-connections"):
// hc_coeffs_backward against central finite differences of hc_coeffs for every form (mHC V4 / paper,
// HC, head) and a non-power-of-two n; hc_logits against an fp64 reference and its backward against
// central differences; hc_pre / hc_post_res and their backward against fp64 scalar references; bad
// shapes and aliasing rejected with a named error.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "cpu_test_util.h"
#include "engine/backend.h"
#include "engine/error.h"

namespace engine::test {
namespace {

using Kind = HcParams::Kind;

TensorView v(std::vector<float>& b, std::initializer_list<int64_t> shape) {
    return TensorView::contiguous(b.data(), DType::F32, shape);
}

std::vector<float> randn(std::mt19937& rng, size_t count, float scale) {
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> out(count);
    for (float& x : out) x = d(rng);
    return out;
}

// ∂loss/∂x by central differences: loss() evaluated with x moved by ±h (x restored afterwards), divided by
// the float distance actually stepped.
template <typename Loss>
double central_difference(float& x, float h, Loss&& loss) {
    const float x0 = x;
    x = x0 + h;
    const double up = loss();
    x = x0 - h;
    const double dn = loss();
    x = x0;
    return (up - dn) / (double(x0 + h) - double(x0 - h));
}

struct CoeffCase {
    const char* name;
    Kind kind;
    bool paper;
    int n;
};

class HcCoeffsGrad : public ::testing::TestWithParam<CoeffCase> {};

// L = Σ wp·pre + Σ wq·post + Σ wa·mix in double; its gradient in m, base and scale from the op vs
// central differences (step 1e-3 on float inputs; the op computes in fp64 and rounds its outputs).
TEST_P(HcCoeffsGrad, BackwardMatchesFiniteDifferences) {
    const CoeffCase c = GetParam();
    HcParams p;
    p.kind = c.kind;
    p.n = c.n;
    p.sinkhorn_iters = 20;
    p.eps = 1e-6f;
    p.paper_form = c.paper;
    const int64_t T = 3, n = c.n, K = p.logits(), S = p.scales();
    std::mt19937 rng(7 + n);
    std::vector<float> m = randn(rng, size_t(T * K), 0.8f), base = randn(rng, size_t(K), 0.5f);
    std::vector<float> scale = {0.7f, 1.3f, 0.9f};
    scale.resize(size_t(S));
    const std::vector<float> wp = randn(rng, size_t(T * n), 1.0f), wq = randn(rng, size_t(T * n), 1.0f),
                             wa = randn(rng, size_t(T * n * n), 1.0f);
    auto be = make_cpu_backend(1);
    const bool head = c.kind == Kind::kHead;
    auto loss = [&]() {
        std::vector<float> pre(size_t(T * n)), post(size_t(T * n)), mix(size_t(T * n * n));
        be->hc_coeffs(v(pre, {T, n}), head ? TensorView{} : v(post, {T, n}), head ? TensorView{} : v(mix, {T, n, n}),
                      v(m, {T, K}), v(base, {K}), v(scale, {S}), p);
        double L = 0;
        for (size_t i = 0; i < pre.size(); ++i) L += double(wp[i]) * pre[i];
        if (head) return L;
        for (size_t i = 0; i < post.size(); ++i) L += double(wq[i]) * post[i];
        for (size_t i = 0; i < mix.size(); ++i) L += double(wa[i]) * mix[i];
        return L;
    };
    std::vector<float> dm(size_t(T * K)), dbase(size_t(K), 0.25f), dscale(size_t(S), -0.5f);  // accumulate onto these
    std::vector<float> gp(wp), gq(wq), ga(wa);
    be->hc_coeffs_backward(v(dm, {T, K}), v(dbase, {K}), v(dscale, {S}), v(gp, {T, n}),
                           head ? TensorView{} : v(gq, {T, n}), head ? TensorView{} : v(ga, {T, n, n}), v(m, {T, K}),
                           v(base, {K}), v(scale, {S}), p);
    auto fd = [&](float& x) { return central_difference(x, 1e-3f, loss); };
    for (size_t i = 0; i < m.size(); ++i) EXPECT_NEAR(dm[i], fd(m[i]), 2e-3 + 2e-3 * std::abs(dm[i])) << "dm " << i;
    for (size_t k = 0; k < base.size(); ++k)
        EXPECT_NEAR(dbase[k] - 0.25f, fd(base[k]), 2e-3 + 2e-3 * std::abs(dbase[k])) << "dbase " << k;
    for (size_t g = 0; g < scale.size(); ++g)
        EXPECT_NEAR(dscale[g] + 0.5f, fd(scale[g]), 3e-3 + 2e-3 * std::abs(dscale[g])) << "dscale " << g;
}

INSTANTIATE_TEST_SUITE_P(Forms, HcCoeffsGrad,
                         ::testing::Values(CoeffCase{"mhc_v4", Kind::kMHC, false, 4},
                                           CoeffCase{"mhc_paper", Kind::kMHC, true, 4},
                                           CoeffCase{"mhc_v4_n3", Kind::kMHC, false, 3},
                                           CoeffCase{"hc", Kind::kHC, false, 4},
                                           CoeffCase{"head", Kind::kHead, false, 4}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(HcOps, PreAndPostResMatchScalarReferences) {
    const int64_t T = 5, n = 4, D = 37;
    std::mt19937 rng(3);
    std::vector<float> X = randn(rng, size_t(T * n * D), 1.0f), y = randn(rng, size_t(T * D), 1.0f),
                       pre = randn(rng, size_t(T * n), 1.0f), post = randn(rng, size_t(T * n), 1.0f),
                       mix = randn(rng, size_t(T * n * n), 1.0f), g = randn(rng, size_t(T * n * D), 1.0f),
                       du = randn(rng, size_t(T * D), 1.0f);
    auto be = make_cpu_backend(2);
    std::vector<float> u(size_t(T * D)), Xo(size_t(T * n * D));
    be->hc_pre(v(u, {T, D}), v(X, {T, n, D}), v(pre, {T, n}));
    be->hc_post_res(v(Xo, {T, n, D}), v(X, {T, n, D}), v(y, {T, D}), v(post, {T, n}), v(mix, {T, n, n}));
    std::vector<float> dpre(size_t(T * n)), dX(size_t(T * n * D), 0.5f);  // dX accumulates in hc_pre_backward
    be->hc_pre_backward(v(dpre, {T, n}), v(dX, {T, n, D}), v(du, {T, D}), v(X, {T, n, D}), v(pre, {T, n}));
    std::vector<float> dy(size_t(T * D)), dpost(size_t(T * n)), dmix(size_t(T * n * n)), dX2(size_t(T * n * D));
    be->hc_post_res_backward(v(dy, {T, D}), v(dpost, {T, n}), v(dmix, {T, n, n}), v(dX2, {T, n, D}),
                             v(g, {T, n, D}), v(X, {T, n, D}), v(y, {T, D}), v(post, {T, n}), v(mix, {T, n, n}));
    auto at = [&](const std::vector<float>& b, int64_t t, int64_t i, int64_t d) { return double(b[size_t((t * n + i) * D + d)]); };
    for (int64_t t = 0; t < T; ++t) {
        for (int64_t d = 0; d < D; ++d) {
            double ru = 0, rdy = 0;
            for (int64_t i = 0; i < n; ++i) {
                ru += pre[size_t(t * n + i)] * at(X, t, i, d);
                rdy += post[size_t(t * n + i)] * at(g, t, i, d);
            }
            EXPECT_NEAR(u[size_t(t * D + d)], ru, 1e-5) << "u t=" << t << " d=" << d;
            EXPECT_NEAR(dy[size_t(t * D + d)], rdy, 1e-5) << "dy t=" << t << " d=" << d;
            for (int64_t a = 0; a < n; ++a) {
                double ro = post[size_t(t * n + a)] * double(y[size_t(t * D + d)]), rdx = 0;
                for (int64_t b = 0; b < n; ++b) {
                    ro += mix[size_t((t * n + a) * n + b)] * at(X, t, b, d);
                    rdx += mix[size_t((t * n + b) * n + a)] * at(g, t, b, d);  // Σ_b mix[b][a]·g_b
                }
                EXPECT_NEAR(at(Xo, t, a, d), ro, 1e-5) << "Xout t=" << t << " a=" << a << " d=" << d;
                EXPECT_NEAR(at(dX2, t, a, d), rdx, 1e-5) << "dX (post_res) t=" << t << " a=" << a;
                EXPECT_NEAR(at(dX, t, a, d), 0.5 + pre[size_t(t * n + a)] * double(du[size_t(t * D + d)]), 1e-5)
                    << "dX (pre, accumulated) t=" << t << " a=" << a;
            }
        }
        for (int64_t a = 0; a < n; ++a) {
            double rp = 0, rq = 0;
            for (int64_t d = 0; d < D; ++d) {
                rp += double(du[size_t(t * D + d)]) * at(X, t, a, d);
                rq += at(g, t, a, d) * y[size_t(t * D + d)];
            }
            EXPECT_NEAR(dpre[size_t(t * n + a)], rp, 1e-4);
            EXPECT_NEAR(dpost[size_t(t * n + a)], rq, 1e-4);
            for (int64_t b = 0; b < n; ++b) {
                double ra = 0;
                for (int64_t d = 0; d < D; ++d) ra += at(g, t, a, d) * at(X, t, b, d);
                EXPECT_NEAR(dmix[size_t((t * n + a) * n + b)], ra, 1e-4);
            }
        }
    }
}

// m = (v·fnᵀ)·rsqrt(mean(v²) + eps) against an fp64 scalar reference; the backward (dX accumulates, dfn
// accumulates) against central differences of L = Σ w·m.
TEST(HcOps, LogitsForwardAndBackward) {
    const int64_t T = 4, n = 3, D = 11, nD = n * D, K = n * n + 2 * n;
    const float eps = 1e-6f;
    std::mt19937 rng(11);
    std::vector<float> X = randn(rng, size_t(T * nD), 1.0f), fn = randn(rng, size_t(K * nD), 0.3f),
                       w = randn(rng, size_t(T * K), 1.0f);
    auto be = make_cpu_backend(2);
    auto forward = [&](std::vector<float>& m, std::vector<float>& rho) {
        m.assign(size_t(T * K), 0.0f);
        rho.assign(size_t(T), 0.0f);
        be->hc_logits(v(m, {T, K}), v(rho, {T}), v(X, {T, n, D}), v(fn, {K, nD}), eps);
    };
    std::vector<float> m, rho;
    forward(m, rho);
    for (int64_t t = 0; t < T; ++t) {
        double ss = 0;
        for (int64_t i = 0; i < nD; ++i) ss += double(X[size_t(t * nD + i)]) * X[size_t(t * nD + i)];
        const double r = 1.0 / std::sqrt(ss / double(nD) + eps);
        EXPECT_NEAR(rho[size_t(t)], r, 1e-6 * r);
        for (int64_t k = 0; k < K; ++k) {
            double a = 0;
            for (int64_t i = 0; i < nD; ++i) a += double(X[size_t(t * nD + i)]) * fn[size_t(k * nD + i)];
            EXPECT_NEAR(m[size_t(t * K + k)], a * r, 1e-5) << "t=" << t << " k=" << k;
        }
    }
    std::vector<float> dX(size_t(T * nD), 0.25f), dfn(size_t(K * nD), -0.5f);  // both accumulate
    be->hc_logits_backward(v(dX, {T, n, D}), v(dfn, {K, nD}), v(w, {T, K}), v(X, {T, n, D}), v(fn, {K, nD}), v(m, {T, K}),
                           v(rho, {T}));
    auto loss = [&]() {
        std::vector<float> mm, rr;
        forward(mm, rr);
        double L = 0;
        for (size_t i = 0; i < mm.size(); ++i) L += double(w[i]) * mm[i];
        return L;
    };
    auto fd = [&](float& x) { return central_difference(x, 1e-2f, loss); };
    for (size_t i = 0; i < X.size(); ++i)
        EXPECT_NEAR(dX[i] - 0.25f, fd(X[i]), 2e-3 + 2e-3 * std::abs(dX[i])) << "dX " << i;
    for (size_t i = 0; i < fn.size(); i += 7)
        EXPECT_NEAR(dfn[i] + 0.5f, fd(fn[i]), 2e-3 + 2e-3 * std::abs(dfn[i])) << "dfn " << i;
    // A frozen fn (dfn empty) still gives dX.
    std::vector<float> dX2(size_t(T * nD), 0.25f);
    be->hc_logits_backward(v(dX2, {T, n, D}), TensorView{}, v(w, {T, K}), v(X, {T, n, D}), v(fn, {K, nD}), v(m, {T, K}),
                           v(rho, {T}));
    for (size_t i = 0; i < dX.size(); ++i) EXPECT_EQ(dX2[i], dX[i]);
}

TEST(HcOps, BadShapesAndAliasingAreNamedErrors) {
    auto be = make_cpu_backend(1);
    std::vector<float> X(2 * 4 * 8), u(2 * 8), pre(2 * 4), post(2 * 4), mix(2 * 16), m(2 * 24), base(24), scale(3);
    HcParams p;
    auto expect_error = [](auto&& f, const char* needle) {
        try {
            f();
            ADD_FAILURE() << "no error for " << needle;
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
            EXPECT_NE(e.message().find(needle), std::string::npos) << e.message();
        }
    };
    expect_error([&] { be->hc_pre(v(u, {2, 8}), v(X, {2, 4, 8}), v(pre, {2, 3})); }, "pre [2, 3]");
    expect_error([&] { be->hc_post_res(v(X, {2, 4, 8}), v(X, {2, 4, 8}), v(u, {2, 8}), v(post, {2, 4}), v(mix, {2, 4, 4})); },
                 "overlaps");
    expect_error([&] { be->hc_coeffs(v(pre, {2, 4}), v(post, {2, 4}), v(mix, {2, 4, 4}), v(m, {2, 20}),
                                     v(base, {24}), v(scale, {3}), p); },
                 "columns");
    p.sinkhorn_iters = 0;
    expect_error([&] { be->hc_coeffs(v(pre, {2, 4}), v(post, {2, 4}), v(mix, {2, 4, 4}), v(m, {2, 24}),
                                     v(base, {24}), v(scale, {3}), p); },
                 "hc_sinkhorn_iters");
}

}  // namespace
}  // namespace engine::test
