// attention.cpp — the attention sublayer, written once against engine::Backend:
//   * MLA explicit K/V (prefill, training): materialise k_nope / v for all S cached tokens from the latent.
//   * MLA absorbed (decode): q_abs_h = W_UK_hᵀ q_nope_h, MQA over the latent cache [S, 1, r_kv+d_r] with
//     v = the first r_kv dims, then W_UV_h per head, then o_proj (deepseek-arch.md §2).
//   * MHA (our ablation, docs/model-family.md): q/k/v projections, K and V cached per head.
// Both MLA paths first append this call's latents (c after kv_a_layernorm, k_pe after RoPE) to the cache.
// The cache may hold BF16 (Model::new_cache): new rows are computed in F32 and copied in; the explicit path
// converts the cached latents to F32 for its GEMM; the attention op reads BF16 keys/values itself.
#include "engine/error.h"
#include "model/forward_context.h"

namespace engine::model {
namespace {

// q [T, H*d_qk] = x·Wqᵀ, or RMSNorm_qa(x·Wqaᵀ)·Wqbᵀ; RoPE applied to each head's last d_r dims.
void project_q(ForwardContext& ctx, const AttentionWeights& a, const TensorView& x, const TensorView& q) {
    const ModelConfig& c = ctx.cfg;
    const int64_t T = ctx.T, H = c.num_attention_heads, d_qk = c.qk_head_dim();
    if (c.q_lora_rank == 0 || c.attention_kind == AttentionKind::kMHA) {
        ctx.be.matmul(q, x, a.q_proj);
    } else {
        TensorView qa = ctx.ws.f32(kQa, {T, c.q_lora_rank});  // [T, r_q]
        ctx.be.matmul(qa, x, a.q_a_proj);
        ctx.be.rmsnorm(qa, qa, a.q_a_norm, 1e-6f);  // latent norms always use 1e-6 (HF builds them without eps)
        ctx.be.matmul(q, qa, a.q_b_proj);
    }
    TensorView q_pe = strided_view(q, c.qk_nope_head_dim, {T, H, c.qk_rope_head_dim}, {H * d_qk, d_qk, 1});
    ctx.be.rope(q_pe, ctx.positions, ctx.w.inv_freq, ctx.rope_attn_factor);
}

void mla_forward(ForwardContext& ctx, const AttentionWeights& a, int64_t layer, const TensorView& x,
                 const TensorView& out, bool absorbed) {
    const ModelConfig& c = ctx.cfg;
    Backend& be = ctx.be;
    const int64_t T = ctx.T, P = ctx.P, S = P + T, H = c.num_attention_heads;
    const int64_t d_n = c.qk_nope_head_dim, d_r = c.qk_rope_head_dim, d_v = c.v_head_dim;
    const int64_t d_qk = d_n + d_r, r_kv = c.kv_lora_rank, W = r_kv + d_r, d_kv = d_n + d_v;

    TensorView q = ctx.ws.f32(kQ, {T, H * d_qk});  // [T, H*d_qk]
    project_q(ctx, a, x, q);

    // New latents [c | k_pe] computed in F32, then copied into the cache rows P .. S-1 (rounded to bf16
    // there for a BF16 cache).
    TensorView ckv = ctx.ws.f32(kCkv, {T, W});  // [T, r_kv + d_r]
    be.matmul(ckv, x, a.kv_a_proj);
    be.rmsnorm(ckv.slice_last(0, r_kv), ckv.slice_last(0, r_kv), a.kv_a_norm, 1e-6f);
    be.rope(strided_view(ckv, r_kv, {T, 1, d_r}, {W, d_r, 1}), ctx.positions, ctx.w.inv_freq, ctx.rope_attn_factor);
    const TensorView& lat = ctx.cache.latent(layer);  // [cap, r_kv + d_r], F32 or BF16
    be.copy(lat.slice_rows(P, S), ckv);

    TensorView o = ctx.ws.f32(kAttnOut, {T, H, d_v});  // [T, H, d_v]
    const TensorView& kvb = a.kv_b_proj.view();       // [H*(d_n+d_v), r_kv] = [H, d_n+d_v, r_kv]
    if (!absorbed) {
        TensorView lat_all = lat.slice_rows(0, S);  // [S, r_kv + d_r]; GEMM inputs are F32: convert a BF16 cache
        if (lat_all.dtype != DType::F32) {
            TensorView converted = ctx.ws.f32(kLatentF32, {S, W});
            be.copy(converted, lat_all);
            lat_all = converted;
        }
        TensorView c_all = lat_all.slice_last(0, r_kv);  // [S, r_kv]
        TensorView kv = ctx.ws.f32(kKv, {S, H * d_kv});                // [S, H*(d_n+d_v)]
        be.matmul(kv, c_all, kvb);
        TensorView k = ctx.ws.f32(kKFull, {S, H, d_qk});               // [S, H, d_qk]
        be.copy(strided_view(k, 0, {S, H, d_n}, {H * d_qk, d_qk, 1}),
                strided_view(kv, 0, {S, H, d_n}, {H * d_kv, d_kv, 1}));
        TensorView kpe_all = lat_all.slice_last(r_kv, W);  // [S, d_r], shared by all heads
        for (int64_t h = 0; h < H; ++h)
            be.copy(strided_view(k, h * d_qk + d_n, {S, d_r}, {H * d_qk, 1}), kpe_all);
        TensorView v = strided_view(kv, d_n, {S, H, d_v}, {H * d_kv, d_kv, 1});  // [S, H, d_v]
        be.attention(o, q.reshape({T, H, d_qk}), k, v, ctx.softmax_scale, P);
    } else {
        // q_abs [T, H, r_kv | d_r]: per head q_abs_h = q_nope_h · W_UK_h  (W_UK_h = kvb[h, :d_n, :], [d_n, r_kv]),
        // computed with the pre-transposed copy W_UK_hᵀ [r_kv, d_n] as an [out, in] weight.
        TensorView qa = ctx.ws.f32(kQAbs, {T, H, W});
        be.matmul(strided_view(qa, 0, {H, T, r_kv}, {W, H * W, 1}),
                  strided_view(q, 0, {H, T, d_n}, {d_qk, H * d_qk, 1}), a.w_uk_t, /*w_transposed=*/true);
        be.copy(strided_view(qa, r_kv, {T, H, d_r}, {H * W, W, 1}),
                strided_view(q, d_n, {T, H, d_r}, {H * d_qk, d_qk, 1}));
        // MQA over the latent cache: k = [c | k_pe] (one head), v = c.
        TensorView k = strided_view(lat, 0, {S, 1, W}, {W, W, 1});
        TensorView v = strided_view(lat, 0, {S, 1, r_kv}, {W, W, 1});
        TensorView o_lat = ctx.ws.f32(kOLatent, {T, H, r_kv});  // [T, H, r_kv]
        be.attention(o_lat, qa, k, v, ctx.softmax_scale, P);
        // O_h = o_lat_h · W_UV_hᵀ   (W_UV_h = kvb[h, d_n:, :], [d_v, r_kv])
        be.matmul(strided_view(o, 0, {H, T, d_v}, {d_v, H * d_v, 1}),
                  strided_view(o_lat, 0, {H, T, r_kv}, {r_kv, H * r_kv, 1}),
                  strided_view(kvb, d_n * r_kv, {H, d_v, r_kv}, {d_kv * r_kv, r_kv, 1}), /*w_transposed=*/true);
    }
    be.matmul(out, o.reshape({T, H * d_v}), a.o_proj);
}

void mha_forward(ForwardContext& ctx, const AttentionWeights& a, int64_t layer, const TensorView& x,
                 const TensorView& out) {
    const ModelConfig& c = ctx.cfg;
    Backend& be = ctx.be;
    const int64_t T = ctx.T, P = ctx.P, S = P + T, H = c.num_attention_heads;
    const int64_t d_n = c.qk_nope_head_dim, d_r = c.qk_rope_head_dim, d_v = c.v_head_dim, d_qk = d_n + d_r;
    TensorView q = ctx.ws.f32(kQ, {T, H * d_qk});
    project_q(ctx, a, x, q);
    const TensorView& kc = ctx.cache.keys(layer);    // [cap, H, d_qk]
    const TensorView& vc = ctx.cache.values(layer);  // [cap, H, d_v]
    // New keys and values in F32, then copied into the cache rows P .. S-1 (rounded for a BF16 cache).
    TensorView k_new = ctx.ws.f32(kKFull, {T, H * d_qk});  // [T, H*d_qk]
    TensorView v_new = ctx.ws.f32(kVNew, {T, H * d_v});    // [T, H*d_v]
    be.matmul(k_new, x, a.k_proj);
    be.matmul(v_new, x, a.v_proj);
    be.rope(strided_view(k_new, d_n, {T, H, d_r}, {H * d_qk, d_qk, 1}), ctx.positions, ctx.w.inv_freq,
            ctx.rope_attn_factor);
    be.copy(kc.slice_rows(P, S).reshape({T, H * d_qk}), k_new);
    be.copy(vc.slice_rows(P, S).reshape({T, H * d_v}), v_new);
    TensorView o = ctx.ws.f32(kAttnOut, {T, H, d_v});
    be.attention(o, q.reshape({T, H, d_qk}), kc.slice_rows(0, S), vc.slice_rows(0, S), ctx.softmax_scale, P);
    be.matmul(out, o.reshape({T, H * d_v}), a.o_proj);
}

}  // namespace

void attention_forward(ForwardContext& ctx, int64_t layer, const TensorView& x, const TensorView& out,
                       bool absorbed) {
    const AttentionWeights& a = ctx.w.layers[size_t(layer)].attn;
    if (ctx.cfg.attention_kind == AttentionKind::kMHA)
        mha_forward(ctx, a, layer, x, out);
    else
        mla_forward(ctx, a, layer, x, out, absorbed);
}

}  // namespace engine::model
