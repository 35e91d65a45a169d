// kv_cache.cpp — DeepseekKvCache (MLA latent / MHA K,V per layer) and the reusable Scratch buffers.
#include "model/kv_cache.h"

#include <algorithm>
#include <string>

#include "engine/error.h"

namespace engine {
namespace model {

TensorView Scratch::get(ScratchSlot slot, DType dtype, std::initializer_list<int64_t> shape) {
    int64_t numel = 1;
    for (int64_t s : shape) numel *= s;
    const int64_t bytes = std::max<int64_t>(numel, 1) * int64_t(dtype_size(dtype));
    if (bytes > caps_[size_t(slot)]) {
        // Not while a backend records a step (freeing and allocating are not recordable): the caller
        // runs the step op by op instead (deepseek_model.cpp), which grows the buffer here.
        ENGINE_CHECK(!backend_.capturing(), kUnsupported, "scratch slot ", int(slot), " must grow to ", bytes,
                     " bytes during a step capture");
        // Grow by at least 1.5x so a chat whose context creeps up does not reallocate every turn.
        const int64_t grown = std::max(bytes, caps_[size_t(slot)] + caps_[size_t(slot)] / 2);
        bufs_[size_t(slot)] = Tensor();  // free first: peak memory stays at one buffer
        bufs_[size_t(slot)] = backend_.alloc(DType::U8, {grown});
        caps_[size_t(slot)] = grown;
    }
    return TensorView::contiguous(bufs_[size_t(slot)].data(), dtype, shape.begin(), int(shape.size()),
                                  backend_.device());
}

}  // namespace model

DType kv_cache_dtype_from_name(const std::string& name) {
    if (name == "f32" || name == "F32") return DType::F32;
    if (name == "bf16" || name == "BF16") return DType::BF16;
    ENGINE_THROW(kInvalidArgument, "unknown KV cache type '", name, "': choose f32 (exact) or bf16 (half the memory)");
}

const char* kv_cache_dtype_name(DType dtype) { return dtype == DType::BF16 ? "bf16" : "f32"; }

namespace model {

DeepseekKvCache::DeepseekKvCache(const ModelConfig& c, Backend& backend, int64_t capacity_tokens, DType dtype,
                                 const void* owner)
    : layers_(c.num_hidden_layers), capacity_(capacity_tokens), dtype_(dtype), scratch_(backend), owner_(owner) {
    ENGINE_CHECK(capacity_tokens > 0, kInvalidArgument, "KV cache capacity must be positive, got ",
                 capacity_tokens);
    ENGINE_CHECK(dtype == DType::F32 || dtype == DType::BF16, kInvalidArgument, "KV cache type ", dtype_name(dtype),
                 " is not supported: choose f32 or bf16");
    const int64_t H = c.num_attention_heads, elem = int64_t(dtype_size(dtype));
    const bool mha = c.attention_kind == AttentionKind::kMHA;
    k_.reserve(size_t(layers_));
    for (int64_t l = 0; l < layers_; ++l) {
        if (mha) {
            k_.push_back(backend.alloc(dtype, {capacity_tokens, H, c.qk_head_dim()}));
            v_.push_back(backend.alloc(dtype, {capacity_tokens, H, c.v_head_dim}));
        } else {
            k_.push_back(backend.alloc(dtype, {capacity_tokens, c.kv_lora_rank + c.qk_rope_head_dim}));
        }
    }
    bytes_per_token_layer_ = mha ? H * (c.qk_head_dim() + c.v_head_dim) * elem
                                 : (c.kv_lora_rank + c.qk_rope_head_dim) * elem;
    mha_bytes_per_token_ = layers_ * 2 * H * c.v_head_dim * elem;
}

void DeepseekKvCache::truncate(int64_t tokens) {
    ENGINE_CHECK(tokens >= 0, kInvalidArgument, "KV cache truncate: token count must be >= 0, got ", tokens);
    if (tokens < size_) size_ = tokens;  // stale rows beyond size_ are overwritten before they are read
}

KvCacheStats DeepseekKvCache::stats() const {
    KvCacheStats s;
    s.tokens = size_;
    s.capacity_tokens = capacity_;
    s.bytes_per_token = layers_ * bytes_per_token_layer_;
    s.bytes_allocated = capacity_ * s.bytes_per_token;
    s.bytes_used = size_ * s.bytes_per_token;
    s.mha_bytes_per_token = mha_bytes_per_token_;
    s.dtype = dtype_;
    s.bytes_used_per_layer.assign(size_t(layers_), size_ * bytes_per_token_layer_);
    return s;
}

}  // namespace model
}  // namespace engine
