// attention_decode.cpp — decode-time MQA attention (see attention_decode.h): per chunk of kChunk keys,
//   scores  sc[h, s] = scale · q[h]·k[s]     8 heads at a time share each load of a key row
//   softmax pieces   m_h = max_s sc, p = exp(sc − m_h), l_h = Σ_s p
//   P·V     o[h, :] = Σ_s p[h, s] · v[s]     8 heads × 8 value dims in registers per pass over the keys
// The chunk's key rows (≤ 256 × row) stay in L2 between the score and the P·V pass (for the MLA latent,
// v is the first r_kv dims of the same rows). Chunks run in parallel and merge by the running-max rule:
//   out[h] = Σ_c e^(m_c − M) o_c / Σ_c e^(m_c − M) l_c.
// The math is the blocked-BLAS path's (attention.cpp), without OpenBLAS packing the cache on every call.
// Keys/values may be F32 or BF16 (a BF16 KV cache: half the bytes streamed, widened in registers).
#include "cpu/attention_decode.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/cpu_common.h"
#include "cpu/simd_load.h"

// GCC 12 flags its own AVX-512 intrinsics as maybe-uninitialized: a false positive (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace engine::cpu {
namespace {

constexpr int64_t kChunk = 256;  // keys per work item
constexpr int kHeads = 8;        // heads per register block

// Keys and values are stored as KT: float, or uint16_t holding bf16 bits (a BF16 KV cache), widened to
// fp32 as they are loaded (simd_load.h).

// sc[j·ld_sc] = scale · q_j·kr  for the HB heads q_j = q + j·ldq.
template <int HB, class KT>
__attribute__((target("avx2,fma,f16c"))) inline void score_heads(const float* q, int64_t ldq, const KT* kr, int64_t dk,
                                                                 float scale, float* sc, int64_t ld_sc) {
    constexpr WKind W = bf16_or_f32_kind<KT>();
    const int64_t d8 = dk / 8 * 8;
    __m256 acc[HB];
#pragma GCC unroll 8
    for (int j = 0; j < HB; ++j) acc[j] = _mm256_setzero_ps();
    for (int64_t d = 0; d < d8; d += 8) {
        const __m256 kv = load8_w<W>(kr, d);
#pragma GCC unroll 8
        for (int j = 0; j < HB; ++j) acc[j] = _mm256_fmadd_ps(_mm256_loadu_ps(q + j * ldq + d), kv, acc[j]);
    }
    for (int j = 0; j < HB; ++j) {
        float s = hsum8(acc[j]);
        for (int64_t d = d8; d < dk; ++d) s += q[j * ldq + d] * load1_w<W>(kr, d);
        sc[j * ld_sc] = s * scale;
    }
}

// o[j·ldo + :dv] = Σ_s p[j·ld_p + s] · v[s·ldv + :dv]  for HB heads, s < ns.
template <int HB, class KT>
__attribute__((target("avx2,fma,f16c"))) inline void pv_heads(const float* p, int64_t ld_p, const KT* v, int64_t ldv,
                                                              int64_t ns, int64_t dv, float* o, int64_t ldo) {
    constexpr WKind W = bf16_or_f32_kind<KT>();
    const int64_t d8 = dv / 8 * 8;
    for (int64_t d = 0; d < d8; d += 8) {
        __m256 acc[HB];
#pragma GCC unroll 8
        for (int j = 0; j < HB; ++j) acc[j] = _mm256_setzero_ps();
        for (int64_t s = 0; s < ns; ++s) {
            const __m256 vv = load8_w<W>(v + s * ldv, d);
#pragma GCC unroll 8
            for (int j = 0; j < HB; ++j) acc[j] = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j * ld_p + s), vv, acc[j]);
        }
#pragma GCC unroll 8
        for (int j = 0; j < HB; ++j) _mm256_storeu_ps(o + j * ldo + d, acc[j]);
    }
    for (int64_t d = d8; d < dv; ++d)
        for (int j = 0; j < HB; ++j) {
            float a = 0.0f;
            for (int64_t s = 0; s < ns; ++s) a += p[j * ld_p + s] * load1_w<W>(v + s * ldv, d);
            o[j * ldo + d] = a;
        }
}

// AVX-512 versions (16-wide) of the two kernels below.
// sc[j·ld_sc] = scale · q_j·kr  for the HB heads q_j = q + j·ldq.
template <int HB, class KT>
__attribute__((target("avx512f"))) inline void score_heads512(const float* q, int64_t ldq, const KT* kr, int64_t dk,
                                                              float scale, float* sc, int64_t ld_sc) {
    constexpr WKind W = bf16_or_f32_kind<KT>();
    const int64_t d16 = dk / 16 * 16;
    __m512 acc[HB];
#pragma GCC unroll 8
    for (int j = 0; j < HB; ++j) acc[j] = _mm512_setzero_ps();
    for (int64_t d = 0; d < d16; d += 16) {
        const __m512 kv = load16_w<W>(kr, d);
#pragma GCC unroll 8
        for (int j = 0; j < HB; ++j) acc[j] = _mm512_fmadd_ps(_mm512_loadu_ps(q + j * ldq + d), kv, acc[j]);
    }
    for (int j = 0; j < HB; ++j) {
        float s = hsum16(acc[j]);
        for (int64_t d = d16; d < dk; ++d) s += q[j * ldq + d] * load1_w<W>(kr, d);
        sc[j * ld_sc] = s * scale;
    }
}

// o[j·ldo + :dv] = Σ_s p[j·ld_p + s] · v[s·ldv + :dv]  for HB heads, s < ns.
template <int HB, class KT>
__attribute__((target("avx512f"))) inline void pv_heads512(const float* p, int64_t ld_p, const KT* v, int64_t ldv,
                                                           int64_t ns, int64_t dv, float* o, int64_t ldo) {
    constexpr WKind W = bf16_or_f32_kind<KT>();
    const int64_t d16 = dv / 16 * 16;
    for (int64_t d = 0; d < d16; d += 16) {
        __m512 acc[HB];
#pragma GCC unroll 8
        for (int j = 0; j < HB; ++j) acc[j] = _mm512_setzero_ps();
        for (int64_t s = 0; s < ns; ++s) {
            const __m512 vv = load16_w<W>(v + s * ldv, d);
#pragma GCC unroll 8
            for (int j = 0; j < HB; ++j) acc[j] = _mm512_fmadd_ps(_mm512_set1_ps(p[j * ld_p + s]), vv, acc[j]);
        }
#pragma GCC unroll 8
        for (int j = 0; j < HB; ++j) _mm512_storeu_ps(o + j * ldo + d, acc[j]);
    }
    for (int64_t d = d16; d < dv; ++d)
        for (int j = 0; j < HB; ++j) {
            float a = 0.0f;
            for (int64_t s = 0; s < ns; ++s) a += p[j * ld_p + s] * load1_w<W>(v + s * ldv, d);
            o[j * ldo + d] = a;
        }
}

// One chunk of keys [s0, s0 + ns) for all H heads: unnormalised o [H, ldo], row max m [H], sum l [H].
template <bool A512, class KT>
void chunk(const float* q, int64_t ldq, const KT* k, int64_t ldk, const KT* v, int64_t ldv, int64_t H,
           int64_t s0, int64_t ns, int64_t dk, int64_t dv, float scale, float* sc, float* o, int64_t ldo, float* m,
           float* l) {
    for (int64_t s = 0; s < ns; ++s) {
        const KT* kr = k + (s0 + s) * ldk;  // [dk]
        int64_t h = 0;
        if constexpr (A512) {
            for (; h + kHeads <= H; h += kHeads)
                score_heads512<kHeads>(q + h * ldq, ldq, kr, dk, scale, sc + h * ns + s, ns);
            for (; h < H; ++h) score_heads512<1>(q + h * ldq, ldq, kr, dk, scale, sc + h * ns + s, ns);
        } else {
            for (; h + kHeads <= H; h += kHeads)
                score_heads<kHeads>(q + h * ldq, ldq, kr, dk, scale, sc + h * ns + s, ns);
            for (; h < H; ++h) score_heads<1>(q + h * ldq, ldq, kr, dk, scale, sc + h * ns + s, ns);
        }
    }
    for (int64_t h = 0; h < H; ++h) {
        float* p = sc + h * ns;
        float mx = -std::numeric_limits<float>::infinity(), sum = 0.0f;
        for (int64_t s = 0; s < ns; ++s) mx = std::max(mx, p[s]);
        for (int64_t s = 0; s < ns; ++s) sum += (p[s] = std::exp(p[s] - mx));
        m[h] = mx;
        l[h] = sum;
    }
    const KT* vc = v + s0 * ldv;
    int64_t h = 0;
    if constexpr (A512) {
        for (; h + kHeads <= H; h += kHeads) pv_heads512<kHeads>(sc + h * ns, ns, vc, ldv, ns, dv, o + h * ldo, ldo);
        for (; h < H; ++h) pv_heads512<1>(sc + h * ns, ns, vc, ldv, ns, dv, o + h * ldo, ldo);
    } else {
        for (; h + kHeads <= H; h += kHeads) pv_heads<kHeads>(sc + h * ns, ns, vc, ldv, ns, dv, o + h * ldo, ldo);
        for (; h < H; ++h) pv_heads<1>(sc + h * ns, ns, vc, ldv, ns, dv, o + h * ldo, ldo);
    }
}

template <class KT>
bool mqa_decode(const float* q, int64_t ldq, const KT* k, int64_t ldk, const KT* v, int64_t ldv, float* out,
                int64_t ldo, int64_t H, int64_t n_keys, int64_t dk, int64_t dv, float scale, int threads) {
    if (!has_avx2_fma() || !has_f16c()) return false;
    const auto run_chunk = has_avx512f() ? chunk<true, KT> : chunk<false, KT>;
    const int64_t items = (n_keys + kChunk - 1) / kChunk;
    const double flops = 2.0 * double(H) * double(n_keys) * double(dk + dv);
    const int nt = flops < 2e6 || items < 2 ? 1 : int(std::min<int64_t>(threads, items));
    if (items == 1) {
        // One chunk: normalise straight into out.
        std::vector<float> sc(static_cast<size_t>(H * n_keys)), m(static_cast<size_t>(H)), l(static_cast<size_t>(H));
        run_chunk(q, ldq, k, ldk, v, ldv, H, 0, n_keys, dk, dv, scale, sc.data(), out, ldo, m.data(), l.data());
        for (int64_t h = 0; h < H; ++h) {
            const float inv = 1.0f / l[size_t(h)];
            for (int64_t d = 0; d < dv; ++d) out[h * ldo + d] *= inv;
        }
        return true;
    }
    std::vector<float> part_o(static_cast<size_t>(items * H * dv)), part_m(static_cast<size_t>(items * H)),
        part_l(static_cast<size_t>(items * H));
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        std::vector<float> sc(static_cast<size_t>(H * kChunk));  // [H, ns] scores -> probabilities
#pragma omp for schedule(static)
        for (int64_t c = 0; c < items; ++c) {
            const int64_t s0 = c * kChunk, ns = std::min(kChunk, n_keys - s0);
            run_chunk(q, ldq, k, ldk, v, ldv, H, s0, ns, dk, dv, scale, sc.data(), part_o.data() + c * H * dv, dv,
                  part_m.data() + c * H, part_l.data() + c * H);
        }
#pragma omp for schedule(static)
        for (int64_t h = 0; h < H; ++h) {
            float big = -std::numeric_limits<float>::infinity();
            for (int64_t c = 0; c < items; ++c) big = std::max(big, part_m[size_t(c * H + h)]);
            float denom = 0.0f;
            float* dst = out + h * ldo;  // [dv]
            for (int64_t d = 0; d < dv; ++d) dst[d] = 0.0f;
            for (int64_t c = 0; c < items; ++c) {
                const float w = std::exp(part_m[size_t(c * H + h)] - big);
                denom += w * part_l[size_t(c * H + h)];
                const float* o = part_o.data() + (c * H + h) * dv;
                for (int64_t d = 0; d < dv; ++d) dst[d] += w * o[d];
            }
            const float inv = 1.0f / denom;
            for (int64_t d = 0; d < dv; ++d) dst[d] *= inv;
        }
    }
    return true;
}

}  // namespace

bool mqa_decode_avx2(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v, int64_t ldv,
                     float* out, int64_t ldo, int64_t H, int64_t n_keys, int64_t dk, int64_t dv, float scale,
                     int threads) {
    return mqa_decode(q, ldq, k, ldk, v, ldv, out, ldo, H, n_keys, dk, dv, scale, threads);
}

bool mqa_decode_avx2(const float* q, int64_t ldq, const uint16_t* k, int64_t ldk, const uint16_t* v, int64_t ldv,
                     float* out, int64_t ldo, int64_t H, int64_t n_keys, int64_t dk, int64_t dv, float scale,
                     int threads) {
    return mqa_decode(q, ldq, k, ldk, v, ldv, out, ldo, H, n_keys, dk, dv, scale, threads);
}

}  // namespace engine::cpu
