// telemetry.h — plain structs the engine fills for the app's charts (no Qt here).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/dtype.h"

namespace engine {

struct KvCacheStats {
    int64_t tokens = 0;                     // tokens currently cached
    int64_t capacity_tokens = 0;            // context the cache was sized for
    int64_t bytes_allocated = 0;            // all layers
    int64_t bytes_used = 0;                 // tokens · bytes_per_token
    int64_t bytes_per_token = 0;            // MLA: layers · (kv_lora_rank + qk_rope_head_dim) · elem
    int64_t mha_bytes_per_token = 0;        // same model as MHA: layers · 2 · H · v_head_dim · elem
    DType dtype = DType::F32;               // element type the cache stores (elem above: 4 or 2 bytes)
    std::vector<int64_t> bytes_used_per_layer;
};

// Tokens routed to each expert, per MoE layer. Dense layers have an empty row.
struct ExpertLoad {
    int64_t n_layers = 0;
    int64_t n_experts = 0;
    std::vector<std::vector<int64_t>> last_step;   // [layer][expert] for the last forward call
    std::vector<std::vector<int64_t>> cumulative;  // [layer][expert] since reset
    void reset(int64_t layers, int64_t experts);
    void begin_step();                              // clears last_step
    void add(int64_t layer, int64_t expert, int64_t count);
};

struct Throughput {
    int64_t prefill_tokens = 0;
    double prefill_seconds = 0;
    int64_t decode_tokens = 0;
    double decode_seconds = 0;
    double prefill_tps() const { return prefill_seconds > 0 ? prefill_tokens / prefill_seconds : 0; }
    double decode_tps() const { return decode_seconds > 0 ? decode_tokens / decode_seconds : 0; }
};

}  // namespace engine
