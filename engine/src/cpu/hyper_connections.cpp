// hyper_connections.cpp — the CPU backend's hyper-connection ops (backend.h "hyper-connections"):
// the per-token coefficient algebra in fp64 (sigmoid / tanh, the Sinkhorn of sinkhorn.cpp), the
// stream aggregation and the post + residual merge, and their backward. This is the reference the
// CUDA kernels (kernels/hyper_connections.cu) are checked against.
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/cpu_backend.h"
#include "engine/hc_checks.h"
#include "engine/train/mhc.h"

namespace engine {
namespace {

using Kind = HcParams::Kind;

constexpr int64_t kChunk = 64;                    // tokens per work item of the coefficient loops
constexpr int64_t kParallelWork = int64_t(1) << 15;  // below this much work, one thread

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

mhc::Options sinkhorn_options(const HcParams& p) {
    mhc::Options o;
    o.kind = mhc::Kind::kMHC;
    o.n = p.n;
    o.sinkhorn_iters = p.sinkhorn_iters;
    o.eps = p.eps;
    o.paper_form = p.paper_form;
    return o;
}

// Which scale a logit column uses: 0 (pre), 1 (post), 2 (mix).
inline int group_of(int64_t k, int64_t n) { return k < n ? 0 : k < 2 * n ? 1 : 2; }

}  // namespace

void CpuBackend::hc_logits(const TensorView& m, const TensorView& rho, const TensorView& X, const TensorView& fn,
                           float eps) {
    const hc::Dims d = hc::check_logits("hc_logits", m, rho, X, fn);
    const int64_t T = d.T, nD = d.n * d.D, K = fn.dim(0);
    if (T == 0) return;
    matmul(m, X.reshape({T, nD}), fn);  // a[t, k] = v_t · fn_k
    float* M = m.as<float>();           // [T, K]
    float* RHO = rho.as<float>();       // [T]
    const float* V = X.as<const float>();  // [T, nD]
#pragma omp parallel for num_threads(threads_) schedule(static) if (T * nD >= kParallelWork)
    for (int64_t t = 0; t < T; ++t) {
        const float* v = V + t * nD;
        double ss = 0;
#pragma omp simd reduction(+ : ss)
        for (int64_t i = 0; i < nD; ++i) ss += double(v[i]) * v[i];
        const float r = float(1.0 / std::sqrt(ss / double(nD) + double(eps)));
        RHO[t] = r;
        for (int64_t k = 0; k < K; ++k) M[t * K + k] *= r;
    }
}

void CpuBackend::hc_logits_backward(const TensorView& dX, const TensorView& dfn, const TensorView& dm,
                                    const TensorView& X, const TensorView& fn, const TensorView& m,
                                    const TensorView& rho) {
    const hc::Dims d = hc::check_logits_backward("hc_logits_backward", dX, dfn, dm, X, fn, m, rho);
    const int64_t T = d.T, nD = d.n * d.D, K = fn.dim(0);
    if (T == 0) return;
    // m_k = a_k·ρ: da = dm·ρ, and through ρ(v): dv −= (Σ_k dm_k·m_k)·ρ²·v / (n·D).
    std::vector<float> da(size_t(T * K));  // [T, K]
    float* DX = dX.as<float>();
    const float* V = X.as<const float>();
    const float* DM = dm.as<const float>();
    const float* M = m.as<const float>();
    const float* RHO = rho.as<const float>();
#pragma omp parallel for num_threads(threads_) schedule(static) if (T * nD >= kParallelWork)
    for (int64_t t = 0; t < T; ++t) {
        const float r = RHO[t];
        double s = 0;
        for (int64_t k = 0; k < K; ++k) {
            s += double(DM[t * K + k]) * M[t * K + k];
            da[size_t(t * K + k)] = DM[t * K + k] * r;
        }
        const float c = float(s * double(r) * r / double(nD));
        const float* v = V + t * nD;
        float* dv = DX + t * nD;
#pragma omp simd
        for (int64_t i = 0; i < nD; ++i) dv[i] -= c * v[i];
    }
    const TensorView dav = TensorView::contiguous(da.data(), DType::F32, {T, K});
    matmul(dX.reshape({T, nD}), dav, fn, /*w_transposed=*/false, /*accumulate=*/true);  // dX += da·fn
    if (dfn.data) matmul_weight_grad(dfn, dav, X.reshape({T, nD}), /*accumulate=*/true);  // dfn += daᵀ·X
}

void CpuBackend::hc_coeffs(const TensorView& pre, const TensorView& post, const TensorView& mix, const TensorView& m,
                           const TensorView& base, const TensorView& scale, const HcParams& p) {
    const hc::Dims d = hc::check_coeffs("hc_coeffs", pre, post, mix, m, base, scale, p);
    const int64_t T = d.T, n = d.n, nn = n * n, K = p.logits();
    const float* M = m.as<const float>();      // [T, K]
    const float* b = base.as<const float>();   // [K]
    const float* s = scale.as<const float>();  // [3] (kHead: [1])
    float* P = pre.as<float>();                // [T, n]
    float* Q = p.kind == Kind::kHead ? nullptr : post.as<float>();  // [T, n]
    float* A = p.kind == Kind::kHead ? nullptr : mix.as<float>();   // [T, n, n]
    const mhc::Options o = sinkhorn_options(p);
    const int nt = T * K * (p.kind == Kind::kMHC ? 8 * p.sinkhorn_iters : 4) >= kParallelWork ? threads_ : 1;
#pragma omp parallel num_threads(nt)
    {
        std::vector<double> h(size_t(kChunk * nn)), C(size_t(kChunk * nn));  // [chunk, n²]
#pragma omp for schedule(static)
        for (int64_t t0 = 0; t0 < T; t0 += kChunk) {
            const int64_t t1 = std::min(T, t0 + kChunk);
            for (int64_t t = t0; t < t1; ++t) {
                const float* mt = M + t * K;
                if (p.kind == Kind::kHead) {
                    for (int64_t i = 0; i < n; ++i)
                        P[t * n + i] = float(sigmoid(double(mt[i]) * s[0] + b[i]) + p.eps);
                    continue;
                }
                if (p.kind == Kind::kHC) {
                    for (int64_t i = 0; i < n; ++i) {
                        P[t * n + i] = float(b[i] + double(s[0]) * std::tanh(double(mt[i])));
                        Q[t * n + i] = float(b[n + i] + double(s[1]) * std::tanh(double(mt[n + i])));
                    }
                    for (int64_t k = 0; k < nn; ++k)
                        A[t * nn + k] = float(b[2 * n + k] + double(s[2]) * std::tanh(double(mt[2 * n + k])));
                    continue;
                }
                for (int64_t i = 0; i < n; ++i) {
                    const double sp = sigmoid(double(mt[i]) * s[0] + b[i]);
                    P[t * n + i] = float(p.paper_form ? sp : sp + p.eps);
                    Q[t * n + i] = float(2.0 * sigmoid(double(mt[n + i]) * s[1] + b[n + i]));
                }
                for (int64_t k = 0; k < nn; ++k) h[size_t((t - t0) * nn + k)] = double(mt[2 * n + k]) * s[2] + b[2 * n + k];
            }
            if (p.kind != Kind::kMHC) continue;
            mhc::sinkhorn_forward_batch<double>(C.data(), nn, h.data(), nn, t1 - t0, o);
            for (int64_t t = t0; t < t1; ++t) {
                const double* Ct = C.data() + (t - t0) * nn;
                for (int64_t a = 0; a < n; ++a)
                    for (int64_t c = 0; c < n; ++c)  // V4: X'_a = Σ_c C[c][a]·X_c (combᵀ); paper: H_res as is
                        A[t * nn + a * n + c] = float(p.paper_form ? Ct[a * n + c] : Ct[c * n + a]);
            }
        }
    }
}

void CpuBackend::hc_coeffs_backward(const TensorView& dm, const TensorView& dbase, const TensorView& dscale,
                                    const TensorView& dpre, const TensorView& dpost, const TensorView& dmix,
                                    const TensorView& m, const TensorView& base, const TensorView& scale,
                                    const HcParams& p) {
    const hc::Dims d =
        hc::check_coeffs_backward("hc_coeffs_backward", dm, dbase, dscale, dpre, dpost, dmix, m, base, scale, p);
    const int64_t T = d.T, n = d.n, nn = n * n, K = p.logits();
    const float* M = m.as<const float>();
    const float* b = base.as<const float>();
    const float* s = scale.as<const float>();
    const float* gP = dpre.as<const float>();                                            // [T, n]
    const float* gQ = p.kind == Kind::kHead ? nullptr : dpost.as<const float>();         // [T, n]
    const float* gA = p.kind == Kind::kHead ? nullptr : dmix.as<const float>();          // [T, n, n]
    // db[t, k]: ∂L/∂base_k of token t; ds[t, k]: its ∂L/∂scale_group(k) term; dm = ∂L/∂m.
    std::vector<double> db(size_t(T * K)), ds(size_t(T * K));
    float* DM = dm.as<float>();
    const mhc::Options o = sinkhorn_options(p);
    const int nt = T * K * (p.kind == Kind::kMHC ? 16 * p.sinkhorn_iters : 4) >= kParallelWork ? threads_ : 1;
#pragma omp parallel num_threads(nt)
    {
        std::vector<double> h(size_t(kChunk * nn)), dC(size_t(kChunk * nn)), dh(size_t(kChunk * nn));
#pragma omp for schedule(static)
        for (int64_t t0 = 0; t0 < T; t0 += kChunk) {
            const int64_t t1 = std::min(T, t0 + kChunk);
            for (int64_t t = t0; t < t1; ++t) {
                const float* mt = M + t * K;
                double* dbt = db.data() + t * K;
                double* dst = ds.data() + t * K;
                float* dmt = DM + t * K;
                if (p.kind == Kind::kHC) {  // x = b + s·tanh(m)
                    for (int64_t k = 0; k < K; ++k) {
                        const double g = k < n ? gP[t * n + k] : k < 2 * n ? gQ[t * n + k - n] : gA[t * nn + k - 2 * n];
                        const double th = std::tanh(double(mt[k]));
                        dbt[k] = g;
                        dst[k] = g * th;
                        dmt[k] = float(g * s[group_of(k, n)] * (1.0 - th * th));
                    }
                    continue;
                }
                for (int64_t i = 0; i < n; ++i) {  // x = σ(z) (+eps), z = m·s0 + b;  post = 2σ(z)
                    const double sp = sigmoid(double(mt[i]) * s[0] + b[i]);
                    dbt[i] = gP[t * n + i] * sp * (1.0 - sp);
                    if (p.kind == Kind::kHead) continue;
                    const double so = sigmoid(double(mt[n + i]) * s[1] + b[n + i]);
                    dbt[n + i] = gQ[t * n + i] * 2.0 * so * (1.0 - so);
                }
                if (p.kind == Kind::kHead) continue;
                double* ht = h.data() + (t - t0) * nn;
                double* dCt = dC.data() + (t - t0) * nn;
                for (int64_t k = 0; k < nn; ++k) ht[k] = double(mt[2 * n + k]) * s[2] + b[2 * n + k];
                for (int64_t a = 0; a < n; ++a)
                    for (int64_t c = 0; c < n; ++c) dCt[a * n + c] = p.paper_form ? gA[t * nn + a * n + c] : gA[t * nn + c * n + a];
            }
            if (p.kind == Kind::kHC) continue;
            if (p.kind == Kind::kMHC)
                mhc::sinkhorn_backward_batch<double>(dh.data(), nn, dC.data(), nn, h.data(), nn, t1 - t0, o);
            for (int64_t t = t0; t < t1; ++t) {
                const float* mt = M + t * K;
                double* dbt = db.data() + t * K;
                double* dst = ds.data() + t * K;
                float* dmt = DM + t * K;
                if (p.kind == Kind::kMHC)
                    for (int64_t k = 0; k < nn; ++k) dbt[2 * n + k] = dh[size_t((t - t0) * nn + k)];
                for (int64_t k = 0; k < K; ++k) {  // z = m·s + b: ∂z/∂s = m, ∂z/∂m = s
                    dst[k] = dbt[k] * mt[k];
                    dmt[k] = float(dbt[k] * s[group_of(k, n)]);
                }
            }
        }
    }
    // Parameter gradients summed over tokens in token order (the same bits for any thread count).
    float* DB = dbase.as<float>();
    float* DS = dscale.as<float>();
    for (int64_t k = 0; k < K; ++k) {
        double acc = 0;
        for (int64_t t = 0; t < T; ++t) acc += db[size_t(t * K + k)];
        DB[k] += float(acc);
    }
    for (int64_t g = 0; g < p.scales(); ++g) {
        double acc = 0;
        for (int64_t t = 0; t < T; ++t)
            for (int64_t k = 0; k < K; ++k)
                if (group_of(k, n) == g) acc += ds[size_t(t * K + k)];
        DS[g] += float(acc);
    }
}

void CpuBackend::hc_pre(const TensorView& u, const TensorView& X, const TensorView& pre) {
    const hc::Dims d = hc::check_pre("hc_pre", u, X, pre);
    const int64_t T = d.T, n = d.n, D = d.D;
    float* U = u.as<float>();                 // [T, D]
    const float* Xp = X.as<const float>();    // [T, n, D]
    const float* P = pre.as<const float>();   // [T, n]
#pragma omp parallel for num_threads(threads_) schedule(static) if (T * n * D >= kParallelWork)
    for (int64_t t = 0; t < T; ++t) {
        float* ut = U + t * D;
        std::fill(ut, ut + D, 0.0f);
        for (int64_t i = 0; i < n; ++i) {
            const float w = P[t * n + i];
            const float* x = Xp + (t * n + i) * D;
#pragma omp simd
            for (int64_t c = 0; c < D; ++c) ut[c] += w * x[c];
        }
    }
}

void CpuBackend::hc_post_res(const TensorView& Xout, const TensorView& X, const TensorView& y, const TensorView& post,
                             const TensorView& mix) {
    const hc::Dims d = hc::check_post_res("hc_post_res", Xout, X, y, post, mix);
    const int64_t T = d.T, n = d.n, D = d.D;
    float* O = Xout.as<float>();               // [T, n, D]
    const float* Xp = X.as<const float>();     // [T, n, D]
    const float* Y = y.as<const float>();      // [T, D]
    const float* Q = post.as<const float>();   // [T, n]
    const float* A = mix.as<const float>();    // [T, n, n]
#pragma omp parallel for num_threads(threads_) schedule(static) if (T * n * n * D >= kParallelWork)
    for (int64_t t = 0; t < T; ++t)
        for (int64_t a = 0; a < n; ++a) {
            float* o = O + (t * n + a) * D;
            const float q = Q[t * n + a];
            const float* yt = Y + t * D;
#pragma omp simd
            for (int64_t c = 0; c < D; ++c) o[c] = q * yt[c];
            for (int64_t b = 0; b < n; ++b) {
                const float w = A[(t * n + a) * n + b];
                const float* x = Xp + (t * n + b) * D;
#pragma omp simd
                for (int64_t c = 0; c < D; ++c) o[c] += w * x[c];
            }
        }
}

void CpuBackend::hc_pre_backward(const TensorView& dpre, const TensorView& dX, const TensorView& du,
                                 const TensorView& X, const TensorView& pre) {
    const hc::Dims d = hc::check_pre("hc_pre_backward", du, X, pre);
    hc::check_pre("hc_pre_backward", du, dX, dpre);  // dX like X, dpre like pre
    const int64_t T = d.T, n = d.n, D = d.D;
    ENGINE_CHECK(dX.dim(1) == n && dX.dim(2) == D, kInvalidArgument, "hc_pre_backward: dX ", dX.shape_str(),
                 " must have the shape of X ", X.shape_str());
    float* G = dpre.as<float>();
    float* DX = dX.as<float>();
    const float* DU = du.as<const float>();
    const float* Xp = X.as<const float>();
    const float* P = pre.as<const float>();
#pragma omp parallel for num_threads(threads_) schedule(static) if (T * n * D >= kParallelWork)
    for (int64_t t = 0; t < T; ++t) {
        const float* g = DU + t * D;
        for (int64_t i = 0; i < n; ++i) {
            const float* x = Xp + (t * n + i) * D;
            float* dx = DX + (t * n + i) * D;
            const float w = P[t * n + i];
            double dp = 0;
#pragma omp simd reduction(+ : dp)
            for (int64_t c = 0; c < D; ++c) {
                dp += double(g[c]) * x[c];
                dx[c] += w * g[c];
            }
            G[t * n + i] = float(dp);
        }
    }
}

void CpuBackend::hc_post_res_backward(const TensorView& dy, const TensorView& dpost, const TensorView& dmix,
                                      const TensorView& dX, const TensorView& dXout, const TensorView& X,
                                      const TensorView& y, const TensorView& post, const TensorView& mix) {
    const hc::Dims d = hc::check_post_res("hc_post_res_backward", dXout, X, y, post, mix);
    hc::check_post_res("hc_post_res_backward", dX, dXout, dy, dpost, dmix);  // same shapes; dX apart from dXout
    const int64_t T = d.T, n = d.n, D = d.D;
    float* DY = dy.as<float>();
    float* DQ = dpost.as<float>();
    float* DA = dmix.as<float>();
    float* DX = dX.as<float>();
    const float* G = dXout.as<const float>();
    const float* Xp = X.as<const float>();
    const float* Y = y.as<const float>();
    const float* Q = post.as<const float>();
    const float* A = mix.as<const float>();
#pragma omp parallel for num_threads(threads_) schedule(static) if (T * n * n * D >= kParallelWork)
    for (int64_t t = 0; t < T; ++t) {
        float* dyt = DY + t * D;
        const float* yt = Y + t * D;
        std::fill(dyt, dyt + D, 0.0f);
        std::fill(DX + t * n * D, DX + (t + 1) * n * D, 0.0f);
        for (int64_t a = 0; a < n; ++a) {
            const float* g = G + (t * n + a) * D;
            const float q = Q[t * n + a];
            double dq = 0;
#pragma omp simd reduction(+ : dq)
            for (int64_t c = 0; c < D; ++c) {
                dyt[c] += q * g[c];
                dq += double(g[c]) * yt[c];
            }
            DQ[t * n + a] = float(dq);
            for (int64_t b = 0; b < n; ++b) {
                const float* x = Xp + (t * n + b) * D;
                float* dx = DX + (t * n + b) * D;
                const float w = A[(t * n + a) * n + b];
                double da = 0;
#pragma omp simd reduction(+ : da)
                for (int64_t c = 0; c < D; ++c) {
                    da += double(g[c]) * x[c];
                    dx[c] += w * g[c];
                }
                DA[(t * n + a) * n + b] = float(da);
            }
        }
    }
}

}  // namespace engine
