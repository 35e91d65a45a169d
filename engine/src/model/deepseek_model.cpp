// deepseek_model.cpp — Model for DeepseekV2/V3ForCausalLM, Glm4MoeLiteForCausalLM and our
// LatentForCausalLM (mHC / HC / plain residual; MLA / MHA): loading, the layer loop, the head.
//
// The forward is written once against engine::Backend; attention.cpp, ffn.cpp and
// hyper_connections.cpp hold the sublayers. Scratch buffers live in the KV cache, so a decode step
// reuses them (no allocation proportional to the model once warmed up).
//
// Glm4MoeLite (transformers glm4_moe_lite): attention is DeepseekV3Attention, the MoE is the V3 one
// (sigmoid + e_score_correction_bias, top-2 group sums, norm_topk_prob, × routed_scaling_factor, the
// router ignores any topk_method/scoring_func field; so does DeepseekV3ForCausalLM), decoder layers are pre-norm like DeepSeek, RoPE
// covers qk_rope_head_dim with rope_interleave. We therefore run it as V3 and force noaux_tc + sigmoid.
// A partial_rotary_factor other than 1 or mlp_layer_types that are not "dense first, then sparse" are
// what the config parser must reject (config.cpp).
#include <algorithm>
#include <utility>

#include "engine/error.h"
#include "engine/model.h"
#include "model/forward_context.h"
#include "model/hyper_connections.h"
#include "model/kv_cache.h"
#include "model/model_weights.h"

namespace engine {

namespace {

// kAuto's choice between the MLA paths, by multiply-adds per head for T new tokens after P cached ones
// (deepseek-arch.md §2). Explicit: rebuild k_nope/v of all S = P + T tokens from the latents
// (S·(d_n + d_v)·r_kv) and attend over d_qk + d_v. Absorbed: project each query into the latent space and
// back (T·(d_n + d_v)·r_kv) and attend over 2·r_kv + d_r. A chat turn that adds a few tokens to a long
// cached prefix is much cheaper absorbed; a first long prefill is cheaper explicit.
bool prefer_absorbed(const ModelConfig& c, int64_t P, int64_t T) {
    if (c.attention_kind != AttentionKind::kMLA) return false;
    if (T == 1) return true;
    const double S = double(P + T), avg_keys = double(P) + double(T) / 2.0;
    const double r = double(c.kv_lora_rank), dn = double(c.qk_nope_head_dim), dr = double(c.qk_rope_head_dim),
                 dv = double(c.v_head_dim);
    const double explicit_cost = S * (dn + dv) * r + double(T) * avg_keys * (dn + dr + dv);
    const double absorbed_cost = double(T) * (dn + dv) * r + double(T) * avg_keys * (2.0 * r + dr);
    return absorbed_cost < explicit_cost;
}

}  // namespace

namespace {

using model::DeepseekKvCache;
using model::ForwardContext;
using model::ModelWeights;

const char* const kArchitectures[] = {"DeepseekV2ForCausalLM", "DeepseekV3ForCausalLM", "Glm4MoeLiteForCausalLM",
                                      "LatentForCausalLM"};

ModelConfig effective_config(ModelConfig c) {
    bool known = false;
    for (const char* a : kArchitectures) known = known || c.architecture == a;
    ENGINE_CHECK(known, kUnsupported, "config.json: architecture '", c.architecture,
                 "' is not supported; expected DeepseekV2ForCausalLM, DeepseekV3ForCausalLM, "
                 "Glm4MoeLiteForCausalLM or LatentForCausalLM");
    ENGINE_CHECK(!c.attention_bias, kUnsupported, "config.json: attention_bias = true is not supported");
    ENGINE_CHECK(c.hidden_act == "silu", kUnsupported, "config.json: hidden_act '", c.hidden_act,
                 "' is not supported (expected \"silu\")");
    if (c.architecture != "LatentForCausalLM") {
        ENGINE_CHECK(c.residual_kind == ResidualKind::kResidual && c.attention_kind == AttentionKind::kMLA,
                     kBadFile, "config.json: residual_kind / attention_kind are only valid for LatentForCausalLM");
    }
    if (c.architecture == "Glm4MoeLiteForCausalLM" || c.architecture == "DeepseekV3ForCausalLM") {
        // Both HF-native routers (and V3's remote code, which raises for anything else) only do sigmoid +
        // noaux_tc; HF-native configs do not even carry topk_method / scoring_func.
        c.topk_method = "noaux_tc";
        c.scoring_func = "sigmoid";
    }
    if (c.residual_kind != ResidualKind::kResidual)
        ENGINE_CHECK(c.hc_mult >= 1 && c.hc_mult <= 16, kBadFile, "config.json: hc_mult must be in [1, 16], got ",
                     c.hc_mult);
    ENGINE_CHECK(c.num_hidden_layers > 0 && c.hidden_size > 0 && c.num_attention_heads > 0 && c.vocab_size > 0,
                 kBadFile, "config.json: num_hidden_layers, hidden_size, num_attention_heads and vocab_size must "
                 "be positive");
    ENGINE_CHECK(c.attention_kind == AttentionKind::kMHA || c.kv_lora_rank > 0, kBadFile,
                 "config.json: kv_lora_rank must be positive for MLA, got ", c.kv_lora_rank);
    return c;
}

class DeepseekModel final : public Model {
public:
    DeepseekModel(ModelConfig config, std::unique_ptr<WeightStore> store, Backend& backend,
                  const ProgressFn& progress)
        : config_(effective_config(std::move(config))), store_(std::move(store)), backend_(backend) {
        ENGINE_CHECK(store_ != nullptr, kInvalidArgument, "Model::from_store: no weight store");
        weights_ = model::load_model_weights(config_, *store_, backend_, progress, stats_);
        softmax_scale_ = float(config_.softmax_scale());
        rope_attn_factor_ = config_.rope_attention_factor();
        if (config_.n_routed_experts > 0) router_ = config_.router_params();
    }

    const ModelConfig& config() const override { return config_; }
    Backend& backend() const override { return backend_; }
    ModelStats stats() const override { return stats_; }

    using Model::new_cache;
    std::unique_ptr<KvCache> new_cache(int64_t capacity_tokens, DType dtype) const override {
        return std::make_unique<DeepseekKvCache>(config_, backend_, capacity_tokens, dtype, this);
    }

    void forward(KvCache& cache_base, std::span<const int32_t> tokens, const ForwardOptions& options,
                 std::vector<float>& logits) const override;

private:
    ModelConfig config_;
    std::unique_ptr<WeightStore> store_;
    Backend& backend_;
    ModelWeights weights_;
    ModelStats stats_;
    float softmax_scale_ = 1.0f, rope_attn_factor_ = 1.0f;
    RouterParams router_;
};

void DeepseekModel::forward(KvCache& cache_base, std::span<const int32_t> tokens, const ForwardOptions& options,
                            std::vector<float>& logits) const {
    auto* cache = dynamic_cast<DeepseekKvCache*>(&cache_base);
    ENGINE_CHECK(cache != nullptr && cache->owner() == this, kInvalidArgument,
                 "Model::forward: the KV cache was not created by this model's new_cache()");
    const int64_t T = int64_t(tokens.size());
    ENGINE_CHECK(T > 0, kInvalidArgument, "Model::forward: no tokens");
    const int64_t P = cache->size(), V = config_.vocab_size, D = config_.hidden_size;
    if (P + T > cache->capacity())
        ENGINE_THROW(kContextFull, "context full: ", P, " cached + ", T, " new tokens exceed the context of ",
                     cache->capacity(), " tokens; start a new session or raise the context size");
    for (int32_t id : tokens)
        ENGINE_CHECK(id >= 0 && id < V, kInvalidArgument, "Model::forward: token id ", id, " outside [0, ", V, ")");

    model::Scratch& ws = cache->scratch();
    Backend& be = backend_;
    ForwardContext ctx{config_, weights_, be, ws, *cache};
    ctx.T = T;
    ctx.P = P;
    ctx.softmax_scale = softmax_scale_;
    ctx.rope_attn_factor = rope_attn_factor_;
    ctx.router = router_;
    ctx.expert_load = options.expert_load;
    if (ctx.expert_load) {
        ExpertLoad& el = *ctx.expert_load;
        const int64_t L = config_.num_hidden_layers, E = config_.n_routed_experts;
        if (el.n_layers != L || el.n_experts != E) {
            el.reset(L, E);
            for (int64_t l = 0; l < L; ++l)
                if (!weights_.layers[size_t(l)].is_moe) {  // dense layers have an empty row (telemetry.h)
                    el.last_step[size_t(l)].clear();
                    el.cumulative[size_t(l)].clear();
                }
        }
        el.begin_step();
    }

    // Token ids and positions to the device.
    ws.host_ids.assign(tokens.begin(), tokens.end());
    TensorView ids = ws.i32(model::kIds, {T});
    be.copy(ids, TensorView::contiguous(ws.host_ids.data(), DType::I32, {T}));
    ws.host_rows.resize(size_t(T));
    for (int64_t t = 0; t < T; ++t) ws.host_rows[size_t(t)] = int32_t(P + t);
    ctx.positions = ws.i32(model::kPositions, {T});
    be.copy(ctx.positions, TensorView::contiguous(ws.host_rows.data(), DType::I32, {T}));

    const bool absorbed = options.attention == AttentionPath::kAbsorbed ||
                          (options.attention == AttentionPath::kAuto && prefer_absorbed(config_, P, T));
    const bool streams = config_.residual_kind != ResidualKind::kResidual;
    const int64_t n = config_.hc_mult;
    const float eps = float(config_.rms_norm_eps);

    TensorView h = ws.f32(model::kHidden, {T, D});       // [T, D] residual (or the embedding for streams)
    be.embedding(h, weights_.embed, ids);                // checks the ids on the device: before any capture
    const int64_t R = options.all_logits ? T : 1, r0 = T - R;  // logits rows the caller wants
    TensorView lg = ws.f32(model::kLogits, {R, V});

    // Layers and head: on backends that capture (CUDA Graphs), a one-token step is recorded and replayed
    // as one graph. Whatever cannot be captured (scratch growing on the first steps, a new expert table)
    // throws inside the capture; the step then runs op by op, which does that growth for the next one.
    auto layers_and_head = [&] {
        TensorView x = ws.f32(model::kNormed, {T, D});       // [T, D] sublayer input after its RMSNorm
        TensorView y = ws.f32(model::kSublayerOut, {T, D});  // [T, D] sublayer output
        TensorView X, Xn;  // [T, n, D] stream states (mHC / HC)
        if (streams) {
            X = ws.f32(model::kStreamsA, {T, n, D});
            Xn = ws.f32(model::kStreamsB, {T, n, D});
            for (int64_t i = 0; i < n; ++i) be.copy(model::strided_view(X, i * D, {T, D}, {n * D, 1}), h);
        }
        TensorView u = streams ? ws.f32(model::kHcU, {T, D}) : h;  // what the sublayer's norm reads
        for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
            const model::LayerWeights& lw = weights_.layers[size_t(l)];
            for (int s = 0; s < 2; ++s) {
                const model::HcWeights& hw = s == 0 ? lw.attn_hc : lw.ffn_hc;
                if (streams) model::hc_pre(ctx, hw, X, u);
                be.rmsnorm(x, u, s == 0 ? lw.input_norm : lw.post_norm, eps);
                if (s == 0)
                    model::attention_forward(ctx, l, x, y, absorbed);
                else
                    model::ffn_forward(ctx, l, x, y);
                if (streams) {
                    model::hc_apply(ctx, X, y, Xn);
                    std::swap(X, Xn);
                } else {
                    be.add(h, h, y);
                }
            }
        }
        TensorView hf = ws.f32(model::kHcOut, {R, D});
        if (streams)
            model::hc_collapse(ctx, X.slice_rows(r0, T), hf);
        else
            be.copy(hf, h.slice_rows(r0, T));
        TensorView hn = ws.f32(model::kFinalNormed, {R, D});
        be.rmsnorm(hn, hf, weights_.final_norm, eps);
        be.matmul(lg, hn, weights_.lm_head_view());
    };
    bool ran = false;
    if (T == 1 && options.capture_decode && be.begin_capture(cache)) {
        try {
            layers_and_head();
            be.end_capture();
            ran = true;
        } catch (const Error&) {
            be.abort_capture();  // then op by op below; a genuine error throws again there
        } catch (...) {
            be.abort_capture();  // never leave the backend recording
            throw;
        }
    }
    if (!ran) layers_and_head();
    logits.resize(size_t(R * V));
    be.copy(TensorView::contiguous(logits.data(), DType::F32, {R, V}), lg);
    if (T == 1 && ctx.expert_load && config_.n_routed_experts > 0) {
        // Decode kept the routing on the device (ffn.cpp): one read-back of the step's [L, K] ids.
        const int64_t L = config_.num_hidden_layers, K = router_.top_k;
        ws.host_route_idx.resize(size_t(L * K));
        be.copy(TensorView::contiguous(ws.host_route_idx.data(), DType::I32, {L, K}), ws.i32(model::kDecodeRouteIds, {L, K}));
        for (int64_t l = 0; l < L; ++l) {
            if (!weights_.layers[size_t(l)].is_moe) continue;
            for (int64_t k = 0; k < K; ++k) {
                const int32_t e = ws.host_route_idx[size_t(l * K + k)];
                ENGINE_CHECK(e >= 0 && e < config_.n_routed_experts, kInternal, "layer ", l, ": moe_route returned expert ",
                             e, " outside [0, ", config_.n_routed_experts, ")");
                ctx.expert_load->add(l, e, 1);
            }
        }
    }
    cache->advance(T);
}

}  // namespace

std::unique_ptr<Model> Model::from_store(ModelConfig config, std::unique_ptr<WeightStore> store, Backend& backend,
                                         const ProgressFn& progress) {
    return std::make_unique<DeepseekModel>(std::move(config), std::move(store), backend, progress);
}

std::unique_ptr<Model> Model::load(const std::filesystem::path& dir, Backend& backend, const ProgressFn& progress) {
    const std::filesystem::path config_path = std::filesystem::is_directory(dir) ? dir / "config.json" : dir;
    ENGINE_CHECK(std::filesystem::exists(config_path), kIo, dir.string(),
                 ": no config.json found; point at a Hugging Face model folder");
    ModelConfig config = ModelConfig::from_file(config_path);
    // FP8 weights stay FP8 in the mapping; the backend dequantizes each where it will live.
    std::unique_ptr<WeightStore> store = WeightStore::open(config_path.parent_path(), Fp8Load::kKeep);
    return from_store(std::move(config), std::move(store), backend, progress);
}

}  // namespace engine
