// test_hyper_connections.cpp — the per-token mHC / HC coefficients (Backend::hc_coeffs on the CPU
// reference backend, as the model calls it through model/hyper_connections.h) against mhc.md §7: the
// paper-form Sinkhorn reference vector (fp64 values from the spec), doubly-stochastic invariants of the
// V4 form, and the HC tanh parameterisation.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/backend.h"
#include "engine/config.h"
#include "model/hyper_connections.h"

namespace {

using engine::ModelConfig;
using engine::TensorView;

constexpr int n = 4;
const double kL[n * n] = {0.5, -0.3, 0.1, 0.0, 0.2, 0.8, -0.5, 0.3, -0.1, 0.0, 0.4, -0.2, 0.3, -0.6, 0.2, 0.9};

struct HcWeights {
    std::vector<float> base, scale;
};

struct Coeffs {
    float pre[n], post[n], mix[n * n];
};

TensorView view(const float* p, std::initializer_list<int64_t> shape) {
    return TensorView::contiguous(const_cast<float*>(p), engine::DType::F32, shape);
}

Coeffs compute(engine::ResidualKind kind, bool paper, int iters, const float* m, const HcWeights& w) {
    ModelConfig c;
    c.residual_kind = kind;
    c.hc_mult = n;
    c.hc_paper_form = paper;
    c.hc_sinkhorn_iters = iters;
    c.hc_eps = 1e-6;
    const engine::HcParams p = engine::model::hc_params(c, /*head=*/false);
    Coeffs out{};
    auto be = engine::make_cpu_backend(1);
    be->hc_coeffs(view(out.pre, {1, n}), view(out.post, {1, n}), view(out.mix, {1, n, n}),
                  view(m, {1, n * n + 2 * n}), view(w.base.data(), {n * n + 2 * n}), view(w.scale.data(), {3}), p);
    return out;
}

HcWeights unit_weights() {
    HcWeights w;
    w.base.assign(n * n + 2 * n, 0.0f);
    w.scale = {1.0f, 1.0f, 1.0f};
    return w;
}

TEST(HyperConnections, PaperFormMatchesSpecReferenceVector) {
    float m[n * n + 2 * n] = {};
    for (int k = 0; k < n * n; ++k) m[2 * n + k] = float(kL[k]);
    HcWeights w = unit_weights();
    Coeffs c20 = compute(engine::ResidualKind::kMHC, true, 20, m, w);
    const double row0[n] = {0.3507240159, 0.1829775458, 0.2656889654, 0.2006094729};
    const double row3[n] = {0.2373612865, 0.1120502248, 0.2427203804, 0.4078681084};
    for (int j = 0; j < n; ++j) {
        EXPECT_NEAR(c20.mix[j], row0[j], 2e-7) << "T=20 row 0 col " << j;
        EXPECT_NEAR(c20.mix[3 * n + j], row3[j], 2e-7) << "T=20 row 3 col " << j;
    }
    Coeffs c1 = compute(engine::ResidualKind::kMHC, true, 1, m, w);
    const double row0_t1[n] = {0.3522829829, 0.1796637811, 0.2734929905, 0.1945602455};
    for (int j = 0; j < n; ++j) EXPECT_NEAR(c1.mix[j], row0_t1[j], 2e-7) << "T=1 row 0 col " << j;
    for (int i = 0; i < n; ++i) {  // rows sum to 1 (row normalisation runs last), entries > 0
        double s = 0;
        for (int j = 0; j < n; ++j) {
            s += c20.mix[i * n + j];
            EXPECT_GT(c20.mix[i * n + j], 0.0f);
        }
        EXPECT_NEAR(s, 1.0, 1e-6);
        EXPECT_NEAR(c20.pre[i], 0.5, 1e-7);   // σ(0), no eps in the paper form
        EXPECT_NEAR(c20.post[i], 1.0, 1e-7);  // 2σ(0)
    }
}

TEST(HyperConnections, V4FormIsNearDoublyStochasticAndTransposed) {
    float m[n * n + 2 * n];
    for (int k = 0; k < n * n + 2 * n; ++k) m[k] = float(std::sin(1.7 * k));
    HcWeights w = unit_weights();
    w.scale = {0.5f, 2.0f, 3.0f};
    Coeffs c = compute(engine::ResidualKind::kMHC, false, 20, m, w);
    for (int a = 0; a < n; ++a) {
        double row = 0, col = 0;
        for (int b = 0; b < n; ++b) {
            row += c.mix[a * n + b];  // = column a of C
            col += c.mix[b * n + a];  // = row a of C
        }
        EXPECT_NEAR(row, 1.0, 1e-5) << "columns of C are normalised last (eps in the denominator)";
        EXPECT_NEAR(col, 1.0, 5e-3) << "rows of C after 20 iterations";
        EXPECT_NEAR(c.pre[a], 1.0 / (1.0 + std::exp(-0.5 * m[a])) + 1e-6, 1e-6);
        EXPECT_NEAR(c.post[a], 2.0 / (1.0 + std::exp(-2.0 * m[n + a])), 1e-6);
    }
    // Init-like base: base_res = 6·I and m = 0 -> close to the identity (streams kept apart).
    HcWeights init = unit_weights();
    for (int i = 0; i < n; ++i) init.base[2 * n + i * n + i] = 6.0f;
    float zero[n * n + 2 * n] = {};
    Coeffs ci = compute(engine::ResidualKind::kMHC, false, 20, zero, init);
    for (int a = 0; a < n; ++a)
        for (int b = 0; b < n; ++b) EXPECT_NEAR(ci.mix[a * n + b], a == b ? 0.99 : 0.0033, 0.01);
}

TEST(HyperConnections, HcUsesTanhAroundStaticBase) {
    float m[n * n + 2 * n];
    for (int k = 0; k < n * n + 2 * n; ++k) m[k] = 0.1f * float(k) - 1.0f;
    HcWeights w = unit_weights();
    for (int k = 0; k < n * n + 2 * n; ++k) w.base[size_t(k)] = 0.01f * float(k);
    w.scale = {0.3f, 0.4f, 0.5f};
    Coeffs c = compute(engine::ResidualKind::kHC, false, 20, m, w);
    for (int i = 0; i < n; ++i) {
        EXPECT_NEAR(c.pre[i], 0.01 * i + 0.3 * std::tanh(m[i]), 1e-6);
        EXPECT_NEAR(c.post[i], 0.01 * (n + i) + 0.4 * std::tanh(m[n + i]), 1e-6);
    }
    for (int k = 0; k < n * n; ++k) EXPECT_NEAR(c.mix[k], 0.01 * (2 * n + k) + 0.5 * std::tanh(m[2 * n + k]), 1e-6);
}

}  // namespace
