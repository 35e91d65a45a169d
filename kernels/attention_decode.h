// attention_decode.h — the split-KV (flash-decoding) MQA attention over the MLA latent cache
// (attention_decode.cu). Backend-internal: CudaBackend::attention calls it for Hk == 1 and T ≤ 256 where
// the flash kernel does not apply (the absorbed MLA form: dk 576, dv 512): decode steps, and a chat turn's
// new tokens over a long cached prefix, which the model runs absorbed (deepseek_model.cpp's
// prefer_absorbed); the CUDA benchmark (bench/cuda_attention_bench.cu) calls it batched and through a
// block table.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace cuda_backend {

// Queries per sequence: each is a row of the grid that reads the keys it sees (from L2 after the first);
// beyond 256 the partials would need T·H·dv floats of workspace per split, and the explicit form is the
// model's choice for such chunks anyway.
constexpr int64_t kMlaDecodeMaxT = 256;
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
    // Elements are fp32, or bf16 when kv_bf16 (a BF16 KV cache: widened to fp32 as they are loaded).
    const void* k = nullptr;
    int64_t k_ld = 0, k_sb = 0;
    const void* v = nullptr;
    int64_t v_ld = 0, v_sb = 0;
    bool kv_bf16 = false;
    const int32_t* block_table = nullptr;  // optional [B, ceil(S/64)] page indices; nullptr = contiguous
    int64_t bt_ld = 0;
    float* out = nullptr;  // [B, T, H, dv]
    int64_t o_sb = 0, o_st = 0, o_sh = 0;
    int64_t B = 1, T = 1, H = 1, dk = 0, dv = 0, S = 0;
    int64_t q_pos0 = 0;  // query t of every sequence sees keys s ≤ q_pos0 + t
    float scale = 1.0f;
    // Run the tensor-core split kernel (attention_decode_tc.cu) where it applies (mla_decode_tc_applies);
    // else, and by default, the fp32 SIMT kernel. Over an fp32 cache it is TF32 (q, k, v and the
    // probabilities rounded to 10 mantissa bits: ~1e-3 relative instead of ~1e-6); over a BF16 cache, bf16
    // (q and the probabilities rounded to 7 bits as well).
    bool tensor_cores = false;
};

// Per-split partial results in the workspace, merged by the combine kernel.
struct MlaDecodePartials {
    float* o;  // [rows, splits, H, dv] unnormalised Σ p·v
    float* m;  // [rows, splits, H] running max of the scores
    float* l;  // [rows, splits, H] Σ p
};

// Address of key row s of sequence b (contiguous or paged); T is the cache's element type.
template <class T>
__device__ __forceinline__ const T* mla_row_ptr(const T* base, int64_t ld, int64_t sb, const int32_t* table,
                                                int64_t bt_ld, int64_t b, int64_t s) {
    if (table == nullptr) return base + b * sb + s * ld;
    const int64_t page = table[b * bt_ld + s / kMlaPageTokens];
    return base + (page * kMlaPageTokens + s % kMlaPageTokens) * ld;
}

// The tensor-core kernel's conditions: a.tensor_cores; v the first dv columns of the k rows; dk a
// multiple of the k step (TF32: 8, bf16 cache: 16); dv a multiple of 64; the cache 32-byte aligned with
// strides of whole 32 bytes (WMMA's pointer rule; q is staged into the workspace, so any q layout and head
// count works).
bool mla_decode_tc_applies(const MlaDecodeArgs& a);
// Floats of the workspace the tensor-core kernel stages q in: [B·T, H rounded up to 16, dk].
int64_t mla_decode_tc_q_floats(const MlaDecodeArgs& a);
// v is the first dv columns of the k rows (the absorbed MLA form).
bool alias_v(const MlaDecodeArgs& a);
// Stages q into `q_stage` (mla_decode_tc_q_floats, 32-byte aligned) and launches the tensor-core split
// kernel (grid as the SIMT one: splits, ceil(H / 16), B·T; `chunk` keys per split, a multiple of 64 so no
// 16-key group crosses a page).
void mla_decode_tc_split(const MlaDecodeArgs& a, int64_t chunk, dim3 grid, const MlaDecodePartials& part,
                         float* q_stage, cudaStream_t stream);

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
