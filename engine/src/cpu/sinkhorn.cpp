// sinkhorn.cpp — Sinkhorn-Knopp in the DeepSeek-V4 form (default) and the paper form, with the exact
// unrolled reverse-mode backward (mhc.md §3, §4, §9). The backward recomputes every intermediate from
// the logits: nothing is kept between forward and backward. Declared in engine/train/mhc.h; it lives in
// the CPU backend's module because the backend's hc_coeffs ops run it (hyper_connections.cpp), and the
// training module (which links this one) uses it too.
#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/error.h"
#include "engine/train/mhc.h"

namespace engine::mhc {
namespace {

// Tokens per block: the kernels below run W tokens side by side ("lanes"): entry k of the n×n matrix
// of W tokens is one vector V (GCC vector extension, one AVX register: 8 floats or 4 doubles), so
// every operation of the iteration runs on W tokens at once.
template <typename T>
struct Vec;
template <>
struct Vec<float> {
    static constexpr int W = 8;
    typedef float type __attribute__((vector_size(32)));
};
template <>
struct Vec<double> {
    static constexpr int W = 4;
    typedef double type __attribute__((vector_size(32)));
};
template <typename T>
using V = typename Vec<T>::type;

// Normalisation k of the schedule divides by the column sums when k is even, by the row sums when odd
// (V4: C /= colsum + eps, then (rows, cols) × (iters − 1); paper: (cols, rows) × iters).
int schedule_length(const Options& o) {
    ENGINE_CHECK(o.sinkhorn_iters >= 1, kInvalidArgument, "hc_sinkhorn_iters must be >= 1, got ",
                 o.sinkhorn_iters);
    ENGINE_CHECK(o.n >= 1, kInvalidArgument, "hc_mult must be >= 1, got ", o.n);
    return o.paper_form ? 2 * o.sinkhorn_iters : 2 * o.sinkhorn_iters - 1;
}

// Entry b of line a: column a when Cols, row a otherwise.
template <bool Cols>
inline int entry(int n, int a, int b) { return Cols ? b * n + a : a * n + b; }

// y = x / (Σ_axis x + eps) on W lanes; y may alias x.
template <bool Cols, typename T>
void normalize(V<T>* y, const V<T>* x, int n, T eps) {
    for (int a = 0; a < n; ++a) {
        V<T> s = x[entry<Cols>(n, a, 0)];
        for (int b = 1; b < n; ++b) s += x[entry<Cols>(n, a, b)];
        const V<T> inv = T(1) / (s + eps);
        for (int b = 0; b < n; ++b) y[entry<Cols>(n, a, b)] = x[entry<Cols>(n, a, b)] * inv;
    }
}

// dx = (dy − Σ_axis dy⊙y) / (Σ_axis x + eps), in place on g (g = dy on entry, dx on return), W lanes.
template <bool Cols, typename T>
void normalize_backward(V<T>* g, const V<T>* y, const V<T>* x, int n, T eps) {
    for (int a = 0; a < n; ++a) {
        V<T> s = x[entry<Cols>(n, a, 0)], dot = g[entry<Cols>(n, a, 0)] * y[entry<Cols>(n, a, 0)];
        for (int b = 1; b < n; ++b) {
            const int k = entry<Cols>(n, a, b);
            s += x[k];
            dot += g[k] * y[k];
        }
        const V<T> inv = T(1) / (s + eps);
        for (int b = 0; b < n; ++b) {
            const int k = entry<Cols>(n, a, b);
            g[k] = (g[k] - dot) * inv;
        }
    }
}

template <typename T>
V<T> vmax(V<T> a, V<T> b) { return a > b ? a : b; }

template <typename T>
V<T> vexp(V<T> x) {
    V<T> r;
    for (int l = 0; l < Vec<T>::W; ++l) r[l] = std::exp(x[l]);
    return r;
}

// Start matrix: V4 = softmax_row(L) + eps; paper = exp(L − max(L)) (global max per token: no effect
// on the output).
template <typename T>
void start(V<T>* s, const V<T>* L, const Options& o) {
    const int n = o.n, nn = n * n;
    if (o.paper_form) {
        V<T> mx = L[0];
        for (int k = 1; k < nn; ++k) mx = vmax<T>(mx, L[k]);
        for (int k = 0; k < nn; ++k) s[k] = vexp<T>(L[k] - mx);
        return;
    }
    for (int i = 0; i < n; ++i) {
        V<T> mx = L[i * n];
        for (int j = 1; j < n; ++j) mx = vmax<T>(mx, L[i * n + j]);
        V<T> sum = {};
        for (int j = 0; j < n; ++j) sum += (s[i * n + j] = vexp<T>(L[i * n + j] - mx));
        const V<T> inv = T(1) / sum;
        for (int j = 0; j < n; ++j) s[i * n + j] = s[i * n + j] * inv + T(o.eps);
    }
}

// Token-major [lanes, n²] (row stride ld) ↔ W-lane vectors [n²]; missing lanes are 0 (harmless logits).
template <typename T>
void to_lanes(V<T>* dst, const T* src, int64_t ld, int lanes, int nn) {
    for (int k = 0; k < nn; ++k)
        for (int l = 0; l < Vec<T>::W; ++l) dst[k][l] = l < lanes ? src[l * ld + k] : T(0);
}
template <typename T>
void from_lanes(T* dst, int64_t ld, const V<T>* src, int lanes, int nn) {
    for (int l = 0; l < lanes; ++l)
        for (int k = 0; k < nn; ++k) dst[l * ld + k] = src[k][l];
}

}  // namespace

template <typename T>
void sinkhorn_forward_batch(T* out, int64_t ldo, const T* logits, int64_t ldl, int64_t tokens, const Options& o) {
    const int n = o.n, nn = n * n, steps = schedule_length(o);
    const T eps = o.paper_form ? T(0) : T(o.eps);
    constexpr int W = Vec<T>::W;
    std::vector<V<T>> L(static_cast<size_t>(nn)), cur(static_cast<size_t>(nn));
    for (int64_t t0 = 0; t0 < tokens; t0 += W) {
        const int lanes = int(std::min<int64_t>(W, tokens - t0));
        to_lanes(L.data(), logits + t0 * ldl, ldl, lanes, nn);
        start<T>(cur.data(), L.data(), o);
        for (int k = 0; k < steps; ++k) {
            if (k % 2 == 0)
                normalize<true>(cur.data(), cur.data(), n, eps);
            else
                normalize<false>(cur.data(), cur.data(), n, eps);
        }
        from_lanes(out + t0 * ldo, ldo, cur.data(), lanes, nn);
    }
}

template <typename T>
void sinkhorn_backward_batch(T* dlogits, int64_t ldd, const T* dout, int64_t ldg, const T* logits, int64_t ldl,
                             int64_t tokens, const Options& o) {
    const int n = o.n, nn = n * n, steps = schedule_length(o);
    const T eps = o.paper_form ? T(0) : T(o.eps);
    constexpr int W = Vec<T>::W;
    // st[k] is the input of normalisation k (recomputed from the logits; nothing kept from the forward).
    std::vector<V<T>> L(static_cast<size_t>(nn)), g(static_cast<size_t>(nn));
    std::vector<V<T>> states(static_cast<size_t>(nn * (steps + 1)));
    for (int64_t t0 = 0; t0 < tokens; t0 += W) {
        const int lanes = int(std::min<int64_t>(W, tokens - t0));
        to_lanes(L.data(), logits + t0 * ldl, ldl, lanes, nn);
        to_lanes(g.data(), dout + t0 * ldg, ldg, lanes, nn);
        V<T>* st = states.data();
        start<T>(st, L.data(), o);
        for (int k = 0; k < steps; ++k) {
            if (k % 2 == 0)
                normalize<true>(st + (k + 1) * nn, st + k * nn, n, eps);
            else
                normalize<false>(st + (k + 1) * nn, st + k * nn, n, eps);
        }
        for (int k = steps; k-- > 0;) {
            if (k % 2 == 0)
                normalize_backward<true>(g.data(), st + (k + 1) * nn, st + k * nn, n, eps);
            else
                normalize_backward<false>(g.data(), st + (k + 1) * nn, st + k * nn, n, eps);
        }
        if (o.paper_form) {  // d exp(L − max) = g ⊙ M0 (the max shift has zero net gradient)
            for (int k = 0; k < nn; ++k) L[size_t(k)] = g[size_t(k)] * st[k];
        } else {
            // softmax_row start (+eps is a constant): dz = (dp − Σ_row dp⊙p) ⊙ p, p = start − eps
            const T e = T(o.eps);
            for (int i = 0; i < n; ++i) {
                V<T> dot = {};
                for (int j = 0; j < n; ++j) dot += g[size_t(i * n + j)] * (st[i * n + j] - e);
                for (int j = 0; j < n; ++j) L[size_t(i * n + j)] = (g[size_t(i * n + j)] - dot) * (st[i * n + j] - e);
            }
        }
        from_lanes(dlogits + t0 * ldd, ldd, L.data(), lanes, nn);
    }
}

template <typename T>
void sinkhorn_forward(T* out, const T* logits, const Options& o) {
    const int64_t nn = int64_t(o.n) * o.n;
    sinkhorn_forward_batch(out, nn, logits, nn, 1, o);
}

template <typename T>
void sinkhorn_backward(T* dlogits, const T* dout, const T* logits, const Options& o) {
    const int64_t nn = int64_t(o.n) * o.n;
    sinkhorn_backward_batch(dlogits, nn, dout, nn, logits, nn, 1, o);
}

template void sinkhorn_forward<float>(float*, const float*, const Options&);
template void sinkhorn_forward<double>(double*, const double*, const Options&);
template void sinkhorn_backward<float>(float*, const float*, const float*, const Options&);
template void sinkhorn_backward<double>(double*, const double*, const double*, const Options&);
template void sinkhorn_forward_batch<float>(float*, int64_t, const float*, int64_t, int64_t, const Options&);
template void sinkhorn_forward_batch<double>(double*, int64_t, const double*, int64_t, int64_t, const Options&);
template void sinkhorn_backward_batch<float>(float*, int64_t, const float*, int64_t, const float*, int64_t, int64_t,
                                             const Options&);
template void sinkhorn_backward_batch<double>(double*, int64_t, const double*, int64_t, const double*, int64_t,
                                              int64_t, const Options&);

}  // namespace engine::mhc
