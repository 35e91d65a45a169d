// train_model.cpp — TrainModel's parameters: the registry (HF / our family's tensor names, shapes as
// inference loads them), seeded init, load from a WeightStore, save as safetensors + config.json.
#include <cmath>
#include <random>

#include "engine/error.h"
#include "engine/train/train_model.h"
#include "cpu/cpu_backend.h"
#include "train/train_model_impl.h"

namespace engine {

using train::HcP;
using train::MlpP;
using train::P;

namespace {

struct Registry {
    Backend& be;
    std::vector<TrainParam>& params;
    std::map<std::string, size_t>& index;
    bool frozen = false;  // LoRA: every base parameter is frozen (no gradient buffer)
    P add(const std::string& name, std::initializer_list<int64_t> shape, bool trainable = true, bool decay = true) {
        if (frozen) trainable = false;
        TrainParam p;
        p.name = name;
        p.value = be.alloc(DType::F32, shape);
        if (trainable) p.grad = be.alloc(DType::F32, shape);
        p.trainable = trainable;
        p.weight_decay = decay;
        index[name] = params.size();
        params.push_back(std::move(p));
        return P{};  // resolved after all params exist (vector may reallocate)
    }
};

}  // namespace

TrainModel::TrainModel(ModelConfig config, Backend& backend, LoraOptions lora)
    : cfg_(std::move(config)), be_(backend), lora_(std::move(lora)), impl_(std::make_unique<Impl>()) {
    cfg_.validate("TrainModel config");
    // Inference permutes q/k rope rows on load when rope_interleave is false; training keeps stored rows.
    ENGINE_CHECK(cfg_.rope_interleave, kUnsupported, "training a checkpoint with rope_interleave = false is not "
                 "supported (its rope rows are pre-permuted); convert it to the interleaved layout first");
    const ModelConfig& c = cfg_;
    const int64_t D = c.hidden_size, V = c.vocab_size, H = c.num_attention_heads;
    const int64_t d_n = c.qk_nope_head_dim, d_r = c.qk_rope_head_dim, d_v = c.v_head_dim, d_qk = d_n + d_r;
    const int64_t r_kv = c.kv_lora_rank, r_q = c.q_lora_rank;
    Impl& im = *impl_;
    im.hc = c.residual_kind != ResidualKind::kResidual;
    const int64_t n = im.hc ? c.hc_mult : 1;
    im.hc_opts.kind = c.residual_kind == ResidualKind::kHC ? mhc::Kind::kHC : mhc::Kind::kMHC;
    im.hc_opts.n = int(n);
    im.hc_opts.sinkhorn_iters = int(c.hc_sinkhorn_iters);
    im.hc_opts.eps = c.hc_eps;
    im.hc_opts.rms_eps = c.rms_norm_eps;
    im.hc_opts.paper_form = c.hc_paper_form;
    if (const auto* cpu = dynamic_cast<const CpuBackend*>(&be_)) im.hc_opts.threads = cpu->threads();
    if (im.hc) {
        HcParams& hp = im.hc_par;
        hp.kind = c.residual_kind == ResidualKind::kHC ? HcParams::Kind::kHC : HcParams::Kind::kMHC;
        hp.n = int(n);
        hp.sinkhorn_iters = int(c.hc_sinkhorn_iters);
        hp.eps = float(c.hc_eps);
        hp.paper_form = c.hc_paper_form;
        im.hc_head_par = hp;
        im.hc_head_par.kind = HcParams::Kind::kHead;
    }
    im.inv_freq = c.rope_inv_freq();
    im.inv_freq_dev = be_.alloc(DType::F32, {int64_t(im.inv_freq.size())});
    be_.copy(im.inv_freq_dev.view(),
             TensorView::contiguous(im.inv_freq.data(), DType::F32, {int64_t(im.inv_freq.size())}));
    im.softmax_scale = float(c.softmax_scale());
    im.rope_factor = c.rope_attention_factor();
    im.router = c.router_params();

    ENGINE_CHECK(lora_.rank >= 0 && lora_.alpha > 0 && lora_.dropout >= 0 && lora_.dropout < 1, kInvalidArgument,
                 "LoRA options: need rank >= 0, alpha > 0 and 0 <= dropout < 1 (got rank ", lora_.rank, ", alpha ",
                 lora_.alpha, ", dropout ", lora_.dropout, ")");
    Registry r{be_, params_, index_};
    r.frozen = lora_.enabled();
    r.add("model.embed_tokens.weight", {V, D});
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        const std::string s = p + "self_attn.";
        r.add(p + "input_layernorm.weight", {D}, true, false);
        r.add(p + "post_attention_layernorm.weight", {D}, true, false);
        if (c.attention_kind == AttentionKind::kMHA) {
            r.add(s + "q_proj.weight", {H * d_qk, D});
            r.add(s + "k_proj.weight", {H * d_qk, D});
            r.add(s + "v_proj.weight", {H * d_v, D});
        } else {
            if (r_q == 0) {
                r.add(s + "q_proj.weight", {H * d_qk, D});
            } else {
                r.add(s + "q_a_proj.weight", {r_q, D});
                r.add(s + "q_a_layernorm.weight", {r_q}, true, false);
                r.add(s + "q_b_proj.weight", {H * d_qk, r_q});
            }
            r.add(s + "kv_a_proj_with_mqa.weight", {r_kv + d_r, D});
            r.add(s + "kv_a_layernorm.weight", {r_kv}, true, false);
            r.add(s + "kv_b_proj.weight", {H * (d_n + d_v), r_kv});
        }
        r.add(s + "o_proj.weight", {D, H * d_v});
        const std::string m = p + "mlp.";
        auto mlp = [&](const std::string& pre, int64_t width) {
            r.add(pre + "gate_proj.weight", {width, D});
            r.add(pre + "up_proj.weight", {width, D});
            r.add(pre + "down_proj.weight", {D, width});
        };
        if (c.is_moe_layer(l)) {
            const int64_t E = c.n_routed_experts, I = c.moe_intermediate_size;
            r.add(m + "gate.weight", {E, D});
            if (c.topk_method == "noaux_tc") r.add(m + "gate.e_score_correction_bias", {E}, false, false);
            for (int64_t e = 0; e < E; ++e) mlp(m + "experts." + std::to_string(e) + ".", I);
            if (c.n_shared_experts > 0) mlp(m + "shared_experts.", c.n_shared_experts * I);
        } else {
            mlp(m, c.intermediate_size);
        }
        if (im.hc) {
            for (const char* sub : {"attn_hc.", "ffn_hc."}) {
                r.add(p + sub + "fn", {n * n + 2 * n, n * D});
                r.add(p + sub + "base", {n * n + 2 * n}, true, false);
                r.add(p + sub + "scale", {3}, true, false);
            }
        }
    }
    if (im.hc) {
        r.add("model.hc_head.fn", {n, n * D});
        r.add("model.hc_head.base", {n}, true, false);
        r.add("model.hc_head.scale", {1}, true, false);
    }
    r.add("model.norm.weight", {D}, true, false);
    if (!c.tie_word_embeddings) r.add("lm_head.weight", {V, D});

    // LoRA adapters for every targeted Linear weight.
    std::map<std::string, train::Lora*> adapters;  // base weight name → adapter
    if (lora_.enabled()) {
        const bool explicit_targets = !lora_.targets.empty();
        if (!explicit_targets) lora_.targets = default_lora_targets();
        std::vector<std::pair<std::string, std::vector<int64_t>>> hits;
        std::vector<bool> used(lora_.targets.size(), false);
        for (const TrainParam& p : params_) {
            const std::string& nm = p.name;
            const std::string suffix = ".weight";
            if (p.value.view().ndim != 2 || nm.size() <= suffix.size() ||
                nm.compare(nm.size() - suffix.size(), suffix.size(), suffix) != 0 || nm == "model.embed_tokens.weight" ||
                nm == "lm_head.weight")
                continue;
            const std::string module = nm.substr(0, nm.size() - suffix.size());
            for (size_t t = 0; t < lora_.targets.size(); ++t) {
                const std::string tail = "." + lora_.targets[t];
                if (module.size() > tail.size() && module.compare(module.size() - tail.size(), tail.size(), tail) == 0) {
                    used[t] = true;
                    hits.push_back({module, {p.value.view().shape[0], p.value.view().shape[1]}});
                    break;
                }
            }
        }
        if (explicit_targets)
            for (size_t t = 0; t < used.size(); ++t)
                ENGINE_CHECK(used[t], kInvalidArgument, "LoRA target '", lora_.targets[t], "' matches no Linear weight "
                             "of this model (try q_proj, q_a_proj, q_b_proj, kv_a_proj_with_mqa, kv_b_proj, o_proj, "
                             "gate_proj, up_proj, down_proj)");
        ENGINE_CHECK(!hits.empty(), kInvalidArgument, "LoRA: no Linear weight matches the targets");
        r.frozen = false;
        for (const auto& [module, shape] : hits) {
            r.add(module + ".lora_A.weight", {lora_.rank, shape[1]});
            params_.back().adapter = true;
            r.add(module + ".lora_B.weight", {shape[0], lora_.rank});
            params_.back().adapter = true;
        }
        im.lora_seed = lora_.seed;
        for (const auto& [module, shape] : hits) {
            auto l = std::make_unique<train::Lora>();
            TrainParam& A = params_[index_.at(module + ".lora_A.weight")];
            TrainParam& Bm = params_[index_.at(module + ".lora_B.weight")];
            l->A = P{A.value.view(), A.grad.view()};
            l->B = P{Bm.value.view(), Bm.grad.view()};
            l->r = lora_.rank;
            l->scale = lora_.alpha / float(lora_.rank);
            l->dropout = lora_.dropout;
            l->id = uint64_t(im.loras.size());
            adapters[module + ".weight"] = l.get();
            im.loras.push_back(std::move(l));
        }
    }

    // Resolve handles now that the vector is final.
    auto get = [&](const std::string& name) -> P {
        auto it = index_.find(name);
        if (it == index_.end()) return P{};
        TrainParam& tp = params_[it->second];
        auto ad = adapters.find(name);
        return P{tp.value.view(), tp.grad.empty() ? TensorView{} : tp.grad.view(),
                 ad == adapters.end() ? nullptr : ad->second};
    };
    auto mlp_p = [&](const std::string& pre, int64_t width) {
        return MlpP{get(pre + "gate_proj.weight"), get(pre + "up_proj.weight"), get(pre + "down_proj.weight"), width};
    };
    auto hc_p = [&](const std::string& pre) { return HcP{get(pre + "fn"), get(pre + "base"), get(pre + "scale")}; };
    im.embed = get("model.embed_tokens.weight");
    im.final_norm = get("model.norm.weight");
    im.lm_head = c.tie_word_embeddings ? im.embed : get("lm_head.weight");
    if (im.hc) im.hc_head = hc_p("model.hc_head.");
    im.layers.resize(size_t(c.num_hidden_layers));
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
        train::LayerP& L = im.layers[size_t(l)];
        const std::string p = "model.layers." + std::to_string(l) + ".";
        const std::string s = p + "self_attn.";
        L.in_norm = get(p + "input_layernorm.weight");
        L.post_norm = get(p + "post_attention_layernorm.weight");
        L.q_proj = get(s + "q_proj.weight");
        L.q_a_proj = get(s + "q_a_proj.weight");
        L.q_a_norm = get(s + "q_a_layernorm.weight");
        L.q_b_proj = get(s + "q_b_proj.weight");
        L.kv_a_proj = get(s + "kv_a_proj_with_mqa.weight");
        L.kv_a_norm = get(s + "kv_a_layernorm.weight");
        L.kv_b_proj = get(s + "kv_b_proj.weight");
        L.k_proj = get(s + "k_proj.weight");
        L.v_proj = get(s + "v_proj.weight");
        L.o_proj = get(s + "o_proj.weight");
        L.is_moe = c.is_moe_layer(l);
        const std::string m = p + "mlp.";
        if (L.is_moe) {
            L.router = get(m + "gate.weight");
            L.router_bias = get(m + "gate.e_score_correction_bias");
            for (int64_t e = 0; e < c.n_routed_experts; ++e)
                L.experts.push_back(mlp_p(m + "experts." + std::to_string(e) + ".", c.moe_intermediate_size));
            if (c.n_shared_experts > 0) L.shared = mlp_p(m + "shared_experts.", c.n_shared_experts * c.moe_intermediate_size);
        } else {
            L.mlp = mlp_p(m, c.intermediate_size);
        }
        if (im.hc) {
            L.attn_hc = hc_p(p + "attn_hc.");
            L.ffn_hc = hc_p(p + "ffn_hc.");
        }
    }
}

TrainModel::~TrainModel() = default;

TrainParam* TrainModel::find(const std::string& name) {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &params_[it->second];
}

int64_t TrainModel::parameter_count() const {
    int64_t n = 0;
    for (const TrainParam& p : params_) n += p.value.view().numel();
    return n;
}

void TrainModel::zero_grad() {
    for (TrainParam& p : params_)
        if (!p.grad.empty()) be_.fill(p.grad, 0.0f);
}

void TrainModel::init(uint64_t seed, float init_std) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, init_std);
    const bool hc = impl_->hc;
    // Values are made on the host and copied to the parameter (which may live on a GPU).
    auto put = [&](const TensorView& dst, const std::vector<float>& v) {
        be_.copy(dst, TensorView::contiguous(const_cast<float*>(v.data()), DType::F32, dst.shape.data(), dst.ndim));
    };
    for (TrainParam& p : params_) {
        const int64_t n = p.value.view().numel();
        std::vector<float> host(static_cast<size_t>(n));
        float* w = host.data();
        const std::string& name = p.name;
        auto ends_with = [&](const char* suf) {
            const std::string s(suf);
            return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
        };
        if (p.adapter) {
            continue;  // init_lora() below
        } else if (ends_with("norm.weight") || ends_with("layernorm.weight")) {
            for (int64_t i = 0; i < n; ++i) w[i] = 1.0f;
        } else if (ends_with("e_score_correction_bias") || ends_with("hc_head.base")) {
            for (int64_t i = 0; i < n; ++i) w[i] = 0.0f;
        } else if (ends_with("hc_head.scale")) {
            w[0] = 1.0f;
        } else if (hc && (ends_with("_hc.base") || ends_with("_hc.scale"))) {
            continue;  // set per sublayer below
        } else {
            for (int64_t i = 0; i < n; ++i) w[i] = normal(rng);
        }
        put(p.value.view(), host);
    }
    if (hc) {
        for (size_t l = 0; l < impl_->layers.size(); ++l) {
            const train::LayerP& L = impl_->layers[l];
            for (int s = 0; s < 2; ++s) {
                const train::HcP& hp = s == 0 ? L.attn_hc : L.ffn_hc;
                std::vector<float> base(size_t(hp.base.w.numel())), scale(size_t(hp.scale.w.numel()));
                mhc::init_sublayer(base.data(), scale.data(), int64_t(2 * l + s), impl_->hc_opts);
                put(hp.base.w, base);
                put(hp.scale.w, scale);
            }
        }
    }
    if (lora_.enabled()) init_lora();
}

void TrainModel::load(const WeightStore& store) {
    for (TrainParam& p : params_) {
        if (p.adapter) continue;
        const TensorView& dst = p.value.view();
        TensorView src = store.get(p.name);
        bool same = src.ndim == dst.ndim;
        for (int i = 0; same && i < dst.ndim; ++i) same = src.shape[i] == dst.shape[i];
        ENGINE_CHECK(same, kBadFile, store.root().string(), ": tensor '", p.name, "' has shape ", src.shape_str(),
                     ", expected ", dst.shape_str(), " for this config");
        be_.copy(dst, src);  // F16/BF16 → F32
    }
}

}  // namespace engine
