// attention_flash.h — the fused, flash-style causal attention forward for prefill / training shapes
// (attention_flash.cu). Backend-internal: CudaBackend::attention calls it for the shapes of
// flash_attention_supported(); decode shapes go to attention_decode.cu, the rest to the reference kernel.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace cuda_backend {

constexpr int64_t kFlashMinT = 5;     // T ≤ 4 is decode: the split-KV kernel or the reference kernel
constexpr int64_t kFlashMaxDk = 256;  // q·k head dim (DeepSeek MLA explicit form: 192)
constexpr int64_t kFlashMaxDv = 256;  // v head dim (MLA: 128)

// All pointers are device pointers; strides in elements; the last dim of every tensor is contiguous.
struct FlashAttnArgs {
    const float* q = nullptr;  // [T, H, dk]
    int64_t q_st = 0, q_sh = 0;
    const float* k = nullptr;  // [S, Hk, dk]
    int64_t k_st = 0, k_sh = 0;
    const float* v = nullptr;  // [S, Hk, dv]   (may alias k: the first dv columns of its rows)
    int64_t v_st = 0, v_sh = 0;
    float* out = nullptr;  // [T, H, dv]
    int64_t o_st = 0, o_sh = 0;
    int64_t T = 0, H = 0, Hk = 1, dk = 0, dv = 0, S = 0;
    int64_t q_pos0 = 0;  // query t sees keys s ≤ q_pos0 + t (and s < S)
    float scale = 1.0f;
    // TF32 tensor cores (attention_flash_tc.cu) where flash_attention_tc_applies; else fp32 SIMT.
    bool tensor_cores = false;
    int shared_optin = 48 * 1024;  // the device's opt-in shared memory per block (bytes)
};

// Whether flash_attention handles this shape (else the caller runs another kernel).
inline bool flash_attention_supported(int64_t T, int64_t H, int64_t Hk, int64_t dk, int64_t dv) {
    return T >= kFlashMinT && H >= 1 && H <= 65535 && (Hk == H || Hk == 1) && dk >= 1 && dk <= kFlashMaxDk &&
           dv >= 1 && dv <= kFlashMaxDv;
}

// Enqueues the kernel on `stream` (no workspace). Throws engine::Error: kInvalidArgument for an
// unsupported shape, kBackend for a launch error.
void flash_attention(const FlashAttnArgs& a, cudaStream_t stream);

// ---- the TF32 tensor-core forward (attention_flash_tc.cu), taken by flash_attention and
// flash_attention_stats where it applies: a.tensor_cores, dk % 8 == 0, dv % 8 == 0, dv ≤ 128 and its
// tiles fit a.shared_optin ----
bool flash_attention_tc_applies(const FlashAttnArgs& a);
// Allows its kernels the device's opt-in shared memory (cudaFuncSetAttribute); once per device, before
// the first launch (the backend's constructor).
void flash_attention_tc_setup(int shared_optin);
struct FlashStatsArgs;
// st == nullptr: writes a.out; else st's lse and delta (the backward's first pass).
void flash_attention_tc(const FlashAttnArgs& a, const FlashStatsArgs* st, cudaStream_t stream);

// ---- backward (attention_flash_backward.cu) ----

// What the forward kernel writes instead of out in the backward's first pass.
struct FlashStatsArgs {
    const float* dout = nullptr;  // [T, H, dv]
    int64_t do_st = 0, do_sh = 0;
    float* lse = nullptr;    // [T, H] log Σ_s e^(scale·q·k_s) over the keys query t sees
    float* delta = nullptr;  // [T, H] Σ_d dout·out (= Σ_s P·dP)
};
// The forward over a's shape (a.out unused) writing st.lse and st.delta.
void flash_attention_stats(const FlashAttnArgs& a, const FlashStatsArgs& st, cudaStream_t stream);

struct FlashAttnBwdArgs {
    const float* q = nullptr;  // [T, H, Dk]
    int64_t q_st = 0, q_sh = 0;
    const float* k = nullptr;  // [S, Hk, Dk]
    int64_t k_st = 0, k_sh = 0;
    const float* v = nullptr;  // [S, Hk, Dv]
    int64_t v_st = 0, v_sh = 0;
    const float* dout = nullptr;  // [T, H, Dv]
    int64_t do_st = 0, do_sh = 0;
    float* dq = nullptr;  // [T, H, Dk]   overwritten
    int64_t dq_st = 0, dq_sh = 0;
    float* dk = nullptr;  // [S, Hk, Dk]  overwritten (must not overlap dv)
    int64_t dk_st = 0, dk_sh = 0;
    float* dv = nullptr;  // [S, Hk, Dv]  overwritten
    int64_t dv_st = 0, dv_sh = 0;
    int64_t T = 0, H = 0, Hk = 1, Dk = 0, Dv = 0, S = 0;
    int64_t q_pos0 = 0;  // query t sees keys s ≤ min(S − 1, q_pos0 + t)
    float scale = 1.0f;
    bool tensor_cores = false;     // as FlashAttnArgs's, for the passes that have a TF32 kernel
    int shared_optin = 48 * 1024;  // the device's opt-in shared memory per block (bytes)
};

// The columns a backward row tile (rows r0 .. r0 + rows − 1 of head hr) visits, in both kernel sets
// (attention_flash_backward.cu, attention_flash_backward_tc.cu). Query rows (dq): the keys up to the last
// one the tile's last query sees. Key rows (dk, dv): the queries from the first that sees the tile's first
// key, for every query head when the K/V head is shared (Hk == 1). For query head h the column operands
// are cols₁ [cols, Dk] (k, or q for key rows) and cols₂ [cols, Dv] (v, or dO).
struct FlashBwdColumns {
    int64_t begin = 0, end = 0;      // columns
    int64_t h_begin = 0, h_end = 0;  // query heads
};
template <bool kKeyRows>
__host__ __device__ inline FlashBwdColumns flash_bwd_columns(const FlashAttnBwdArgs& a, int64_t r0, int64_t rows,
                                                             int64_t hr) {
    FlashBwdColumns c;
    c.h_begin = hr, c.h_end = hr + 1;
    if (kKeyRows) {
        c.begin = r0 > a.q_pos0 ? r0 - a.q_pos0 : 0, c.end = a.T;
        if (a.Hk == 1) c.h_begin = 0, c.h_end = a.H;
    } else {
        const int64_t last = a.T < r0 + rows ? a.T : r0 + rows;  // one past the tile's last query
        c.end = a.S < a.q_pos0 + last ? a.S : a.q_pos0 + last;
    }
    return c;
}
struct FlashBwdOperands {
    const float* c1;  // [cols, Dk], rows c1_ld apart
    int64_t c1_ld;
    const float* c2;  // [cols, Dv], rows c2_ld apart
    int64_t c2_ld;
};
template <bool kKeyRows>
__host__ __device__ inline FlashBwdOperands flash_bwd_operands(const FlashAttnBwdArgs& a, int64_t h) {
    const int64_t kh = a.Hk == 1 ? 0 : h;
    if (kKeyRows) return {a.q + h * a.q_sh, a.q_st, a.dout + h * a.do_sh, a.do_st};
    return {a.k + kh * a.k_sh, a.k_st, a.v + kh * a.v_sh, a.v_st};
}

// Workspace of flash_attention_backward: lse and delta, [T, H] floats each.
inline size_t flash_attention_backward_workspace_bytes(int64_t T, int64_t H) {
    return size_t(2 * T * H) * sizeof(float);
}
// Enqueues the three passes (stats, dq, dk/dv) on `stream`. Shapes as flash_attention_supported.
void flash_attention_backward(const FlashAttnBwdArgs& a, void* workspace, cudaStream_t stream);

// ---- passes 2 and 3 on TF32 tensor cores (attention_flash_backward_tc.cu), where a.tensor_cores,
// Dk % 8 == 0, Dv % 8 == 0, the output's width ≤ 192 and the tiles fit a.shared_optin ----
void flash_attention_backward_tc_setup(int shared_optin);  // as flash_attention_tc_setup
// Each enqueues its pass and returns true, or returns false (nothing enqueued) where it does not apply.
bool flash_attention_backward_tc_dq(const FlashAttnBwdArgs& a, const float* lse, const float* delta,
                                    cudaStream_t stream);
bool flash_attention_backward_tc_dkdv(const FlashAttnBwdArgs& a, const float* lse, const float* delta,
                                      cudaStream_t stream);

}  // namespace cuda_backend
