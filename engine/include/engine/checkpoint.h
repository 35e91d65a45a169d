// checkpoint.h — crash-safe training checkpoints (reliability.md §5).
//
// A checkpoint is a folder `<root>/checkpoint-<step, 8 digits>/` holding
//   model.safetensors   the trainable parameters (fp32 master weights), HF names
//   optimizer.safetensors  optimizer moments ("m.<name>", "v.<name>") and any other state tensors
//   state.json          {"step", "healthy", "format": 1, ...the trainer's own state: scheduler, RNG,
//                        data position, counters}
//   + any extra files the caller passes (config.json, tokenizer.json, ...).
// It is written into `<root>/.checkpoint-<step>.tmp/`, every file fsynced, the folder renamed into place
// and the root folder fsynced: a crash at any point leaves either the previous set of checkpoints or
// the new complete one — never a torn one. A failed fsync fails the checkpoint (it is not retried).
// Rotation keeps the newest `keep_last` checkpoints and never deletes the newest *healthy* one (all
// weights finite), so NaN weights can never replace every good checkpoint.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/tensor.h"
#include "engine/weights.h"

namespace engine {

using NamedTensors = std::vector<std::pair<std::string, TensorView>>;

struct CheckpointWrite {
    int64_t step = 0;
    NamedTensors model;       // host tensors
    NamedTensors optimizer;   // host tensors
    nlohmann::json state = nlohmann::json::object();  // trainer state; "step"/"healthy"/"format" are added
    std::vector<std::pair<std::string, std::string>> extra_files;  // (file name, contents)
};

struct CheckpointInfo {
    std::filesystem::path dir;
    int64_t step = 0;
    bool healthy = false;
};

// Writes one checkpoint atomically and returns its folder. `healthy` is computed here (every model
// tensor finite). Throws Error(kIo) naming the path on any write/fsync/rename failure; the temporary
// folder is removed.
CheckpointInfo write_checkpoint(const std::filesystem::path& root, const CheckpointWrite& ckpt);

// Complete checkpoints under `root`, oldest first. Leftover `.tmp` folders from a crash are ignored
// (and removed by rotate_checkpoints). A folder whose state.json is unreadable is skipped.
std::vector<CheckpointInfo> list_checkpoints(const std::filesystem::path& root);

// The newest healthy checkpoint, if any.
std::optional<CheckpointInfo> latest_healthy_checkpoint(const std::filesystem::path& root);

// Deletes all but the newest `keep_last` (≥ 1) checkpoints, never the newest healthy one, and any
// stale temporary folders. Returns the folders it removed.
std::vector<std::filesystem::path> rotate_checkpoints(const std::filesystem::path& root, int keep_last);

struct LoadedCheckpoint {
    CheckpointInfo info;
    nlohmann::json state;
    std::unique_ptr<WeightStore> model;
    std::unique_ptr<WeightStore> optimizer;
};
LoadedCheckpoint read_checkpoint(const std::filesystem::path& dir);

}  // namespace engine
