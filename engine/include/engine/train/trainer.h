// trainer.h — the training loop's one step: gradient accumulation over micro-batches, global gradient
// clipping, non-finite loss / grad-norm → the step is skipped (counted and reported), AdamW with a
// learning-rate schedule, and the MoE aux-loss-free bias update (DeepSeek-V3: b_i += γ·sign(mean − load_i))
// plus the optional sequence-wise balance loss. Datasets, checkpoints and the CLI sit on top of this.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "engine/train/optimizer.h"
#include "engine/train/train_model.h"

namespace engine {

struct TrainConfig {
    AdamWConfig adamw;
    LrSchedule schedule;
    float grad_clip = 1.0f;         // max global L2 norm; <= 0: no clipping
    int64_t grad_accum_steps = 1;   // micro-batches per optimizer step (step() checks the count)
    float bias_update_rate = 1e-3f; // γ of the aux-loss-free balancing (noaux_tc layers); 0: off
    float seq_aux_alpha = 0.0f;     // α of the sequence-wise balance loss; 0: off
    // F32 GEMMs of the step on a GPU backend (backend.h MatmulPrecision): bf16 tensor cores with fp32
    // accumulation and fp32 master weights by default; the CPU computes fp32 whatever is set.
    MatmulPrecision matmul_precision = MatmulPrecision::kBf16;
};

// One micro-batch: B sequences of T tokens, row-major [B*T]; targets == -100 are not counted.
struct Batch {
    const int32_t* tokens = nullptr;
    const int32_t* targets = nullptr;
    int64_t B = 0, T = 0;
};

struct StepStats {
    int64_t step = 0;            // optimizer steps attempted so far (1-based, skipped ones included)
    double loss = 0;             // mean over the micro-batches' counted tokens
    double aux_loss = 0;
    double grad_norm = 0;        // global L2 norm before clipping
    // Per block, before clipping: [0] embedding, [1 + l] layer l, [L + 1] head (final norm, lm_head, hc_head).
    std::vector<double> block_grad_norm;
    float lr = 0;                // schedule position = optimizer steps taken (skipped steps do not advance it)
    int64_t tokens = 0;          // counted target tokens in this step
    bool skipped = false;        // non-finite loss or grad norm: no update
    int64_t skipped_total = 0;
    double seconds = 0;
    std::vector<std::vector<int64_t>> expert_load;   // [layer][expert] tokens routed in this step
    std::vector<std::vector<float>> router_bias;     // [layer][expert] after the update (noaux_tc layers)
    std::vector<std::vector<double>> hc_mix;         // per sublayer, token-averaged n×n mixing matrix
    // HC/mHC over depth (mhc.md §6), from hc_mix: composite forward / backward Amax gain, column error.
    std::vector<double> hc_forward_gain, hc_backward_gain, hc_column_error;
};

// Return false to stop the loop.
using StepCallback = std::function<bool(const StepStats&)>;

class Trainer {
public:
    Trainer(TrainModel& model, TrainConfig config);
    ~Trainer();

    // One optimizer step over `micro_batches` (exactly grad_accum_steps of them).
    StepStats step(const std::vector<Batch>& micro_batches);
    StepStats step(const Batch& batch) { return step(std::vector<Batch>{batch}); }
    // Runs `steps` steps, asking `next` for each micro-batch (return false = data exhausted); stops early
    // when the callback returns false. Returns the number of steps run.
    int64_t run(int64_t steps, const std::function<bool(Batch&)>& next, const StepCallback& callback = {});

    TrainModel& model() { return model_; }
    AdamW& optimizer() { return *adamw_; }
    const TrainConfig& config() const { return cfg_; }
    int64_t steps_attempted() const { return attempted_; }
    int64_t steps_skipped() const { return skipped_; }
    // Checkpoint/resume: restore the counters (the optimizer's own step count is in optimizer()).
    void set_counters(int64_t attempted, int64_t skipped) {
        attempted_ = attempted;
        skipped_ = skipped;
    }

private:
    TrainModel& model_;
    TrainConfig cfg_;
    std::unique_ptr<AdamW> adamw_;
    int64_t attempted_ = 0, skipped_ = 0;
};

}  // namespace engine
