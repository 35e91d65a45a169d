// model_weights.cpp — resolve, shape-check and upload every tensor of a DeepSeek-family checkpoint.
#include "model/model_weights.h"

#include <cstring>
#include <string>
#include <vector>

#include "engine/error.h"

namespace engine::model {
namespace {

std::string shape_text(const std::vector<int64_t>& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
}

class Loader {
public:
    Loader(const ModelConfig& c, const WeightStore& s, Backend& b, ModelStats& st)
        : cfg_(c), store_(s), backend_(b), stats_(st) {}

    // The host view of `name`, checked against `shape`: F32/F16/BF16, or F8_E4M3 that the store keeps
    // with its block scales (WeightStore::open(..., Fp8Load::kKeep)); weight() dequantizes those.
    TensorView host(const std::string& name, std::vector<int64_t> shape) const {
        ENGINE_CHECK(store_.has(name), kBadFile, store_.root().string(), ": tensor '", name,
                     "' is missing (expected shape ", shape_text(shape), " for ", cfg_.architecture,
                     "); the checkpoint does not match its config.json");
        TensorView v = store_.get(name);
        bool ok = v.ndim == int(shape.size());
        for (int i = 0; ok && i < v.ndim; ++i) ok = v.shape[size_t(i)] == shape[size_t(i)];
        ENGINE_CHECK(ok, kBadFile, store_.root().string(), ": tensor '", name, "' has shape ", v.shape_str(),
                     ", expected ", shape_text(shape), " from config.json (", cfg_.architecture, ")");
        const bool fp8 = v.dtype == DType::F8_E4M3 && store_.fp8_scale(name).data != nullptr;
        ENGINE_CHECK(fp8 || v.dtype == DType::F32 || v.dtype == DType::F16 || v.dtype == DType::BF16, kUnsupported,
                     store_.root().string(), ": tensor '", name, "' has dtype ", dtype_name(v.dtype),
                     "; weights must be F32, F16 or BF16 (F8_E4M3 needs its '", name, "_scale_inv' block scales)");
        return v;
    }

    // A weight in its stored dtype on the backend (F8_E4M3: BF16). `routed`: a routed-expert parameter.
    Tensor weight(const std::string& name, std::vector<int64_t> shape, bool routed = false) {
        TensorView v = host(name, std::move(shape));
        count(v, routed);
        if (v.dtype == DType::F8_E4M3) return dequantized(name, v);
        return backend_.upload_weight(v);
    }

    // An F8_E4M3 weight as BF16 made by the backend: the FP8 bytes and scales go to the device as they are
    // (on the CPU: aliases), then Backend::dequantize_fp8 writes the BF16 copy next to them.
    Tensor dequantized(const std::string& name, const TensorView& fp8) {
        const Tensor q = backend_.upload_weight(fp8);
        const Tensor scale = backend_.upload_weight(store_.fp8_scale(name));
        Tensor out = backend_.alloc(DType::BF16, fp8.shape.data(), fp8.ndim);
        backend_.dequantize_fp8(out.view(), q.view(), scale.view());
        return out;
    }

    // A weight whose rope rows are in the rotate_half order (rope_interleave == false): rows
    // [row0 + j] and [row0 + d_r/2 + j] move to [row0 + 2j] and [row0 + 2j + 1] so the adjacent-pair
    // RoPE of the backend sees them as pairs. q and k get the same permutation, so dot products are
    // unchanged; only the order of the cached k_pe differs. `rope_rows`: first row of each head's rope part.
    Tensor weight_permuted(const std::string& name, std::vector<int64_t> shape,
                           const std::vector<int64_t>& rope_rows) {
        TensorView v = host(name, std::move(shape));
        count(v, false);
        Tensor bf16;  // F8_E4M3: the dequantized weight is the source of the permuted copy
        if (v.dtype == DType::F8_E4M3) {
            bf16 = dequantized(name, v);
            v = bf16.view();
        }
        Tensor dev = backend_.alloc(v.dtype, v.shape.data(), v.ndim);
        backend_.copy(dev.view(), v);
        const int64_t half = cfg_.qk_rope_head_dim / 2, cols = v.shape[1];
        for (int64_t r0 : rope_rows) {
            // dst rows r0, r0+2, ... <- src rows r0 .. r0+half-1; dst rows r0+1, r0+3, ... <- src r0+half ..
            for (int part = 0; part < 2; ++part) {
                TensorView src = v.slice_rows(r0 + part * half, r0 + (part + 1) * half);
                TensorView dst = dev.view().slice_rows(r0 + part, r0 + part + 2 * half - 1);
                dst.shape[0] = half;
                dst.stride[0] = 2 * cols;
                backend_.copy(dst, src);
            }
        }
        return dev;
    }

    // W_UK_hᵀ for every head: [H, r_kv, d_n] from kv_b_proj [H*(d_n+d_v), r_kv] as loaded, same dtype.
    // On the host (the CPU backend's weights are host views) a byte-wise transpose into `owner`, then
    // aliased; on a device one strided device copy. Derived: not counted as parameters.
    Tensor transposed_uk(const TensorView& kvb, std::vector<std::vector<uint8_t>>& owner) {
        const int64_t H = cfg_.num_attention_heads, d_n = cfg_.qk_nope_head_dim, r_kv = cfg_.kv_lora_rank;
        const int64_t rows_per_head = d_n + cfg_.v_head_dim;
        if (kvb.device != Device::CPU) {
            TensorView src = kvb;  // [H, r_kv, d_n] read through kv_b_proj's [H, d_n (+d_v), r_kv] layout
            src.ndim = 3;
            src.shape = {H, r_kv, d_n, 0};
            src.stride = {rows_per_head * r_kv, 1, r_kv, 0};
            Tensor t = backend_.alloc(kvb.dtype, {H, r_kv, d_n});
            backend_.copy(t.view(), src);
            return t;
        }
        const size_t esz = dtype_size(kvb.dtype);
        std::vector<uint8_t>& buf = owner.emplace_back(size_t(H * r_kv * d_n) * esz);
        const auto* src = static_cast<const uint8_t*>(kvb.data);
        for (int64_t h = 0; h < H; ++h)
            for (int64_t i = 0; i < d_n; ++i)
                for (int64_t j = 0; j < r_kv; ++j)
                    std::memcpy(buf.data() + size_t((h * r_kv + j) * d_n + i) * esz,
                                src + size_t((h * rows_per_head + i) * r_kv + j) * esz, esz);
        return backend_.upload_weight(TensorView::contiguous(buf.data(), kvb.dtype, {H, r_kv, d_n}));
    }

    // A device F32 copy (e_score_correction_bias, hc base/scale: those ops want F32).
    Tensor device_f32(const std::string& name, std::vector<int64_t> shape) {
        TensorView v = host(name, std::move(shape));
        count(v, false);
        Tensor dev = backend_.alloc(DType::F32, v.shape.data(), v.ndim);
        backend_.copy(dev.view(), v);
        return dev;
    }

    MlpWeights mlp(const std::string& prefix, int64_t width, bool routed) {
        const int64_t D = cfg_.hidden_size;
        MlpWeights m;
        m.width = width;
        m.gate = weight(prefix + "gate_proj.weight", {width, D}, routed);
        m.up = weight(prefix + "up_proj.weight", {width, D}, routed);
        m.down = weight(prefix + "down_proj.weight", {D, width}, routed);
        return m;
    }

    HcWeights hc(const std::string& prefix, int64_t rows, int64_t n_scale) {
        const int64_t n = cfg_.hc_mult, D = cfg_.hidden_size;
        HcWeights h;
        h.fn = weight(prefix + "fn", {rows, n * D});
        h.base = device_f32(prefix + "base", {rows});
        h.scale = device_f32(prefix + "scale", {n_scale});
        return h;
    }

    int64_t routed_params = 0;

private:
    void count(const TensorView& v, bool routed) {
        stats_.total_params += v.numel();
        stats_.weight_bytes += v.numel() * loaded_dtype_size(v.dtype);
        if (routed) routed_params += v.numel();
    }

    const ModelConfig& cfg_;
    const WeightStore& store_;
    Backend& backend_;
    ModelStats& stats_;
};

}  // namespace

ModelWeights load_model_weights(const ModelConfig& c, const WeightStore& store, Backend& backend,
                                const ProgressFn& progress, ModelStats& stats) {
    stats = ModelStats{};
    Loader ld(c, store, backend, stats);
    ModelWeights w;
    const int64_t D = c.hidden_size, V = c.vocab_size, H = c.num_attention_heads;
    const int64_t d_n = c.qk_nope_head_dim, d_r = c.qk_rope_head_dim, d_v = c.v_head_dim;
    const int64_t d_qk = c.qk_head_dim(), r_kv = c.kv_lora_rank, r_q = c.q_lora_rank;
    const bool hc = c.residual_kind != ResidualKind::kResidual;
    const bool mha = c.attention_kind == AttentionKind::kMHA;
    const int64_t n = c.hc_mult;

    w.embed = ld.weight("model.embed_tokens.weight", {V, D});
    w.final_norm = ld.weight("model.norm.weight", {D});
    w.tied = c.tie_word_embeddings && !store.has("lm_head.weight");
    if (!w.tied) w.lm_head = ld.weight("lm_head.weight", {V, D});
    if (hc) w.hc_head = ld.hc("model.hc_head.", n, 1);
    std::vector<float> inv = c.rope_inv_freq();
    w.inv_freq = backend.alloc(DType::F32, {int64_t(inv.size())});
    backend.copy(w.inv_freq.view(), TensorView::contiguous(inv.data(), DType::F32, {int64_t(inv.size())}));

    std::vector<int64_t> q_rope_rows;  // rope rows of each head in q / k projections
    for (int64_t h = 0; h < H; ++h) q_rope_rows.push_back(h * d_qk + d_n);
    const bool permute = !c.rope_interleave;

    const int64_t L = c.num_hidden_layers;  // layers >= L (MTP) are never looked up
    w.layers.resize(size_t(L));
    for (int64_t l = 0; l < L; ++l) {
        if (progress && !progress(double(l) / double(L), "loading layer " + std::to_string(l)))
            ENGINE_THROW(kCancelled, "model load cancelled at layer ", l);
        const std::string p = "model.layers." + std::to_string(l) + ".";
        LayerWeights& lw = w.layers[size_t(l)];
        lw.input_norm = ld.weight(p + "input_layernorm.weight", {D});
        lw.post_norm = ld.weight(p + "post_attention_layernorm.weight", {D});
        AttentionWeights& a = lw.attn;
        const std::string s = p + "self_attn.";
        auto qk_weight = [&](const std::string& name, std::vector<int64_t> shape) {
            return permute ? ld.weight_permuted(name, std::move(shape), q_rope_rows)
                           : ld.weight(name, std::move(shape));
        };
        if (mha) {
            a.q_proj = qk_weight(s + "q_proj.weight", {H * d_qk, D});
            a.k_proj = qk_weight(s + "k_proj.weight", {H * d_qk, D});
            a.v_proj = ld.weight(s + "v_proj.weight", {H * d_v, D});
        } else {
            if (r_q == 0) {
                a.q_proj = qk_weight(s + "q_proj.weight", {H * d_qk, D});
            } else {
                a.q_a_proj = ld.weight(s + "q_a_proj.weight", {r_q, D});
                a.q_a_norm = ld.weight(s + "q_a_layernorm.weight", {r_q});
                a.q_b_proj = qk_weight(s + "q_b_proj.weight", {H * d_qk, r_q});
            }
            a.kv_a_proj = permute ? ld.weight_permuted(s + "kv_a_proj_with_mqa.weight", {r_kv + d_r, D}, {r_kv})
                                  : ld.weight(s + "kv_a_proj_with_mqa.weight", {r_kv + d_r, D});
            a.kv_a_norm = ld.weight(s + "kv_a_layernorm.weight", {r_kv});
            a.kv_b_proj = ld.weight(s + "kv_b_proj.weight", {H * (d_n + d_v), r_kv});
            a.w_uk_t = ld.transposed_uk(a.kv_b_proj.view(), w.host_buffers);
        }
        a.o_proj = ld.weight(s + "o_proj.weight", {D, H * d_v});

        lw.is_moe = c.is_moe_layer(l);
        const std::string m = p + "mlp.";
        if (lw.is_moe) {
            const int64_t E = c.n_routed_experts, I = c.moe_intermediate_size;
            lw.moe.router = ld.weight(m + "gate.weight", {E, D});
            if (c.topk_method == "noaux_tc" || store.has(m + "gate.e_score_correction_bias"))
                lw.moe.bias = ld.device_f32(m + "gate.e_score_correction_bias", {E});
            lw.moe.experts.reserve(size_t(E));
            for (int64_t e = 0; e < E; ++e)
                lw.moe.experts.push_back(ld.mlp(m + "experts." + std::to_string(e) + ".", I, true));
            if (c.n_shared_experts > 0) lw.moe.shared = ld.mlp(m + "shared_experts.", c.n_shared_experts * I, false);
            for (const MlpWeights& ew : lw.moe.experts)
                lw.moe.routed_table.push_back({ew.gate.view(), ew.up.view(), ew.down.view(), 1.0f});
            if (lw.moe.shared.width > 0)
                lw.moe.shared_table.push_back(
                    {lw.moe.shared.gate.view(), lw.moe.shared.up.view(), lw.moe.shared.down.view(), 1.0f});
        } else {
            lw.mlp = ld.mlp(m, c.intermediate_size, false);
        }
        if (hc) {
            lw.attn_hc = ld.hc(p + "attn_hc.", n * n + 2 * n, 3);
            lw.ffn_hc = ld.hc(p + "ffn_hc.", n * n + 2 * n, 3);
        }
    }
    if (progress && !progress(1.0, "loaded")) ENGINE_THROW(kCancelled, "model load cancelled");

    // Active parameters: everything except the routed experts a token does not use.
    const int64_t E = c.n_routed_experts, K = c.num_experts_per_tok;
    stats.active_params = stats.total_params - (E > 0 ? ld.routed_params / E * (E - K) : 0);
    const int64_t elem = int64_t(sizeof(float));  // our caches are F32
    stats.kv_bytes_per_token = mha ? L * H * (d_qk + d_v) * elem : L * (r_kv + d_r) * elem;
    stats.mha_kv_bytes_per_token = L * 2 * H * d_v * elem;
    return w;
}

}  // namespace engine::model
