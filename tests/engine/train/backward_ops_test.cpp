// backward_ops_test.cpp — every training op of the Backend checked two ways:
//  (1) the kernel templates of cpu/train_kernels.h instantiated in fp64 against central finite
//      differences of a double-precision forward written in this file (h = 1e-6);
//  (2) the CPU backend's fp32 op against that fp64 kernel on the same inputs (≤ 1e-4 relative).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "cpu/train_kernels.h"
#include "engine/backend.h"
#include "grad_check.h"

namespace {

using namespace train_test;
namespace tk = engine::train_kernels;
using engine::DType;
using engine::TensorView;

TensorView view(std::vector<float>& v, std::initializer_list<int64_t> shape) {
    return TensorView::contiguous(v.data(), DType::F32, shape);
}
TensorView view(std::vector<int32_t>& v, std::initializer_list<int64_t> shape) {
    return TensorView::contiguous(v.data(), DType::I32, shape);
}

// ---- scalar fp64 forwards (references) ----
std::vector<double> rmsnorm_ref(const std::vector<double>& x, const std::vector<double>& w, int rows, int n,
                                double eps) {
    std::vector<double> y(x.size());
    for (int r = 0; r < rows; ++r) {
        double ss = 0;
        for (int i = 0; i < n; ++i) ss += x[r * n + i] * x[r * n + i];
        const double rs = 1.0 / std::sqrt(ss / n + eps);
        for (int i = 0; i < n; ++i) y[r * n + i] = w[i] * x[r * n + i] * rs;
    }
    return y;
}

TEST(BackwardOps, RmsNormFiniteDifferences) {
    const int rows = 3, n = 8;
    const double eps = 1e-6;
    auto x = randn(rows * n, 1), w = randn(n, 2), R = randn(rows * n, 3);
    std::vector<double> dx(x.size()), dw(n, 0.0);
    tk::rmsnorm_backward<double>(dx.data(), n, dw.data(), R.data(), n, x.data(), n, w.data(), rows, n, eps);
    auto f = [&] { return dot(R, rmsnorm_ref(x, w, rows, n, eps)); };
    fd_check("rmsnorm dx", x, dx, f, 1e-7);
    fd_check("rmsnorm dw", w, dw, f, 1e-7);

    auto be = engine::make_cpu_backend(1);
    auto xf = to_f32(x), wf = to_f32(w), Rf = to_f32(R);
    std::vector<float> dxf(x.size()), dwf(n, 0.0f);
    be->rmsnorm_backward(view(dxf, {rows, n}), view(dwf, {n}), view(Rf, {rows, n}), view(xf, {rows, n}),
                         view(wf, {n}), float(eps));
    EXPECT_LE(rel_max_diff(dxf, dx), 1e-4);
    EXPECT_LE(rel_max_diff(dwf, dw), 1e-4);
}

TEST(BackwardOps, RopeBackwardIsTheInverseRotation) {
    const int T = 4, H = 2, dr = 6;
    auto x = randn(T * H * dr, 4), R = randn(T * H * dr, 5);
    std::vector<int32_t> pos = {0, 3, 7, 100};
    std::vector<float> inv = {1.0f, 0.1f, 0.01f};
    const float af = 1.3f;
    auto fwd = [&] {
        std::vector<double> y = x;
        tk::rope_apply<double>(y.data(), dr, T, H, dr, pos.data(), inv.data(), af, false);
        return dot(R, y);
    };
    std::vector<double> dx = R;
    tk::rope_apply<double>(dx.data(), dr, T, H, dr, pos.data(), inv.data(), af, true);
    fd_check("rope dx", x, dx, fwd, 1e-7);

    auto be = engine::make_cpu_backend(1);
    auto Rf = to_f32(R);
    be->rope_backward(view(Rf, {T, H, dr}), view(pos, {T}), view(inv, {3}), af);
    EXPECT_LE(rel_max_diff(Rf, dx), 1e-4);
    // Forward then backward with af = 1 is the identity (rotation is orthogonal).
    auto xf = to_f32(x), x0 = xf;
    be->rope(view(xf, {T, H, dr}), view(pos, {T}), view(inv, {3}), 1.0f);
    be->rope_backward(view(xf, {T, H, dr}), view(pos, {T}), view(inv, {3}), 1.0f);
    EXPECT_LE(rel_max_diff(xf, x0), 1e-5);
}

void attention_case(int T, int S, int H, int Hk, int dk, int dv, int q_pos0, uint32_t seed) {
    auto q = randn(T * H * dk, seed), k = randn(S * Hk * dk, seed + 1), v = randn(S * Hk * dv, seed + 2),
         R = randn(T * H * dv, seed + 3);
    const double scale = 1.0 / std::sqrt(double(dk));
    tk::AttnDims a{T, S, H, Hk, dk, dv, q_pos0, H * dk, Hk * dk, Hk * dv, H * dv};
    auto f = [&] {
        std::vector<double> o(T * H * dv);
        tk::attention_forward<double>(o.data(), q.data(), k.data(), v.data(), a, scale);
        return dot(R, o);
    };
    std::vector<double> dq(q.size()), dk_(k.size()), dv_(v.size());
    tk::attention_backward<double>(dq.data(), dk_.data(), dv_.data(), R.data(), q.data(), k.data(), v.data(), a,
                                   scale);
    fd_check("attention dq", q, dq, f, 1e-7);
    fd_check("attention dk", k, dk_, f, 1e-7);
    fd_check("attention dv", v, dv_, f, 1e-7);

    auto be = engine::make_cpu_backend(2);
    auto qf = to_f32(q), kf = to_f32(k), vf = to_f32(v), Rf = to_f32(R);
    std::vector<float> dqf(q.size()), dkf(k.size()), dvf(v.size()), of(T * H * dv), of2(T * H * dv);
    be->attention_backward(view(dqf, {T, H, dk}), view(dkf, {S, Hk, dk}), view(dvf, {S, Hk, dv}),
                           view(Rf, {T, H, dv}), view(qf, {T, H, dk}), view(kf, {S, Hk, dk}), view(vf, {S, Hk, dv}),
                           float(scale), q_pos0);
    EXPECT_LE(rel_max_diff(dqf, dq), 1e-4);
    EXPECT_LE(rel_max_diff(dkf, dk_), 1e-4);
    EXPECT_LE(rel_max_diff(dvf, dv_), 1e-4);
    // The explicit fp64 forward used here is the same function as the backend's attention().
    std::vector<double> od(T * H * dv);
    tk::attention_forward<double>(od.data(), q.data(), k.data(), v.data(), a, scale);
    be->attention(view(of, {T, H, dv}), view(qf, {T, H, dk}), view(kf, {S, Hk, dk}), view(vf, {S, Hk, dv}),
                  float(scale), q_pos0);
    EXPECT_LE(rel_max_diff(of, od), 1e-4);
}

TEST(BackwardOps, AttentionMultiHeadFiniteDifferences) { attention_case(4, 4, 2, 2, 5, 3, 0, 10); }
TEST(BackwardOps, AttentionSharedKvHeadWithOffset) { attention_case(3, 6, 3, 1, 4, 4, 3, 20); }
TEST(BackwardOps, AttentionMultiHeadMaskedKeys) { attention_case(3, 6, 3, 3, 4, 5, 2, 30); }

TEST(BackwardOps, SiluMulFiniteDifferences) {
    const int n = 12;
    auto g = randn(n, 30, 2.0), u = randn(n, 31), R = randn(n, 32);
    auto f = [&] {
        double s = 0;
        for (int i = 0; i < n; ++i) s += R[i] * g[i] / (1 + std::exp(-g[i])) * u[i];
        return s;
    };
    std::vector<double> dg(n), du(n);
    tk::silu_mul_backward<double>(dg.data(), du.data(), R.data(), g.data(), u.data(), n);
    fd_check("silu dgate", g, dg, f, 1e-7);
    fd_check("silu dup", u, du, f, 1e-7);
    auto be = engine::make_cpu_backend(1);
    auto gf = to_f32(g), uf = to_f32(u), Rf = to_f32(R);
    std::vector<float> dgf(n), duf(n);
    be->silu_mul_backward(view(dgf, {3, 4}), view(duf, {3, 4}), view(Rf, {3, 4}), view(gf, {3, 4}), view(uf, {3, 4}));
    EXPECT_LE(rel_max_diff(dgf, dg), 1e-4);
    EXPECT_LE(rel_max_diff(duf, du), 1e-4);
}

TEST(BackwardOps, EmbeddingScatterAddsRepeatedIds) {
    const int V = 5, D = 3, T = 4;
    std::vector<int32_t> ids = {1, 3, 1, 0};
    auto table = randn(V * D, 40), R = randn(T * D, 41);
    auto f = [&] {
        double s = 0;
        for (int t = 0; t < T; ++t)
            for (int d = 0; d < D; ++d) s += R[t * D + d] * table[ids[t] * D + d];
        return s;
    };
    std::vector<double> dt(V * D, 0.0);
    tk::embedding_backward<double>(dt.data(), D, R.data(), D, ids.data(), T, D);
    fd_check("embedding dtable", table, dt, f, 1e-7);
    auto be = engine::make_cpu_backend(1);
    std::vector<float> dtf(V * D, 0.0f);
    auto Rf = to_f32(R);
    be->embedding_backward(view(dtf, {V, D}), view(Rf, {T, D}), view(ids, {T}));
    EXPECT_LE(rel_max_diff(dtf, dt), 1e-5);
    EXPECT_EQ(dtf[2 * D], 0.0f);  // id 2 never appears
    std::vector<int32_t> bad = {0, 5, 0, 0};
    EXPECT_THROW(be->embedding_backward(view(dtf, {V, D}), view(Rf, {T, D}), view(bad, {T})), engine::Error);
}

TEST(BackwardOps, CrossEntropyWithIgnoreIndex) {
    const int T = 4, V = 6;
    auto logits = randn(T * V, 50, 2.0);
    std::vector<int32_t> tg = {2, -100, 5, 0};
    auto f = [&] {  // mean over the 3 counted tokens of −log softmax[target]
        double s = 0;
        for (int t = 0; t < T; ++t) {
            if (tg[t] == -100) continue;
            double z = 0;
            for (int i = 0; i < V; ++i) z += std::exp(logits[t * V + i]);
            s += std::log(z) - logits[t * V + tg[t]];
        }
        return s / 3.0;
    };
    std::vector<double> dl(T * V);
    int64_t counted = 0;
    const double loss = tk::cross_entropy<double>(dl.data(), V, logits.data(), V, tg.data(), T, V, -100, 1.0, &counted);
    EXPECT_EQ(counted, 3);
    EXPECT_NEAR(loss, f(), 1e-12);
    fd_check("cross_entropy dlogits", logits, dl, f, 1e-7);
    auto be = engine::make_cpu_backend(1);
    auto lf = to_f32(logits);
    std::vector<float> dlf(T * V, 7.0f);
    const float lossf = be->cross_entropy(view(dlf, {T, V}), view(lf, {T, V}), view(tg, {T}), -100, 1.0f, &counted);
    EXPECT_NEAR(lossf, loss, 1e-4 * std::abs(loss));
    EXPECT_LE(rel_max_diff(dlf, dl), 1e-4);
    for (int i = 0; i < V; ++i) EXPECT_EQ(dlf[V + i], 0.0f);  // ignored row
    std::vector<int32_t> all_ignored(T, -100);
    EXPECT_EQ(be->cross_entropy(view(dlf, {T, V}), view(lf, {T, V}), view(all_ignored, {T})), 0.0f);
}

TEST(BackwardOps, MoeCombineBackward) {
    const int T = 3, D = 4, n = 5;
    std::vector<int32_t> rows = {0, 2, 0, 1, 2};
    auto src = randn(n * D, 60), sc = randn(n, 61), R = randn(T * D, 62);
    auto f = [&] {
        std::vector<double> y(T * D, 0.0);
        for (int i = 0; i < n; ++i)
            for (int d = 0; d < D; ++d) y[rows[i] * D + d] += sc[i] * src[i * D + d];
        return dot(R, y);
    };
    std::vector<double> dsrc(n * D), dsc(n);
    tk::scatter_add_rows_backward<double>(dsrc.data(), dsc.data(), R.data(), D, src.data(), D, rows.data(), sc.data(),
                                          n, D);
    fd_check("combine dsrc", src, dsrc, f, 1e-7);
    fd_check("combine dscale", sc, dsc, f, 1e-7);
    auto be = engine::make_cpu_backend(1);
    auto srcf = to_f32(src), scf = to_f32(sc), Rf = to_f32(R);
    std::vector<float> dsrcf(n * D), dscf(n);
    be->scatter_add_rows_backward(view(dsrcf, {n, D}), view(dscf, {n}), view(Rf, {T, D}), view(srcf, {n, D}),
                                  view(rows, {n}), view(scf, {n}));
    EXPECT_LE(rel_max_diff(dsrcf, dsrc), 1e-5);
    EXPECT_LE(rel_max_diff(dscf, dsc), 1e-5);
}

// `method` decides the weight convention of moe_route (and so of its backward); `norm`/`rsf` here are the
// effective ones the fp64 reference uses.
void router_case(bool softmax, bool norm, double rsf,
                 engine::RouterParams::Method method = engine::RouterParams::Method::kNoauxTc,
                 bool cfg_norm = false, float cfg_rsf = 0.0f) {
    const int T = 3, E = 6, K = 2;
    auto logits = randn(T * E, 70 + softmax + 2 * norm), R = randn(T * K, 75);
    std::vector<int32_t> idx = {1, 4, 0, 5, 3, 2};
    auto f = [&] {
        std::vector<double> w(T * K);
        tk::moe_router_weights<double>(w.data(), logits.data(), idx.data(), T, E, K, softmax, norm, rsf);
        return dot(R, w);
    };
    std::vector<double> dl(T * E);
    tk::moe_router_backward<double>(dl.data(), R.data(), logits.data(), idx.data(), T, E, K, softmax, norm, rsf);
    fd_check(std::string("router dlogits softmax=") + (softmax ? "1" : "0") + " norm=" + (norm ? "1" : "0"), logits,
             dl, f, 1e-7);
    auto be = engine::make_cpu_backend(1);
    engine::RouterParams p;
    p.scoring = softmax ? engine::RouterParams::Scoring::kSoftmax : engine::RouterParams::Scoring::kSigmoid;
    p.method = method;
    p.norm_topk_prob = method == engine::RouterParams::Method::kNoauxTc ? norm : cfg_norm;
    p.routed_scaling_factor = method == engine::RouterParams::Method::kNoauxTc ? float(rsf) : cfg_rsf;
    p.n_routed_experts = E;
    p.top_k = K;
    auto lf = to_f32(logits), Rf = to_f32(R);
    std::vector<float> dlf(T * E);
    be->moe_router_backward(view(dlf, {T, E}), view(Rf, {T, K}), view(lf, {T, E}), view(idx, {T, K}), p);
    EXPECT_LE(rel_max_diff(dlf, dl), 1e-4);
}

TEST(BackwardOps, RouterSoftmaxPlain) { router_case(true, false, 1.0); }
TEST(BackwardOps, RouterSoftmaxNormalised) { router_case(true, true, 1.0); }
TEST(BackwardOps, RouterSigmoidNormalisedScaled) { router_case(false, true, 2.5); }
TEST(BackwardOps, RouterSigmoidPlainScaled) { router_case(false, false, 1.7); }
// V2 remote-code convention (exclusive branches): norm_topk_prob with K > 1 normalises and does NOT scale...
TEST(BackwardOps, RouterGreedyNormalisedIgnoresScale) {
    router_case(true, true, 1.0, engine::RouterParams::Method::kGreedy, true, 3.0f);
}
// ...and without it the weights are scaled.
TEST(BackwardOps, RouterGreedyPlainScaled) {
    router_case(true, false, 2.0, engine::RouterParams::Method::kGreedy, false, 2.0f);
}

TEST(BackwardOps, MatmulWeightGradIsDyTransposeX) {
    const int M = 5, N = 3, K = 4;
    auto dy = randn(M * N, 80), x = randn(M * K, 81);
    std::vector<double> ref(N * K, 0.0);
    for (int n = 0; n < N; ++n)
        for (int k = 0; k < K; ++k)
            for (int m = 0; m < M; ++m) ref[n * K + k] += dy[m * N + n] * x[m * K + k];
    auto be = engine::make_cpu_backend(1);
    auto dyf = to_f32(dy), xf = to_f32(x);
    std::vector<float> dw(N * K, 0.0f);
    be->matmul_weight_grad(view(dw, {N, K}), view(dyf, {M, N}), view(xf, {M, K}), false);
    EXPECT_LE(rel_max_diff(dw, ref), 1e-5);
    be->matmul_weight_grad(view(dw, {N, K}), view(dyf, {M, N}), view(xf, {M, K}), true);  // accumulates
    for (auto& r : ref) r *= 2;
    EXPECT_LE(rel_max_diff(dw, ref), 1e-5);
}

TEST(BackwardOps, AdamWDecoupledDecayAndBiasCorrection) {
    const int n = 4;
    auto p0 = randn(n, 90), g = randn(n, 91);
    const double lr = 0.01, b1 = 0.9, b2 = 0.95, eps = 1e-8, wd = 0.1;
    // Reference: PyTorch AdamW semantics written out (p ← p·(1 − lr·wd) − lr·m̂/(√v̂ + eps)), two steps.
    std::vector<double> p = p0, m(n, 0.0), v(n, 0.0);
    for (int step = 1; step <= 2; ++step)
        for (int i = 0; i < n; ++i) {
            m[i] = b1 * m[i] + (1 - b1) * g[i];
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
            const double mh = m[i] / (1 - std::pow(b1, step)), vh = v[i] / (1 - std::pow(b2, step));
            p[i] = p[i] * (1 - lr * wd) - lr * mh / (std::sqrt(vh) + eps);
        }
    auto be = engine::make_cpu_backend(1);
    auto pf = to_f32(p0), gf = to_f32(g);
    std::vector<float> mf(n, 0.0f), vf(n, 0.0f);
    for (int step = 1; step <= 2; ++step)
        be->adamw_step(view(pf, {n}), view(gf, {n}), view(mf, {n}), view(vf, {n}), float(lr), float(b1), float(b2),
                       float(eps), float(wd), step);
    EXPECT_LE(rel_max_diff(pf, p), 1e-6);
    // First bias-corrected step moves each weight by ≈ lr·sign(g) (plus the decay).
    auto p1 = to_f32(p0);
    std::vector<float> m1(n, 0.0f), v1(n, 0.0f);
    be->adamw_step(view(p1, {n}), view(gf, {n}), view(m1, {n}), view(v1, {n}), float(lr), float(b1), float(b2),
                   float(eps), float(wd), 1);
    for (int i = 0; i < n; ++i) EXPECT_NEAR(p1[i], p0[i] * (1 - lr * wd) - lr * (g[i] > 0 ? 1 : -1), 1e-5);
    // Zero gradient: pure decoupled decay.
    std::vector<float> q = {2.0f}, zg = {0.0f}, zm = {0.0f}, zv = {0.0f};
    be->adamw_step(view(q, {1}), view(zg, {1}), view(zm, {1}), view(zv, {1}), 0.5f, 0.9f, 0.95f, 1e-8f, 0.1f, 1);
    EXPECT_NEAR(q[0], 2.0 * (1 - 0.05), 1e-6);
}

TEST(BackwardOps, SumSquaresPropagatesNonFinite) {
    auto be = engine::make_cpu_backend(1);
    std::vector<float> x = {3.0f, 4.0f};
    EXPECT_DOUBLE_EQ(be->sum_squares(view(x, {2})), 25.0);
    x[1] = std::nanf("");
    EXPECT_TRUE(std::isnan(be->sum_squares(view(x, {2}))));
}

}  // namespace
