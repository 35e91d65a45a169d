// train_model.h — a trainable DeepSeek-family model (our LatentForCausalLM and the DeepSeek-V2/V3
// layout): the same config and tensor names as inference (docs/model-family.md), forward + backward
// through the Backend's ops, fp32 master weights and fp32 gradients.
//
// Layout: embedding → layers (MLA with/without q_lora_rank, or MHA; dense or MoE with routed + shared
// experts; residual / HC / mHC) → [hc_head collapse] → final norm → lm_head → cross-entropy.
// Activations needed by the backward are kept in a per-step workspace; mHC's Sinkhorn intermediates are
// recomputed. Runs on the CPU backend (activations are host memory).
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/config.h"
#include "engine/weights.h"

namespace engine {

struct TrainParam {
    std::string name;    // HF tensor name, e.g. "model.layers.0.self_attn.kv_b_proj.weight"
    Tensor value;        // F32 master weight
    Tensor grad;         // F32, same shape (empty when !trainable)
    bool trainable = true;     // false: e_score_correction_bias (updated by the balancing rule, not AdamW)
    bool weight_decay = true;  // false for norms, biases and hyper-connection base/scale
    bool adapter = false;      // a LoRA adapter matrix (lora_A / lora_B), not part of the base model
};

// LoRA (low-rank adapters, peft semantics). For each targeted Linear W [out, in]:
//   A [r, in] ~ N(0, (1/r)²), B [out, r] = 0,   y = x·Wᵀ + (alpha/r)·dropout(x)·Aᵀ·Bᵀ.
// Base weights are frozen (trainable = false, no gradient buffer); only adapters train.
// Adapter names: "<weight name without .weight>.lora_A.weight" / ".lora_B.weight".
struct LoraOptions {
    int64_t rank = 0;          // 0: LoRA off (full fine-tune)
    float alpha = 16.0f;       // scaling = alpha / rank
    float dropout = 0.0f;      // on the adapter input, training forward only; seeded (deterministic resume)
    // Module-name suffixes ("q_proj", "kv_b_proj", "gate_proj", ...; gate/up/down_proj also hit routed and
    // shared experts). Empty: every attention projection present in the model.
    std::vector<std::string> targets;
    uint64_t seed = 0;         // adapter init and dropout masks
    bool enabled() const { return rank > 0; }
};
// The default target list (all attention projections).
std::vector<std::string> default_lora_targets();

// What one forward/backward reports besides the loss.
struct ForwardStats {
    double loss = 0;            // mean cross-entropy over counted tokens
    double aux_loss = 0;        // sequence-wise balance loss (0 when disabled)
    int64_t tokens = 0;         // counted target tokens
    // [layer][expert] routed-token counts of this call (empty rows for dense layers).
    std::vector<std::vector<int64_t>> expert_load;
    // mHC: per sublayer, the token-averaged mixing matrix A (n×n, paper orientation) of this call.
    std::vector<std::vector<double>> hc_mix;
};

class TrainModel {
public:
    // Allocates every parameter for `config` (validated) and its gradient; call init() or load().
    // With `lora.enabled()`, base parameters are frozen and adapters are added (see LoraOptions);
    // throws when a requested target matches no Linear weight.
    TrainModel(ModelConfig config, Backend& backend, LoraOptions lora = {});
    ~TrainModel();
    TrainModel(const TrainModel&) = delete;
    TrainModel& operator=(const TrainModel&) = delete;

    const ModelConfig& config() const { return cfg_; }
    Backend& backend() const { return be_; }

    // Random init (seeded): Linear/embedding N(0, init_std); norms 1; hyper-connections per
    // docs/model-family.md "Init"; router bias 0.
    void init(uint64_t seed, float init_std = 0.02f);
    // Copies every parameter from a checkpoint (F32/F16/BF16 converted to F32). Throws naming the tensor.
    // Adapters are not read (initialised by init() / init_lora(), or restored by load_matching()).
    void load(const WeightStore& store);
    // Copies only the parameters named in `names` from `store` (checkpoint resume of adapters).
    void load_matching(const WeightStore& store, const std::vector<std::string>& names);
    // Writes model.safetensors + config.json into `dir` (created). Architecture string is the config's:
    // DeepseekV3ForCausalLM for models without HC/mHC/MHA, LatentForCausalLM otherwise.
    // With LoRA: the merged model, W' = W + (alpha/r)·B·A, base tensor names only (same architecture).
    void save(const std::filesystem::path& dir) const;

    // ---- LoRA ----
    const LoraOptions& lora() const { return lora_; }
    // Re-initialises the adapters (A ~ N(0, (1/r)²), B = 0) from lora().seed.
    void init_lora();
    // peft format: adapter_model.safetensors ("base_model.model.<module>.lora_A.weight", ...) +
    // adapter_config.json. Throws when LoRA is off.
    void save_adapters(const std::filesystem::path& dir, const std::string& base_model_name = "") const;
    // Names of the tensors a checkpoint must hold: every parameter without LoRA; with LoRA the
    // adapters plus the router correction biases (updated by the balancing rule).
    std::vector<std::string> checkpoint_names() const;
    // `v` (a parameter, gradient or optimizer tensor of this model) as a host view: itself on the CPU
    // backend, else a host copy appended to `keep` (which must outlive the view).
    TensorView host_view(const TensorView& v, std::deque<Tensor>& keep) const;
    // Dropout masks are a function of (seed, this counter, adapter): the counter counts
    // forward_backward calls; checkpoints save and restore it.
    uint64_t dropout_calls() const;
    void set_dropout_calls(uint64_t n);

    std::vector<TrainParam>& params() { return params_; }
    const std::vector<TrainParam>& params() const { return params_; }
    TrainParam* find(const std::string& name);  // nullptr when absent
    int64_t parameter_count() const;            // every element of every parameter
    void zero_grad();

    // Loss (and gradients, accumulated += into each grad, scaled by grad_scale) for a batch of B
    // sequences of T tokens: tokens/targets are [B*T] row-major; targets == -100 are not counted.
    // `aux_alpha` > 0 adds the sequence-wise balance loss (deepseek-arch.md §3, V3) to the objective; its
    // gradient is scaled by aux_grad_scale (< 0: by grad_scale).
    ForwardStats forward_backward(const int32_t* tokens, const int32_t* targets, int64_t B, int64_t T,
                                  float grad_scale = 1.0f, float aux_alpha = 0.0f, float aux_grad_scale = -1.0f);
    // Forward only: loss (targets may be nullptr → loss 0) and, when `logits` is given, every position's
    // logits [B*T, vocab].
    ForwardStats forward(const int32_t* tokens, const int32_t* targets, int64_t B, int64_t T,
                         std::vector<float>* logits = nullptr);

    struct Impl;

private:
    ModelConfig cfg_;
    Backend& be_;
    LoraOptions lora_;
    std::vector<TrainParam> params_;
    std::map<std::string, size_t> index_;
    std::unique_ptr<Impl> impl_;
};

}  // namespace engine
