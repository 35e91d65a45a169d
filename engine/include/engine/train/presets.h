// presets.h — model presets for training new models: tiny (~5M), small (~25M), base (~120M), with
// toggles MLA vs MHA, MoE vs dense, and mHC / HC / residual. A preset is a ModelConfig; models without
// HC/mHC and with MLA use the exact DeepseekV3ForCausalLM architecture (readable by transformers and
// llama.cpp's converter), every other combination is our LatentForCausalLM.
//
// Exact parameter counts (count_parameters == TrainModel::parameter_count, default vocab; HC and mHC
// share the same tensors):
//   size  attention ffn    residual     hc / mhc
//   tiny  MLA       dense    4,700,096    4,850,845
//   tiny  MLA       MoE      5,810,648    5,961,397
//   tiny  MHA       dense    4,818,624    4,969,373
//   tiny  MHA       MoE      5,929,176    6,079,925
//   small MLA       dense   26,254,720   26,851,125
//   small MLA       MoE     36,598,200   37,194,605
//   small MHA       dense   27,924,864   28,521,269
//   small MHA       MoE     38,268,344   38,864,749
//   base  MLA       dense  122,022,144  123,804,557
//   base  MLA       MoE    178,860,376  180,642,789
//   base  MHA       dense  134,105,856  135,888,269
//   base  MHA       MoE    190,944,088  192,726,501
// (MoE = 8 routed experts of width I/4, top-2, 1 shared expert, first layer dense: the totals grow,
// the per-token active parameters do not.)
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
