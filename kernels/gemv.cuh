// gemv.cuh — the inner loop of our memory-bound GEMVs (moe_decode.cu, gemv.cu): one warp per weight row,
// each lane streaming 16-byte vectors of the row (8 bf16 / 8 f16 / 4 f32 weights) when every row is
// 16-byte aligned, then single elements for the tail; the weights of a vector are multiplied into up to
// kM activation rows, so a row is read once for all of them. Sums are fp32 in a fixed order
// (deterministic: no atomics; the caller reduces over the warp).
#pragma once

#include "common.cuh"

namespace cuda_backend {

// The 16 bytes `q` as 16 / sizeof(W) floats (little-endian).
template <typename W>
__device__ __forceinline__ void unpack16(const uint4& q, float (&f)[16 / sizeof(W)]) {
    const unsigned w[4] = {q.x, q.y, q.z, q.w};
    for (int j = 0; j < 4; ++j) {
        if constexpr (std::is_same_v<W, float>) {
            f[j] = __uint_as_float(w[j]);
        } else if constexpr (std::is_same_v<W, __nv_bfloat16>) {
            f[2 * j] = __uint_as_float(w[j] << 16);
            f[2 * j + 1] = __uint_as_float(w[j] & 0xffff0000u);
        } else {
            f[2 * j] = __half2float(__ushort_as_half(static_cast<unsigned short>(w[j] & 0xffffu)));
            f[2 * j + 1] = __half2float(__ushort_as_half(static_cast<unsigned short>(w[j] >> 16)));
        }
    }
}

// s[m] += this lane's share of row·x_m over n elements, for the first M (≤ kM) activation rows
// x_m = x + m·ldx (not yet summed over the warp). kVec: row is 16-byte aligned; lanes take 16-byte
// vectors in turn (each word's weights summed first, then added to s[m]). kXVec (with kVec): x and ldx
// keep every lane's V activations 16-byte aligned, so they are read as float4s. In shared memory that
// matters: lane c reads x[c·V .. c·V + V), and scalar reads 32 bytes apart are 8-way bank conflicts.
template <typename W, bool kVec, int kM, bool kXVec = false>
__device__ __forceinline__ void lane_dots(const W* row, const float* x, int64_t ldx, int64_t n, int lane, int M,
                                          float (&s)[kM]) {
    int64_t k0 = 0;
    if constexpr (kVec) {
        constexpr int V = 16 / int(sizeof(W)), P = 4 / int(sizeof(W));  // weights per vector, per 32-bit word
        const int64_t nv = n / V;
        const uint4* r4 = reinterpret_cast<const uint4*>(row);
#pragma unroll 4
        for (int64_t c = lane; c < nv; c += 32) {
            float f[V];
            unpack16<W>(r4[c], f);
#pragma unroll
            for (int m = 0; m < kM; ++m) {
                if (m >= M) break;
                const float* xm = x + m * ldx + c * V;
                float xv[V];
                if constexpr (kXVec) {
#pragma unroll
                    for (int q = 0; q < V / 4; ++q) {
                        const float4 t = reinterpret_cast<const float4*>(xm)[q];
                        xv[4 * q] = t.x, xv[4 * q + 1] = t.y, xv[4 * q + 2] = t.z, xv[4 * q + 3] = t.w;
                    }
                } else {
#pragma unroll
                    for (int j = 0; j < V; ++j) xv[j] = xm[j];
                }
#pragma unroll
                for (int j = 0; j < V; j += P) {
                    float t = f[j] * xv[j];
                    if constexpr (P == 2) t += f[j + 1] * xv[j + 1];
                    s[m] += t;
                }
            }
        }
        k0 = nv * V;
    }
    for (int64_t k = k0 + lane; k < n; k += 32) {
        const float w = to_float<W>(row[k]);
#pragma unroll
        for (int m = 0; m < kM; ++m)
            if (m < M) s[m] += w * x[m * ldx + k];
    }
}

// One activation row: this lane's share of row·x.
template <typename W, bool kVec, bool kXVec = false>
__device__ __forceinline__ float lane_dot(const W* row, const float* x, int64_t n, int lane) {
    float s[1] = {0.0f};
    lane_dots<W, kVec, 1, kXVec>(row, x, 0, n, lane, 1, s);
    return s[0];
}

}  // namespace cuda_backend
