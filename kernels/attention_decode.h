// attention_decode.h — the split-KV (flash-decoding) MQA attention over the MLA latent cache
// (attention_decode.cu). Backend-internal: CudaBackend::attention calls it for Hk == 1 and T ≤ 4; the
// CUDA benchmark (bench/cuda_attention_bench.cu) calls it batched and through a block table.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace cuda_backend {

constexpr int64_t kMlaDecodeMaxT = 4;     // queries per sequence (decode, small speculative batches)
constexpr int64_t kMlaDecodeMaxDk = 576;  // r_kv + d_r of DeepSeek-V2/V3
constexpr int64_t kMlaDecodeMaxDv = 512;  // r_kv
constexpr int64_t kMlaPageTokens = 64;    // tokens per page of the block table

// All pointers are device pointers; strides in elements; the last dim of every tensor is contiguous.
struct MlaDecodeArgs {
    const float* q = nullptr;  // [B, T, H, dk]
    int64_t q_sb = 0, q_st = 0, q_sh = 0;
    // Key rows [B, S, dk]: row s of sequence b at k + b·k_sb + s·k_ld, or, with a block table,
    // k + (block_table[b·bt_ld + s/64]·64 + s%64)·k_ld (k_sb unused). v likewise with v_ld / v_sb
    // ([B, S, dv]; v may be the first dv columns of the k rows: v == k, v_ld == k_ld).
    const float* k = nullptr;
    int64_t k_ld = 0, k_sb = 0;
    const float* v = nullptr;
    int64_t v_ld = 0, v_sb = 0;
    const int32_t* block_table = nullptr;  // optional [B, ceil(S/64)] page indices; nullptr = contiguous
    int64_t bt_ld = 0;
    float* out = nullptr;  // [B, T, H, dv]
    int64_t o_sb = 0, o_st = 0, o_sh = 0;
    int64_t B = 1, T = 1, H = 1, dk = 0, dv = 0, S = 0;
    int64_t q_pos0 = 0;  // query t of every sequence sees keys s ≤ q_pos0 + t
    float scale = 1.0f;
};

// Whether mla_decode handles this shape (else the reference attention kernel runs).
inline bool mla_decode_supported(int64_t T, int64_t Hk, int64_t dk, int64_t dv) {
    return Hk == 1 && T >= 1 && T <= kMlaDecodeMaxT && dk >= 1 && dk <= kMlaDecodeMaxDk && dv >= 1 &&
           dv <= kMlaDecodeMaxDv;
}

// Number of key splits for this launch (≥ 1) and the workspace it needs (partials of every split).
int64_t mla_decode_splits(const MlaDecodeArgs& a, int sm_count);
size_t mla_decode_workspace_bytes(const MlaDecodeArgs& a, int sm_count);

// Enqueues the split kernel and the combine kernel on `stream`; `workspace` holds
// mla_decode_workspace_bytes(a, sm_count) bytes. Launch errors throw engine::Error (kBackend).
void mla_decode(const MlaDecodeArgs& a, void* workspace, int sm_count, cudaStream_t stream);

}  // namespace cuda_backend
