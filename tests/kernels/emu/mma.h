// mma.h (emulated) — the subset of nvcuda::wmma that kernels/attention_decode_tc.cu uses: m16n16k8 TF32
// and m16n16k16 __nv_bfloat16 fragments (matrix_a row_major, matrix_b row/col_major, float accumulators),
// load/store/fill/mma_sync, and __float_to_tf32. A bf16 fragment holds its values widened to float
// (exactly); kernels do not touch bf16 fragments' elements. (mma.sync m16n8k8, kernels/mma_tf32.cuh, is emulated in cuda_runtime.h.)
//
// Every emulated thread holds the WHOLE tile in its fragment and computes the whole product (the real
// distribution of elements over a warp's lanes is unspecified, and kernels may only touch fragment
// elements uniformly, which this keeps valid). Collective semantics that a kernel must respect anyway
// are then visible here too: a warp that loads a tile from memory it later stores to needs __syncwarp()
// between the load and the store, or a fast lane's store reaches a slow lane's load.
// TF32 rounding: __float_to_tf32 rounds to nearest, ties away from zero, to 10 mantissa bits (as
// cvt.rna.tf32.f32); mma_sync multiplies the stored values exactly and accumulates in fp32, in k order.
#pragma once

#include <cstring>
#include <type_traits>

#include "cuda_bf16.h"
#include "cuda_runtime.h"

inline float __float_to_tf32(float f) { return ::emu::float_to_tf32(f); }

namespace nvcuda::wmma {

using ::__float_to_tf32;

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
namespace precision {
struct tf32 {};
}  // namespace precision
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {
    static constexpr int rows = std::is_same_v<Use, matrix_b> ? K : M;
    static constexpr int cols = std::is_same_v<Use, matrix_a> ? K : N;
    static constexpr int num_elements = rows * cols;
    float x[num_elements];
};

inline float widen(float v) { return v; }
inline float widen(__nv_bfloat16 v) { return __bfloat162float(v); }

// P: float for TF32 fragments, __nv_bfloat16 for bf16 ones (as the real overloads require).
template <class Use, int M, int N, int K, class T, class Layout, class P>
inline void load_matrix_sync(fragment<Use, M, N, K, T, Layout>& f, const P* p, unsigned ldm) {
    using F = fragment<Use, M, N, K, T, Layout>;
    static_assert(std::is_same_v<P, __nv_bfloat16> == std::is_same_v<T, __nv_bfloat16>, "pointer type vs fragment");
    static_assert(!std::is_same_v<T, __nv_bfloat16> || K == 16, "bf16 fragments are m16n16k16");
    for (int r = 0; r < F::rows; ++r)
        for (int c = 0; c < F::cols; ++c)
            f.x[r * F::cols + c] =
                widen(std::is_same_v<Layout, col_major> ? p[size_t(c) * ldm + r] : p[size_t(r) * ldm + c]);
}

template <int M, int N, int K>
inline void load_matrix_sync(fragment<accumulator, M, N, K, float>& f, const float* p, unsigned ldm, layout_t l) {
    for (int r = 0; r < M; ++r)
        for (int c = 0; c < N; ++c) f.x[r * N + c] = l == mem_row_major ? p[size_t(r) * ldm + c] : p[size_t(c) * ldm + r];
}

template <int M, int N, int K>
inline void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm, layout_t l) {
    for (int r = 0; r < M; ++r)
        for (int c = 0; c < N; ++c) (l == mem_row_major ? p[size_t(r) * ldm + c] : p[size_t(c) * ldm + r]) = f.x[r * N + c];
}

template <class Use, int M, int N, int K, class T, class Layout>
inline void fill_fragment(fragment<Use, M, N, K, T, Layout>& f, float v) {
    for (float& e : f.x) e = v;
}

template <int M, int N, int K, class T, class LA, class LB>
inline void mma_sync(fragment<accumulator, M, N, K, float>& d, const fragment<matrix_a, M, N, K, T, LA>& a,
                     const fragment<matrix_b, M, N, K, T, LB>& b, const fragment<accumulator, M, N, K, float>& c) {
    float out[M * N];
    for (int i = 0; i < M; ++i)
        for (int j = 0; j < N; ++j) {
            float acc = c.x[i * N + j];
            for (int k = 0; k < K; ++k) acc += a.x[i * K + k] * b.x[k * N + j];
            out[i * N + j] = acc;
        }
    std::memcpy(d.x, out, sizeof out);
}

}  // namespace nvcuda::wmma
