// hc_glue.cpp — the trainable model's hyper-connections (mHC / HC) through the Backend's ops, forward
// and backward (mhc.md §4). Per sublayer, with v = flatten(X) [R, n·D]:
//   m = (v·fnᵀ)·rsqrt(mean(v²) + eps)                    hc_logits             m: [R, K], K = n² + 2n
//   pre, post, mix = hc_coeffs(m; base, scale)          per-token coefficients (Sinkhorn for mHC)
//   u = hc_pre(X, pre);  X' = hc_post_res(X, y, post, mix)
// and the hc_head collapse with K = n. Nothing here loops over tokens on the host: the same code runs
// on any backend.
#include "train/train_model_layers.h"

#include "engine/error.h"

namespace engine::train {
namespace {

// Gradient view of p, or a zeroed scratch buffer when p is frozen (LoRA): hc_coeffs_backward always
// accumulates its parameter gradients.
TensorView grad_or_scratch(Ctx& c, const P& p, Buf& scratch) {
    if (p.g.data) return p.g;
    scratch.zeros(c.be, p.w.numel());
    return TensorView::contiguous(scratch.data(), DType::F32, p.w.shape.data(), p.w.ndim, scratch.device());
}

}  // namespace

void hc_sublayer_pre(Ctx& c, const HcP& hp, SubAct& sa, const Buf& X) {
    const HcParams& p = c.im.hc_par;
    const int64_t R = c.R, n = p.n, D = c.cfg.hidden_size, K = p.logits();
    sized(c, sa.m, R * K);
    sized(c, sa.rho, R);
    c.be.hc_logits(tv(sa.m, {R, K}), tv(sa.rho, {R}), tv(X, {R, n, D}), hp.fn.w, float(c.cfg.rms_norm_eps));
    sized(c, sa.pre, R * n);
    sized(c, sa.post, R * n);
    sized(c, sa.mix, R * n * n);
    c.be.hc_coeffs(tv(sa.pre, {R, n}), tv(sa.post, {R, n}), tv(sa.mix, {R, n, n}), tv(sa.m, {R, K}), hp.base.w,
                   hp.scale.w, p);
    sized(c, sa.u, R * D);
    c.be.hc_pre(tv(sa.u, {R, D}), tv(X, {R, n, D}), tv(sa.pre, {R, n}));
}

void hc_sublayer_post(Ctx& c, const SubAct& sa, Buf& X_out) {
    const int64_t R = c.R, n = c.im.hc_par.n, D = c.cfg.hidden_size;
    c.be.hc_post_res(tv(X_out, {R, n, D}), tv(sa.state_in, {R, n, D}), tv(sa.y, {R, D}), tv(sa.post, {R, n}),
                     tv(sa.mix, {R, n, n}));
}

void hc_sublayer_post_backward(Ctx& c, const SubAct& sa, const Buf& dX_out, Buf& dy, Buf& dX_in) {
    Scratch& tmp = c.im.ws.tmp;
    const int64_t R = c.R, n = c.im.hc_par.n, D = c.cfg.hidden_size;
    sized(c, dy, R * D);
    sized(c, tmp.dpost, R * n);
    sized(c, tmp.dA, R * n * n);
    sized(c, dX_in, R * n * D);
    c.be.hc_post_res_backward(tv(dy, {R, D}), tv(tmp.dpost, {R, n}), tv(tmp.dA, {R, n, n}), tv(dX_in, {R, n, D}),
                              tv(dX_out, {R, n, D}), tv(sa.state_in, {R, n, D}), tv(sa.y, {R, D}),
                              tv(sa.post, {R, n}), tv(sa.mix, {R, n, n}));
}

void hc_sublayer_pre_backward(Ctx& c, const HcP& hp, const SubAct& sa, const Buf& du, Buf& dX_in) {
    Scratch& tmp = c.im.ws.tmp;
    const HcParams& p = c.im.hc_par;
    const int64_t R = c.R, n = p.n, D = c.cfg.hidden_size, K = p.logits();
    Buf &dpre = sized(c, tmp.dpre, R * n), &dm = sized(c, tmp.dm, R * K);
    c.be.hc_pre_backward(tv(dpre, {R, n}), tv(dX_in, {R, n, D}), tv(du, {R, D}), tv(sa.state_in, {R, n, D}),
                         tv(sa.pre, {R, n}));
    c.be.hc_coeffs_backward(tv(dm, {R, K}), grad_or_scratch(c, hp.base, tmp.dbase), grad_or_scratch(c, hp.scale, tmp.dscale),
                            tv(dpre, {R, n}), tv(tmp.dpost, {R, n}), tv(tmp.dA, {R, n, n}), tv(sa.m, {R, K}), hp.base.w,
                            hp.scale.w, p);
    c.be.hc_logits_backward(tv(dX_in, {R, n, D}), hp.fn.g, tv(dm, {R, K}), tv(sa.state_in, {R, n, D}), hp.fn.w,
                            tv(sa.m, {R, K}), tv(sa.rho, {R}));
}

void hc_head_forward(Ctx& c, const Buf& X, Buf& h) {
    TrainModel::Impl& im = c.im;
    const HcP& hp = im.hc_head;
    const HcParams& p = im.hc_head_par;
    const int64_t R = c.R, n = p.n, D = c.cfg.hidden_size;
    sized(c, im.ws.head_m, R * n);
    sized(c, im.ws.head_rho, R);
    c.be.hc_logits(tv(im.ws.head_m, {R, n}), tv(im.ws.head_rho, {R}), tv(X, {R, n, D}), hp.fn.w,
                   float(c.cfg.rms_norm_eps));
    sized(c, im.ws.head_w, R * n);
    c.be.hc_coeffs(tv(im.ws.head_w, {R, n}), TensorView{}, TensorView{}, tv(im.ws.head_m, {R, n}), hp.base.w,
                   hp.scale.w, p);
    sized(c, h, R * D);
    c.be.hc_pre(tv(h, {R, D}), tv(X, {R, n, D}), tv(im.ws.head_w, {R, n}));
}

void hc_head_backward(Ctx& c, const Buf& X, const Buf& dh, Buf& dX) {
    TrainModel::Impl& im = c.im;
    Scratch& tmp = im.ws.tmp;
    const HcP& hp = im.hc_head;
    const HcParams& p = im.hc_head_par;
    const int64_t R = c.R, n = p.n, D = c.cfg.hidden_size;
    dX.zeros(c.be, R * n * D);  // hc_pre_backward accumulates
    Buf &dw = sized(c, tmp.dpre, R * n), &dm = sized(c, tmp.dm, R * n);
    c.be.hc_pre_backward(tv(dw, {R, n}), tv(dX, {R, n, D}), tv(dh, {R, D}), tv(X, {R, n, D}), tv(im.ws.head_w, {R, n}));
    c.be.hc_coeffs_backward(tv(dm, {R, n}), grad_or_scratch(c, hp.base, tmp.dbase), grad_or_scratch(c, hp.scale, tmp.dscale),
                            tv(dw, {R, n}), TensorView{}, TensorView{}, tv(im.ws.head_m, {R, n}), hp.base.w, hp.scale.w,
                            p);
    c.be.hc_logits_backward(tv(dX, {R, n, D}), hp.fn.g, tv(dm, {R, n}), tv(X, {R, n, D}), hp.fn.w,
                            tv(im.ws.head_m, {R, n}), tv(im.ws.head_rho, {R}));
}

}  // namespace engine::train
