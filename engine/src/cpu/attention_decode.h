// attention_decode.h — the decode-time MQA attention kernel (one query position, H heads sharing one
// key/value head, e.g. the absorbed MLA latent cache), used by CpuBackend::attention (attention.cpp).
#pragma once

#include <cstdint>

namespace engine::cpu {

// One decode step of MQA:  out[h, :] = softmax_s(scale · q[h]·k[s]) · v[s]  over keys s < n_keys.
//   q   [H, dk]  rows ldq apart          k [n_keys, dk] rows ldk apart
//   v   [n_keys, dv] rows ldv apart (may alias k)       out [H, dv] rows ldo apart
// Keys are cut into chunks (parallel over `threads`), each chunk's scores, exp and P·V are computed with
// AVX2 / AVX-512 register blocking (no packing copies of the cache, unlike sgemm) and the chunks are
// merged by the running-max rule. Returns false (nothing done) when the CPU lacks AVX2/FMA: the caller
// falls back.
// (Also requires F16C, which every AVX2 CPU has, for the widening loads.)
bool mqa_decode_avx2(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v, int64_t ldv,
                     float* out, int64_t ldo, int64_t H, int64_t n_keys, int64_t dk, int64_t dv, float scale,
                     int threads);
// The same over a BF16 cache: k and v hold bf16 bits, widened to fp32 as they are loaded.
bool mqa_decode_avx2(const float* q, int64_t ldq, const uint16_t* k, int64_t ldk, const uint16_t* v, int64_t ldv,
                     float* out, int64_t ldo, int64_t H, int64_t n_keys, int64_t dk, int64_t dv, float scale,
                     int threads);

}  // namespace engine::cpu
