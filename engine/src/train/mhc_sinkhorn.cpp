// mhc_sinkhorn.cpp — Sinkhorn-Knopp in the DeepSeek-V4 form (default) and the paper form, with the
// exact unrolled reverse-mode backward (mhc.md §3, §4, §9). The backward recomputes every intermediate
// from the logits: nothing is kept between forward and backward.
#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/error.h"
#include "engine/train/mhc.h"

namespace engine::mhc {
namespace {

enum class Axis { kRows, kCols };

// y = x / (Σ_axis x + eps)
template <typename T>
void normalize(T* y, const T* x, int n, Axis axis, T eps) {
    for (int a = 0; a < n; ++a) {
        T s = 0;
        for (int b = 0; b < n; ++b) s += axis == Axis::kRows ? x[a * n + b] : x[b * n + a];
        const T inv = T(1) / (s + eps);
        for (int b = 0; b < n; ++b) {
            const int k = axis == Axis::kRows ? a * n + b : b * n + a;
            y[k] = x[k] * inv;
        }
    }
}

// dx = (dy − Σ_axis dy⊙y) / (Σ_axis x + eps), in place on g (g = dy on entry, dx on return).
template <typename T>
void normalize_backward(T* g, const T* y, const T* x, int n, Axis axis, T eps) {
    for (int a = 0; a < n; ++a) {
        T s = 0, dot = 0;
        for (int b = 0; b < n; ++b) {
            const int k = axis == Axis::kRows ? a * n + b : b * n + a;
            s += x[k];
            dot += g[k] * y[k];
        }
        const T inv = T(1) / (s + eps);
        for (int b = 0; b < n; ++b) {
            const int k = axis == Axis::kRows ? a * n + b : b * n + a;
            g[k] = (g[k] - dot) * inv;
        }
    }
}

// The sequence of normalisations applied after the start matrix.
std::vector<Axis> schedule(const Options& o) {
    ENGINE_CHECK(o.sinkhorn_iters >= 1, kInvalidArgument, "hc_sinkhorn_iters must be >= 1, got ",
                 o.sinkhorn_iters);
    std::vector<Axis> ops;
    if (o.paper_form) {
        for (int i = 0; i < o.sinkhorn_iters; ++i) {  // M = T_r(T_c(M)): columns, then rows
            ops.push_back(Axis::kCols);
            ops.push_back(Axis::kRows);
        }
    } else {
        ops.push_back(Axis::kCols);  // C /= colsum + eps, then (rows, cols) × (iters − 1)
        for (int i = 1; i < o.sinkhorn_iters; ++i) {
            ops.push_back(Axis::kRows);
            ops.push_back(Axis::kCols);
        }
    }
    return ops;
}

// Start matrix: V4 = softmax_row(L) + eps; paper = exp(L − max(L)) (global max: no effect on the output).
template <typename T>
void start(T* s, const T* L, const Options& o) {
    const int n = o.n;
    if (o.paper_form) {
        T mx = L[0];
        for (int k = 1; k < n * n; ++k) mx = std::max(mx, L[k]);
        for (int k = 0; k < n * n; ++k) s[k] = std::exp(L[k] - mx);
        return;
    }
    for (int i = 0; i < n; ++i) {
        T mx = L[i * n];
        for (int j = 1; j < n; ++j) mx = std::max(mx, L[i * n + j]);
        T sum = 0;
        for (int j = 0; j < n; ++j) sum += (s[i * n + j] = std::exp(L[i * n + j] - mx));
        for (int j = 0; j < n; ++j) s[i * n + j] = s[i * n + j] / sum + T(o.eps);
    }
}

}  // namespace

template <typename T>
void sinkhorn_forward(T* out, const T* logits, const Options& o) {
    const int nn = o.n * o.n;
    const T eps = o.paper_form ? T(0) : T(o.eps);
    std::vector<T> cur(size_t(nn), T(0));
    start(cur.data(), logits, o);
    for (Axis ax : schedule(o)) normalize(cur.data(), cur.data(), o.n, ax, eps);
    std::copy(cur.begin(), cur.end(), out);
}

template <typename T>
void sinkhorn_backward(T* dlogits, const T* dout, const T* logits, const Options& o) {
    const int n = o.n, nn = n * n;
    const T eps = o.paper_form ? T(0) : T(o.eps);
    const std::vector<Axis> ops = schedule(o);
    // Recompute the 2·iters intermediates (states[k] is the input of normalisation k).
    std::vector<T> states(size_t(nn) * (ops.size() + 1));
    start(states.data(), logits, o);
    for (size_t k = 0; k < ops.size(); ++k)
        normalize(states.data() + (k + 1) * nn, states.data() + k * nn, n, ops[k], eps);
    std::vector<T> g(dout, dout + nn);
    for (size_t k = ops.size(); k-- > 0;)
        normalize_backward(g.data(), states.data() + (k + 1) * nn, states.data() + k * nn, n, ops[k], eps);
    if (o.paper_form) {  // d exp(L − max) = g ⊙ M0 (the max shift has zero net gradient)
        for (int k = 0; k < nn; ++k) dlogits[k] = g[size_t(k)] * states[size_t(k)];
        return;
    }
    // softmax_row start (+eps is a constant): dz = (dp − Σ_row dp⊙p) ⊙ p, p = start − eps
    for (int i = 0; i < n; ++i) {
        T dot = 0;
        for (int j = 0; j < n; ++j) dot += g[size_t(i * n + j)] * (states[size_t(i * n + j)] - T(o.eps));
        for (int j = 0; j < n; ++j) {
            const T p = states[size_t(i * n + j)] - T(o.eps);
            dlogits[i * n + j] = (g[size_t(i * n + j)] - dot) * p;
        }
    }
}

template void sinkhorn_forward<float>(float*, const float*, const Options&);
template void sinkhorn_forward<double>(double*, const double*, const Options&);
template void sinkhorn_backward<float>(float*, const float*, const float*, const Options&);
template void sinkhorn_backward<double>(double*, const double*, const double*, const Options&);

double amax_forward_gain(const double* P, int n) {
    double g = 0;
    for (int i = 0; i < n; ++i) {
        double s = 0;
        for (int j = 0; j < n; ++j) s += P[i * n + j];
        g = std::max(g, std::abs(s));
    }
    return g;
}

double amax_backward_gain(const double* P, int n) {
    double g = 0;
    for (int j = 0; j < n; ++j) {
        double s = 0;
        for (int i = 0; i < n; ++i) s += P[i * n + j];
        g = std::max(g, std::abs(s));
    }
    return g;
}

DepthGains depth_gains(const std::vector<std::vector<double>>& mix, int n) {
    DepthGains g;
    const size_t L = mix.size(), nn = size_t(n) * size_t(n);
    for (const auto& A : mix)
        ENGINE_CHECK(A.size() == nn, kInvalidArgument, "depth_gains: a mixing matrix has ", A.size(),
                     " entries, expected n² = ", nn);
    auto mul = [n](const std::vector<double>& X, const std::vector<double>& Y) {  // X·Y
        std::vector<double> Z(size_t(n * n), 0.0);
        for (int i = 0; i < n; ++i)
            for (int k = 0; k < n; ++k)
                for (int j = 0; j < n; ++j) Z[size_t(i * n + j)] += X[size_t(i * n + k)] * Y[size_t(k * n + j)];
        return Z;
    };
    std::vector<double> I(nn, 0.0);
    for (int i = 0; i < n; ++i) I[size_t(i * n + i)] = 1.0;
    std::vector<double> P = I;
    for (size_t l = 0; l < L; ++l) {
        P = mul(mix[l], P);
        g.forward.push_back(amax_forward_gain(P.data(), n));
        double ce = 0;
        for (int j = 0; j < n; ++j) {
            double c = 0;
            for (int i = 0; i < n; ++i) c += mix[l][size_t(i * n + j)];
            ce = std::max(ce, std::abs(c - 1));
        }
        g.column_error.push_back(ce);
    }
    g.backward.assign(L, 0.0);
    P = I;
    for (size_t l = L; l-- > 0;) {
        P = mul(P, mix[l]);
        g.backward[l] = amax_backward_gain(P.data(), n);
    }
    return g;
}

}  // namespace engine::mhc
