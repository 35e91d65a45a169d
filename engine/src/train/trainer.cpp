// trainer.cpp — one training step: accumulate, measure the global grad norm, skip non-finite steps,
// clip, AdamW, and the aux-loss-free router bias update.
#include "engine/train/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <string>

#include "engine/error.h"
#include "engine/train/mhc.h"

namespace engine {

Trainer::Trainer(TrainModel& model, TrainConfig config)
    : model_(model), cfg_(config), adamw_(std::make_unique<AdamW>(model, config.adamw)) {
    ENGINE_CHECK(cfg_.grad_accum_steps >= 1, kInvalidArgument, "TrainConfig.grad_accum_steps must be >= 1, got ",
                 cfg_.grad_accum_steps);
}

Trainer::~Trainer() = default;

StepStats Trainer::step(const std::vector<Batch>& micro) {
    const auto t0 = std::chrono::steady_clock::now();
    ENGINE_CHECK(int64_t(micro.size()) == cfg_.grad_accum_steps, kInvalidArgument, "Trainer::step got ",
                 micro.size(), " micro-batches but grad_accum_steps is ", cfg_.grad_accum_steps);
    Backend& be = model_.backend();
    // The step's GEMMs at the configured precision; the backend's own setting comes back afterwards.
    struct PrecisionScope {
        Backend& be;
        MatmulPrecision before;
        PrecisionScope(Backend& b, MatmulPrecision p) : be(b), before(b.matmul_precision()) { be.set_matmul_precision(p); }
        ~PrecisionScope() { be.set_matmul_precision(before); }
    } precision(be, cfg_.matmul_precision);
    const ModelConfig& c = model_.config();
    StepStats st;
    st.step = ++attempted_;
    st.lr = scheduled_lr(cfg_.schedule, cfg_.adamw.lr, adamw_->steps_taken());
    st.expert_load.assign(size_t(c.num_hidden_layers), {});
    model_.zero_grad();
    // Token-weighted: each micro-batch's loss is a mean over its counted tokens, so weighting it by
    // count_i / Σ count gives the mean over every counted token of the step (= one big batch).
    std::vector<int64_t> counts;
    int64_t total = 0;
    for (const Batch& b : micro) {
        ENGINE_CHECK(b.tokens && b.targets && b.B > 0 && b.T > 0, kInvalidArgument,
                     "Trainer::step: a micro-batch has no tokens/targets or an empty shape (", b.B, " x ", b.T, ")");
        int64_t n = 0;
        for (int64_t i = 0; i < b.B * b.T; ++i) n += b.targets[i] != -100;
        counts.push_back(n);
        total += n;
    }
    for (size_t i = 0; i < micro.size(); ++i) {
        const Batch& b = micro[i];
        const double w = total > 0 ? double(counts[i]) / double(total) : 0.0;
        const double wa = 1.0 / double(micro.size());  // the balance loss is per micro-batch: plain mean
        ForwardStats fs = model_.forward_backward(b.tokens, b.targets, b.B, b.T, float(w), cfg_.seq_aux_alpha, float(wa));
        st.loss += fs.loss * w;
        st.aux_loss += fs.aux_loss * wa;
        st.tokens += fs.tokens;
        for (size_t l = 0; l < fs.expert_load.size(); ++l) {
            auto& acc = st.expert_load[l];
            if (acc.size() < fs.expert_load[l].size()) acc.resize(fs.expert_load[l].size(), 0);
            for (size_t e = 0; e < fs.expert_load[l].size(); ++e) acc[e] += fs.expert_load[l][e];
        }
        if (st.hc_mix.empty()) {
            st.hc_mix = fs.hc_mix;
        } else {
            for (size_t s = 0; s < st.hc_mix.size(); ++s)
                for (size_t k = 0; k < st.hc_mix[s].size(); ++k) st.hc_mix[s][k] += fs.hc_mix[s][k];
        }
    }
    for (auto& m : st.hc_mix)
        for (double& x : m) x /= double(micro.size());
    if (!st.hc_mix.empty()) {
        mhc::DepthGains g = mhc::depth_gains(st.hc_mix, int(c.hc_mult));
        st.hc_forward_gain = std::move(g.forward);
        st.hc_backward_gain = std::move(g.backward);
        st.hc_column_error = std::move(g.column_error);
    }
    // Global grad norm, and per block (embedding, each layer, head = final norm + lm_head + hc_head) for
    // the metrics stream; the global sum is accumulated in the same order as always.
    double sq = 0;
    const int64_t L = c.num_hidden_layers;
    std::vector<double> block_sq(size_t(L + 2), 0.0);
    for (TrainParam& p : model_.params()) {
        if (!p.trainable) continue;
        const double x = be.sum_squares(p.grad);
        sq += x;
        size_t block = size_t(L + 1);
        static const std::string kLayers = "model.layers.";
        if (p.name.rfind("model.embed_tokens.", 0) == 0) {
            block = 0;
        } else if (p.name.rfind(kLayers, 0) == 0) {
            const int64_t l = std::strtoll(p.name.c_str() + kLayers.size(), nullptr, 10);
            if (l >= 0 && l < L) block = size_t(l + 1);
        }
        block_sq[block] += x;
    }
    st.grad_norm = std::sqrt(sq);
    st.block_grad_norm.resize(block_sq.size());
    for (size_t b = 0; b < block_sq.size(); ++b) st.block_grad_norm[b] = std::sqrt(block_sq[b]);
    // A step with no counted target token (everything masked) has nothing to learn from: skipped too.
    if (total == 0 || !std::isfinite(st.loss) || !std::isfinite(st.aux_loss) || !std::isfinite(st.grad_norm)) {
        st.skipped = true;
        ++skipped_;
        model_.zero_grad();  // nothing of this step reaches the weights or the optimizer state
    } else {
        if (cfg_.grad_clip > 0 && st.grad_norm > cfg_.grad_clip) {
            const float s = float(cfg_.grad_clip / st.grad_norm);
            for (TrainParam& p : model_.params())
                if (p.trainable) be.scale(p.grad, s);
        }
        adamw_->step(st.lr);
    }
    // Per layer, the router bias is read once (it may live on a GPU), updated on the host by the
    // aux-loss-free rule (V3: overloaded experts' bias goes down, underloaded up) when enabled and the step
    // counted, written back, and reported: one read and at most one write of E floats per MoE layer.
    const bool update_bias = cfg_.bias_update_rate > 0 && !st.skipped;
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
        TrainParam* bias = model_.find("model.layers." + std::to_string(l) + ".mlp.gate.e_score_correction_bias");
        st.router_bias.emplace_back();
        if (!bias) continue;
        const TensorView& bv = bias->value.view();  // [E]
        std::vector<float>& b = st.router_bias.back();
        b.resize(size_t(bv.numel()));
        be.copy(TensorView::contiguous(b.data(), DType::F32, {bv.numel()}), bv);
        if (!update_bias || size_t(l) >= st.expert_load.size() || st.expert_load[size_t(l)].empty()) continue;
        const auto& load = st.expert_load[size_t(l)];
        double mean = 0;
        for (int64_t x : load) mean += double(x) / double(load.size());
        for (size_t e = 0; e < load.size(); ++e) {
            const double d = mean - double(load[e]);
            b[e] += cfg_.bias_update_rate * float((d > 0) - (d < 0));
        }
        be.copy(bv, TensorView::contiguous(b.data(), DType::F32, {bv.numel()}));
    }
    st.skipped_total = skipped_;
    st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return st;
}

int64_t Trainer::run(int64_t steps, const std::function<bool(Batch&)>& next, const StepCallback& callback) {
    int64_t done = 0;
    for (; done < steps; ++done) {
        std::vector<Batch> micro(size_t(cfg_.grad_accum_steps));
        for (Batch& b : micro)
            if (!next(b)) return done;
        const StepStats st = step(micro);
        if (callback && !callback(st)) return done + 1;
    }
    return done;
}

}  // namespace engine
