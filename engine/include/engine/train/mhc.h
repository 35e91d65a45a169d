// mhc.h — hyper-connections: mHC (Sinkhorn-constrained, V4 or paper form) and plain HC (tanh), forward
// and exact backward, per docs/model-family.md (the contract shared with inference), on host arrays.
//
// Who uses what: the Sinkhorn (sinkhorn_*) runs inside the CPU backend's hc_* ops; the model and the
// trainable model call those ops (Backend::hc_logits / hc_coeffs / hc_pre / hc_post_res), so they run
// on any backend. The per-sublayer templates below (coeffs_*, pre_*, post_res_*, head_*) are the
// host-array form of the same math, kept as the fp64 reference of the gradient-check tests (mhc_test);
// init_sublayer and the diagnostics are used by training.
//
// The residual state of a token is X [n, D] (n streams). Per sublayer, with v = flatten(X) [n·D]:
//   m = (v·fnᵀ)·ρ,  ρ = rsqrt(mean(v²) + rms_eps)                               m: [n² + 2n]
//   pre [n], post [n], A [n, n] from m, base, scale (the form depends on the kind)
//   u = Σ_i pre_i X_i            (the sublayer input, before its RMSNorm)
//   X'_a = post_a · y + Σ_b A[a][b] X_b   (y = F(RMSNorm(u)))
// A is the mixing matrix in "paper orientation" (rows = output streams): for the V4 form A = Cᵀ
// (combᵀ·X), for the paper form A = H_res, for HC A = H.
// All functions are templates instantiated for float (training) and double (gradient checks).
// Sinkhorn intermediates are never stored: the backward recomputes the 2·iters normalisations from
// the logits (mhc.md §4), using only n² values per step of scratch.
#pragma once

#include <cstdint>
#include <vector>

namespace engine::mhc {

enum class Kind { kMHC, kHC };

struct Options {
    Kind kind = Kind::kMHC;
    int n = 4;                 // streams (hc_mult)
    int sinkhorn_iters = 20;   // hc_sinkhorn_iters
    double eps = 1e-6;         // hc_eps
    double rms_eps = 1e-6;     // rms_norm_eps (the ρ of the coefficient path)
    bool paper_form = false;   // hc_paper_form
    int threads = 1;           // OpenMP threads for the per-token loops (TrainModel: the CPU backend's)
};

// ---- Sinkhorn alone: logits L [n, n] → matrix [n, n] (the V4 form returns C, the paper form H_res) ----
template <typename T>
void sinkhorn_forward(T* out, const T* logits, const Options& o);
// dlogits = ∂L/∂logits given ∂L/∂out (exact reverse of the unrolled iterations; recomputes them).
template <typename T>
void sinkhorn_backward(T* dlogits, const T* dout, const T* logits, const Options& o);

// The same for `tokens` matrices at once (row strides ld*: token t's n² entries start at t·ld); the
// layers use these — blocks of 8 tokens run side by side, vectorised across tokens. Identical math.
template <typename T>
void sinkhorn_forward_batch(T* out, int64_t ldo, const T* logits, int64_t ldl, int64_t tokens, const Options& o);
template <typename T>
void sinkhorn_backward_batch(T* dlogits, int64_t ldd, const T* dout, int64_t ldg, const T* logits, int64_t ldl,
                             int64_t tokens, const Options& o);

// ---- per-sublayer coefficients for `tokens` tokens ----
// Saved by the forward for the backward: m (pre-scale coefficient logits) and ρ per token; pre, post, A.
template <typename T>
struct Coeffs {
    int64_t tokens = 0;
    std::vector<T> m;     // [tokens, n²+2n]
    std::vector<T> rho;   // [tokens]
    std::vector<T> pre;   // [tokens, n]
    std::vector<T> post;  // [tokens, n]
    std::vector<T> A;     // [tokens, n, n]   paper orientation: X'_a = Σ_b A[a][b] X_b + post_a·y
};

// X: [tokens, n, D]; fn: [n²+2n, n·D]; base: [n²+2n]; scale: [3].
template <typename T>
void coeffs_forward(Coeffs<T>& c, const T* X, int64_t tokens, int64_t D, const T* fn, const T* base,
                    const T* scale, const Options& o);
// u[t] = Σ_i pre[t,i]·X[t,i]                                   u: [tokens, D]
template <typename T>
void pre_forward(T* u, const T* X, const Coeffs<T>& c, int64_t D, const Options& o);
// Xout[t,a] = post[t,a]·y[t] + Σ_b A[t,a,b]·X[t,b]            Xout: [tokens, n, D] (may not alias X)
template <typename T>
void post_res_forward(T* Xout, const T* X, const T* y, const Coeffs<T>& c, int64_t D, const Options& o);

// Backward of post_res: from dXout → dy [tokens, D] (overwritten), dpost [tokens, n] and dA
// [tokens, n, n] (overwritten), dX [tokens, n, D] (overwritten: the residual-mix path).
template <typename T>
void post_res_backward(T* dy, T* dpost, T* dA, T* dX, const T* dXout, const T* X, const T* y,
                       const Coeffs<T>& c, int64_t D, const Options& o);
// Backward of pre: dpre [tokens, n] overwritten; dX += pre ⊗ du.
template <typename T>
void pre_backward(T* dpre, T* dX, const T* du, const T* X, const Coeffs<T>& c, int64_t D, const Options& o);
// Backward of the coefficients: dX += (coefficient path); dfn, dbase, dscale accumulate.
template <typename T>
void coeffs_backward(T* dX, T* dfn, T* dbase, T* dscale, const T* dpre, const T* dpost, const T* dA,
                     const T* X, int64_t D, const T* fn, const T* base, const T* scale, const Coeffs<T>& c,
                     const Options& o);

// ---- collapse head: w = σ((v·fnᵀ)·ρ·scale[0] + base) + eps; h = Σ_i w_i X_i ----
// fn: [n, n·D]; base: [n]; scale: [1]. Saves w and the coefficient logits for the backward.
template <typename T>
struct HeadSaved {
    std::vector<T> m;    // [tokens, n]
    std::vector<T> rho;  // [tokens]
    std::vector<T> w;    // [tokens, n]
};
template <typename T>
void head_forward(T* h, HeadSaved<T>& s, const T* X, int64_t tokens, int64_t D, const T* fn, const T* base,
                  const T* scale, const Options& o);
// dX (overwritten) [tokens, n, D]; dfn, dbase, dscale accumulate.
template <typename T>
void head_backward(T* dX, T* dfn, T* dbase, T* dscale, const T* dh, const T* X, int64_t D, const T* fn,
                   const T* scale, const HeadSaved<T>& s, const Options& o);

// ---- init (docs/model-family.md "Init") for sublayer index l ----
// fn is left to the caller (small normal); writes base [n²+2n] and scale [3].
void init_sublayer(float* base, float* scale, int64_t sublayer, const Options& o);

// ---- diagnostics (mhc.md §6) ----
// max_i |Σ_j P_ij| (forward) and max_j |Σ_i P_ij| (backward) of an n×n matrix.
double amax_forward_gain(const double* P, int n);
double amax_backward_gain(const double* P, int n);
// Over depth, from per-sublayer mixing matrices A_l (n×n, paper orientation, e.g. token-averaged):
//   forward[l]  = amax_forward_gain(A_l ··· A_1)      (composite from the input up to sublayer l)
//   backward[l] = amax_backward_gain(A_L ··· A_l)     (composite from sublayer l to the output)
//   column_error[l] = max_j |Σ_i A_l[i][j] − 1|       (Sinkhorn truncation error of that sublayer)
struct DepthGains {
    std::vector<double> forward, backward, column_error;
};
DepthGains depth_gains(const std::vector<std::vector<double>>& mix, int n);

}  // namespace engine::mhc
