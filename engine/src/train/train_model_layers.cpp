// train_model_layers.cpp — attention (MLA explicit K/V, or MHA) and FFN (SwiGLU, DeepSeekMoE with
// routed + shared experts and the optional sequence-wise balance loss) forward and backward.
// GEMMs, norms, RoPE, attention, SwiGLU and the MoE combine go through the Backend; the small glue
// (assembling K from k_nope and the shared k_pe) uses strided copies. Sorting tokens by expert
// (Backend::moe_permute) and the balance loss (Backend::moe_seq_aux_loss) run on the backend too: per MoE
// layer the forward reads back only the E + 1 expert offsets (and the loss value), the backward nothing.
#include "train/train_model_layers.h"
#include "train/lora_linear.h"

#include <cmath>

#include "engine/error.h"

namespace engine::train {

TensorView tv(Buf& b, std::initializer_list<int64_t> shape) {
    TensorView v = TensorView::contiguous(b.data(), DType::F32, shape, b.device());
    ENGINE_CHECK(v.numel() <= b.size(), kInternal, "workspace buffer of ", b.size(), " floats is too small for ",
                 v.shape_str());
    return v;
}
TensorView tv(const Buf& b, std::initializer_list<int64_t> shape) { return tv(const_cast<Buf&>(b), shape); }

TensorView sview(const Buf& base, int64_t offset, std::initializer_list<int64_t> shape,
                 std::initializer_list<int64_t> strides) {
    return TensorView::contiguous(base.data(), DType::F32, {0}, base.device()).strided(offset, shape, strides);
}

namespace {

TensorView positions_view(Ctx& c, int64_t rows) {
    ENGINE_CHECK(c.positions.numel() == rows, kInternal, "positions hold ", c.positions.numel(), " rows, not ", rows);
    return c.positions;
}

TensorView inv_freq_view(Ctx& c) { return c.im.inv_freq_dev.view(); }

}  // namespace

// ============================== attention ==============================

void attention_forward(Ctx& c, const LayerP& L, AttnAct& a, const Buf& x, Buf& out) {
    const ModelConfig& cf = c.cfg;
    Backend& be = c.be;
    const int64_t R = c.R, T = c.T, D = cf.hidden_size, H = cf.num_attention_heads;
    const int64_t d_n = cf.qk_nope_head_dim, d_r = cf.qk_rope_head_dim, d_v = cf.v_head_dim, d_qk = d_n + d_r;
    const float scale = c.im.softmax_scale;
    a.x = x;
    sized(c, a.q, R * H * d_qk);  // all four are fully written below
    sized(c, a.k, R * H * d_qk);
    sized(c, a.v, R * H * d_v);
    sized(c, a.o, R * H * d_v);
    TensorView pos = positions_view(c, R);
    const bool mha = cf.attention_kind == AttentionKind::kMHA;
    if (mha || cf.q_lora_rank == 0) {
        linear_forward(c, L.q_proj, tv(a.q, {R, H * d_qk}), tv(a.x, {R, D}));
    } else {
        const int64_t rq = cf.q_lora_rank;
        sized(c, a.qa, R * rq);
        sized(c, a.qa_n, R * rq);
        linear_forward(c, L.q_a_proj, tv(a.qa, {R, rq}), tv(a.x, {R, D}));
        be.rmsnorm(tv(a.qa_n, {R, rq}), tv(a.qa, {R, rq}), L.q_a_norm.w, 1e-6f);  // HF: latent norms use 1e-6
        linear_forward(c, L.q_b_proj, tv(a.q, {R, H * d_qk}), tv(a.qa_n, {R, rq}));
    }
    const TensorView inv = inv_freq_view(c);
    be.rope(sview(a.q, d_n, {R, H, d_r}, {H * d_qk, d_qk, 1}), pos, inv, c.im.rope_factor);
    if (mha) {
        linear_forward(c, L.k_proj, tv(a.k, {R, H * d_qk}), tv(a.x, {R, D}));
        linear_forward(c, L.v_proj, tv(a.v, {R, H * d_v}), tv(a.x, {R, D}));
        be.rope(sview(a.k, d_n, {R, H, d_r}, {H * d_qk, d_qk, 1}), pos, inv, c.im.rope_factor);
    } else {
        const int64_t r_kv = cf.kv_lora_rank, W = r_kv + d_r, d_kv = d_n + d_v;
        sized(c, a.ckv, R * W);
        sized(c, a.c, R * r_kv);
        linear_forward(c, L.kv_a_proj, tv(a.ckv, {R, W}), tv(a.x, {R, D}));
        be.rmsnorm(tv(a.c, {R, r_kv}), sview(a.ckv, 0, {R, r_kv}, {W, 1}), L.kv_a_norm.w, 1e-6f);
        Buf& kpe = sized(c, c.im.ws.tmp.kpe, R * d_r);  // [R, d_r] the shared k_pe, then RoPE
        be.copy(tv(kpe, {R, d_r}), sview(a.ckv, r_kv, {R, d_r}, {W, 1}));
        be.rope(tv(kpe, {R, 1, d_r}), pos, inv, c.im.rope_factor);
        Buf& kv = sized(c, c.im.ws.tmp.kv, R * H * d_kv);  // [R, H, d_n + d_v]
        linear_forward(c, L.kv_b_proj, tv(kv, {R, H * d_kv}), tv(a.c, {R, r_kv}));
        // k [R, H, d_n | d_r] = (k_nope of kv | k_pe broadcast over heads); v [R, H, d_v] = the rest of kv
        be.copy(sview(a.k, 0, {R, H, d_n}, {H * d_qk, d_qk, 1}), sview(kv, 0, {R, H, d_n}, {H * d_kv, d_kv, 1}));
        for (int64_t h = 0; h < H; ++h)
            be.copy(sview(a.k, h * d_qk + d_n, {R, d_r}, {H * d_qk, 1}), tv(kpe, {R, d_r}));
        be.copy(tv(a.v, {R, H, d_v}), sview(kv, d_n, {R, H, d_v}, {H * d_kv, d_kv, 1}));
    }
    for (int64_t b = 0; b < c.B; ++b) {
        const int64_t r0 = b * T;
        be.attention(sview(a.o, r0 * H * d_v, {T, H, d_v}, {H * d_v, d_v, 1}),
                     sview(a.q, r0 * H * d_qk, {T, H, d_qk}, {H * d_qk, d_qk, 1}),
                     sview(a.k, r0 * H * d_qk, {T, H, d_qk}, {H * d_qk, d_qk, 1}),
                     sview(a.v, r0 * H * d_v, {T, H, d_v}, {H * d_v, d_v, 1}), scale, 0);
    }
    sized(c, out, R * D);
    linear_forward(c, L.o_proj, tv(out, {R, D}), tv(a.o, {R, H * d_v}));
}

void attention_backward(Ctx& c, const LayerP& L, const AttnAct& a, const Buf& dout, Buf& dx) {
    const ModelConfig& cf = c.cfg;
    Backend& be = c.be;
    const int64_t R = c.R, T = c.T, D = cf.hidden_size, H = cf.num_attention_heads;
    const int64_t d_n = cf.qk_nope_head_dim, d_r = cf.qk_rope_head_dim, d_v = cf.v_head_dim, d_qk = d_n + d_r;
    TensorView pos = positions_view(c, R);
    const TensorView inv = inv_freq_view(c);
    // o_proj
    linear_weight_grad(c, L.o_proj, tv(dout, {R, D}), tv(a.o, {R, H * d_v}));
    Scratch& s = c.im.ws.tmp;
    Buf& d_o = sized(c, s.d_o, R * H * d_v);
    linear_input_grad(c, L.o_proj, tv(d_o, {R, H * d_v}), tv(dout, {R, D}));
    // attention, per sequence
    Buf &dq = sized(c, s.dq, R * H * d_qk), &dk = sized(c, s.dk, R * H * d_qk), &dv = sized(c, s.dv, R * H * d_v);
    for (int64_t b = 0; b < c.B; ++b) {
        const int64_t r0 = b * T;
        auto qk = [&](const Buf& buf) { return sview(buf, r0 * H * d_qk, {T, H, d_qk}, {H * d_qk, d_qk, 1}); };
        auto vv = [&](const Buf& buf) { return sview(buf, r0 * H * d_v, {T, H, d_v}, {H * d_v, d_v, 1}); };
        be.attention_backward(qk(dq), qk(dk), vv(dv), vv(d_o), qk(a.q), qk(a.k), vv(a.v), c.im.softmax_scale, 0);
    }
    be.rope_backward(sview(dq, d_n, {R, H, d_r}, {H * d_qk, d_qk, 1}), pos, inv, c.im.rope_factor);
    sized(c, dx, R * D);  // the first input grad below overwrites it
    if (cf.attention_kind == AttentionKind::kMHA) {
        be.rope_backward(sview(dk, d_n, {R, H, d_r}, {H * d_qk, d_qk, 1}), pos, inv, c.im.rope_factor);
        linear_weight_grad(c, L.k_proj, tv(dk, {R, H * d_qk}), tv(a.x, {R, D}));
        linear_weight_grad(c, L.v_proj, tv(dv, {R, H * d_v}), tv(a.x, {R, D}));
        linear_input_grad(c, L.k_proj, tv(dx, {R, D}), tv(dk, {R, H * d_qk}));
        linear_input_grad(c, L.v_proj, tv(dx, {R, D}), tv(dv, {R, H * d_v}), true);
    } else {
        const int64_t r_kv = cf.kv_lora_rank, W = r_kv + d_r, d_kv = d_n + d_v;
        Buf& dkv = sized(c, s.dkv, R * H * d_kv);
        Buf& dckv = s.dckv;
        dckv.zeros(c.be, R * W);  // the k_pe columns accumulate over heads (in head order)
        be.copy(sview(dkv, 0, {R, H, d_n}, {H * d_kv, d_kv, 1}), sview(dk, 0, {R, H, d_n}, {H * d_qk, d_qk, 1}));
        be.copy(sview(dkv, d_n, {R, H, d_v}, {H * d_kv, d_kv, 1}), tv(dv, {R, H, d_v}));
        const TensorView dkpe = sview(dckv, r_kv, {R, d_r}, {W, 1});
        for (int64_t h = 0; h < H; ++h) be.add(dkpe, dkpe, sview(dk, h * d_qk + d_n, {R, d_r}, {H * d_qk, 1}));
        be.rope_backward(sview(dckv, r_kv, {R, 1, d_r}, {W, d_r, 1}), pos, inv, c.im.rope_factor);
        linear_weight_grad(c, L.kv_b_proj, tv(dkv, {R, H * d_kv}), tv(a.c, {R, r_kv}));
        Buf& dc = sized(c, s.dc, R * r_kv);
        linear_input_grad(c, L.kv_b_proj, tv(dc, {R, r_kv}), tv(dkv, {R, H * d_kv}));
        be.rmsnorm_backward(sview(dckv, 0, {R, r_kv}, {W, 1}), L.kv_a_norm.g, tv(dc, {R, r_kv}),
                            sview(a.ckv, 0, {R, r_kv}, {W, 1}), L.kv_a_norm.w, 1e-6f);
        linear_weight_grad(c, L.kv_a_proj, tv(dckv, {R, W}), tv(a.x, {R, D}));
        linear_input_grad(c, L.kv_a_proj, tv(dx, {R, D}), tv(dckv, {R, W}));
    }
    if (cf.attention_kind == AttentionKind::kMHA || cf.q_lora_rank == 0) {
        linear_weight_grad(c, L.q_proj, tv(dq, {R, H * d_qk}), tv(a.x, {R, D}));
        linear_input_grad(c, L.q_proj, tv(dx, {R, D}), tv(dq, {R, H * d_qk}), true);
    } else {
        const int64_t rq = cf.q_lora_rank;
        linear_weight_grad(c, L.q_b_proj, tv(dq, {R, H * d_qk}), tv(a.qa_n, {R, rq}));
        Buf &dqa_n = sized(c, s.dqa_n, R * rq), &dqa = sized(c, s.dqa, R * rq);
        linear_input_grad(c, L.q_b_proj, tv(dqa_n, {R, rq}), tv(dq, {R, H * d_qk}));
        be.rmsnorm_backward(tv(dqa, {R, rq}), L.q_a_norm.g, tv(dqa_n, {R, rq}), tv(a.qa, {R, rq}), L.q_a_norm.w, 1e-6f);
        linear_weight_grad(c, L.q_a_proj, tv(dqa, {R, rq}), tv(a.x, {R, D}));
        linear_input_grad(c, L.q_a_proj, tv(dx, {R, D}), tv(dqa, {R, rq}), true);
    }
}

// ============================== FFN ==============================

void mlp_forward(Ctx& c, const MlpP& m, MlpAct& a, const TensorView& x, Buf& out) {
    const int64_t D = c.cfg.hidden_size, I = m.width, n = x.rows();
    a.n = n;
    sized(c, a.x, n * D);
    c.be.copy(tv(a.x, {n, D}), x);
    sized(c, a.g, n * I);  // fully written below
    sized(c, a.u, n * I);
    sized(c, a.a, n * I);
    linear_forward(c, m.gate, tv(a.g, {n, I}), tv(a.x, {n, D}));
    linear_forward(c, m.up, tv(a.u, {n, I}), tv(a.x, {n, D}));
    c.be.silu_mul(tv(a.a, {n, I}), tv(a.g, {n, I}), tv(a.u, {n, I}));
    sized(c, out, n * D);
    linear_forward(c, m.down, tv(out, {n, D}), tv(a.a, {n, I}));
}

void mlp_backward(Ctx& c, const MlpP& m, const MlpAct& a, const TensorView& dout, Buf& dx) {
    const int64_t D = c.cfg.hidden_size, I = m.width, n = a.n;
    const TensorView& dy = dout;  // [n, D]
    linear_weight_grad(c, m.down, dy, tv(a.a, {n, I}));
    Scratch& s = c.im.ws.tmp;
    Buf &da = sized(c, s.da, n * I), &dg = sized(c, s.dg, n * I), &du = sized(c, s.dup, n * I);
    linear_input_grad(c, m.down, tv(da, {n, I}), dy);
    c.be.silu_mul_backward(tv(dg, {n, I}), tv(du, {n, I}), tv(da, {n, I}), tv(a.g, {n, I}), tv(a.u, {n, I}));
    linear_weight_grad(c, m.gate, tv(dg, {n, I}), tv(a.x, {n, D}));
    linear_weight_grad(c, m.up, tv(du, {n, I}), tv(a.x, {n, D}));
    sized(c, dx, n * D);  // overwritten by the first input grad
    linear_input_grad(c, m.gate, tv(dx, {n, D}), tv(dg, {n, I}));
    linear_input_grad(c, m.up, tv(dx, {n, D}), tv(du, {n, I}), true);
}

namespace {

void moe_forward(Ctx& c, const LayerP& L, MoeAct& m, const Buf& x, Buf& out, float aux_alpha, double* aux_loss,
                 std::vector<int64_t>* load) {
    Backend& be = c.be;
    const int64_t R = c.R, D = c.cfg.hidden_size, E = c.im.router.n_routed_experts, K = c.im.router.top_k;
    m.x = x;
    sized(c, m.logits, R * E);  // overwritten by the router matmul
    be.matmul(tv(m.logits, {R, E}), tv(m.x, {R, D}), L.router.w);
    if (m.idx_dev.empty() || m.idx_dev.view().numel() != R * K) m.idx_dev = be.alloc(DType::I32, {R, K});
    sized(c, m.weights, R * K);
    be.moe_route(m.idx_dev.view(), tv(m.weights, {R, K}), tv(m.logits, {R, E}),
                 L.router_bias.empty() ? TensorView{} : L.router_bias.w, c.im.router);
    // Sorted by expert on the backend; only the E + 1 offsets come back (they size the expert GEMMs).
    m.offsets.resize(size_t(E + 1));
    m.rows_dev.resize(be, R * K);
    m.slot_dev.resize(be, R * K);
    sized(c, m.scale, R * K);
    be.moe_permute(m.rows_dev.view(0, R * K), m.slot_dev.view(0, R * K), tv(m.scale, {R * K}), m.offsets.data(), E,
                   m.idx_dev.view(), tv(m.weights, {R, K}));
    if (load) load->assign(size_t(E), 0);
    out.zeros(be, R * D);
    m.experts.resize(size_t(E));
    m.expert_out.resize(size_t(E));
    for (int64_t e = 0; e < E; ++e) {
        const int64_t b = m.offsets[size_t(e)], cnt = m.offsets[size_t(e + 1)] - b;
        if (load) (*load)[size_t(e)] = cnt;
        if (cnt == 0) continue;
        const TensorView rows = m.rows_dev.view(b, cnt);
        Buf xe;
        sized(c, xe, cnt * D);
        be.gather_rows(tv(xe, {cnt, D}), tv(m.x, {R, D}), rows);
        mlp_forward(c, L.experts[size_t(e)], m.experts[size_t(e)], tv(xe, {cnt, D}), m.expert_out[size_t(e)]);
        be.scatter_add_rows(tv(out, {R, D}), tv(m.expert_out[size_t(e)], {cnt, D}), rows,
                            sview(m.scale, b, {cnt}, {1}));
    }
    if (L.shared.width > 0) {
        Buf sh;
        mlp_forward(c, L.shared, m.shared, tv(m.x, {R, D}), sh);
        be.add(tv(out, {R, D}), tv(out, {R, D}), tv(sh, {R, D}));
    }
    if (aux_alpha > 0) {  // the sequence-wise balance loss (V3); its gradient is added in the backward
        sized(c, m.aux_dlogits, R * E);
        *aux_loss += be.moe_seq_aux_loss(tv(m.aux_dlogits, {R, E}), tv(m.logits, {R, E}), m.idx_dev.view(), c.B,
                                         aux_alpha, c.im.router.scoring);
    } else {
        m.aux_dlogits.clear();
    }
}

void moe_backward(Ctx& c, const LayerP& L, MoeAct& m, const Buf& dout, Buf& dx, float grad_scale) {
    Backend& be = c.be;
    const int64_t R = c.R, D = c.cfg.hidden_size, E = c.im.router.n_routed_experts, K = c.im.router.top_k;
    dx.zeros(be, R * D);
    if (L.shared.width > 0) mlp_backward(c, L.shared, m.shared, tv(dout, {R, D}), dx);
    // d(combine weight) of every sorted entry, written per expert on the backend, then scattered back to
    // [R, K] through `slot` in one call (the entries are distinct, so no two add to the same element).
    Buf dscale_sorted, ones, dweights, dlogits;
    sized(c, dscale_sorted, R * K);
    sized(c, ones, R * K);
    be.fill(tv(ones, {R * K}), 1.0f);
    for (int64_t e = 0; e < E; ++e) {
        const int64_t b = m.offsets[size_t(e)], cnt = m.offsets[size_t(e + 1)] - b;
        if (cnt == 0) continue;
        const TensorView rows = m.rows_dev.view(b, cnt);
        Buf dye, dxe;
        sized(c, dye, cnt * D);
        be.scatter_add_rows_backward(tv(dye, {cnt, D}), sview(dscale_sorted, b, {cnt}, {1}), tv(dout, {R, D}),
                                     tv(m.expert_out[size_t(e)], {cnt, D}), rows, sview(m.scale, b, {cnt}, {1}));
        mlp_backward(c, L.experts[size_t(e)], m.experts[size_t(e)], tv(dye, {cnt, D}), dxe);
        be.scatter_add_rows(tv(dx, {R, D}), tv(dxe, {cnt, D}), rows, sview(ones, 0, {cnt}, {1}));
    }
    dweights.zeros(be, R * K);
    be.scatter_add_rows(tv(dweights, {R * K, 1}), tv(dscale_sorted, {R * K, 1}), m.slot_dev.view(0, R * K),
                        tv(ones, {R * K}));
    sized(c, dlogits, R * E);
    be.moe_router_backward(tv(dlogits, {R, E}), tv(dweights, {R, K}), tv(m.logits, {R, E}), m.idx_dev.view(),
                           c.im.router);
    if (!m.aux_dlogits.empty()) be.axpy(tv(dlogits, {R, E}), tv(m.aux_dlogits, {R, E}), grad_scale);
    if (L.router.g.data) be.matmul_weight_grad(L.router.g, tv(dlogits, {R, E}), tv(m.x, {R, D}));
    be.matmul(tv(dx, {R, D}), tv(dlogits, {R, E}), L.router.w, false, true);
}

}  // namespace

void ffn_forward(Ctx& c, int64_t /*layer*/, const LayerP& L, LayerAct& a, const Buf& x, Buf& out, float aux_alpha,
                 double* aux_loss, std::vector<int64_t>* load) {
    if (L.is_moe)
        moe_forward(c, L, a.moe, x, out, aux_alpha, aux_loss, load);
    else
        mlp_forward(c, L.mlp, a.mlp, tv(x, {c.R, c.cfg.hidden_size}), out);
}

void ffn_backward(Ctx& c, const LayerP& L, LayerAct& a, const Buf& dout, Buf& dx, float grad_scale) {
    if (L.is_moe)
        moe_backward(c, L, a.moe, dout, dx, grad_scale);
    else
        mlp_backward(c, L.mlp, a.mlp, tv(dout, {c.R, c.cfg.hidden_size}), dx);
}

}  // namespace engine::train
