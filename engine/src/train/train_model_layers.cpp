// train_model_layers.cpp — attention (MLA explicit K/V, or MHA) and FFN (SwiGLU, DeepSeekMoE with
// routed + shared experts and the optional sequence-wise balance loss) forward and backward.
// GEMMs, norms, RoPE, attention, SwiGLU and the MoE combine go through the Backend; the small glue
// (assembling K from k_nope and the shared k_pe, sorting tokens by expert) is host bookkeeping.
#include "train/train_model_layers.h"
#include "train/lora_linear.h"

#include <cmath>

#include "engine/error.h"

namespace engine::train {

TensorView tv(Buf& b, std::initializer_list<int64_t> shape) {
    TensorView v = TensorView::contiguous(b.data(), DType::F32, shape);
    ENGINE_CHECK(size_t(v.numel()) <= b.size(), kInternal, "workspace buffer of ", b.size(), " floats is too small for ",
                 v.shape_str());
    return v;
}
TensorView tv(const Buf& b, std::initializer_list<int64_t> shape) { return tv(const_cast<Buf&>(b), shape); }

TensorView sview(const Buf& base, int64_t offset, std::initializer_list<int64_t> shape,
                 std::initializer_list<int64_t> strides) {
    TensorView v;
    v.data = const_cast<float*>(base.data()) + offset;
    v.dtype = DType::F32;
    v.ndim = int(shape.size());
    int i = 0;
    for (int64_t s : shape) v.shape[size_t(i++)] = s;
    i = 0;
    for (int64_t s : strides) v.stride[size_t(i++)] = s;
    return v;
}

namespace {

TensorView ptr_view(const float* p, int64_t rows, int64_t cols) {
    return TensorView::contiguous(const_cast<float*>(p), DType::F32, {rows, cols});
}

void resize(Buf& b, int64_t n) { b.assign(size_t(n), 0.0f); }

TensorView positions_view(Ctx& c, int64_t rows) {
    return TensorView::contiguous(const_cast<int32_t*>(c.positions), DType::I32, {rows});
}

}  // namespace

// ============================== attention ==============================

void attention_forward(Ctx& c, const LayerP& L, AttnAct& a, const Buf& x, Buf& out) {
    const ModelConfig& cf = c.cfg;
    Backend& be = c.be;
    const int64_t R = c.R, T = c.T, D = cf.hidden_size, H = cf.num_attention_heads;
    const int64_t d_n = cf.qk_nope_head_dim, d_r = cf.qk_rope_head_dim, d_v = cf.v_head_dim, d_qk = d_n + d_r;
    const float scale = c.im.softmax_scale;
    a.x = x;
    sized(a.q, R * H * d_qk);  // all four are fully written below
    sized(a.k, R * H * d_qk);
    sized(a.v, R * H * d_v);
    sized(a.o, R * H * d_v);
    TensorView pos = positions_view(c, R);
    const bool mha = cf.attention_kind == AttentionKind::kMHA;
    if (mha || cf.q_lora_rank == 0) {
        linear_forward(c, L.q_proj, tv(a.q, {R, H * d_qk}), tv(a.x, {R, D}));
    } else {
        const int64_t rq = cf.q_lora_rank;
        sized(a.qa, R * rq);
        sized(a.qa_n, R * rq);
        linear_forward(c, L.q_a_proj, tv(a.qa, {R, rq}), tv(a.x, {R, D}));
        be.rmsnorm(tv(a.qa_n, {R, rq}), tv(a.qa, {R, rq}), L.q_a_norm.w, 1e-6f);  // HF: latent norms use 1e-6
        linear_forward(c, L.q_b_proj, tv(a.q, {R, H * d_qk}), tv(a.qa_n, {R, rq}));
    }
    be.rope(sview(a.q, d_n, {R, H, d_r}, {H * d_qk, d_qk, 1}), pos, TensorView::contiguous(
                c.im.inv_freq.data(), DType::F32, {int64_t(c.im.inv_freq.size())}), c.im.rope_factor);
    TensorView inv = TensorView::contiguous(c.im.inv_freq.data(), DType::F32, {int64_t(c.im.inv_freq.size())});
    if (mha) {
        linear_forward(c, L.k_proj, tv(a.k, {R, H * d_qk}), tv(a.x, {R, D}));
        linear_forward(c, L.v_proj, tv(a.v, {R, H * d_v}), tv(a.x, {R, D}));
        be.rope(sview(a.k, d_n, {R, H, d_r}, {H * d_qk, d_qk, 1}), pos, inv, c.im.rope_factor);
    } else {
        const int64_t r_kv = cf.kv_lora_rank, W = r_kv + d_r, d_kv = d_n + d_v;
        sized(a.ckv, R * W);
        sized(a.c, R * r_kv);
        linear_forward(c, L.kv_a_proj, tv(a.ckv, {R, W}), tv(a.x, {R, D}));
        be.rmsnorm(tv(a.c, {R, r_kv}), sview(a.ckv, 0, {R, r_kv}, {W, 1}), L.kv_a_norm.w, 1e-6f);
        Buf& kpe = sized(c.im.ws.tmp.kpe, R * d_r);
        for (int64_t r = 0; r < R; ++r)
            for (int64_t i = 0; i < d_r; ++i) kpe[size_t(r * d_r + i)] = a.ckv[size_t(r * W + r_kv + i)];
        be.rope(tv(kpe, {R, 1, d_r}), pos, inv, c.im.rope_factor);
        Buf& kv = sized(c.im.ws.tmp.kv, R * H * d_kv);
        linear_forward(c, L.kv_b_proj, tv(kv, {R, H * d_kv}), tv(a.c, {R, r_kv}));
        for (int64_t r = 0; r < R; ++r)
            for (int64_t h = 0; h < H; ++h) {
                const float* src = kv.data() + (r * H + h) * d_kv;
                float* kk = a.k.data() + (r * H + h) * d_qk;
                float* vv = a.v.data() + (r * H + h) * d_v;
                for (int64_t i = 0; i < d_n; ++i) kk[i] = src[i];
                for (int64_t i = 0; i < d_r; ++i) kk[d_n + i] = kpe[size_t(r * d_r + i)];
                for (int64_t i = 0; i < d_v; ++i) vv[i] = src[d_n + i];
            }
    }
    for (int64_t b = 0; b < c.B; ++b) {
        const int64_t r0 = b * T;
        be.attention(sview(a.o, r0 * H * d_v, {T, H, d_v}, {H * d_v, d_v, 1}),
                     sview(a.q, r0 * H * d_qk, {T, H, d_qk}, {H * d_qk, d_qk, 1}),
                     sview(a.k, r0 * H * d_qk, {T, H, d_qk}, {H * d_qk, d_qk, 1}),
                     sview(a.v, r0 * H * d_v, {T, H, d_v}, {H * d_v, d_v, 1}), scale, 0);
    }
    sized(out, R * D);
    linear_forward(c, L.o_proj, tv(out, {R, D}), tv(a.o, {R, H * d_v}));
}

void attention_backward(Ctx& c, const LayerP& L, const AttnAct& a, const Buf& dout, Buf& dx) {
    const ModelConfig& cf = c.cfg;
    Backend& be = c.be;
    const int64_t R = c.R, T = c.T, D = cf.hidden_size, H = cf.num_attention_heads;
    const int64_t d_n = cf.qk_nope_head_dim, d_r = cf.qk_rope_head_dim, d_v = cf.v_head_dim, d_qk = d_n + d_r;
    TensorView pos = positions_view(c, R);
    TensorView inv = TensorView::contiguous(c.im.inv_freq.data(), DType::F32, {int64_t(c.im.inv_freq.size())});
    // o_proj
    linear_weight_grad(c, L.o_proj, tv(dout, {R, D}), tv(a.o, {R, H * d_v}));
    Scratch& s = c.im.ws.tmp;
    Buf& d_o = sized(s.d_o, R * H * d_v);
    linear_input_grad(c, L.o_proj, tv(d_o, {R, H * d_v}), tv(dout, {R, D}));
    // attention, per sequence
    Buf &dq = sized(s.dq, R * H * d_qk), &dk = sized(s.dk, R * H * d_qk), &dv = sized(s.dv, R * H * d_v);
    for (int64_t b = 0; b < c.B; ++b) {
        const int64_t r0 = b * T;
        auto qk = [&](const Buf& buf) { return sview(buf, r0 * H * d_qk, {T, H, d_qk}, {H * d_qk, d_qk, 1}); };
        auto vv = [&](const Buf& buf) { return sview(buf, r0 * H * d_v, {T, H, d_v}, {H * d_v, d_v, 1}); };
        be.attention_backward(qk(dq), qk(dk), vv(dv), vv(d_o), qk(a.q), qk(a.k), vv(a.v), c.im.softmax_scale, 0);
    }
    be.rope_backward(sview(dq, d_n, {R, H, d_r}, {H * d_qk, d_qk, 1}), pos, inv, c.im.rope_factor);
    sized(dx, R * D);  // the first input grad below overwrites it
    if (cf.attention_kind == AttentionKind::kMHA) {
        be.rope_backward(sview(dk, d_n, {R, H, d_r}, {H * d_qk, d_qk, 1}), pos, inv, c.im.rope_factor);
        linear_weight_grad(c, L.k_proj, tv(dk, {R, H * d_qk}), tv(a.x, {R, D}));
        linear_weight_grad(c, L.v_proj, tv(dv, {R, H * d_v}), tv(a.x, {R, D}));
        linear_input_grad(c, L.k_proj, tv(dx, {R, D}), tv(dk, {R, H * d_qk}));
        linear_input_grad(c, L.v_proj, tv(dx, {R, D}), tv(dv, {R, H * d_v}), true);
    } else {
        const int64_t r_kv = cf.kv_lora_rank, W = r_kv + d_r, d_kv = d_n + d_v;
        Buf& dkv = sized(s.dkv, R * H * d_kv);
        Buf& dckv = s.dckv;
        dckv.assign(size_t(R * W), 0.0f);  // the k_pe columns accumulate over heads
        for (int64_t r = 0; r < R; ++r)
            for (int64_t h = 0; h < H; ++h) {
                float* dst = dkv.data() + (r * H + h) * d_kv;
                const float* gk = dk.data() + (r * H + h) * d_qk;
                const float* gv = dv.data() + (r * H + h) * d_v;
                for (int64_t i = 0; i < d_n; ++i) dst[i] = gk[i];
                for (int64_t i = 0; i < d_v; ++i) dst[d_n + i] = gv[i];
                for (int64_t i = 0; i < d_r; ++i) dckv[size_t(r * W + r_kv + i)] += gk[d_n + i];  // k_pe is shared
            }
        be.rope_backward(sview(dckv, r_kv, {R, 1, d_r}, {W, d_r, 1}), pos, inv, c.im.rope_factor);
        linear_weight_grad(c, L.kv_b_proj, tv(dkv, {R, H * d_kv}), tv(a.c, {R, r_kv}));
        Buf& dc = sized(s.dc, R * r_kv);
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
        Buf &dqa_n = sized(s.dqa_n, R * rq), &dqa = sized(s.dqa, R * rq);
        linear_input_grad(c, L.q_b_proj, tv(dqa_n, {R, rq}), tv(dq, {R, H * d_qk}));
        be.rmsnorm_backward(tv(dqa, {R, rq}), L.q_a_norm.g, tv(dqa_n, {R, rq}), tv(a.qa, {R, rq}), L.q_a_norm.w, 1e-6f);
        linear_weight_grad(c, L.q_a_proj, tv(dqa, {R, rq}), tv(a.x, {R, D}));
        linear_input_grad(c, L.q_a_proj, tv(dx, {R, D}), tv(dqa, {R, rq}), true);
    }
}

// ============================== FFN ==============================

void mlp_forward(Ctx& c, const MlpP& m, MlpAct& a, const float* x, int64_t n, Buf& out) {
    const int64_t D = c.cfg.hidden_size, I = m.width;
    a.n = n;
    a.x.assign(x, x + n * D);
    sized(a.g, n * I);  // fully written below
    sized(a.u, n * I);
    sized(a.a, n * I);
    linear_forward(c, m.gate, tv(a.g, {n, I}), tv(a.x, {n, D}));
    linear_forward(c, m.up, tv(a.u, {n, I}), tv(a.x, {n, D}));
    c.be.silu_mul(tv(a.a, {n, I}), tv(a.g, {n, I}), tv(a.u, {n, I}));
    sized(out, n * D);
    linear_forward(c, m.down, tv(out, {n, D}), tv(a.a, {n, I}));
}

void mlp_backward(Ctx& c, const MlpP& m, const MlpAct& a, const float* dout, Buf& dx) {
    const int64_t D = c.cfg.hidden_size, I = m.width, n = a.n;
    TensorView dy = ptr_view(dout, n, D);
    linear_weight_grad(c, m.down, dy, tv(a.a, {n, I}));
    Scratch& s = c.im.ws.tmp;
    Buf &da = sized(s.da, n * I), &dg = sized(s.dg, n * I), &du = sized(s.dup, n * I);
    linear_input_grad(c, m.down, tv(da, {n, I}), dy);
    c.be.silu_mul_backward(tv(dg, {n, I}), tv(du, {n, I}), tv(da, {n, I}), tv(a.g, {n, I}), tv(a.u, {n, I}));
    linear_weight_grad(c, m.gate, tv(dg, {n, I}), tv(a.x, {n, D}));
    linear_weight_grad(c, m.up, tv(du, {n, I}), tv(a.x, {n, D}));
    sized(dx, n * D);  // overwritten by the first input grad
    linear_input_grad(c, m.gate, tv(dx, {n, D}), tv(dg, {n, I}));
    linear_input_grad(c, m.up, tv(dx, {n, D}), tv(du, {n, I}), true);
}

namespace {

// Sequence-wise balance loss (V3): per sequence, L = α Σ_i f_i P_i with f_i = E/(K·T) Σ_t 1[i ∈ TopK_t],
// P_i = mean_t s'_{t,i}, s' = s / Σ_j s_j. Averaged over sequences. Writes dL/dlogits (f is constant).
double seq_aux_loss(Ctx& c, MoeAct& m, float alpha) {
    const int64_t T = c.T, E = c.im.router.n_routed_experts, K = c.im.router.top_k;
    const bool softmax = c.im.router.scoring == RouterParams::Scoring::kSoftmax;
    resize(m.aux_dlogits, c.R * E);
    double total = 0;
    std::vector<double> s(static_cast<size_t>(E)), sn(static_cast<size_t>(E)), f(static_cast<size_t>(E)), P(static_cast<size_t>(E));
    for (int64_t b = 0; b < c.B; ++b) {
        std::fill(f.begin(), f.end(), 0.0);
        std::fill(P.begin(), P.end(), 0.0);
        for (int64_t t = b * T; t < (b + 1) * T; ++t)
            for (int64_t k = 0; k < K; ++k) f[size_t(m.idx[size_t(t * K + k)])] += double(E) / double(K * T);
        for (int pass = 0; pass < 2; ++pass)
            for (int64_t t = b * T; t < (b + 1) * T; ++t) {
                const float* l = m.logits.data() + t * E;
                double mx = l[0], z = 0;
                for (int64_t e = 1; e < E; ++e) mx = std::max(mx, double(l[e]));
                for (int64_t e = 0; e < E; ++e) {
                    s[size_t(e)] = softmax ? std::exp(double(l[e]) - mx) : 1.0 / (1.0 + std::exp(-double(l[e])));
                    z += s[size_t(e)];
                }
                if (softmax) {
                    for (auto& v : s) v /= z;
                    z = 1.0;
                }
                for (int64_t e = 0; e < E; ++e) sn[size_t(e)] = s[size_t(e)] / z;
                if (pass == 0) {
                    for (int64_t e = 0; e < E; ++e) P[size_t(e)] += sn[size_t(e)] / double(T);
                    continue;
                }
                // dL/ds'_e = α f_e / (T·B); through s' = s/z, then the scoring function.
                double dot = 0;
                for (int64_t e = 0; e < E; ++e) dot += alpha * f[size_t(e)] / double(T * c.B) * sn[size_t(e)];
                std::vector<double> ds(static_cast<size_t>(E));
                for (int64_t e = 0; e < E; ++e) ds[size_t(e)] = (alpha * f[size_t(e)] / double(T * c.B) - dot) / z;
                float* dl = m.aux_dlogits.data() + t * E;
                if (softmax) {
                    double d2 = 0;
                    for (int64_t e = 0; e < E; ++e) d2 += ds[size_t(e)] * s[size_t(e)];
                    for (int64_t e = 0; e < E; ++e) dl[e] = float(s[size_t(e)] * (ds[size_t(e)] - d2));
                } else {
                    for (int64_t e = 0; e < E; ++e) dl[e] = float(ds[size_t(e)] * s[size_t(e)] * (1 - s[size_t(e)]));
                }
            }
        double Lb = 0;
        for (int64_t e = 0; e < E; ++e) Lb += f[size_t(e)] * P[size_t(e)];
        total += alpha * Lb / double(c.B);
    }
    return total;
}

void moe_forward(Ctx& c, const LayerP& L, MoeAct& m, const Buf& x, Buf& out, float aux_alpha, double* aux_loss,
                 std::vector<int64_t>* load) {
    Backend& be = c.be;
    const int64_t R = c.R, D = c.cfg.hidden_size, E = c.im.router.n_routed_experts, K = c.im.router.top_k;
    m.x = x;
    resize(m.logits, R * E);
    be.matmul(tv(m.logits, {R, E}), tv(m.x, {R, D}), L.router.w);
    m.idx.assign(size_t(R * K), 0);
    resize(m.weights, R * K);
    be.moe_route(TensorView::contiguous(m.idx.data(), DType::I32, {R, K}), tv(m.weights, {R, K}),
                 tv(m.logits, {R, E}), L.router_bias.empty() ? TensorView{} : L.router_bias.w, c.im.router);
    // Counting sort of the R·K (token, slot) pairs by expert.
    m.offsets.assign(size_t(E + 1), 0);
    for (int32_t e : m.idx) {
        ENGINE_CHECK(e >= 0 && e < E, kInternal, "moe_route returned expert ", e, " outside [0, ", E, ")");
        ++m.offsets[size_t(e) + 1];
    }
    for (int64_t e = 0; e < E; ++e) m.offsets[size_t(e + 1)] += m.offsets[size_t(e)];
    std::vector<int64_t> cur(m.offsets.begin(), m.offsets.end() - 1);
    m.rows.assign(size_t(R * K), 0);
    m.slot.assign(size_t(R * K), 0);
    resize(m.scale, R * K);
    for (int64_t i = 0; i < R * K; ++i) {
        const int64_t at = cur[size_t(m.idx[size_t(i)])]++;
        m.rows[size_t(at)] = int32_t(i / K);
        m.slot[size_t(at)] = int32_t(i);
        m.scale[size_t(at)] = m.weights[size_t(i)];
    }
    if (load) load->assign(size_t(E), 0);
    resize(out, R * D);
    m.experts.resize(size_t(E));
    m.expert_out.resize(size_t(E));
    for (int64_t e = 0; e < E; ++e) {
        const int64_t b = m.offsets[size_t(e)], cnt = m.offsets[size_t(e + 1)] - b;
        if (load) (*load)[size_t(e)] = cnt;
        if (cnt == 0) continue;
        TensorView rows = TensorView::contiguous(m.rows.data() + b, DType::I32, {cnt});
        Buf xe(size_t(cnt * D));
        be.gather_rows(tv(xe, {cnt, D}), tv(m.x, {R, D}), rows);
        mlp_forward(c, L.experts[size_t(e)], m.experts[size_t(e)], xe.data(), cnt, m.expert_out[size_t(e)]);
        be.scatter_add_rows(tv(out, {R, D}), tv(m.expert_out[size_t(e)], {cnt, D}), rows,
                            TensorView::contiguous(m.scale.data() + b, DType::F32, {cnt}));
    }
    if (L.shared.width > 0) {
        Buf sh;
        mlp_forward(c, L.shared, m.shared, m.x.data(), R, sh);
        be.add(tv(out, {R, D}), tv(out, {R, D}), tv(sh, {R, D}));
    }
    m.aux_dlogits.clear();
    if (aux_alpha > 0) *aux_loss += seq_aux_loss(c, m, aux_alpha);
}

void moe_backward(Ctx& c, const LayerP& L, MoeAct& m, const Buf& dout, Buf& dx, float grad_scale) {
    Backend& be = c.be;
    const int64_t R = c.R, D = c.cfg.hidden_size, E = c.im.router.n_routed_experts, K = c.im.router.top_k;
    resize(dx, R * D);
    if (L.shared.width > 0) mlp_backward(c, L.shared, m.shared, dout.data(), dx);
    Buf dweights(size_t(R * K), 0.0f);
    for (int64_t e = 0; e < E; ++e) {
        const int64_t b = m.offsets[size_t(e)], cnt = m.offsets[size_t(e + 1)] - b;
        if (cnt == 0) continue;
        TensorView rows = TensorView::contiguous(m.rows.data() + b, DType::I32, {cnt});
        Buf dye(static_cast<size_t>(cnt * D)), dscale(static_cast<size_t>(cnt)), dxe, ones(static_cast<size_t>(cnt), 1.0f);
        be.scatter_add_rows_backward(tv(dye, {cnt, D}), tv(dscale, {cnt}), tv(dout, {R, D}),
                                     tv(m.expert_out[size_t(e)], {cnt, D}), rows,
                                     TensorView::contiguous(m.scale.data() + b, DType::F32, {cnt}));
        for (int64_t i = 0; i < cnt; ++i) dweights[size_t(m.slot[size_t(b + i)])] = dscale[size_t(i)];
        mlp_backward(c, L.experts[size_t(e)], m.experts[size_t(e)], dye.data(), dxe);
        be.scatter_add_rows(tv(dx, {R, D}), tv(dxe, {cnt, D}), rows, tv(ones, {cnt}));
    }
    Buf dlogits(size_t(R * E));
    be.moe_router_backward(tv(dlogits, {R, E}), tv(dweights, {R, K}), tv(m.logits, {R, E}),
                           TensorView::contiguous(m.idx.data(), DType::I32, {R, K}), c.im.router);
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
        mlp_forward(c, L.mlp, a.mlp, x.data(), c.R, out);
}

void ffn_backward(Ctx& c, const LayerP& L, LayerAct& a, const Buf& dout, Buf& dx, float grad_scale) {
    if (L.is_moe)
        moe_backward(c, L, a.moe, dout, dx, grad_scale);
    else
        mlp_backward(c, L.mlp, a.mlp, dout.data(), dx);
}

}  // namespace engine::train
