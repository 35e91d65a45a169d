// optimizer.h — AdamW over a TrainModel's fp32 master weights (through Backend::adamw_step), and the
// learning-rate schedule (linear warmup, then cosine or linear decay to min_lr_ratio·lr, or constant).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/train/train_model.h"

namespace engine {

struct AdamWConfig {
    float lr = 3e-4f;
    float beta1 = 0.9f;
    float beta2 = 0.95f;
    float eps = 1e-8f;
    float weight_decay = 0.1f;  // decoupled; not applied to norms, biases, HC base/scale (TrainParam::weight_decay)
};

enum class LrDecay { kConstant, kCosine, kLinear };

struct LrSchedule {
    LrDecay decay = LrDecay::kCosine;
    int64_t warmup_steps = 0;   // linear ramp from lr/warmup to lr over the first warmup steps
    int64_t total_steps = 0;    // decay ends here (0: no decay after warmup)
    float min_lr_ratio = 0.1f;  // final lr = min_lr_ratio · lr
};

// Learning rate for optimizer step `step` (0-based).
float scheduled_lr(const LrSchedule& schedule, float base_lr, int64_t step);

class AdamW {
public:
    struct Slot {
        std::string name;  // the parameter's name
        Tensor m, v;       // F32 first / second moments
    };
    AdamW(TrainModel& model, AdamWConfig config);
    // One update of every trainable parameter with its current gradient at learning rate `lr`.
    void step(float lr);
    int64_t steps_taken() const { return steps_; }
    // Checkpoint access: moments per parameter (same order as model.params() minus frozen ones) and the
    // step count used for bias correction.
    std::vector<Slot>& slots() { return slots_; }
    void set_steps_taken(int64_t steps) { steps_ = steps; }
    const AdamWConfig& config() const { return cfg_; }

private:
    TrainModel& model_;
    AdamWConfig cfg_;
    std::vector<Slot> slots_;
    std::vector<size_t> param_index_;
    int64_t steps_ = 0;
};

}  // namespace engine
