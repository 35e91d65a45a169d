// rope.cpp — in-place rotary embedding of adjacent pairs (2i, 2i+1) on the last dim of x[T, heads, d_r]
// (DeepSeek model.py / llama.cpp layout; see backend.h). The angle is the fp32 product
// fp32(pos[t]) · inv_freq[i]; cos and sin are scaled by attn_factor (YaRN mscale).
#include <cmath>
#include <vector>

#include "cpu/cpu_backend.h"
#include "cpu/cpu_common.h"

namespace engine {

using namespace cpu;

void CpuBackend::rope(const TensorView& x, const TensorView& positions, const TensorView& inv_freq,
                      float attn_factor) {
    check_view("rope", "x", x);
    check_view("rope", "positions", positions);
    check_view("rope", "inv_freq", inv_freq);
    check_dtype("rope", "x", x, DType::F32);
    check_dtype("rope", "positions", positions, DType::I32);
    check_dtype("rope", "inv_freq", inv_freq, DType::F32);
    check_ndim("rope", "x", x, 2, 3);
    check_ndim("rope", "positions", positions, 1, 1);
    check_ndim("rope", "inv_freq", inv_freq, 1, 1);
    const int64_t T = x.shape[0];
    const int64_t heads = x.ndim == 3 ? x.shape[1] : 1;
    const int64_t d_r = x.shape[x.ndim - 1];
    ENGINE_CHECK(positions.shape[0] == T, kInvalidArgument, "rope: x ", x.shape_str(), " and positions ",
                 positions.shape_str(), ": one position per token expected");
    ENGINE_CHECK(d_r % 2 == 0, kInvalidArgument, "rope: x ", x.shape_str(), ": the rotary dim must be even");
    ENGINE_CHECK(inv_freq.shape[0] == d_r / 2, kInvalidArgument, "rope: x ", x.shape_str(), " and inv_freq ",
                 inv_freq.shape_str(), ": inv_freq must have d_r/2 = ", d_r / 2, " entries");
    if (T == 0 || d_r == 0 || heads == 0) return;
    const int64_t half = d_r / 2;
    const int32_t* pos = positions.as<int32_t>();
    const float* freq = inv_freq.as<float>();
    const int64_t pos_stride = positions.stride[0];
    const int64_t s_t = x.stride[0], s_h = x.ndim == 3 ? x.stride[1] : 0;
    float* base = x.as<float>();
#pragma omp parallel num_threads(threads_) if (T * heads * d_r >= (1 << 14))
    {
        std::vector<float> cs(static_cast<size_t>(half)), sn(static_cast<size_t>(half));  // [d_r/2] cos, sin for this token
#pragma omp for schedule(static)
        for (int64_t t = 0; t < T; ++t) {
            const float p = float(pos[t * pos_stride]);
            for (int64_t i = 0; i < half; ++i) {
                const float angle = p * freq[i];
                cs[size_t(i)] = std::cos(angle) * attn_factor;
                sn[size_t(i)] = std::sin(angle) * attn_factor;
            }
            for (int64_t h = 0; h < heads; ++h) {
                float* v = base + t * s_t + h * s_h;  // [d_r]
                for (int64_t i = 0; i < half; ++i) {
                    const float a = v[2 * i], b = v[2 * i + 1];
                    v[2 * i] = a * cs[size_t(i)] - b * sn[size_t(i)];
                    v[2 * i + 1] = a * sn[size_t(i)] + b * cs[size_t(i)];
                }
            }
        }
    }
}

}  // namespace engine
