// hyper_connections.cpp — the mHC / HC stream mixing around each sublayer, against engine::Backend.
// Heavy parts (RMS of the flattened streams, the [n²+2n, nD] projection, the weighted sums over
// streams as batched matmuls) run on the backend; the n×n coefficient algebra (sigmoid, Sinkhorn,
// tanh) is tiny per-token host bookkeeping.
#include "model/hyper_connections.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/error.h"

namespace engine::model {
namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// m [T, rows] = rmsnorm(flatten(X)) · fnᵀ, copied to the host vector `host`.
void project_streams(ForwardContext& ctx, const TensorView& fn, const TensorView& X, int64_t rows,
                     std::vector<float>& host) {
    const int64_t R = X.dim(0), n = ctx.cfg.hc_mult, D = ctx.cfg.hidden_size;
    TensorView v = X.reshape({R, n * D});
    TensorView vn = ctx.ws.f32(kHcNormed, {R, n * D});
    ctx.be.rmsnorm(vn, v, ctx.w.hc_ones, float(ctx.cfg.rms_norm_eps));
    TensorView m = ctx.ws.f32(kHcMix, {R, rows});
    ctx.be.matmul(m, vn, fn);
    host.resize(size_t(R * rows));
    ctx.be.copy(TensorView::contiguous(host.data(), DType::F32, {R, rows}), m);
}

}  // namespace

void hc_coefficients(const ModelConfig& c, const HcWeights& w, const float* m, float* pre, float* post,
                     float* mix) {
    const int n = int(c.hc_mult);
    const double eps = c.hc_eps;
    const double s_pre = w.scale[0], s_post = w.scale[1], s_res = w.scale[2];
    const float* b = w.base.data();
    std::vector<double> M(size_t(n * n));
    if (c.residual_kind == ResidualKind::kHC) {
        for (int i = 0; i < n; ++i) {
            pre[i] = float(b[i] + s_pre * std::tanh(double(m[i])));
            post[i] = float(b[n + i] + s_post * std::tanh(double(m[n + i])));
        }
        for (int k = 0; k < n * n; ++k) mix[k] = float(b[2 * n + k] + s_res * std::tanh(double(m[2 * n + k])));
        return;
    }
    for (int i = 0; i < n; ++i) {
        const double sp = sigmoid(double(m[i]) * s_pre + b[i]);
        pre[i] = float(c.hc_paper_form ? sp : sp + eps);
        post[i] = float(2.0 * sigmoid(double(m[n + i]) * s_post + b[n + i]));
    }
    for (int k = 0; k < n * n; ++k) M[size_t(k)] = double(m[2 * n + k]) * s_res + b[2 * n + k];
    auto rows_div = [&](double add) {
        for (int i = 0; i < n; ++i) {
            double s = 0;
            for (int j = 0; j < n; ++j) s += M[size_t(i * n + j)];
            for (int j = 0; j < n; ++j) M[size_t(i * n + j)] /= (s + add);
        }
    };
    auto cols_div = [&](double add) {
        for (int j = 0; j < n; ++j) {
            double s = 0;
            for (int i = 0; i < n; ++i) s += M[size_t(i * n + j)];
            for (int i = 0; i < n; ++i) M[size_t(i * n + j)] /= (s + add);
        }
    };
    const int64_t iters = c.hc_sinkhorn_iters;
    if (c.hc_paper_form) {
        // M0 = exp(L − max L); iters × (columns, then rows), no eps; X'_i = Σ_j M[i][j] X_j.
        const double mx = *std::max_element(M.begin(), M.end());
        for (double& x : M) x = std::exp(x - mx);
        for (int64_t t = 0; t < iters; ++t) {
            cols_div(0.0);
            rows_div(0.0);
        }
        for (int k = 0; k < n * n; ++k) mix[k] = float(M[size_t(k)]);
        return;
    }
    // V4 form: softmax_row + eps, columns, then (iters − 1) × (rows, columns), eps in every denominator;
    // X'_j = Σ_i C[i][j] X_i, i.e. mix = Cᵀ.
    for (int i = 0; i < n; ++i) {
        double mx = M[size_t(i * n)];
        for (int j = 1; j < n; ++j) mx = std::max(mx, M[size_t(i * n + j)]);
        double s = 0;
        for (int j = 0; j < n; ++j) s += (M[size_t(i * n + j)] = std::exp(M[size_t(i * n + j)] - mx));
        for (int j = 0; j < n; ++j) M[size_t(i * n + j)] = M[size_t(i * n + j)] / s + eps;
    }
    cols_div(eps);
    for (int64_t t = 1; t < iters; ++t) {
        rows_div(eps);
        cols_div(eps);
    }
    for (int a = 0; a < n; ++a)
        for (int b2 = 0; b2 < n; ++b2) mix[a * n + b2] = float(M[size_t(b2 * n + a)]);
}

void hc_pre(ForwardContext& ctx, const HcWeights& w, const TensorView& X, const TensorView& u) {
    Scratch& ws = ctx.ws;
    const int64_t T = X.dim(0), n = ctx.cfg.hc_mult, D = ctx.cfg.hidden_size, rows = n * n + 2 * n;
    project_streams(ctx, w.fn, X, rows, ws.host_hc_m);
    ws.host_hc_pre.resize(size_t(T * n));
    ws.host_hc_post.resize(size_t(T * n));
    ws.host_hc_mix.resize(size_t(T * n * n));
    for (int64_t t = 0; t < T; ++t)
        hc_coefficients(ctx.cfg, w, ws.host_hc_m.data() + t * rows, ws.host_hc_pre.data() + t * n,
                        ws.host_hc_post.data() + t * n, ws.host_hc_mix.data() + t * n * n);
    TensorView pre = ws.f32(kHcPre, {T, 1, n});
    TensorView post = ws.f32(kHcPost, {T, n, 1});
    TensorView mix = ws.f32(kHcMixMat, {T, n, n});
    ctx.be.copy(pre, TensorView::contiguous(ws.host_hc_pre.data(), DType::F32, {T, 1, n}));
    ctx.be.copy(post, TensorView::contiguous(ws.host_hc_post.data(), DType::F32, {T, n, 1}));
    ctx.be.copy(mix, TensorView::contiguous(ws.host_hc_mix.data(), DType::F32, {T, n, n}));
    // u[t] = pre[t] (1×n) · X[t] (n×D)
    ctx.be.matmul(u.reshape({T, 1, D}), pre, X, /*w_transposed=*/false);
}

void hc_apply(ForwardContext& ctx, const TensorView& X, const TensorView& y, const TensorView& X_out) {
    const int64_t T = X.dim(0), n = ctx.cfg.hc_mult, D = ctx.cfg.hidden_size;
    TensorView post = ctx.ws.f32(kHcPost, {T, n, 1});
    TensorView mix = ctx.ws.f32(kHcMixMat, {T, n, n});
    ctx.be.matmul(X_out, mix, X, /*w_transposed=*/false);                                // [T, n, D]
    ctx.be.matmul(X_out, post, y.reshape({T, 1, D}), /*w_transposed=*/false, /*accumulate=*/true);
}

void hc_collapse(ForwardContext& ctx, const TensorView& X, const TensorView& h) {
    Scratch& ws = ctx.ws;
    const HcWeights& w = ctx.w.hc_head;
    const int64_t R = X.dim(0), n = ctx.cfg.hc_mult, D = ctx.cfg.hidden_size;
    project_streams(ctx, w.fn, X, n, ws.host_hc_m);
    ws.host_hc_pre.resize(size_t(R * n));
    for (int64_t r = 0; r < R; ++r)
        for (int64_t i = 0; i < n; ++i)
            ws.host_hc_pre[size_t(r * n + i)] =
                float(sigmoid(double(ws.host_hc_m[size_t(r * n + i)]) * w.scale[0] + w.base[size_t(i)]) +
                      ctx.cfg.hc_eps);
    TensorView wv = ws.f32(kHcPre, {R, 1, n});
    ctx.be.copy(wv, TensorView::contiguous(ws.host_hc_pre.data(), DType::F32, {R, 1, n}));
    ctx.be.matmul(h.reshape({R, 1, D}), wv, X, /*w_transposed=*/false);
}

}  // namespace engine::model
