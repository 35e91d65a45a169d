// hyper_connections.cpp — the mHC / HC stream mixing around each sublayer, against engine::Backend.
// Everything runs on the backend's device: the RMS-scaled [n²+2n, nD] projection of the flattened
// streams (hc_logits), the per-token coefficients (hc_coeffs: sigmoid / tanh / Sinkhorn), the
// aggregation (hc_pre) and the post + residual merge (hc_post_res). No host round trip per sublayer.
#include "model/hyper_connections.h"

#include "engine/error.h"

namespace engine::model {
namespace {

// m [R, rows] = (flatten(X)·fnᵀ)·rsqrt(mean(X²) + eps), on the device (scratch kHcMix; ρ in kHcNormed).
TensorView project_streams(ForwardContext& ctx, const TensorView& fn, const TensorView& X, int64_t rows) {
    const int64_t R = X.dim(0);
    TensorView m = ctx.ws.f32(kHcMix, {R, rows});
    TensorView rho = ctx.ws.f32(kHcNormed, {R});
    ctx.be.hc_logits(m, rho, X, fn, float(ctx.cfg.rms_norm_eps));
    return m;
}

}  // namespace

HcParams hc_params(const ModelConfig& c, bool head) {
    HcParams p;
    p.kind = head ? HcParams::Kind::kHead
                  : c.residual_kind == ResidualKind::kHC ? HcParams::Kind::kHC : HcParams::Kind::kMHC;
    p.n = int(c.hc_mult);
    p.sinkhorn_iters = int(c.hc_sinkhorn_iters);
    p.eps = float(c.hc_eps);
    p.paper_form = c.hc_paper_form;
    return p;
}

void hc_pre(ForwardContext& ctx, const HcWeights& w, const TensorView& X, const TensorView& u) {
    Scratch& ws = ctx.ws;
    const int64_t T = X.dim(0), n = ctx.cfg.hc_mult;
    const HcParams p = hc_params(ctx.cfg, /*head=*/false);
    const TensorView m = project_streams(ctx, w.fn, X, p.logits());
    TensorView pre = ws.f32(kHcPre, {T, n});
    TensorView post = ws.f32(kHcPost, {T, n});
    TensorView mix = ws.f32(kHcMixMat, {T, n, n});
    ctx.be.hc_coeffs(pre, post, mix, m, w.base.view(), w.scale.view(), p);
    ctx.be.hc_pre(u, X, pre);
}

void hc_apply(ForwardContext& ctx, const TensorView& X, const TensorView& y, const TensorView& X_out) {
    const int64_t T = X.dim(0), n = ctx.cfg.hc_mult;
    TensorView post = ctx.ws.f32(kHcPost, {T, n});
    TensorView mix = ctx.ws.f32(kHcMixMat, {T, n, n});
    ctx.be.hc_post_res(X_out, X, y, post, mix);
}

void hc_collapse(ForwardContext& ctx, const TensorView& X, const TensorView& h) {
    const HcWeights& w = ctx.w.hc_head;
    const int64_t R = X.dim(0), n = ctx.cfg.hc_mult;
    const HcParams p = hc_params(ctx.cfg, /*head=*/true);
    const TensorView m = project_streams(ctx, w.fn, X, p.logits());
    TensorView wv = ctx.ws.f32(kHcPre, {R, n});
    ctx.be.hc_coeffs(wv, TensorView{}, TensorView{}, m, w.base.view(), w.scale.view(), p);
    ctx.be.hc_pre(h, X, wv);
}

}  // namespace engine::model
