// train_kernels.h — scalar kernels of the training ops (backward passes, loss, optimizer), templated
// on the element type so the SAME code runs in fp32 (the CPU backend's ops, train_ops.cpp) and in fp64
// (the finite-difference gradient checks in tests/engine/train). Plain loops over contiguous rows: the
// heavy products of a backward pass are GEMMs and go through OpenBLAS in train_ops.cpp instead.
//
// Conventions: row-major, `ld*` = row stride in elements. Gradients named d<x>. "Accumulates" means +=.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace engine::train_kernels {

// ---- RMSNorm: y = w ⊙ x · r,  r = rsqrt(mean(x²) + eps) ----
// dx (overwritten), dw (accumulates; may be null).   x, dy, dx: [rows, n]; w, dw: [n]
template <typename T>
void rmsnorm_backward(T* dx, int64_t ldx, T* dw, const T* dy, int64_t ldy, const T* x, int64_t ldxin,
                      const T* w, int64_t rows, int64_t n, T eps) {
    for (int64_t r = 0; r < rows; ++r) {
        const T* xr = x + r * ldxin;
        const T* gr = dy + r * ldy;
        T ss = 0;
        for (int64_t i = 0; i < n; ++i) ss += xr[i] * xr[i];
        const T rs = T(1) / std::sqrt(ss / T(n) + eps);
        T dot = 0;  // Σ g_i w_i x_i
        for (int64_t i = 0; i < n; ++i) dot += gr[i] * w[i] * xr[i];
        const T c = dot * rs * rs * rs / T(n);
        T* dr = dx + r * ldx;
        for (int64_t i = 0; i < n; ++i) {
            if (dw) dw[i] += gr[i] * xr[i] * rs;
            dr[i] = gr[i] * w[i] * rs - xr[i] * c;
        }
    }
}

// ---- RoPE on adjacent pairs (2i, 2i+1), angle pos·inv_freq[i], cos/sin scaled by af ----
// Forward rotates by +θ; the backward of a rotation is the transposed rotation (−θ), applied in place.
// x: [rows = T·heads, d_r] with `heads` rows per position.
template <typename T>
void rope_apply(T* x, int64_t ld, int64_t tokens, int64_t heads, int64_t d_r, const int32_t* pos,
                const float* inv_freq, float af, bool inverse) {
    for (int64_t t = 0; t < tokens; ++t) {
        for (int64_t i = 0; i < d_r / 2; ++i) {
            // The angle is computed in fp32 exactly like the forward op (deepseek-arch.md §4).
            const float ang = float(pos[t]) * inv_freq[i];
            const T c = T(std::cos(ang)) * T(af);
            const T s = (inverse ? -T(std::sin(ang)) : T(std::sin(ang))) * T(af);
            for (int64_t h = 0; h < heads; ++h) {
                T* p = x + (t * heads + h) * ld + 2 * i;
                const T a = p[0], b = p[1];
                p[0] = a * c - b * s;
                p[1] = a * s + b * c;
            }
        }
    }
}

// ---- causal attention, explicit: q [T, H, dk], k [S, Hk, dk], v [S, Hk, dv], out [T, H, dv] ----
// Query t (absolute position q_pos0 + t) sees keys s ≤ q_pos0 + t. Hk is H or 1 (shared K/V head).
// Strides are per token (ld*) with heads contiguous inside a token row (head stride = head dim).
struct AttnDims {
    int64_t T, S, H, Hk, dk, dv, q_pos0;
    int64_t ldq, ldk, ldv, ldo;  // token strides
};

template <typename T>
void attention_forward(T* out, const T* q, const T* k, const T* v, const AttnDims& a, T scale) {
    std::vector<T> p(static_cast<size_t>(a.S));
    for (int64_t h = 0; h < a.H; ++h) {
        const int64_t hk = a.Hk == 1 ? 0 : h;
        for (int64_t t = 0; t < a.T; ++t) {
            const int64_t last = std::min(a.S - 1, a.q_pos0 + t);
            const T* qt = q + t * a.ldq + h * a.dk;
            T mx = -std::numeric_limits<T>::infinity();
            for (int64_t s = 0; s <= last; ++s) {
                const T* ks = k + s * a.ldk + hk * a.dk;
                T d = 0;
                for (int64_t i = 0; i < a.dk; ++i) d += qt[i] * ks[i];
                p[size_t(s)] = d * scale;
                mx = std::max(mx, p[size_t(s)]);
            }
            T sum = 0;
            for (int64_t s = 0; s <= last; ++s) sum += (p[size_t(s)] = std::exp(p[size_t(s)] - mx));
            T* ot = out + t * a.ldo + h * a.dv;
            for (int64_t i = 0; i < a.dv; ++i) ot[i] = 0;
            for (int64_t s = 0; s <= last; ++s) {
                const T w = p[size_t(s)] / sum;
                const T* vs = v + s * a.ldv + hk * a.dv;
                for (int64_t i = 0; i < a.dv; ++i) ot[i] += w * vs[i];
            }
        }
    }
}

// Backward by recomputing the probabilities: dP = dO·Vᵀ, dS = P ⊙ (dP − Σ P⊙dP) (Σ P⊙dP = dO·O),
// dQ = scale·dS·K, dK = scale·dSᵀ·Q, dV = Pᵀ·dO. dq, dk, dv are overwritten (dk/dv sum over heads
// sharing a K/V head). ld for dq/dk/dv equal those of q/k/v.
template <typename T>
void attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v,
                        const AttnDims& a, T scale) {
    for (int64_t t = 0; t < a.T; ++t)
        for (int64_t i = 0; i < a.H * a.dk; ++i) dq[t * a.ldq + i] = 0;
    for (int64_t s = 0; s < a.S; ++s) {
        for (int64_t i = 0; i < a.Hk * a.dk; ++i) dk[s * a.ldk + i] = 0;
        for (int64_t i = 0; i < a.Hk * a.dv; ++i) dv[s * a.ldv + i] = 0;
    }
    std::vector<T> p(static_cast<size_t>(a.S)), dp(static_cast<size_t>(a.S));
    for (int64_t h = 0; h < a.H; ++h) {
        const int64_t hk = a.Hk == 1 ? 0 : h;
        for (int64_t t = 0; t < a.T; ++t) {
            const int64_t last = std::min(a.S - 1, a.q_pos0 + t);
            const T* qt = q + t * a.ldq + h * a.dk;
            const T* got = dout + t * a.ldo + h * a.dv;
            T mx = -std::numeric_limits<T>::infinity();
            for (int64_t s = 0; s <= last; ++s) {
                const T* ks = k + s * a.ldk + hk * a.dk;
                T d = 0;
                for (int64_t i = 0; i < a.dk; ++i) d += qt[i] * ks[i];
                p[size_t(s)] = d * scale;
                mx = std::max(mx, p[size_t(s)]);
            }
            T sum = 0;
            for (int64_t s = 0; s <= last; ++s) sum += (p[size_t(s)] = std::exp(p[size_t(s)] - mx));
            T pdp = 0;
            for (int64_t s = 0; s <= last; ++s) {
                p[size_t(s)] /= sum;
                const T* vs = v + s * a.ldv + hk * a.dv;
                T d = 0;
                for (int64_t i = 0; i < a.dv; ++i) d += got[i] * vs[i];
                dp[size_t(s)] = d;
                pdp += p[size_t(s)] * d;
            }
            T* dqt = dq + t * a.ldq + h * a.dk;
            for (int64_t s = 0; s <= last; ++s) {
                const T ds = p[size_t(s)] * (dp[size_t(s)] - pdp) * scale;
                const T* ks = k + s * a.ldk + hk * a.dk;
                T* dks = dk + s * a.ldk + hk * a.dk;
                T* dvs = dv + s * a.ldv + hk * a.dv;
                for (int64_t i = 0; i < a.dk; ++i) {
                    dqt[i] += ds * ks[i];
                    dks[i] += ds * qt[i];
                }
                for (int64_t i = 0; i < a.dv; ++i) dvs[i] += p[size_t(s)] * got[i];
            }
        }
    }
}

// ---- SwiGLU: out = silu(g) ⊙ u ----   dgate, dup overwritten.
template <typename T>
void silu_mul_backward(T* dg, T* du, const T* dout, const T* g, const T* u, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        const T sg = T(1) / (T(1) + std::exp(-g[i]));
        const T silu = g[i] * sg;
        du[i] = dout[i] * silu;
        dg[i] = dout[i] * u[i] * sg * (T(1) + g[i] * (T(1) - sg));
    }
}

// ---- embedding: dtable[ids[t], :] += dout[t, :] ----
template <typename T>
void embedding_backward(T* dtable, int64_t ldt, const T* dout, int64_t ldo, const int32_t* ids,
                        int64_t tokens, int64_t d) {
    for (int64_t t = 0; t < tokens; ++t) {
        T* row = dtable + int64_t(ids[t]) * ldt;
        for (int64_t i = 0; i < d; ++i) row[i] += dout[t * ldo + i];
    }
}

// ---- fused softmax cross-entropy, mean over counted tokens (targets == ignore_index are not counted)
// Returns the mean loss (0 when no token counts); dlogits = grad_scale·(softmax − onehot)/count
// (0 rows for ignored tokens). Also returns the count through *counted.
template <typename T>
T cross_entropy(T* dlogits, int64_t ldd, const T* logits, int64_t ldl, const int32_t* targets,
                int64_t tokens, int64_t vocab, int32_t ignore_index, T grad_scale, int64_t* counted) {
    int64_t count = 0;
    for (int64_t t = 0; t < tokens; ++t) count += targets[t] != ignore_index;
    if (counted) *counted = count;
    T total = 0;
    const T inv = count > 0 ? grad_scale / T(count) : T(0);
    for (int64_t t = 0; t < tokens; ++t) {
        const T* l = logits + t * ldl;
        T* d = dlogits ? dlogits + t * ldd : nullptr;
        if (targets[t] == ignore_index) {
            if (d) std::fill(d, d + vocab, T(0));
            continue;
        }
        T mx = l[0];
        for (int64_t i = 1; i < vocab; ++i) mx = std::max(mx, l[i]);
        T sum = 0;
        for (int64_t i = 0; i < vocab; ++i) sum += std::exp(l[i] - mx);
        const T lse = mx + std::log(sum);
        total += lse - l[targets[t]];
        if (d) {
            for (int64_t i = 0; i < vocab; ++i) d[i] = std::exp(l[i] - lse) * inv;
            d[targets[t]] -= inv;
        }
    }
    return count > 0 ? total / T(count) : T(0);
}

// ---- MoE combine: y[rows[i], :] += scale[i]·src[i, :] ----
// dsrc[i] = scale[i]·dy[rows[i]] (overwritten), dscale[i] = <dy[rows[i]], src[i]> (overwritten).
template <typename T>
void scatter_add_rows_backward(T* dsrc, T* dscale, const T* dy, int64_t ldy, const T* src, int64_t lds,
                               const int32_t* rows, const T* scale, int64_t n, int64_t d) {
    for (int64_t i = 0; i < n; ++i) {
        const T* g = dy + int64_t(rows[i]) * ldy;
        const T* s = src + i * lds;
        T dot = 0;
        for (int64_t j = 0; j < d; ++j) {
            dot += g[j] * s[j];
            if (dsrc) dsrc[i * lds + j] = scale[i] * g[j];
        }
        if (dscale) dscale[i] = dot;
    }
}

// ---- MoE router: final weights w[t,k] = rsf · ŝ_k, ŝ = s[idx] (/ Σ_k s[idx] when norm_topk_prob),
// s = softmax(logits) over all E, or sigmoid(logits) elementwise. Selection (idx) is piecewise
// constant and has no gradient; the bias of noaux_tc only selects. dlogits [T, E] overwritten.
template <typename T>
void moe_router_backward(T* dlogits, const T* dweights, const T* logits, const int32_t* idx, int64_t tokens,
                         int64_t E, int64_t K, bool softmax, bool norm_topk, T rsf) {
    std::vector<T> s(static_cast<size_t>(E)), ds(static_cast<size_t>(E));
    for (int64_t t = 0; t < tokens; ++t) {
        const T* l = logits + t * E;
        if (softmax) {
            T mx = l[0];
            for (int64_t e = 1; e < E; ++e) mx = std::max(mx, l[e]);
            T sum = 0;
            for (int64_t e = 0; e < E; ++e) sum += (s[size_t(e)] = std::exp(l[e] - mx));
            for (int64_t e = 0; e < E; ++e) s[size_t(e)] /= sum;
        } else {
            for (int64_t e = 0; e < E; ++e) s[size_t(e)] = T(1) / (T(1) + std::exp(-l[e]));
        }
        std::fill(ds.begin(), ds.end(), T(0));
        const int32_t* it = idx + t * K;
        const T* dw = dweights + t * K;
        if (norm_topk) {
            // w_k = rsf·s_k/Z, Z = Σ s_j (+1e-20 as HF): dL/ds_k = rsf·(dw_k − Σ_j dw_j w_j/rsf)/Z
            T z = 0;
            for (int64_t k = 0; k < K; ++k) z += s[size_t(it[k])];
            z += T(1e-20);
            T dot = 0;
            for (int64_t k = 0; k < K; ++k) dot += dw[k] * s[size_t(it[k])] / z;
            for (int64_t k = 0; k < K; ++k) ds[size_t(it[k])] += rsf * (dw[k] - dot) / z;
        } else {
            for (int64_t k = 0; k < K; ++k) ds[size_t(it[k])] += rsf * dw[k];
        }
        T* dl = dlogits + t * E;
        if (softmax) {
            T dot = 0;
            for (int64_t e = 0; e < E; ++e) dot += ds[size_t(e)] * s[size_t(e)];
            for (int64_t e = 0; e < E; ++e) dl[e] = s[size_t(e)] * (ds[size_t(e)] - dot);
        } else {
            for (int64_t e = 0; e < E; ++e) dl[e] = ds[size_t(e)] * s[size_t(e)] * (T(1) - s[size_t(e)]);
        }
    }
}

// Reference combine weights (same definitions as above) for given idx; used by the tests and by the
// trainable model to recompute ŝ without re-running selection.
template <typename T>
void moe_router_weights(T* weights, const T* logits, const int32_t* idx, int64_t tokens, int64_t E,
                        int64_t K, bool softmax, bool norm_topk, T rsf) {
    std::vector<T> s(static_cast<size_t>(E));
    for (int64_t t = 0; t < tokens; ++t) {
        const T* l = logits + t * E;
        if (softmax) {
            T mx = l[0];
            for (int64_t e = 1; e < E; ++e) mx = std::max(mx, l[e]);
            T sum = 0;
            for (int64_t e = 0; e < E; ++e) sum += (s[size_t(e)] = std::exp(l[e] - mx));
            for (int64_t e = 0; e < E; ++e) s[size_t(e)] /= sum;
        } else {
            for (int64_t e = 0; e < E; ++e) s[size_t(e)] = T(1) / (T(1) + std::exp(-l[e]));
        }
        T z = 0;
        for (int64_t k = 0; k < K; ++k) z += s[size_t(idx[t * K + k])];
        z += T(1e-20);
        for (int64_t k = 0; k < K; ++k)
            weights[t * K + k] = rsf * s[size_t(idx[t * K + k])] / (norm_topk ? z : T(1));
    }
}

// ---- AdamW (decoupled weight decay, bias-corrected), fp32 master weights `p` ----
// step ≥ 1 is the 1-based step count used for bias correction.
template <typename T>
void adamw_step(T* p, const T* g, T* m, T* v, int64_t n, T lr, T beta1, T beta2, T eps, T weight_decay,
                int64_t step) {
    const T bc1 = T(1) - std::pow(beta1, T(step));
    const T bc2 = T(1) - std::pow(beta2, T(step));
    for (int64_t i = 0; i < n; ++i) {
        m[i] = beta1 * m[i] + (T(1) - beta1) * g[i];
        v[i] = beta2 * v[i] + (T(1) - beta2) * g[i] * g[i];
        const T mh = m[i] / bc1;
        const T vh = v[i] / bc2;
        p[i] -= lr * (mh / (std::sqrt(vh) + eps) + weight_decay * p[i]);
    }
}

// Σ x² in double (the grad-norm reduction; a NaN/Inf anywhere propagates into the result).
template <typename T>
double sum_squares(const T* x, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += double(x[i]) * double(x[i]);
    return s;
}

}  // namespace engine::train_kernels
