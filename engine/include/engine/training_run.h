// training_run.h — a whole training run on top of Trainer: dataset → batches → steps, validation,
// crash-safe checkpoints with resume, a JSONL metrics log, and the final model folder.
//
// Run folder layout (`output`):
//   run.json            this config (written once; `latent train --resume` and the app re-read it)
//   metrics.jsonl       one JSON object per optimizer step (and per validation)
//   checkpoints/        checkpoint-<step>/ folders (engine/checkpoint.h)
//   final/              the trained model: config.json, model.safetensors, tokenizer files
//   adapter/            LoRA runs: adapter_model.safetensors + adapter_config.json (peft format)
// Resuming continues from the newest healthy checkpoint: parameters, AdamW moments and step count,
// trainer counters, data position; the metrics log is cut back to that step. On the CPU with the same
// thread count the resumed run is bit-identical to an uninterrupted one (tests/engine/train_run).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/dataset.h"
#include "engine/train/trainer.h"

namespace engine {

struct TrainingRunConfig {
    std::filesystem::path base_model;  // folder: config.json + tokenizer.json (+ model.safetensors)
    bool from_scratch = false;         // initialise the weights (seed) instead of loading them
    std::filesystem::path data;        // file or folder (dataset.h formats)
    DatasetOptions data_options;
    std::filesystem::path output;      // the run folder
    int64_t seq_len = 256;             // T
    int64_t batch_size = 8;            // B per micro-batch
    bool packing = true;
    int64_t max_steps = 0;             // optimizer steps; 0: `epochs` over the training split
    double epochs = 1.0;
    TrainConfig train;                 // AdamW, schedule (total_steps 0 = the run's length), clipping, ...
    int64_t eval_every = 50;           // steps between validation passes (0: only at the end)
    int64_t eval_batches = 8;
    int64_t checkpoint_every = 100;    // steps between checkpoints (0: only at the end)
    int keep_last = 3;
    uint64_t seed = 1234;              // weights init (from_scratch) and data order
    // Std of the normal init of matrices when from_scratch (norms start at 1). 0.02 is DeepSeek's and GPT-2's
    // `initializer_range`, right for hidden sizes in the thousands; a model of hidden 64 trained with it sat
    // on a loss plateau for 400-3900 steps depending on the seed, with 0.08 for 160-252 (docs/training-evidence.md §1).
    float init_std = 0.02f;
    // LoRA fine-tune when lora.rank > 0 (lora.seed is taken from `seed`): checkpoints hold only the
    // adapters (+ router correction biases) and optimizer state, base weights are re-read from
    // base_model on resume; final/ is the merged model and adapter/ the peft-format adapters.
    LoraOptions lora;
    // Where the caller (CLI, app) runs it: "cpu", "cuda" or "auto" (backend.h BackendChoice). run_training
    // itself uses the backend it is given. CPU by default until the GPU path has run on a GPU (issue 5).
    std::string device = "cpu";

    nlohmann::json to_json() const;
    static TrainingRunConfig from_json(const nlohmann::json& j, const std::string& source);
};

struct TrainingEvent {
    StepStats step;
    int64_t total_steps = 0;
    double tokens_per_second = 0;       // counted target tokens over wall time of this run segment
    double eta_seconds = 0;
    std::optional<double> validation_loss;  // set on steps that ran a validation pass
    std::string checkpoint;             // folder written at this step, if any
};

struct TrainingSummary {
    int64_t steps = 0;                  // optimizer steps completed in total (resumed ones included)
    int64_t resumed_from = 0;           // step of the checkpoint resumed from (0: fresh)
    int64_t skipped = 0;
    double last_loss = 0;
    std::optional<double> validation_loss;
    bool stopped = false;               // the callback asked to stop
    std::filesystem::path final_model;  // empty when stopped before the end
    DatasetStats data;
};

// Runs (or resumes) a training run. `on_step` returns false to stop after a checkpoint is written.
// `backend` is the compute backend (CPU today). Throws engine::Error with file/line details.
TrainingSummary run_training(const TrainingRunConfig& config, Backend& backend,
                             const std::function<bool(const TrainingEvent&)>& on_step = {});

// Writes checkpoint `checkpoint_dir` of the run in `run_folder` (its run.json) as a model folder at
// `out_dir`: config.json, model.safetensors, tokenizer files — what final/ holds. A LoRA checkpoint
// (adapters + router biases only) is merged onto the run's base_model weights exactly as final/ is, so
// the last checkpoint's export equals final/ bit for bit; a full checkpoint is re-saved without its
// optimizer state. Built in a temporary sibling folder and renamed into place (an existing `out_dir` is
// replaced). Returns `out_dir`. Throws engine::Error naming the file.
std::filesystem::path export_checkpoint_model(const std::filesystem::path& run_folder,
                                              const std::filesystem::path& checkpoint_dir,
                                              const std::filesystem::path& out_dir, Backend& backend);

}  // namespace engine
