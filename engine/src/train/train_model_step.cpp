// train_model_step.cpp — TrainModel::forward / forward_backward: embedding → layers (each sublayer
// wrapped as a plain pre-norm residual, or as HC / mHC over n streams) → [hc_head] → final norm →
// lm_head → cross-entropy, then the reverse pass. Activations live in the per-step workspace, on the
// model's backend.
#include <cmath>

#include "engine/error.h"
#include "engine/train/train_model.h"
#include "train/train_model_layers.h"

namespace engine {

using namespace train;

namespace {

// a += b, same sizes, on the backend.
void be_add(Ctx& c, Buf& a, const Buf& b) {
    c.be.add(tv(a, {a.size()}), tv(a, {a.size()}), tv(b, {b.size()}));
}

// Runs one sublayer s (0 attention, 1 FFN) of layer l: state (h [R, D] or X [R, n, D]) in place.
void sublayer_forward(Ctx& c, int64_t l, int s, Buf& state, float aux_alpha, ForwardStats& st) {
    TrainModel::Impl& im = c.im;
    const LayerP& L = im.layers[size_t(l)];
    LayerAct& la = im.ws.layers[size_t(l)];
    SubAct& sa = s == 0 ? la.attn_sub : la.ffn_sub;
    const int64_t R = c.R, D = c.cfg.hidden_size;
    if (im.hc) {
        sa.state_in = state;  // the residual path needs only u (= the input) for the norm backward
        hc_sublayer_pre(c, s == 0 ? L.attn_hc : L.ffn_hc, sa, state);
        const int n = im.hc_par.n;
        std::vector<double> mean(size_t(n * n), 0.0);  // token-averaged mixing matrix (stability charts)
        const std::vector<float> mix = sa.mix.to_host();  // R·n² values
        for (int64_t t = 0; t < R; ++t)
            for (int k = 0; k < n * n; ++k) mean[size_t(k)] += mix[size_t(t * n * n + k)] / double(R);
        st.hc_mix.push_back(std::move(mean));
    } else {
        sa.u = state;
    }
    Buf& x = sized(c, im.ws.tmp.x, R * D);
    c.be.rmsnorm(tv(x, {R, D}), tv(sa.u, {R, D}), s == 0 ? L.in_norm.w : L.post_norm.w, float(c.cfg.rms_norm_eps));
    if (s == 0) {
        attention_forward(c, L, la.attn, x, sa.y);
    } else {
        std::vector<int64_t> load;
        ffn_forward(c, l, L, la, x, sa.y, aux_alpha, &st.aux_loss, L.is_moe ? &load : nullptr);
        st.expert_load[size_t(l)] = std::move(load);
    }
    if (im.hc) {
        hc_sublayer_post(c, sa, state);
    } else {
        be_add(c, state, sa.y);
    }
}

// Reverse of sublayer_forward: dstate (of the output) → dstate (of the input), in place.
void sublayer_backward(Ctx& c, int64_t l, int s, Buf& dstate, float aux_grad_scale) {
    TrainModel::Impl& im = c.im;
    const LayerP& L = im.layers[size_t(l)];
    LayerAct& la = im.ws.layers[size_t(l)];
    SubAct& sa = s == 0 ? la.attn_sub : la.ffn_sub;
    const int64_t R = c.R, D = c.cfg.hidden_size;
    Scratch& tmp = im.ws.tmp;
    Buf& dX_in = tmp.dX_in;
    if (im.hc) hc_sublayer_post_backward(c, sa, dstate, tmp.dy, dX_in);
    const Buf& dy = im.hc ? tmp.dy : dstate;  // residual: the sublayer output's grad is the state's
    Buf& dx = tmp.dx;
    if (s == 0)
        attention_backward(c, L, la.attn, dy, dx);
    else
        ffn_backward(c, L, la, dy, dx, aux_grad_scale);
    Buf& du = sized(c, tmp.du, R * D);
    const P& norm = s == 0 ? L.in_norm : L.post_norm;
    c.be.rmsnorm_backward(tv(du, {R, D}), norm.g, tv(dx, {R, D}), tv(sa.u, {R, D}), norm.w,
                          float(c.cfg.rms_norm_eps));
    if (im.hc) {
        hc_sublayer_pre_backward(c, s == 0 ? L.attn_hc : L.ffn_hc, sa, du, dX_in);
        std::swap(dstate, dX_in);  // both stay allocated for the next sublayer
    } else {
        be_add(c, dstate, du);
    }
}

}  // namespace

static ForwardStats run(TrainModel& model, TrainModel::Impl& im, const int32_t* tokens, const int32_t* targets,
                        int64_t B, int64_t T, bool backward, float grad_scale, float aux_alpha,
                        float aux_grad_scale, std::vector<float>* logits_out) {
    const ModelConfig& cf = model.config();
    Backend& be = model.backend();
    ENGINE_CHECK(B > 0 && T > 0, kInvalidArgument, "TrainModel: batch must be at least 1 x 1 tokens, got ", B, " x ", T);
    const int64_t R = B * T, D = cf.hidden_size, V = cf.vocab_size;
    Workspace& ws = im.ws;
    ws.B = B;
    ws.T = T;
    ws.tokens.assign(tokens, tokens + R);
    ws.positions.resize(size_t(R));
    for (int64_t r = 0; r < R; ++r) ws.positions[size_t(r)] = int32_t(r % T);
    ws.tokens_dev.upload(be, ws.tokens);
    ws.positions_dev.upload(be, ws.positions);
    ws.layers.resize(size_t(cf.num_hidden_layers));
    Ctx c{cf, be, im, B, T, R, ws.positions_dev.view(0, R)};
    im.training = backward;  // LoRA dropout only in training forwards
    if (backward) ++im.dropout_calls;
    ForwardStats st;
    st.expert_load.resize(size_t(cf.num_hidden_layers));
    const int64_t n = im.hc ? im.hc_par.n : 1;

    // Embedding (ids are range-checked by the op).
    Buf& h = sized(c, ws.tmp.h, R * D);
    be.embedding(tv(h, {R, D}), im.embed.w, ws.tokens_dev.view(0, R));
    Buf state;
    if (im.hc) {  // every stream starts as the embedding: X[r, i, :] = h[r, :]
        sized(c, state, R * n * D);
        for (int64_t i = 0; i < n; ++i) be.copy(sview(state, i * D, {R, D}, {n * D, 1}), tv(h, {R, D}));
    } else {
        state = h;
    }
    for (int64_t l = 0; l < cf.num_hidden_layers; ++l)
        for (int s = 0; s < 2; ++s) sublayer_forward(c, l, s, state, backward ? aux_alpha : 0.0f, st);
    ws.state_final = state;
    Buf hin;
    if (im.hc) {
        hc_head_forward(c, state, hin);
        ws.h_collapsed = hin;
    } else {
        hin = state;
    }
    sized(c, ws.hn, R * D);  // overwritten by the norm
    be.rmsnorm(tv(ws.hn, {R, D}), tv(hin, {R, D}), im.final_norm.w, float(cf.rms_norm_eps));
    sized(c, ws.logits, R * V);  // fully overwritten by the matmul
    be.matmul(tv(ws.logits, {R, V}), tv(ws.hn, {R, D}), im.lm_head.w);
    if (logits_out) *logits_out = ws.logits.to_host();
    if (!targets) return st;
    ws.targets.assign(targets, targets + R);
    ws.targets_dev.upload(be, ws.targets);
    const TensorView tg = ws.targets_dev.view(0, R);
    Buf& dlogits = ws.dlogits;  // kept across steps: [R, V] is the largest buffer (no re-mmap per step)
    if (backward) sized(c, dlogits, R * V);
    st.loss = be.cross_entropy(backward ? tv(dlogits, {R, V}) : TensorView{}, tv(ws.logits, {R, V}), tg, -100,
                               grad_scale, &st.tokens);
    if (!backward) return st;

    // ---- backward ----
    if (im.lm_head.g.data) be.matmul_weight_grad(im.lm_head.g, tv(dlogits, {R, V}), tv(ws.hn, {R, D}));
    Buf &dhn = sized(c, ws.tmp.dhn, R * D), &dh = sized(c, ws.tmp.dh, R * D);
    be.matmul(tv(dhn, {R, D}), tv(dlogits, {R, V}), im.lm_head.w, false);
    be.rmsnorm_backward(tv(dh, {R, D}), im.final_norm.g, tv(dhn, {R, D}), tv(im.hc ? ws.h_collapsed : ws.state_final,
                        {R, D}), im.final_norm.w, float(cf.rms_norm_eps));
    Buf dstate;
    if (im.hc) {
        hc_head_backward(c, ws.state_final, dh, dstate);
    } else {
        dstate = dh;
    }
    for (int64_t l = cf.num_hidden_layers - 1; l >= 0; --l)
        for (int s = 1; s >= 0; --s) sublayer_backward(c, l, s, dstate, aux_grad_scale);
    Buf& demb = ws.tmp.demb;  // Σ over streams, in stream order
    demb.zeros(be, R * D);
    for (int64_t i = 0; i < n; ++i) be.add(tv(demb, {R, D}), tv(demb, {R, D}), sview(dstate, i * D, {R, D}, {n * D, 1}));
    if (im.embed.g.data) be.embedding_backward(im.embed.g, tv(demb, {R, D}), ws.tokens_dev.view(0, R));
    return st;
}

ForwardStats TrainModel::forward_backward(const int32_t* tokens, const int32_t* targets, int64_t B, int64_t T,
                                          float grad_scale, float aux_alpha, float aux_grad_scale) {
    ENGINE_CHECK(targets, kInvalidArgument, "TrainModel::forward_backward needs targets");
    return run(*this, *impl_, tokens, targets, B, T, true, grad_scale, aux_alpha,
               aux_grad_scale < 0 ? grad_scale : aux_grad_scale, nullptr);
}

ForwardStats TrainModel::forward(const int32_t* tokens, const int32_t* targets, int64_t B, int64_t T,
                                 std::vector<float>* logits) {
    return run(*this, *impl_, tokens, targets, B, T, false, 1.0f, 0.0f, 0.0f, logits);
}

}  // namespace engine
