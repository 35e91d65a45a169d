// hc_checks.cpp — see engine/hc_checks.h.
#include "engine/hc_checks.h"

#include <cstddef>

#include "engine/error.h"

namespace engine::hc {
namespace {

void f32(const char* op, const char* name, const TensorView& v) {
    ENGINE_CHECK(v.data != nullptr || v.numel() == 0, kInvalidArgument, op, ": ", name, " is empty");
    ENGINE_CHECK(v.dtype == DType::F32, kInvalidArgument, op, ": ", name, " must be F32, got ", dtype_name(v.dtype));
    ENGINE_CHECK(v.is_contiguous(), kInvalidArgument, op, ": ", name, " ", v.shape_str(), " must be contiguous");
}

void count(const char* op, const char* name, const TensorView& v, int64_t want, const char* what) {
    f32(op, name, v);
    ENGINE_CHECK(v.numel() == want, kInvalidArgument, op, ": ", name, " ", v.shape_str(), " must hold ", what,
                 " = ", want, " values");
}

void same(const char* op, const char* name, const TensorView& a, const TensorView& b, const char* like) {
    bool eq = a.ndim == b.ndim;
    for (int d = 0; eq && d < a.ndim; ++d) eq = a.shape[size_t(d)] == b.shape[size_t(d)];
    ENGINE_CHECK(eq, kInvalidArgument, op, ": ", name, " ", a.shape_str(), " must have the shape of ", like, " ",
                 b.shape_str());
}

Dims streams(const char* op, const char* name, const TensorView& X) {
    f32(op, name, X);
    ENGINE_CHECK(X.ndim == 3, kInvalidArgument, op, ": ", name, " ", X.shape_str(), " must be [T, n, D]");
    return {X.dim(0), X.dim(1), X.dim(2)};
}

}  // namespace

Dims check_coeffs(const char* op, const TensorView& pre, const TensorView& post, const TensorView& mix,
                  const TensorView& m, const TensorView& base, const TensorView& scale, const HcParams& p) {
    ENGINE_CHECK(p.n >= 1, kInvalidArgument, op, ": hc_mult must be >= 1, got ", p.n);
    ENGINE_CHECK(p.kind != HcParams::Kind::kMHC || p.sinkhorn_iters >= 1, kInvalidArgument, op,
                 ": hc_sinkhorn_iters must be >= 1, got ", p.sinkhorn_iters);
    const int64_t K = p.logits(), n = p.n;
    f32(op, "m", m);
    ENGINE_CHECK(m.cols() == K, kInvalidArgument, op, ": m ", m.shape_str(), " must have ", K,
                 p.kind == HcParams::Kind::kHead ? " (n)" : " (n² + 2n)", " columns for n = ", n);
    const int64_t T = m.rows();
    count(op, "base", base, K, "the logit count");
    count(op, "scale", scale, p.scales(), "the scale count");
    count(op, "pre", pre, T * n, "T·n");
    if (p.kind != HcParams::Kind::kHead) {
        count(op, "post", post, T * n, "T·n");
        count(op, "mix", mix, T * n * n, "T·n²");
    }
    return {T, n, 0};
}

Dims check_coeffs_backward(const char* op, const TensorView& dm, const TensorView& dbase, const TensorView& dscale,
                           const TensorView& dpre, const TensorView& dpost, const TensorView& dmix,
                           const TensorView& m, const TensorView& base, const TensorView& scale, const HcParams& p) {
    const Dims d = check_coeffs(op, dpre, dpost, dmix, m, base, scale, p);
    f32(op, "dm", dm);
    same(op, "dm", dm, m, "m");
    count(op, "dbase", dbase, base.numel(), "the logit count");
    count(op, "dscale", dscale, scale.numel(), "the scale count");
    return d;
}

Dims check_pre(const char* op, const TensorView& u, const TensorView& X, const TensorView& pre) {
    const Dims d = streams(op, "X", X);
    count(op, "u", u, d.T * d.D, "T·D");
    count(op, "pre", pre, d.T * d.n, "T·n");
    return d;
}

Dims check_post_res(const char* op, const TensorView& Xout, const TensorView& X, const TensorView& y,
                    const TensorView& post, const TensorView& mix) {
    const Dims d = streams(op, "X", X);
    f32(op, "Xout", Xout);
    same(op, "Xout", Xout, X, "X");
    count(op, "y", y, d.T * d.D, "T·D");
    count(op, "post", post, d.T * d.n, "T·n");
    count(op, "mix", mix, d.T * d.n * d.n, "T·n²");
    const auto* a = static_cast<const char*>(Xout.data);
    const auto* b = static_cast<const char*>(X.data);
    ENGINE_CHECK(a + Xout.nbytes() <= b || b + X.nbytes() <= a || X.numel() == 0, kInvalidArgument, op,
                 ": Xout overlaps X; write the new streams to a separate buffer");
    return d;
}

Dims check_logits(const char* op, const TensorView& m, const TensorView& rho, const TensorView& X, const TensorView& fn) {
    const Dims d = streams(op, "X", X);
    ENGINE_CHECK(fn.ndim == 2 && fn.dim(1) == d.n * d.D && fn.is_contiguous(), kInvalidArgument, op, ": fn ",
                 fn.shape_str(), " must be a contiguous [K, n·D] = [K, ", d.n * d.D, "] weight");
    f32(op, "m", m);
    ENGINE_CHECK(m.ndim == 2 && m.dim(0) == d.T && m.dim(1) == fn.dim(0), kInvalidArgument, op, ": m ", m.shape_str(),
                 " must be [T, K] = [", d.T, ", ", fn.dim(0), "]");
    count(op, "rho", rho, d.T, "T");
    return d;
}

Dims check_logits_backward(const char* op, const TensorView& dX, const TensorView& dfn, const TensorView& dm,
                           const TensorView& X, const TensorView& fn, const TensorView& m, const TensorView& rho) {
    const Dims d = check_logits(op, m, rho, X, fn);
    f32(op, "dX", dX);
    same(op, "dX", dX, X, "X");
    f32(op, "dm", dm);
    same(op, "dm", dm, m, "m");
    if (dfn.data) {
        f32(op, "dfn", dfn);
        same(op, "dfn", dfn, fn, "fn");
    }
    return d;
}

}  // namespace engine::hc
