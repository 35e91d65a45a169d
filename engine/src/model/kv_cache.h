// kv_cache.h — the per-session KV cache of a DeepSeek-family model, plus the scratch workspace the
// forward pass reuses call after call (so a decode step allocates nothing once warmed up).
//
// MLA: per layer one tensor [capacity, r_kv + d_r] holding, per token, the latent c after
// kv_a_layernorm and k_pe after RoPE (deepseek-arch.md §2) — 576 values for V2/V3.
// MHA ablation (our family): per layer K [capacity, H, d_qk] and V [capacity, H, d_v].
// Elements are F32 or BF16 (Model::new_cache): attention.cpp computes new rows in F32 scratch and copies
// them in (the copy rounds to bf16); the attention op reads BF16 keys/values directly.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "engine/backend.h"
#include "engine/config.h"
#include "engine/model.h"

namespace engine::model {

// Named scratch buffers that grow to the largest request and are then reused.
enum ScratchSlot : int {
    kIds, kPositions, kHidden, kNormed, kSublayerOut,
    kQ, kQa, kCkv, kKv, kKFull, kQAbs, kOLatent, kAttnOut, kLatentF32, kVNew,
    kMlpGate, kMlpUp, kMlpAct, kSharedOut,
    kRouterLogits, kRouteIdx, kRouteWeights, kMoeRows, kMoeScale, kMoeWork, kDecodeRouteIds,
    kStreamsA, kStreamsB, kHcNormed, kHcMix, kHcPre, kHcPost, kHcMixMat, kHcU, kHcOut,
    kFinalNormed, kLogits,
    kScratchSlots
};

class Scratch {
public:
    explicit Scratch(Backend& backend) : backend_(backend), bufs_(kScratchSlots), caps_(kScratchSlots, 0) {}
    // A contiguous view of the given shape over slot's buffer (grown when too small; contents undefined).
    TensorView get(ScratchSlot slot, DType dtype, std::initializer_list<int64_t> shape);
    TensorView f32(ScratchSlot slot, std::initializer_list<int64_t> shape) { return get(slot, DType::F32, shape); }
    TensorView i32(ScratchSlot slot, std::initializer_list<int64_t> shape) { return get(slot, DType::I32, shape); }

    // Host staging, reused (no per-token heap churn once sized).
    std::vector<int32_t> host_ids, host_route_idx, host_rows;
    std::vector<float> host_route_w, host_scale;
    std::vector<int64_t> host_counts, host_offsets;

private:
    Backend& backend_;
    std::vector<Tensor> bufs_;
    std::vector<int64_t> caps_;  // bytes
};

class DeepseekKvCache final : public KvCache {
public:
    DeepseekKvCache(const ModelConfig& config, Backend& backend, int64_t capacity_tokens, DType dtype,
                    const void* owner);

    int64_t size() const override { return size_; }
    int64_t capacity() const override { return capacity_; }
    void truncate(int64_t tokens) override;
    KvCacheStats stats() const override;
    DType dtype() const { return dtype_; }

    // MLA: [capacity, r_kv + d_r]
    const TensorView& latent(int64_t layer) const { return k_[size_t(layer)].view(); }
    // MHA: [capacity, H, d_qk] / [capacity, H, d_v]
    const TensorView& keys(int64_t layer) const { return k_[size_t(layer)].view(); }
    const TensorView& values(int64_t layer) const { return v_[size_t(layer)].view(); }

    void advance(int64_t tokens) { size_ += tokens; }
    Scratch& scratch() { return scratch_; }
    const void* owner() const { return owner_; }

private:
    int64_t layers_ = 0, capacity_ = 0, size_ = 0;
    int64_t bytes_per_token_layer_ = 0, mha_bytes_per_token_ = 0;
    DType dtype_ = DType::F32;
    std::vector<Tensor> k_, v_;
    Scratch scratch_;
    const void* owner_;
};

}  // namespace engine::model
