// mhc_layer.cpp — per-sublayer hyper-connection coefficients (mHC / HC), the pre aggregation, the
// post + residual mix, the hc_head collapse, and their exact backward (docs/model-family.md, mhc.md §4).
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "engine/error.h"
#include "engine/train/mhc.h"

namespace engine::mhc {
namespace {

template <typename T>
T sigmoid(T x) { return T(1) / (T(1) + std::exp(-x)); }

// Tokens per OpenMP work item of the per-token loops (each token's result depends only on its own
// row, and the parameter-gradient sums are done afterwards in token order: any thread count gives
// the same bits).
constexpr int64_t kChunk = 64;

inline int threads_for(const Options& o, int64_t tokens, int64_t work_per_token) {
    return o.threads > 1 && tokens > kChunk && tokens * work_per_token >= (int64_t(1) << 15) ? o.threads : 1;
}

// C[M, N] = alpha·op(A)·op(B) + beta·C through OpenBLAS, in the element type of the instantiation.
template <typename T>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb,
          T beta, T* C, int64_t ldc) {
    const auto TA = ta ? CblasTrans : CblasNoTrans, TB = tb ? CblasTrans : CblasNoTrans;
    if constexpr (std::is_same_v<T, float>)
        cblas_sgemm(CblasRowMajor, TA, TB, int(M), int(N), int(K), 1.0f, A, int(lda), B, int(ldb), beta, C, int(ldc));
    else
        cblas_dgemm(CblasRowMajor, TA, TB, int(M), int(N), int(K), 1.0, A, int(lda), B, int(ldb), beta, C, int(ldc));
}

// a[t, k] = v_t · fn[k]; rho[t] = rsqrt(mean(v_t²) + rms_eps); m = a·rho.   v: [tokens, nD]; fn: [K, nD]
template <typename T>
void coeff_logits(T* m, T* rho, const T* X, int64_t tokens, int64_t nD, const T* fn, int64_t K, T rms_eps,
                  const Options& o) {
    if (tokens == 0) return;
    gemm<T>(false, true, tokens, K, nD, X, nD, fn, nD, T(0), m, K);  // [tokens, K]
#pragma omp parallel for num_threads(threads_for(o, tokens, nD)) schedule(static)
    for (int64_t t = 0; t < tokens; ++t) {
        const T* v = X + t * nD;
        T ss = 0;
#pragma omp simd reduction(+ : ss)
        for (int64_t i = 0; i < nD; ++i) ss += v[i] * v[i];
        const T r = T(1) / std::sqrt(ss / T(nD) + rms_eps);
        rho[t] = r;
        for (int64_t k = 0; k < K; ++k) m[t * K + k] *= r;
    }
}

// Backward of m = (v·fnᵀ)·ρ(v): dX += dv, dfn += daᵀ·V, with da = dm·ρ and
// dv = da·fn − (Σ_k dm_k a_k)·ρ³·v/(nD).
template <typename T>
void coeff_logits_backward(T* dX, T* dfn, const T* dm, const T* X, int64_t tokens, int64_t nD, const T* fn,
                           int64_t K, const T* m, const T* rho, const Options& o) {
    if (tokens == 0) return;
    std::vector<T> da(static_cast<size_t>(tokens * K));
#pragma omp parallel for num_threads(threads_for(o, tokens, nD)) schedule(static)
    for (int64_t t = 0; t < tokens; ++t) {
        const T* v = X + t * nD;
        T* dv = dX + t * nD;
        const T r = rho[t];
        T drho = 0;
        for (int64_t k = 0; k < K; ++k) {
            drho += dm[t * K + k] * (m[t * K + k] / r);
            da[size_t(t * K + k)] = dm[t * K + k] * r;
        }
        const T c = drho * r * r * r / T(nD);
        for (int64_t i = 0; i < nD; ++i) dv[i] -= c * v[i];
    }
    gemm<T>(false, false, tokens, nD, K, da.data(), K, fn, nD, T(1), dX, nD);   // dX += da·fn
    gemm<T>(true, false, K, nD, tokens, da.data(), K, X, nD, T(1), dfn, nD);    // dfn += daᵀ·X
}

}  // namespace

template <typename T>
void coeffs_forward(Coeffs<T>& c, const T* X, int64_t tokens, int64_t D, const T* fn, const T* base,
                    const T* scale, const Options& o) {
    const int n = o.n;
    const int64_t K = int64_t(n) * n + 2 * n;
    c.tokens = tokens;
    c.m.assign(size_t(tokens * K), T(0));
    c.rho.assign(size_t(tokens), T(0));
    c.pre.assign(size_t(tokens * n), T(0));
    c.post.assign(size_t(tokens * n), T(0));
    c.A.assign(size_t(tokens * n * n), T(0));
    coeff_logits(c.m.data(), c.rho.data(), X, tokens, n * D, fn, K, T(o.rms_eps), o);
    const int64_t nn = int64_t(n) * n;
#pragma omp parallel num_threads(threads_for(o, tokens, 1024))
    {
        std::vector<T> h(size_t(kChunk * nn)), C(size_t(kChunk * nn));  // [chunk, n²] mixing logits, Sinkhorn out
#pragma omp for schedule(static)
        for (int64_t t0 = 0; t0 < tokens; t0 += kChunk) {
            const int64_t t1 = std::min(tokens, t0 + kChunk);
            for (int64_t t = t0; t < t1; ++t) {
                const T* m = c.m.data() + t * K;
                T* pre = c.pre.data() + t * n;
                T* post = c.post.data() + t * n;
                T* A = c.A.data() + t * nn;
                if (o.kind == Kind::kHC) {
                    for (int i = 0; i < n; ++i) {
                        pre[i] = base[i] + scale[0] * std::tanh(m[i]);
                        post[i] = base[n + i] + scale[1] * std::tanh(m[n + i]);
                    }
                    for (int k = 0; k < n * n; ++k) A[k] = base[2 * n + k] + scale[2] * std::tanh(m[2 * n + k]);
                    continue;
                }
                for (int i = 0; i < n; ++i) {
                    pre[i] = sigmoid(m[i] * scale[0] + base[i]) + (o.paper_form ? T(0) : T(o.eps));
                    post[i] = T(2) * sigmoid(m[n + i] * scale[1] + base[n + i]);
                }
                T* ht = h.data() + (t - t0) * nn;
                for (int k = 0; k < n * n; ++k) ht[k] = m[2 * n + k] * scale[2] + base[2 * n + k];
            }
            if (o.kind == Kind::kHC) continue;
            sinkhorn_forward_batch(C.data(), nn, h.data(), nn, t1 - t0, o);
            for (int64_t t = t0; t < t1; ++t) {
                const T* Ct = C.data() + (t - t0) * nn;
                T* A = c.A.data() + t * nn;
                for (int a = 0; a < n; ++a)
                    for (int b = 0; b < n; ++b)  // V4: X'_a = Σ_b C[b][a] X_b (combᵀ); paper: H_res as is
                        A[a * n + b] = o.paper_form ? Ct[a * n + b] : Ct[b * n + a];
            }
        }
    }
}

template <typename T>
void pre_forward(T* u, const T* X, const Coeffs<T>& c, int64_t D, const Options& o) {
    const int n = o.n;
#pragma omp parallel for num_threads(threads_for(o, c.tokens, n * D)) schedule(static)
    for (int64_t t = 0; t < c.tokens; ++t) {
        T* ut = u + t * D;
        for (int64_t d = 0; d < D; ++d) ut[d] = 0;
        for (int i = 0; i < n; ++i) {
            const T p = c.pre[size_t(t * n + i)];
            const T* x = X + (t * n + i) * D;
            for (int64_t d = 0; d < D; ++d) ut[d] += p * x[d];
        }
    }
}

template <typename T>
void post_res_forward(T* Xout, const T* X, const T* y, const Coeffs<T>& c, int64_t D, const Options& o) {
    const int n = o.n;
#pragma omp parallel for num_threads(threads_for(o, c.tokens, n * n * D)) schedule(static)
    for (int64_t t = 0; t < c.tokens; ++t) {
        const T* A = c.A.data() + t * n * n;
        for (int a = 0; a < n; ++a) {
            T* xo = Xout + (t * n + a) * D;
            const T p = c.post[size_t(t * n + a)];
            const T* yt = y + t * D;
            for (int64_t d = 0; d < D; ++d) xo[d] = p * yt[d];
            for (int b = 0; b < n; ++b) {
                const T w = A[a * n + b];
                const T* xb = X + (t * n + b) * D;
                for (int64_t d = 0; d < D; ++d) xo[d] += w * xb[d];
            }
        }
    }
}

template <typename T>
void post_res_backward(T* dy, T* dpost, T* dA, T* dX, const T* dXout, const T* X, const T* y,
                       const Coeffs<T>& c, int64_t D, const Options& o) {
    const int n = o.n;
#pragma omp parallel for num_threads(threads_for(o, c.tokens, 2 * n * n * D)) schedule(static)
    for (int64_t t = 0; t < c.tokens; ++t) {
        const T* A = c.A.data() + t * n * n;
        T* dyt = dy + t * D;
        const T* yt = y + t * D;
        for (int64_t d = 0; d < D; ++d) dyt[d] = 0;
        for (int b = 0; b < n; ++b)
            for (int64_t d = 0; d < D; ++d) dX[(t * n + b) * D + d] = 0;
        for (int a = 0; a < n; ++a) {
            const T* g = dXout + (t * n + a) * D;
            const T p = c.post[size_t(t * n + a)];
            T dp = 0;
#pragma omp simd reduction(+ : dp)
            for (int64_t d = 0; d < D; ++d) {
                dyt[d] += p * g[d];
                dp += g[d] * yt[d];
            }
            dpost[t * n + a] = dp;
            for (int b = 0; b < n; ++b) {
                const T* xb = X + (t * n + b) * D;
                T* dxb = dX + (t * n + b) * D;
                const T w = A[a * n + b];
                T da = 0;
#pragma omp simd reduction(+ : da)
                for (int64_t d = 0; d < D; ++d) {
                    da += g[d] * xb[d];
                    dxb[d] += w * g[d];
                }
                dA[(t * n + a) * n + b] = da;
            }
        }
    }
}

template <typename T>
void pre_backward(T* dpre, T* dX, const T* du, const T* X, const Coeffs<T>& c, int64_t D, const Options& o) {
    const int n = o.n;
#pragma omp parallel for num_threads(threads_for(o, c.tokens, 2 * n * D)) schedule(static)
    for (int64_t t = 0; t < c.tokens; ++t) {
        const T* g = du + t * D;
        for (int i = 0; i < n; ++i) {
            const T* x = X + (t * n + i) * D;
            T* dx = dX + (t * n + i) * D;
            const T p = c.pre[size_t(t * n + i)];
            T dp = 0;
#pragma omp simd reduction(+ : dp)
            for (int64_t d = 0; d < D; ++d) {
                dp += g[d] * x[d];
                dx[d] += p * g[d];
            }
            dpre[t * n + i] = dp;
        }
    }
}

template <typename T>
void coeffs_backward(T* dX, T* dfn, T* dbase, T* dscale, const T* dpre, const T* dpost, const T* dA,
                     const T* X, int64_t D, const T* fn, const T* base, const T* scale, const Coeffs<T>& c,
                     const Options& o) {
    const int n = o.n;
    const int64_t K = int64_t(n) * n + 2 * n, nn = int64_t(n) * n, tokens = c.tokens;
    std::vector<T> dm(size_t(tokens * K), T(0));
    if (o.kind == Kind::kHC) {
        for (int64_t t = 0; t < tokens; ++t) {
            const T* m = c.m.data() + t * K;
            T* dmt = dm.data() + t * K;
            const T* gpre = dpre + t * n;
            const T* gpost = dpost + t * n;
            const T* gA = dA + t * n * n;
            for (int k = 0; k < K; ++k) {
                const T g = k < n ? gpre[k] : k < 2 * n ? gpost[k - n] : gA[k - 2 * n];
                const int grp = k < n ? 0 : k < 2 * n ? 1 : 2;
                const T th = std::tanh(m[k]);
                dbase[k] += g;
                dscale[grp] += g * th;
                dmt[k] = g * scale[grp] * (T(1) - th * th);
            }
        }
    } else {
        // dz [tokens, K]: the gradient w.r.t. each pre-activation (m·scale + base), per token in parallel;
        // then dm = dz·scale, and dbase / dscale summed over tokens in token order.
        std::vector<T> dz(size_t(tokens * K));
#pragma omp parallel num_threads(threads_for(o, tokens, 1024))
        {
            std::vector<T> h(size_t(kChunk * nn)), dC(size_t(kChunk * nn)), dh(size_t(kChunk * nn));
#pragma omp for schedule(static)
            for (int64_t t0 = 0; t0 < tokens; t0 += kChunk) {
                const int64_t t1 = std::min(tokens, t0 + kChunk);
                for (int64_t t = t0; t < t1; ++t) {
                    const T* m = c.m.data() + t * K;
                    T* dzt = dz.data() + t * K;
                    const T* gpre = dpre + t * n;
                    const T* gpost = dpost + t * n;
                    const T* gA = dA + t * nn;
                    for (int i = 0; i < n; ++i) {
                        const T sp = sigmoid(m[i] * scale[0] + base[i]);
                        dzt[i] = gpre[i] * sp * (T(1) - sp);
                        const T so = sigmoid(m[n + i] * scale[1] + base[n + i]);
                        dzt[n + i] = gpost[i] * T(2) * so * (T(1) - so);
                    }
                    T* ht = h.data() + (t - t0) * nn;
                    T* dCt = dC.data() + (t - t0) * nn;
                    for (int k = 0; k < n * n; ++k) ht[k] = m[2 * n + k] * scale[2] + base[2 * n + k];
                    for (int a = 0; a < n; ++a)
                        for (int b = 0; b < n; ++b) dCt[a * n + b] = o.paper_form ? gA[a * n + b] : gA[b * n + a];
                }
                sinkhorn_backward_batch(dh.data(), nn, dC.data(), nn, h.data(), nn, t1 - t0, o);
                for (int64_t t = t0; t < t1; ++t) {
                    T* dzt = dz.data() + t * K;
                    T* dmt = dm.data() + t * K;
                    const T* dht = dh.data() + (t - t0) * nn;
                    for (int k = 0; k < n * n; ++k) dzt[2 * n + k] = dht[k];
                    for (int k = 0; k < K; ++k) dmt[k] = dzt[k] * scale[k < n ? 0 : k < 2 * n ? 1 : 2];
                }
            }
        }
        for (int64_t t = 0; t < tokens; ++t) {
            const T* m = c.m.data() + t * K;
            const T* dzt = dz.data() + t * K;
            for (int i = 0; i < n; ++i) {
                dbase[i] += dzt[i];
                dbase[n + i] += dzt[n + i];
                dscale[0] += dzt[i] * m[i];
                dscale[1] += dzt[n + i] * m[n + i];
            }
            for (int k = 0; k < n * n; ++k) {
                dbase[2 * n + k] += dzt[2 * n + k];
                dscale[2] += dzt[2 * n + k] * m[2 * n + k];
            }
        }
    }
    coeff_logits_backward(dX, dfn, dm.data(), X, tokens, n * D, fn, K, c.m.data(), c.rho.data(), o);
}

template <typename T>
void head_forward(T* h, HeadSaved<T>& s, const T* X, int64_t tokens, int64_t D, const T* fn, const T* base,
                  const T* scale, const Options& o) {
    const int n = o.n;
    s.m.assign(size_t(tokens * n), T(0));
    s.rho.assign(size_t(tokens), T(0));
    s.w.assign(size_t(tokens * n), T(0));
    coeff_logits(s.m.data(), s.rho.data(), X, tokens, n * D, fn, n, T(o.rms_eps), o);
    for (int64_t t = 0; t < tokens; ++t) {
        T* ht = h + t * D;
        for (int64_t d = 0; d < D; ++d) ht[d] = 0;
        for (int i = 0; i < n; ++i) {
            const T w = sigmoid(s.m[size_t(t * n + i)] * scale[0] + base[i]) + T(o.eps);
            s.w[size_t(t * n + i)] = w;
            const T* x = X + (t * n + i) * D;
            for (int64_t d = 0; d < D; ++d) ht[d] += w * x[d];
        }
    }
}

template <typename T>
void head_backward(T* dX, T* dfn, T* dbase, T* dscale, const T* dh, const T* X, int64_t D, const T* fn,
                   const T* scale, const HeadSaved<T>& s, const Options& o) {
    const int n = o.n;
    const int64_t tokens = int64_t(s.rho.size());
    std::vector<T> dm(size_t(tokens * n));
    for (int64_t t = 0; t < tokens; ++t) {
        const T* g = dh + t * D;
        for (int i = 0; i < n; ++i) {
            const T* x = X + (t * n + i) * D;
            T* dx = dX + (t * n + i) * D;
            const T w = s.w[size_t(t * n + i)];
            T dw = 0;
#pragma omp simd reduction(+ : dw)
            for (int64_t d = 0; d < D; ++d) {
                dw += g[d] * x[d];
                dx[d] = w * g[d];
            }
            const T sg = w - T(o.eps);
            const T dz = dw * sg * (T(1) - sg);
            dbase[i] += dz;
            dscale[0] += dz * s.m[size_t(t * n + i)];
            dm[size_t(t * n + i)] = dz * scale[0];
        }
    }
    coeff_logits_backward(dX, dfn, dm.data(), X, tokens, n * D, fn, n, s.m.data(), s.rho.data(), o);
}

void init_sublayer(float* base, float* scale, int64_t sublayer, const Options& o) {
    const int n = o.n;
    const int hot = int(sublayer % n);
    if (o.kind == Kind::kHC) {
        for (int i = 0; i < n; ++i) {
            base[i] = i == hot ? 1.0f : 0.0f;  // pre one-hot e_(l mod n)
            base[n + i] = 1.0f;               // post = 1
        }
        for (int a = 0; a < n; ++a)
            for (int b = 0; b < n; ++b) base[2 * n + a * n + b] = a == b ? 1.0f : 0.0f;
    } else {
        const float c = 6.0f;
        for (int i = 0; i < n; ++i) {
            base[i] = i == hot ? c : -c;
            base[n + i] = 0.0f;
        }
        for (int a = 0; a < n; ++a)
            for (int b = 0; b < n; ++b) base[2 * n + a * n + b] = a == b ? c : 0.0f;
    }
    scale[0] = scale[1] = scale[2] = 0.01f;
}

#define LATENT_MHC_INSTANTIATE(T)                                                                          \
    template void coeffs_forward<T>(Coeffs<T>&, const T*, int64_t, int64_t, const T*, const T*, const T*,   \
                                    const Options&);                                                        \
    template void pre_forward<T>(T*, const T*, const Coeffs<T>&, int64_t, const Options&);                  \
    template void post_res_forward<T>(T*, const T*, const T*, const Coeffs<T>&, int64_t, const Options&);   \
    template void post_res_backward<T>(T*, T*, T*, T*, const T*, const T*, const T*, const Coeffs<T>&,      \
                                       int64_t, const Options&);                                            \
    template void pre_backward<T>(T*, T*, const T*, const T*, const Coeffs<T>&, int64_t, const Options&);   \
    template void coeffs_backward<T>(T*, T*, T*, T*, const T*, const T*, const T*, const T*, int64_t,       \
                                     const T*, const T*, const T*, const Coeffs<T>&, const Options&);       \
    template void head_forward<T>(T*, HeadSaved<T>&, const T*, int64_t, int64_t, const T*, const T*,        \
                                  const T*, const Options&);                                                \
    template void head_backward<T>(T*, T*, T*, T*, const T*, const T*, int64_t, const T*, const T*,         \
                                   const HeadSaved<T>&, const Options&);

LATENT_MHC_INSTANTIATE(float)
LATENT_MHC_INSTANTIATE(double)

}  // namespace engine::mhc
