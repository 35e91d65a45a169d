// hyper_connections.cu — the hyper-connection ops (backend.h "hyper-connections"), fused per token
// (mhc.md §4 "Kernel fusion"): the RMS-scaled coefficient logits (cuBLAS + one row kernel), the coefficient algebra with the whole Sinkhorn of a token in one thread,
// the stream aggregation, and the post + residual merge that reads each X[t, :, d] once.
//
// Semantics are the CPU reference's (engine/src/cpu/hyper_connections.cpp), which computes the
// coefficients in fp64; here they are fp32 (the parity tests bound the difference).
//
// The Sinkhorn backward recomputes: for normalisation k (last to first) it re-runs the start and the k
// normalisations before it from the logits, so nothing is saved and a thread needs 4·n² floats;
// the cost is steps²/2 normalisations per token (780 of n² entries at n = 4, 20 iterations), which
// is small next to the sublayer's GEMMs. n is limited to kHcMaxN (n² values per thread).
#include <initializer_list>

#include "checks.h"
#include "common.cuh"
#include "cuda_backend.h"
#include "engine/hc_checks.h"
#include "reduce.cuh"

namespace cuda_backend {

using engine::HcParams;
using engine::TensorView;
using Kind = HcParams::Kind;

namespace {

constexpr int kHcMaxN = 8;
constexpr int kHcMaxNN = kHcMaxN * kHcMaxN;

struct HcForm {
    int kind;    // 0 mHC, 1 HC, 2 head
    int n;
    int steps;   // Sinkhorn normalisations: 2·iters (paper) or 2·iters − 1 (V4)
    float eps;   // hc_eps
    int paper;   // paper form
};

HcForm form_of(const HcParams& p) {
    HcForm f;
    f.kind = p.kind == Kind::kMHC ? 0 : p.kind == Kind::kHC ? 1 : 2;
    f.n = p.n;
    f.steps = p.paper_form ? 2 * p.sinkhorn_iters : 2 * p.sinkhorn_iters - 1;
    f.eps = p.eps;
    f.paper = p.paper_form ? 1 : 0;
    return f;
}

__device__ __forceinline__ float sigmoid_f(float x) { return 1.0f / (1.0f + expf(-x)); }

// Which scale a logit column uses: 0 (pre), 1 (post), 2 (mix).
__device__ __forceinline__ int group_of(int k, int n) { return k < n ? 0 : k < 2 * n ? 1 : 2; }

// The Sinkhorn start from the logits L [n, n]: V4 softmax_row(L) + eps; paper exp(L − max L).
__device__ void sk_start(float* M, const float* L, int n, const HcForm& f) {
    const int nn = n * n;
    if (f.paper) {
        float mx = L[0];
        for (int k = 1; k < nn; ++k) mx = fmaxf(mx, L[k]);
        for (int k = 0; k < nn; ++k) M[k] = expf(L[k] - mx);
        return;
    }
    for (int i = 0; i < n; ++i) {
        float mx = L[i * n];
        for (int j = 1; j < n; ++j) mx = fmaxf(mx, L[i * n + j]);
        float s = 0.0f;
        for (int j = 0; j < n; ++j) s += (M[i * n + j] = expf(L[i * n + j] - mx));
        const float inv = 1.0f / s;
        for (int j = 0; j < n; ++j) M[i * n + j] = M[i * n + j] * inv + f.eps;
    }
}

// Entry b of line a of normalisation k: even k divides columns by their sums, odd k rows.
__device__ __forceinline__ int sk_entry(int k, int n, int a, int b) { return (k % 2 == 0) ? b * n + a : a * n + b; }

// Normalisation k in place: M /= (Σ_line M + e).
__device__ void sk_normalize(float* M, int n, int k, float e) {
    for (int a = 0; a < n; ++a) {
        float s = 0.0f;
        for (int b = 0; b < n; ++b) s += M[sk_entry(k, n, a, b)];
        const float inv = 1.0f / (s + e);
        for (int b = 0; b < n; ++b) M[sk_entry(k, n, a, b)] *= inv;
    }
}

// Backward of normalisation k (input x, output y): g ← (g − Σ_line g⊙y) / (Σ_line x + e), in place.
__device__ void sk_normalize_backward(float* g, const float* y, const float* x, int n, int k, float e) {
    for (int a = 0; a < n; ++a) {
        float s = 0.0f, dot = 0.0f;
        for (int b = 0; b < n; ++b) {
            const int i = sk_entry(k, n, a, b);
            s += x[i];
            dot += g[i] * y[i];
        }
        const float inv = 1.0f / (s + e);
        for (int b = 0; b < n; ++b) {
            const int i = sk_entry(k, n, a, b);
            g[i] = (g[i] - dot) * inv;
        }
    }
}

// One thread per token.   m: [T, K]; base: [K]; scale: [3] (head [1]); pre, post: [T, n]; mix: [T, n, n]
__global__ void hc_coeffs_kernel(float* pre, float* post, float* mix, const float* m, const float* base,
                                 const float* scale, int64_t T, int K, HcForm f) {
    const int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (t >= T) return;
    const int n = f.n, nn = n * n;
    const float* mt = m + t * K;
    if (f.kind == 2) {
        for (int i = 0; i < n; ++i) pre[t * n + i] = sigmoid_f(mt[i] * scale[0] + base[i]) + f.eps;
        return;
    }
    if (f.kind == 1) {
        for (int i = 0; i < n; ++i) {
            pre[t * n + i] = base[i] + scale[0] * tanhf(mt[i]);
            post[t * n + i] = base[n + i] + scale[1] * tanhf(mt[n + i]);
        }
        for (int k = 0; k < nn; ++k) mix[t * nn + k] = base[2 * n + k] + scale[2] * tanhf(mt[2 * n + k]);
        return;
    }
    for (int i = 0; i < n; ++i) {
        const float sp = sigmoid_f(mt[i] * scale[0] + base[i]);
        pre[t * n + i] = f.paper ? sp : sp + f.eps;
        post[t * n + i] = 2.0f * sigmoid_f(mt[n + i] * scale[1] + base[n + i]);
    }
    float L[kHcMaxNN], M[kHcMaxNN];
    for (int k = 0; k < nn; ++k) L[k] = mt[2 * n + k] * scale[2] + base[2 * n + k];
    sk_start(M, L, n, f);
    const float e = f.paper ? 0.0f : f.eps;
    for (int k = 0; k < f.steps; ++k) sk_normalize(M, n, k, e);
    for (int a = 0; a < n; ++a)
        for (int c = 0; c < n; ++c)  // V4: X'_a = Σ_c C[c][a]·X_c (combᵀ); paper: H_res as is
            mix[t * nn + a * n + c] = f.paper ? M[a * n + c] : M[c * n + a];
}

// One thread per token: db[t, k] = ∂L/∂base_k of token t (written into dm, finished by hc_finish_kernel).
__global__ void hc_coeffs_grad_kernel(float* db, const float* dpre, const float* dpost, const float* dmix,
                                      const float* m, const float* base, const float* scale, int64_t T, int K,
                                      HcForm f) {
    const int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (t >= T) return;
    const int n = f.n, nn = n * n;
    const float* mt = m + t * K;
    float* dbt = db + t * K;
    if (f.kind == 1) {  // x = b + s·tanh(m): ∂x/∂b = 1
        for (int k = 0; k < K; ++k) dbt[k] = k < n ? dpre[t * n + k] : k < 2 * n ? dpost[t * n + k - n] : dmix[t * nn + k - 2 * n];
        return;
    }
    for (int i = 0; i < n; ++i) {
        const float sp = sigmoid_f(mt[i] * scale[0] + base[i]);
        dbt[i] = dpre[t * n + i] * sp * (1.0f - sp);
        if (f.kind == 2) continue;
        const float so = sigmoid_f(mt[n + i] * scale[1] + base[n + i]);
        dbt[n + i] = dpost[t * n + i] * 2.0f * so * (1.0f - so);
    }
    if (f.kind == 2) return;
    float L[kHcMaxNN], x[kHcMaxNN], y[kHcMaxNN], g[kHcMaxNN];
    for (int k = 0; k < nn; ++k) L[k] = mt[2 * n + k] * scale[2] + base[2 * n + k];
    for (int a = 0; a < n; ++a)
        for (int c = 0; c < n; ++c) g[a * n + c] = f.paper ? dmix[t * nn + a * n + c] : dmix[t * nn + c * n + a];
    const float e = f.paper ? 0.0f : f.eps;
    for (int k = f.steps; k-- > 0;) {
        sk_start(x, L, n, f);  // x = the input of normalisation k, recomputed
        for (int j = 0; j < k; ++j) sk_normalize(x, n, j, e);
        for (int i = 0; i < nn; ++i) y[i] = x[i];
        sk_normalize(y, n, k, e);
        sk_normalize_backward(g, y, x, n, k, e);
    }
    sk_start(x, L, n, f);
    if (f.paper) {  // d exp(L − max) = g ⊙ M0 (the max shift has zero net gradient)
        for (int k = 0; k < nn; ++k) dbt[2 * n + k] = g[k] * x[k];
    } else {  // softmax_row start (+eps is a constant): dz = (g − Σ_row g⊙p) ⊙ p, p = start − eps
        for (int i = 0; i < n; ++i) {
            float dot = 0.0f;
            for (int j = 0; j < n; ++j) dot += g[i * n + j] * (x[i * n + j] - f.eps);
            for (int j = 0; j < n; ++j) dbt[2 * n + i * n + j] = (g[i * n + j] - dot) * (x[i * n + j] - f.eps);
        }
    }
}

// The ∂L/∂scale term of db[t, k]: z = m·s + b gives db·m; HC's x = b + s·tanh(m) gives db·tanh(m).
__device__ __forceinline__ float scale_term(float db, float m, int kind) { return kind == 1 ? db * tanhf(m) : db * m; }

// Block k: dbase[k] += Σ_t db[t, k] (fixed order per launch configuration: deterministic).
__global__ void hc_dbase_kernel(float* dbase, const float* db, int64_t T, int K) {
    __shared__ double sh[32];
    const int k = int(blockIdx.x);
    double acc = 0.0;
    for (int64_t t = threadIdx.x; t < T; t += blockDim.x) acc += db[t * K + k];
    acc = block_sum(acc, sh);
    if (threadIdx.x == 0) dbase[k] += float(acc);
}

// Block g: dscale[g] += Σ_t Σ_{k in group g} scale_term(db[t, k], m[t, k]).
__global__ void hc_dscale_kernel(float* dscale, const float* db, const float* m, int64_t T, int K, HcForm f) {
    __shared__ double sh[32];
    const int g = int(blockIdx.x), n = f.n;
    const int lo = g == 0 ? 0 : g == 1 ? n : 2 * n, hi = f.kind == 2 ? n : g == 0 ? n : g == 1 ? 2 * n : K;
    const int w = hi - lo;
    double acc = 0.0;
    for (int64_t i = threadIdx.x; i < T * w; i += blockDim.x) {
        const int64_t t = i / w, k = lo + i % w;
        acc += scale_term(db[t * K + k], m[t * K + k], f.kind);
    }
    acc = block_sum(acc, sh);
    if (threadIdx.x == 0) dscale[g] += float(acc);
}

// dm[t, k] = db·s_g (mHC, head) or db·s_g·(1 − tanh²m) (HC), in place over db.
__global__ void hc_dm_kernel(float* dm, const float* m, const float* scale, int64_t T, int K, HcForm f) {
    const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (i >= T * K) return;
    const int k = int(i % K);
    const float s = scale[f.kind == 2 ? 0 : group_of(k, f.n)];
    if (f.kind == 1) {
        const float th = tanhf(m[i]);
        dm[i] = dm[i] * s * (1.0f - th * th);
    } else {
        dm[i] = dm[i] * s;
    }
}

// u[t, d] = Σ_i pre[t, i]·X[t, i, d], one thread per (t, d).
__global__ void hc_pre_kernel(float* u, const float* X, const float* pre, int64_t T, int n, int64_t D) {
    const int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (j >= T * D) return;
    const int64_t t = j / D, d = j % D;
    float acc = 0.0f;
    for (int i = 0; i < n; ++i) acc += pre[t * n + i] * X[(t * n + i) * D + d];
    u[j] = acc;
}

// Xout[t, a, d] = post[t, a]·y[t, d] + Σ_b mix[t, a, b]·X[t, b, d]; one thread per (t, d) reads the n
// stream values once and writes the n outputs.
__global__ void hc_post_res_kernel(float* Xout, const float* X, const float* y, const float* post, const float* mix,
                                   int64_t T, int n, int64_t D) {
    const int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (j >= T * D) return;
    const int64_t t = j / D, d = j % D;
    float x[kHcMaxN];
    for (int b = 0; b < n; ++b) x[b] = X[(t * n + b) * D + d];
    const float yv = y[j];
    for (int a = 0; a < n; ++a) {
        float acc = post[t * n + a] * yv;
        for (int b = 0; b < n; ++b) acc += mix[(t * n + a) * n + b] * x[b];
        Xout[(t * n + a) * D + d] = acc;
    }
}

// Sums `count` per-thread partial values over the block in a fixed order; thread j < count gets total j
// in out[j] (shared). sh: [count · 32] shared floats.
__device__ void block_sums(float* part, int count, float* sh, float* out) {
    const int lane = int(threadIdx.x & 31), warp = int(threadIdx.x >> 5), warps = int(blockDim.x >> 5);
    for (int j = 0; j < count; ++j) {
        const float v = warp_reduce(part[j], SumOp{});
        if (lane == 0) sh[j * 32 + warp] = v;
    }
    __syncthreads();
    if (int(threadIdx.x) < count) {
        float s = 0.0f;
        for (int w = 0; w < warps; ++w) s += sh[threadIdx.x * 32 + w];
        out[threadIdx.x] = s;
    }
    __syncthreads();
}

// Block t: dpre[t, i] = <du[t], X[t, i]>; dX[t, i, :] += pre[t, i]·du[t, :].
__global__ void hc_pre_backward_kernel(float* dpre, float* dX, const float* du, const float* X, const float* pre,
                                       int n, int64_t D) {
    __shared__ float sh[kHcMaxN * 32];
    __shared__ float tot[kHcMaxN];
    const int64_t t = blockIdx.x;
    float part[kHcMaxN];
    for (int i = 0; i < n; ++i) part[i] = 0.0f;
    for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
        const float g = du[t * D + d];
        for (int i = 0; i < n; ++i) {
            const int64_t o = (t * n + i) * D + d;
            part[i] += g * X[o];
            dX[o] += pre[t * n + i] * g;
        }
    }
    block_sums(part, n, sh, tot);
    if (int(threadIdx.x) < n) dpre[t * n + threadIdx.x] = tot[threadIdx.x];
}

// Block t: dy[t] = Σ_a post[t,a]·g_a; dX[t,b] = Σ_a mix[t,a,b]·g_a; dpost[t,a] = <g_a, y[t]>;
// dmix[t,a,b] = <g_a, X[t,b]>, with g_a = dXout[t, a, :].
__global__ void hc_post_res_backward_kernel(float* dy, float* dpost, float* dmix, float* dX, const float* dXout,
                                            const float* X, const float* y, const float* post, const float* mix,
                                            int n, int64_t D) {
    constexpr int kVals = kHcMaxN + kHcMaxNN;
    __shared__ float sh[kVals * 32];
    __shared__ float tot[kVals];
    const int64_t t = blockIdx.x;
    const int nn = n * n;
    float part[kVals];
    for (int j = 0; j < n + nn; ++j) part[j] = 0.0f;
    for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
        float g[kHcMaxN], x[kHcMaxN];
        for (int a = 0; a < n; ++a) {
            g[a] = dXout[(t * n + a) * D + d];
            x[a] = X[(t * n + a) * D + d];
        }
        const float yv = y[t * D + d];
        float dyv = 0.0f;
        for (int a = 0; a < n; ++a) {
            dyv += post[t * n + a] * g[a];
            part[a] += g[a] * yv;
            for (int b = 0; b < n; ++b) part[n + a * n + b] += g[a] * x[b];
        }
        dy[t * D + d] = dyv;
        for (int b = 0; b < n; ++b) {
            float acc = 0.0f;
            for (int a = 0; a < n; ++a) acc += mix[(t * n + a) * n + b] * g[a];
            dX[(t * n + b) * D + d] = acc;
        }
    }
    block_sums(part, n + nn, sh, tot);
    const int j = int(threadIdx.x);
    if (j < n) dpost[t * n + j] = tot[j];
    else if (j < n + nn) dmix[t * nn + (j - n)] = tot[j];
}

// Block t: rho[t] = rsqrt(mean(v_t²) + eps), m[t, :] *= rho[t]    v: [T, nD]; m: [T, K] (= v·fnᵀ on entry)
__global__ void hc_rho_scale_kernel(float* m, float* rho, const float* v, int64_t nD, int K, float eps) {
    __shared__ double sh[32];
    const int64_t t = blockIdx.x;
    double ss = 0.0;
    for (int64_t i = threadIdx.x; i < nD; i += blockDim.x) ss += double(v[t * nD + i]) * v[t * nD + i];
    ss = block_sum(ss, sh);
    const float r = float(1.0 / sqrt(ss / double(nD) + double(eps)));
    if (threadIdx.x == 0) rho[t] = r;
    for (int k = int(threadIdx.x); k < K; k += int(blockDim.x)) m[t * K + k] *= r;
}

// Block t: da[t, k] = dm·ρ; dv[t, :] −= (Σ_k dm·m)·ρ²·v / nD   (the ρ(v) path; the GEMMs follow)
__global__ void hc_logits_grad_kernel(float* dv, float* da, const float* dm, const float* m, const float* rho,
                                      const float* v, int64_t nD, int K) {
    __shared__ float sh[32];
    const int64_t t = blockIdx.x;
    const float r = rho[t];
    float s = 0.0f;
    for (int k = int(threadIdx.x); k < K; k += int(blockDim.x)) {
        s += dm[t * K + k] * m[t * K + k];
        da[t * K + k] = dm[t * K + k] * r;
    }
    s = block_sum(s, sh);
    const float c = s * r * r / float(nD);
    for (int64_t i = threadIdx.x; i < nD; i += blockDim.x) dv[t * nD + i] -= c * v[t * nD + i];
}

constexpr int kThreads = 256;

struct Named {
    const TensorView* v;
    const char* name;
};
void on_gpu(const char* op, std::initializer_list<Named> views) {
    for (const Named& n : views) check_device(*n.v, op, n.name);
}

void check_n(int64_t n, const char* op) {
    ENGINE_CHECK(n <= kHcMaxN, kUnsupported, op, ": the CUDA backend supports hc_mult up to ", kHcMaxN, ", got ", n,
                 "; run this model on the CPU backend (--device cpu)");
}

}  // namespace

void CudaBackend::hc_logits(const TensorView& m, const TensorView& rho, const TensorView& X, const TensorView& fn,
                            float eps) {
    const char* op = "hc_logits";
    const engine::hc::Dims d = engine::hc::check_logits(op, m, rho, X, fn);
    on_gpu(op, {{&m, "m"}, {&rho, "rho"}, {&X, "X"}, {&fn, "fn"}});
    if (d.T == 0) return;
    const int64_t nD = d.n * d.D;
    matmul(m, X.reshape({d.T, nD}), fn, /*w_transposed=*/true, /*accumulate=*/false);  // v·fnᵀ (any weight dtype)
    hc_rho_scale_kernel<<<d.T, kThreads, 0, stream_>>>(m.as<float>(), rho.as<float>(), X.as<const float>(), nD,
                                                        int(fn.dim(0)), eps);
    CUDA_CHECK_LAUNCH();
}

void CudaBackend::hc_logits_backward(const TensorView& dX, const TensorView& dfn, const TensorView& dm,
                                     const TensorView& X, const TensorView& fn, const TensorView& m,
                                     const TensorView& rho) {
    const char* op = "hc_logits_backward";
    const engine::hc::Dims d = engine::hc::check_logits_backward(op, dX, dfn, dm, X, fn, m, rho);
    on_gpu(op, {{&dX, "dX"}, {&dm, "dm"}, {&X, "X"}, {&fn, "fn"}, {&m, "m"}, {&rho, "rho"}});
    if (dfn.data) check_device(dfn, op, "dfn");
    if (d.T == 0) return;
    const int64_t nD = d.n * d.D, K = fn.dim(0);
    // da [T, K] in its own allocation (stream-ordered): matmul may use the shared workspace.
    engine::Tensor da = engine::Backend::alloc(engine::DType::F32, {d.T, K});
    hc_logits_grad_kernel<<<d.T, kThreads, 0, stream_>>>(dX.as<float>(), da.as<float>(), dm.as<const float>(),
                                                          m.as<const float>(), rho.as<const float>(),
                                                          X.as<const float>(), nD, int(K));
    CUDA_CHECK_LAUNCH();
    const TensorView X2 = X.reshape({d.T, nD}), dX2 = dX.reshape({d.T, nD});
    matmul(dX2, da.view(), fn, /*w_transposed=*/false, /*accumulate=*/true);  // dX += da·fn
    if (dfn.data) matmul_weight_grad(dfn, da.view(), X2, /*accumulate=*/true);  // dfn += daᵀ·X
}

void CudaBackend::hc_coeffs(const TensorView& pre, const TensorView& post, const TensorView& mix, const TensorView& m,
                            const TensorView& base, const TensorView& scale, const HcParams& p) {
    const char* op = "hc_coeffs";
    const engine::hc::Dims d = engine::hc::check_coeffs(op, pre, post, mix, m, base, scale, p);
    check_n(d.n, op);
    on_gpu(op, {{&pre, "pre"}, {&m, "m"}, {&base, "base"}, {&scale, "scale"}});
    const bool head = p.kind == Kind::kHead;
    if (!head) {
        check_device(post, op, "post");
        check_device(mix, op, "mix");
    }
    if (d.T == 0) return;
    hc_coeffs_kernel<<<ceil_div(d.T, 128), 128, 0, stream_>>>(
        pre.as<float>(), head ? nullptr : post.as<float>(), head ? nullptr : mix.as<float>(), m.as<const float>(),
        base.as<const float>(), scale.as<const float>(), d.T, int(p.logits()), form_of(p));
    CUDA_CHECK_LAUNCH();
}

void CudaBackend::hc_coeffs_backward(const TensorView& dm, const TensorView& dbase, const TensorView& dscale,
                                     const TensorView& dpre, const TensorView& dpost, const TensorView& dmix,
                                     const TensorView& m, const TensorView& base, const TensorView& scale,
                                     const HcParams& p) {
    const char* op = "hc_coeffs_backward";
    const engine::hc::Dims d =
        engine::hc::check_coeffs_backward(op, dm, dbase, dscale, dpre, dpost, dmix, m, base, scale, p);
    check_n(d.n, op);
    on_gpu(op, {{&dm, "dm"}, {&dbase, "dbase"}, {&dscale, "dscale"}, {&dpre, "dpre"}, {&m, "m"}, {&base, "base"}, {&scale, "scale"}});
    const bool head = p.kind == Kind::kHead;
    if (!head) {
        check_device(dpost, op, "dpost");
        check_device(dmix, op, "dmix");
    }
    if (d.T == 0) return;
    const int K = int(p.logits());
    const HcForm f = form_of(p);
    float* db = dm.as<float>();  // db first, turned into dm by the last kernel
    hc_coeffs_grad_kernel<<<ceil_div(d.T, 128), 128, 0, stream_>>>(
        db, dpre.as<const float>(), head ? nullptr : dpost.as<const float>(), head ? nullptr : dmix.as<const float>(),
        m.as<const float>(), base.as<const float>(), scale.as<const float>(), d.T, K, f);
    CUDA_CHECK_LAUNCH();
    hc_dbase_kernel<<<K, kThreads, 0, stream_>>>(dbase.as<float>(), db, d.T, K);
    CUDA_CHECK_LAUNCH();
    hc_dscale_kernel<<<int(p.scales()), kThreads, 0, stream_>>>(dscale.as<float>(), db, m.as<const float>(), d.T, K, f);
    CUDA_CHECK_LAUNCH();
    hc_dm_kernel<<<ceil_div(d.T * K, kThreads), kThreads, 0, stream_>>>(db, m.as<const float>(),
                                                                           scale.as<const float>(), d.T, K, f);
    CUDA_CHECK_LAUNCH();
}

void CudaBackend::hc_pre(const TensorView& u, const TensorView& X, const TensorView& pre) {
    const char* op = "hc_pre";
    const engine::hc::Dims d = engine::hc::check_pre(op, u, X, pre);
    check_n(d.n, op);
    on_gpu(op, {{&u, "u"}, {&X, "X"}, {&pre, "pre"}});
    if (d.T * d.D == 0) return;
    hc_pre_kernel<<<ceil_div(d.T * d.D, kThreads), kThreads, 0, stream_>>>(u.as<float>(), X.as<const float>(),
                                                                              pre.as<const float>(), d.T, int(d.n), d.D);
    CUDA_CHECK_LAUNCH();
}

void CudaBackend::hc_post_res(const TensorView& Xout, const TensorView& X, const TensorView& y, const TensorView& post,
                              const TensorView& mix) {
    const char* op = "hc_post_res";
    const engine::hc::Dims d = engine::hc::check_post_res(op, Xout, X, y, post, mix);
    check_n(d.n, op);
    on_gpu(op, {{&Xout, "Xout"}, {&X, "X"}, {&y, "y"}, {&post, "post"}, {&mix, "mix"}});
    if (d.T * d.D == 0) return;
    hc_post_res_kernel<<<ceil_div(d.T * d.D, kThreads), kThreads, 0, stream_>>>(
        Xout.as<float>(), X.as<const float>(), y.as<const float>(), post.as<const float>(), mix.as<const float>(), d.T,
        int(d.n), d.D);
    CUDA_CHECK_LAUNCH();
}

void CudaBackend::hc_pre_backward(const TensorView& dpre, const TensorView& dX, const TensorView& du,
                                  const TensorView& X, const TensorView& pre) {
    const char* op = "hc_pre_backward";
    const engine::hc::Dims d = engine::hc::check_pre(op, du, X, pre);
    engine::hc::check_pre(op, du, dX, dpre);
    check_same_shape(dX, X, op);
    check_n(d.n, op);
    on_gpu(op, {{&dpre, "dpre"}, {&dX, "dX"}, {&du, "du"}, {&X, "X"}, {&pre, "pre"}});
    if (d.T == 0) return;
    hc_pre_backward_kernel<<<d.T, kThreads, 0, stream_>>>(dpre.as<float>(), dX.as<float>(), du.as<const float>(),
                                                          X.as<const float>(), pre.as<const float>(), int(d.n), d.D);
    CUDA_CHECK_LAUNCH();
}

void CudaBackend::hc_post_res_backward(const TensorView& dy, const TensorView& dpost, const TensorView& dmix,
                                       const TensorView& dX, const TensorView& dXout, const TensorView& X,
                                       const TensorView& y, const TensorView& post, const TensorView& mix) {
    const char* op = "hc_post_res_backward";
    const engine::hc::Dims d = engine::hc::check_post_res(op, dXout, X, y, post, mix);
    engine::hc::check_post_res(op, dX, dXout, dy, dpost, dmix);
    check_n(d.n, op);
    on_gpu(op, {{&dy, "dy"}, {&dpost, "dpost"}, {&dmix, "dmix"}, {&dX, "dX"}, {&dXout, "dXout"}, {&X, "X"}, {&y, "y"}, {&post, "post"}, {&mix, "mix"}});
    if (d.T == 0) return;
    hc_post_res_backward_kernel<<<d.T, kThreads, 0, stream_>>>(
        dy.as<float>(), dpost.as<float>(), dmix.as<float>(), dX.as<float>(), dXout.as<const float>(), X.as<const float>(),
        y.as<const float>(), post.as<const float>(), mix.as<const float>(), int(d.n), d.D);
    CUDA_CHECK_LAUNCH();
}

}  // namespace cuda_backend
