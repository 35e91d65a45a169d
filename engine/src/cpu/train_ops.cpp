// train_ops.cpp — the CPU backend's training ops (backend.h "training ops"): validation at the
// boundary, then the fp32 instantiation of the scalar kernels in train_kernels.h (the same templates
// the tests run in fp64 for finite differences). The weight-gradient GEMM goes to OpenBLAS.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/cpu_backend.h"
#include "cpu/cpu_common.h"
#include "cpu/train_kernels.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace engine {

using namespace cpu;
namespace tk = train_kernels;

namespace {

// A 2-D-as-matrix F32 view with uniform rows; returns its leading dimension.
int64_t matrix_ld(const char* op, const char* name, const TensorView& v) {
    check_view(op, name, v);
    check_dtype(op, name, v, DType::F32);
    int64_t ld = 0;
    ENGINE_CHECK(rows_uniform(v, &ld), kInvalidArgument, op, ": ", name, " ", v.shape_str(),
                 " must have evenly spaced rows");
    return ld;
}

// Token stride of a [T, heads, d] view whose heads are packed (stride[1] == d).
int64_t token_ld(const char* op, const char* name, const TensorView& v) {
    check_view(op, name, v);
    check_dtype(op, name, v, DType::F32);
    check_ndim(op, name, v, 3, 3);
    ENGINE_CHECK(v.shape[1] <= 1 || v.stride[1] == v.shape[2], kInvalidArgument, op, ": ", name, " ",
                 v.shape_str(), " must have its heads packed inside a token row");
    return v.stride[0];
}

}  // namespace

void CpuBackend::matmul_weight_grad(const TensorView& dw, const TensorView& dy, const TensorView& x,
                                    bool accumulate) {
    const char* op = "matmul_weight_grad";
    const int64_t lw = matrix_ld(op, "dw", dw), ly = matrix_ld(op, "dy", dy), lx = matrix_ld(op, "x", x);
    const int64_t N = dw.rows(), K = dw.cols(), M = dy.rows();
    ENGINE_CHECK(dy.cols() == N && x.rows() == M && x.cols() == K, kInvalidArgument, op, ": dw ", dw.shape_str(),
                 " = dyᵀ ", dy.shape_str(), " · x ", x.shape_str(), " needs dw [N, K], dy [M, N], x [M, K]");
    if (N == 0 || K == 0) return;
    if (M == 0) {
        if (!accumulate) fill(dw, 0.0f);
        return;
    }
    use_blas_threads();
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(N), int(K), int(M), 1.0f, dy.as<float>(), int(ly),
                x.as<float>(), int(lx), accumulate ? 1.0f : 0.0f, dw.as<float>(), int(lw));
}

void CpuBackend::rmsnorm_backward(const TensorView& dx, const TensorView& dw, const TensorView& dy,
                                  const TensorView& x, const TensorView& w, float eps) {
    const char* op = "rmsnorm_backward";
    const int64_t ldx = matrix_ld(op, "dx", dx), ldy = matrix_ld(op, "dy", dy), lxi = matrix_ld(op, "x", x);
    check_same_shape(op, "dx", dx, "x", x);
    check_same_shape(op, "dy", dy, "x", x);
    check_view(op, "w", w);
    check_dtype(op, "w", w, DType::F32);
    ENGINE_CHECK(w.numel() == x.cols() && w.is_contiguous(), kInvalidArgument, op, ": w ", w.shape_str(),
                 " must be contiguous with ", x.cols(), " elements");
    if (dw.data) {
        check_dtype(op, "dw", dw, DType::F32);
        ENGINE_CHECK(dw.numel() == x.cols() && dw.is_contiguous(), kInvalidArgument, op, ": dw ", dw.shape_str(),
                     " must be contiguous with ", x.cols(), " elements");
    }
    const int64_t rows = x.rows(), n = x.cols();
    // Rows are independent for dx; dw sums over rows, so reduce per thread then add.
    const int nt = rows * n >= (1 << 16) ? threads_ : 1;
    std::vector<std::vector<float>> part(size_t(nt), std::vector<float>(dw.data ? size_t(n) : 0, 0.0f));
#pragma omp parallel num_threads(nt)
    {
#ifdef _OPENMP
        const int tid = omp_get_thread_num(), got = omp_get_num_threads();  // the runtime may give fewer
#else
        const int tid = 0, got = 1;
#endif
        const int64_t r0 = rows * tid / got, r1 = rows * (tid + 1) / got;
        tk::rmsnorm_backward<float>(dx.as<float>() + r0 * ldx, ldx, dw.data ? part[size_t(tid)].data() : nullptr,
                                    dy.as<float>() + r0 * ldy, ldy, x.as<float>() + r0 * lxi, lxi, w.as<float>(),
                                    r1 - r0, n, eps);
    }
    if (dw.data)
        for (int t = 0; t < nt; ++t)
            for (int64_t i = 0; i < n; ++i) dw.as<float>()[i] += part[size_t(t)][size_t(i)];
}

void CpuBackend::rope_backward(const TensorView& dx, const TensorView& positions, const TensorView& inv_freq,
                               float attn_factor) {
    const char* op = "rope_backward";
    check_view(op, "dx", dx);
    check_dtype(op, "dx", dx, DType::F32);
    check_ndim(op, "dx", dx, 3, 3);
    check_dtype(op, "positions", positions, DType::I32);
    check_dtype(op, "inv_freq", inv_freq, DType::F32);
    ENGINE_CHECK(positions.numel() == dx.shape[0] && inv_freq.numel() * 2 == dx.shape[2] && positions.is_contiguous() &&
                     inv_freq.is_contiguous(),
                 kInvalidArgument, op, ": dx ", dx.shape_str(), " needs contiguous positions [", dx.shape[0],
                 "] and inv_freq [", dx.shape[2] / 2, "], got ", positions.shape_str(), " and ", inv_freq.shape_str());
    const int64_t T = dx.shape[0], H = dx.shape[1];
    // Any token/head strides (e.g. the rope slice of q [T, H, d_qk]); one (token, head) row at a time.
#pragma omp parallel for num_threads(threads_) if (T * H >= 256)
    for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < H; ++h)
            tk::rope_apply<float>(dx.as<float>() + t * dx.stride[0] + h * dx.stride[1], 0, 1, 1, dx.shape[2],
                                  positions.as<int32_t>() + t, inv_freq.as<float>(), attn_factor, true);
}

void CpuBackend::attention_backward(const TensorView& dq, const TensorView& dk, const TensorView& dv,
                                    const TensorView& dout, const TensorView& q, const TensorView& k,
                                    const TensorView& v, float scale, int64_t q_pos0) {
    const char* op = "attention_backward";
    tk::AttnDims a{};
    a.T = q.shape[0];
    a.S = k.shape[0];
    a.H = q.shape[1];
    a.Hk = k.shape[1];
    a.dk = q.shape[2];
    a.dv = v.shape[2];
    a.q_pos0 = q_pos0;
    a.ldq = token_ld(op, "q", q);
    a.ldk = token_ld(op, "k", k);
    a.ldv = token_ld(op, "v", v);
    a.ldo = token_ld(op, "dout", dout);
    ENGINE_CHECK(token_ld(op, "dq", dq) == a.ldq && token_ld(op, "dk", dk) == a.ldk &&
                     token_ld(op, "dv", dv) == a.ldv,
                 kInvalidArgument, op, ": dq/dk/dv must have the token strides of q/k/v");
    check_same_shape(op, "dq", dq, "q", q);
    check_same_shape(op, "dk", dk, "k", k);
    check_same_shape(op, "dv", dv, "v", v);
    ENGINE_CHECK((a.Hk == a.H || a.Hk == 1) && k.shape[2] == a.dk && v.shape[0] == a.S && v.shape[1] == a.Hk &&
                     dout.shape[0] == a.T && dout.shape[1] == a.H && dout.shape[2] == a.dv && q_pos0 >= 0,
                 kInvalidArgument, op, ": q ", q.shape_str(), ", k ", k.shape_str(), ", v ", v.shape_str(),
                 ", dout ", dout.shape_str(), " are inconsistent (need Hk == H or 1)");
    if (a.Hk == 1 || a.H == 1) {
        tk::attention_backward<float>(dq.as<float>(), dk.as<float>(), dv.as<float>(), dout.as<float>(),
                                      q.as<float>(), k.as<float>(), v.as<float>(), a, scale);
        return;
    }
    // One head per task (heads write disjoint slices of dq/dk/dv); per head the five products are GEMMs:
    // P = softmax(scale·Q·Kᵀ + causal mask), dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(P ⊙ dP))·scale,
    // dQ = dS·K, dK = dSᵀ·Q, dV = Pᵀ·dO  (the same math as tk::attention_backward, which the tests check).
    const int64_t T = a.T, S = a.S;
    float* dqp = dq.as<float>();
    float* dkp = dk.as<float>();
    float* dvp = dv.as<float>();
    const float* qp = q.as<float>();
    const float* kp = k.as<float>();
    const float* vp = v.as<float>();
    const float* dop = dout.as<float>();
    blas_single_thread();  // the heads run in parallel; each GEMM is single-threaded
#pragma omp parallel num_threads(threads_)
    {
        std::vector<float> P(static_cast<size_t>(T * S)), dP(static_cast<size_t>(T * S));
#pragma omp for schedule(dynamic)
        for (int64_t h = 0; h < a.H; ++h) {
            const float* qh = qp + h * a.dk;
            const float* kh = kp + h * a.dk;
            const float* vh = vp + h * a.dv;
            const float* oh = dop + h * a.dv;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(T), int(S), int(a.dk), scale, qh, int(a.ldq), kh,
                        int(a.ldk), 0.0f, P.data(), int(S));
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(T), int(S), int(a.dv), 1.0f, oh, int(a.ldo), vh,
                        int(a.ldv), 0.0f, dP.data(), int(S));
            for (int64_t t = 0; t < T; ++t) {
                float* pr = P.data() + t * S;
                float* dr = dP.data() + t * S;
                const int64_t last = std::min(S - 1, q_pos0 + t);
                float mx = pr[0];
                for (int64_t s2 = 1; s2 <= last; ++s2) mx = std::max(mx, pr[s2]);
                float sum = 0;
                for (int64_t s2 = 0; s2 <= last; ++s2) sum += (pr[s2] = std::exp(pr[s2] - mx));
                const float inv = 1.0f / sum;
                float pdp = 0;
                for (int64_t s2 = 0; s2 <= last; ++s2) {
                    pr[s2] *= inv;
                    pdp += pr[s2] * dr[s2];
                }
                for (int64_t s2 = 0; s2 <= last; ++s2) dr[s2] = pr[s2] * (dr[s2] - pdp) * scale;
                for (int64_t s2 = last + 1; s2 < S; ++s2) pr[s2] = dr[s2] = 0.0f;  // masked: no gradient
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(T), int(a.dk), int(S), 1.0f, dP.data(), int(S), kh,
                        int(a.ldk), 0.0f, dqp + h * a.dk, int(a.ldq));
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(S), int(a.dk), int(T), 1.0f, dP.data(), int(S), qh,
                        int(a.ldq), 0.0f, dkp + h * a.dk, int(a.ldk));
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(S), int(a.dv), int(T), 1.0f, P.data(), int(S), oh,
                        int(a.ldo), 0.0f, dvp + h * a.dv, int(a.ldv));
        }
    }
}

void CpuBackend::silu_mul_backward(const TensorView& dgate, const TensorView& dup, const TensorView& dout,
                                   const TensorView& gate, const TensorView& up) {
    const char* op = "silu_mul_backward";
    const int64_t l1 = matrix_ld(op, "dgate", dgate), l2 = matrix_ld(op, "dup", dup), l3 = matrix_ld(op, "dout", dout),
                  l4 = matrix_ld(op, "gate", gate), l5 = matrix_ld(op, "up", up);
    check_same_shape(op, "dgate", dgate, "gate", gate);
    check_same_shape(op, "dup", dup, "gate", gate);
    check_same_shape(op, "dout", dout, "gate", gate);
    check_same_shape(op, "up", up, "gate", gate);
    const int64_t rows = gate.rows(), n = gate.cols();
#pragma omp parallel for num_threads(threads_) if (rows * n >= (1 << 15))
    for (int64_t r = 0; r < rows; ++r)
        tk::silu_mul_backward<float>(dgate.as<float>() + r * l1, dup.as<float>() + r * l2, dout.as<float>() + r * l3,
                                     gate.as<float>() + r * l4, up.as<float>() + r * l5, n);
}

void CpuBackend::embedding_backward(const TensorView& dtable, const TensorView& dout, const TensorView& ids) {
    const char* op = "embedding_backward";
    const int64_t lt = matrix_ld(op, "dtable", dtable), lo = matrix_ld(op, "dout", dout);
    check_dtype(op, "ids", ids, DType::I32);
    ENGINE_CHECK(ids.is_contiguous() && ids.numel() == dout.rows() && dout.cols() == dtable.cols(), kInvalidArgument,
                 op, ": dtable ", dtable.shape_str(), ", dout ", dout.shape_str(), ", ids ", ids.shape_str(),
                 " are inconsistent");
    const int32_t* id = ids.as<int32_t>();
    for (int64_t t = 0; t < ids.numel(); ++t)
        ENGINE_CHECK(id[t] >= 0 && id[t] < dtable.rows(), kInvalidArgument, op, ": ids[", t, "] = ", id[t],
                     " is outside [0, ", dtable.rows(), ")");
    tk::embedding_backward<float>(dtable.as<float>(), lt, dout.as<float>(), lo, id, ids.numel(), dout.cols());
}

float CpuBackend::cross_entropy(const TensorView& dlogits, const TensorView& logits, const TensorView& targets,
                                int32_t ignore_index, float grad_scale, int64_t* counted) {
    const char* op = "cross_entropy";
    const int64_t ll = matrix_ld(op, "logits", logits);
    int64_t ld = 0;
    if (dlogits.data) {
        ld = matrix_ld(op, "dlogits", dlogits);
        check_same_shape(op, "dlogits", dlogits, "logits", logits);
    }
    check_dtype(op, "targets", targets, DType::I32);
    const int64_t T = logits.rows(), V = logits.cols();
    ENGINE_CHECK(targets.is_contiguous() && targets.numel() == T, kInvalidArgument, op, ": targets ",
                 targets.shape_str(), " must hold one id per logits row (", T, ")");
    const int32_t* tg = targets.as<int32_t>();
    for (int64_t t = 0; t < T; ++t)
        ENGINE_CHECK(tg[t] == ignore_index || (tg[t] >= 0 && tg[t] < V), kInvalidArgument, op, ": targets[", t,
                     "] = ", tg[t], " is outside [0, ", V, ") and is not the ignore index ", ignore_index);
    int64_t count = 0;
    for (int64_t t = 0; t < T; ++t) count += tg[t] != ignore_index;
    if (counted) *counted = count;
    // Per-row losses in parallel with the gradient scale fixed by the global count, summed in double.
    const float inv = count > 0 ? grad_scale / float(count) : 0.0f;
    double total = 0;
#pragma omp parallel for num_threads(threads_) reduction(+ : total) if (T * V >= (1 << 15))
    for (int64_t t = 0; t < T; ++t) {
        if (tg[t] == ignore_index) {
            if (dlogits.data) tk::cross_entropy<float>(dlogits.as<float>() + t * ld, ld, logits.as<float>() + t * ll,
                                                       ll, tg + t, 1, V, ignore_index, 0.0f, nullptr);
            continue;
        }
        // grad_scale 1 with a one-token count gives softmax − onehot; rescale by inv afterwards.
        const float l = tk::cross_entropy<float>(dlogits.data ? dlogits.as<float>() + t * ld : nullptr, ld,
                                                 logits.as<float>() + t * ll, ll, tg + t, 1, V, ignore_index, 1.0f,
                                                 nullptr);
        if (dlogits.data)
            for (int64_t i = 0; i < V; ++i) dlogits.as<float>()[t * ld + i] *= inv;
        total += l;
    }
    return count > 0 ? float(total / double(count)) : 0.0f;
}

void CpuBackend::scatter_add_rows_backward(const TensorView& dsrc, const TensorView& dscale, const TensorView& dy,
                                           const TensorView& src, const TensorView& rows, const TensorView& scale) {
    const char* op = "scatter_add_rows_backward";
    const int64_t ls = matrix_ld(op, "src", src), lds = matrix_ld(op, "dsrc", dsrc), ly = matrix_ld(op, "dy", dy);
    check_same_shape(op, "dsrc", dsrc, "src", src);
    ENGINE_CHECK(lds == ls, kInvalidArgument, op, ": dsrc and src must have the same row stride");
    check_dtype(op, "rows", rows, DType::I32);
    check_dtype(op, "scale", scale, DType::F32);
    check_dtype(op, "dscale", dscale, DType::F32);
    const int64_t n = src.rows();
    ENGINE_CHECK(rows.numel() == n && scale.numel() == n && dscale.numel() == n && rows.is_contiguous() &&
                     scale.is_contiguous() && dscale.is_contiguous() && dy.cols() == src.cols(),
                 kInvalidArgument, op, ": src ", src.shape_str(), ", rows ", rows.shape_str(), ", scale ",
                 scale.shape_str(), ", dscale ", dscale.shape_str(), ", dy ", dy.shape_str(), " are inconsistent");
    const int32_t* r = rows.as<int32_t>();
    for (int64_t i = 0; i < n; ++i)
        ENGINE_CHECK(r[i] >= 0 && r[i] < dy.rows(), kInvalidArgument, op, ": rows[", i, "] = ", r[i],
                     " is outside [0, ", dy.rows(), ")");
    tk::scatter_add_rows_backward<float>(dsrc.as<float>(), dscale.as<float>(), dy.as<float>(), ly, src.as<float>(),
                                         ls, r, scale.as<float>(), n, src.cols());
}

void CpuBackend::moe_router_backward(const TensorView& dlogits, const TensorView& dweights, const TensorView& logits,
                                     const TensorView& idx, const RouterParams& params) {
    const char* op = "moe_router_backward";
    for (const TensorView* v : {&dlogits, &dweights, &logits, &idx})
        ENGINE_CHECK(v->is_contiguous() && v->ndim == 2, kInvalidArgument, op, ": every operand must be a contiguous "
                     "2-D tensor, got ", v->shape_str());
    check_dtype(op, "dlogits", dlogits, DType::F32);
    check_dtype(op, "dweights", dweights, DType::F32);
    check_dtype(op, "logits", logits, DType::F32);
    check_dtype(op, "idx", idx, DType::I32);
    const int64_t T = logits.shape[0], E = logits.shape[1], K = idx.shape[1];
    check_same_shape(op, "dlogits", dlogits, "logits", logits);
    ENGINE_CHECK(idx.shape[0] == T && dweights.shape[0] == T && dweights.shape[1] == K, kInvalidArgument, op,
                 ": idx ", idx.shape_str(), " and dweights ", dweights.shape_str(), " must be [", T, ", K]");
    // The same weight convention as moe_route: noaux_tc normalises (if asked) and then scales; the V2
    // methods either normalise (K > 1 and norm_topk_prob) or scale, never both.
    bool norm = params.norm_topk_prob;
    float rsf = params.routed_scaling_factor;
    if (params.method != RouterParams::Method::kNoauxTc) {
        norm = K > 1 && params.norm_topk_prob;
        if (norm) rsf = 1.0f;
    }
    tk::moe_router_backward<float>(dlogits.as<float>(), dweights.as<float>(), logits.as<float>(), idx.as<int32_t>(), T,
                                   E, K, params.scoring == RouterParams::Scoring::kSoftmax, norm, rsf);
}

void CpuBackend::adamw_step(const TensorView& param, const TensorView& grad, const TensorView& m,
                            const TensorView& v, float lr, float beta1, float beta2, float eps, float weight_decay,
                            int64_t step) {
    const char* op = "adamw_step";
    for (const TensorView* t : {&param, &grad, &m, &v}) {
        check_dtype(op, "operand", *t, DType::F32);
        ENGINE_CHECK(t->is_contiguous() && t->numel() == param.numel(), kInvalidArgument, op,
                     ": param/grad/m/v must be contiguous F32 of the same size, got ", t->shape_str(), " vs ",
                     param.shape_str());
    }
    ENGINE_CHECK(step >= 1, kInvalidArgument, op, ": step must be >= 1 (1-based), got ", step);
    const int64_t n = param.numel(), chunk = 1 << 14;
#pragma omp parallel for num_threads(threads_) if (n >= 4 * chunk)
    for (int64_t b = 0; b < n; b += chunk)
        tk::adamw_step<float>(param.as<float>() + b, grad.as<float>() + b, m.as<float>() + b, v.as<float>() + b,
                              std::min(chunk, n - b), lr, beta1, beta2, eps, weight_decay, step);
}

double CpuBackend::sum_squares(const TensorView& x) {
    check_dtype("sum_squares", "x", x, DType::F32);
    ENGINE_CHECK(x.is_contiguous(), kInvalidArgument, "sum_squares: x ", x.shape_str(), " must be contiguous");
    return tk::sum_squares<float>(x.as<float>(), x.numel());
}

void CpuBackend::scale(const TensorView& y, float alpha) {
    check_dtype("scale", "y", y, DType::F32);
    ENGINE_CHECK(y.is_contiguous(), kInvalidArgument, "scale: y ", y.shape_str(), " must be contiguous");
    float* p = y.as<float>();
    const int64_t n = y.numel();
    for (int64_t i = 0; i < n; ++i) p[i] *= alpha;
}

}  // namespace engine
