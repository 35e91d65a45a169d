// optimizer.cpp — AdamW over TrainModel parameters and the learning-rate schedule.
#include "engine/train/optimizer.h"

#include <cmath>

#include "engine/error.h"

namespace engine {

float scheduled_lr(const LrSchedule& s, float base_lr, int64_t step) {
    ENGINE_CHECK(step >= 0, kInvalidArgument, "learning-rate schedule: step must be >= 0, got ", step);
    if (s.warmup_steps > 0 && step < s.warmup_steps) return base_lr * float(step + 1) / float(s.warmup_steps);
    if (s.decay == LrDecay::kConstant || s.total_steps <= s.warmup_steps) return base_lr;
    const double span = double(s.total_steps - s.warmup_steps);
    const double p = std::min(1.0, double(step - s.warmup_steps) / span);  // 0 → 1 over the decay
    const double lo = double(s.min_lr_ratio);
    const double f = s.decay == LrDecay::kCosine ? lo + (1 - lo) * 0.5 * (1 + std::cos(M_PI * p))
                                                 : 1 - (1 - lo) * p;
    return float(base_lr * f);
}

AdamW::AdamW(TrainModel& model, AdamWConfig config) : model_(model), cfg_(config) {
    ENGINE_CHECK(cfg_.lr >= 0 && cfg_.beta1 >= 0 && cfg_.beta1 < 1 && cfg_.beta2 >= 0 && cfg_.beta2 < 1 &&
                     cfg_.eps > 0 && cfg_.weight_decay >= 0,
                 kInvalidArgument, "AdamW: need lr >= 0, 0 <= beta1, beta2 < 1, eps > 0, weight_decay >= 0 (got lr ",
                 cfg_.lr, ", betas ", cfg_.beta1, "/", cfg_.beta2, ", eps ", cfg_.eps, ", wd ", cfg_.weight_decay, ")");
    Backend& be = model_.backend();
    auto& ps = model_.params();
    for (size_t i = 0; i < ps.size(); ++i) {
        if (!ps[i].trainable) continue;
        const TensorView& v = ps[i].value.view();
        slots_.push_back(Slot{ps[i].name, be.alloc(DType::F32, v.shape.data(), v.ndim),
                              be.alloc(DType::F32, v.shape.data(), v.ndim)});
        param_index_.push_back(i);
    }
}

void AdamW::step(float lr) {
    ++steps_;
    Backend& be = model_.backend();
    auto& ps = model_.params();
    for (size_t k = 0; k < slots_.size(); ++k) {
        TrainParam& p = ps[param_index_[k]];
        be.adamw_step(p.value, p.grad, slots_[k].m, slots_[k].v, lr, cfg_.beta1, cfg_.beta2, cfg_.eps,
                      p.weight_decay ? cfg_.weight_decay : 0.0f, steps_);
    }
}

}  // namespace engine
