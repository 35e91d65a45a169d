// presets.h — model presets for training new models: tiny (~5M), small (~25M), base (~120M), with
// toggles MLA vs MHA, MoE vs dense, and mHC / HC / residual. A preset is a ModelConfig; models without
// HC/mHC and with MLA use the exact DeepseekV3ForCausalLM architecture (readable by transformers and
// llama.cpp's converter), every other combination is our LatentForCausalLM.
#pragma once

#include <cstdint>
#include <string>

#include "engine/config.h"

namespace engine {

struct PresetOptions {
    std::string size = "tiny";                    // tiny | small | base
    AttentionKind attention = AttentionKind::kMLA;
    bool moe = false;                             // DeepSeekMoE FFN after one dense layer
    ResidualKind residual = ResidualKind::kMHC;   // mhc (default, n = 4) | hc | residual
    int64_t vocab_size = 0;                       // 0: the size's default (8192 / 16384 / 32000)
};

// The config for a preset (validated). Throws kInvalidArgument naming an unknown size.
ModelConfig make_preset(const PresetOptions& options);

// Exact parameter count of a config as TrainModel allocates it (every tensor saved), without allocating.
int64_t count_parameters(const ModelConfig& config);

}  // namespace engine
