// ffn.cpp — the FFN sublayer: dense SwiGLU, or DeepSeekMoE (router in F32 → backend.moe_route → tokens
// grouped per expert on the host → backend.moe_experts: every routed expert's SwiGLU on its rows, added
// with the combine weights) plus the shared experts (deepseek-arch.md §3). One token (decode): routing
// and experts stay on the device, backend.moe_decode runs the routed and shared experts in one call.
#include <algorithm>

#include "engine/error.h"
#include "model/forward_context.h"

namespace engine::model {
namespace {

// out [n, D] = down(silu(x·gateᵀ) ⊙ x·upᵀ)
void swiglu(ForwardContext& ctx, const MlpWeights& m, const TensorView& x, const TensorView& out) {
    const int64_t n = x.rows();
    TensorView g = ctx.ws.f32(kMlpGate, {n, m.width});  // [n, I]
    TensorView u = ctx.ws.f32(kMlpUp, {n, m.width});    // [n, I]
    TensorView act = ctx.ws.f32(kMlpAct, {n, m.width});
    ctx.be.matmul(g, x, m.gate);
    ctx.be.matmul(u, x, m.up);
    ctx.be.silu_mul(act, g, u);
    ctx.be.matmul(out, act, m.down);
}

void moe(ForwardContext& ctx, int64_t layer, const MoeWeights& m, const TensorView& x, const TensorView& out) {
    Backend& be = ctx.be;
    Scratch& ws = ctx.ws;
    const int64_t T = ctx.T, D = ctx.cfg.hidden_size;
    const int64_t E = ctx.router.n_routed_experts, K = ctx.router.top_k;

    TensorView logits = ws.f32(kRouterLogits, {T, E});  // [T, E], F32 like HF's router
    be.matmul(logits, x, m.router);
    if (T == 1) {
        // Decode: the routing stays on the device (no host round trip, so the step can be captured as one
        // CUDA Graph). The ids go to row `layer` of the step's [L, K] id table, which forward() reads back
        // once per step for the expert-load telemetry.
        TensorView idx = ws.i32(kDecodeRouteIds, {ctx.cfg.num_hidden_layers, K}).slice_rows(layer, layer + 1);
        TensorView wts = ws.f32(kRouteWeights, {1, K});
        be.moe_route(idx, wts, logits, m.bias.empty() ? ctx.w.empty_bias.view() : m.bias.view(), ctx.router);
        TensorView work = ws.f32(kMoeWork, {Backend::moe_decode_work(K, ctx.cfg.moe_intermediate_size,
                                                                     m.shared_table.data(),
                                                                     int64_t(m.shared_table.size()), D)});
        be.moe_decode(out, x, idx, wts, m.routed_table.data(), E, m.shared_table.data(),
                      int64_t(m.shared_table.size()), work);
        return;
    }
    TensorView idx = ws.i32(kRouteIdx, {T, K});          // [T, K]
    TensorView wts = ws.f32(kRouteWeights, {T, K});      // [T, K]
    be.moe_route(idx, wts, logits, m.bias.empty() ? ctx.w.empty_bias.view() : m.bias.view(), ctx.router);

    // Host bookkeeping: counting sort of the T·K (token, weight) pairs by expert.
    const size_t TK = size_t(T * K);
    ws.host_route_idx.resize(TK);
    ws.host_route_w.resize(TK);
    be.copy(TensorView::contiguous(ws.host_route_idx.data(), DType::I32, {T, K}), idx);
    be.copy(TensorView::contiguous(ws.host_route_w.data(), DType::F32, {T, K}), wts);
    ws.host_counts.assign(size_t(E), 0);
    for (int32_t e : ws.host_route_idx) {
        ENGINE_CHECK(e >= 0 && e < E, kInternal, "moe_route returned expert ", e, " outside [0, ", E, ")");
        ++ws.host_counts[size_t(e)];
    }
    ws.host_offsets.assign(size_t(E) + 1, 0);
    for (int64_t e = 0; e < E; ++e) ws.host_offsets[size_t(e) + 1] = ws.host_offsets[size_t(e)] + ws.host_counts[size_t(e)];
    ws.host_rows.resize(TK);
    ws.host_scale.resize(TK);
    {
        std::vector<int64_t>& fill = ws.host_counts;  // reused as a write cursor
        for (int64_t e = 0; e < E; ++e) fill[size_t(e)] = ws.host_offsets[size_t(e)];
        for (size_t i = 0; i < TK; ++i) {
            const size_t e = size_t(ws.host_route_idx[i]);
            const int64_t at = fill[e]++;
            ws.host_rows[size_t(at)] = int32_t(i / size_t(K));
            ws.host_scale[size_t(at)] = ws.host_route_w[i];
        }
    }
    TensorView rows = ws.i32(kMoeRows, {int64_t(TK)});
    TensorView scale = ws.f32(kMoeScale, {int64_t(TK)});
    be.copy(rows, TensorView::contiguous(ws.host_rows.data(), DType::I32, {int64_t(TK)}));
    be.copy(scale, TensorView::contiguous(ws.host_scale.data(), DType::F32, {int64_t(TK)}));

    be.fill(out, 0.0f);
    int64_t max_rows = 0, i_max = 0;
    for (int64_t e = 0; e < E; ++e) {
        const int64_t cnt = ws.host_offsets[size_t(e) + 1] - ws.host_offsets[size_t(e)];
        if (cnt > 0 && ctx.expert_load) ctx.expert_load->add(layer, e, cnt);
        max_rows = std::max(max_rows, cnt);
        i_max = std::max(i_max, m.experts[size_t(e)].width);
    }
    // All routed experts in one backend call (the CPU runs them one expert per thread).
    TensorView work = ws.f32(kMoeWork, {be.moe_experts_work(int64_t(TK), max_rows, D, i_max)});
    be.moe_experts(out, x, m.routed_table.data(), ws.host_offsets.data(), E, rows, scale, work);
    if (m.shared.width > 0) {
        TensorView sh = ws.f32(kSharedOut, {T, D});
        swiglu(ctx, m.shared, x, sh);
        be.add(out, out, sh);
    }
}

}  // namespace

void ffn_forward(ForwardContext& ctx, int64_t layer, const TensorView& x, const TensorView& out) {
    const LayerWeights& lw = ctx.w.layers[size_t(layer)];
    if (lw.is_moe)
        moe(ctx, layer, lw.moe, x, out);
    else
        swiglu(ctx, lw.mlp, x, out);
}

}  // namespace engine::model
