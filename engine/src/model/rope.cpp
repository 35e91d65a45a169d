// rope.cpp — YaRN rotary frequencies and the MLA softmax scale (deepseek-arch.md §2, §4).
//
// Convention: we match DeepSeek's remote code, DeepSeek's model.py, llama.cpp and transformers after
// PR #47435: the softmax scale is d_qk^-0.5 · m² with m = yarn_get_mscale(factor, mscale_all_dim).
// The inverse frequencies are computed in fp32 exactly like transformers' _compute_yarn_parameters
// (powf of an fp32 exponent, fp32 blend); the correction range uses double like Python floats.
#include <cmath>
#include <vector>

#include "engine/config.h"
#include "engine/error.h"

namespace engine {
namespace {

// yarn_get_mscale(s, m) = 1 if s <= 1 else 0.1·m·ln(s) + 1
double yarn_get_mscale(double scale, double mscale) {
    if (scale <= 1.0) return 1.0;
    return 0.1 * mscale * std::log(scale) + 1.0;
}

bool is_yarn(const ModelConfig& c) { return c.rope_scaling && c.rope_scaling->type == "yarn"; }

void check_rope_kind(const ModelConfig& c) {
    if (!c.rope_scaling) return;
    const std::string& t = c.rope_scaling->type;
    ENGINE_CHECK(t == "yarn" || t == "default" || t.empty(), kUnsupported, "config.json: rope_scaling.type '",
                 t, "' is not supported (DeepSeek checkpoints use \"yarn\"; remove rope_scaling for plain RoPE)");
}

}  // namespace

double ModelConfig::softmax_scale() const {
    double scale = 1.0 / std::sqrt(double(qk_head_dim()));
    if (is_yarn(*this) && rope_scaling->mscale_all_dim != 0.0) {
        double m = yarn_get_mscale(rope_scaling->factor, rope_scaling->mscale_all_dim);
        scale *= m * m;
    }
    return scale;
}

std::vector<float> ModelConfig::rope_inv_freq() const {
    check_rope_kind(*this);
    const int64_t d = qk_rope_head_dim;  // e.g. 64
    ENGINE_CHECK(d > 0 && d % 2 == 0, kBadFile, "config.json: qk_rope_head_dim must be a positive even number, got ",
                 d);
    const int64_t half = d / 2;
    const float base = float(rope_theta);
    const size_t nh = static_cast<size_t>(half);
    std::vector<float> pos_freq(nh), extrapolation(nh), out(nh);
    for (int64_t i = 0; i < half; ++i) {
        float exponent = float(2 * i) / float(d);            // fp32, as torch.arange(0, d, 2).float() / d
        pos_freq[size_t(i)] = std::pow(base, exponent);      // fp32 pow
        extrapolation[size_t(i)] = 1.0f / pos_freq[size_t(i)];
    }
    if (!is_yarn(*this)) return extrapolation;

    const RopeScaling& y = *rope_scaling;
    const float factor = float(y.factor);
    // corr(n) = d·ln(L/(n·2π)) / (2·ln b)
    auto corr = [&](double n) {
        return double(d) * std::log(double(y.original_max_position_embeddings) / (n * 2.0 * M_PI)) /
               (2.0 * std::log(rope_theta));
    };
    double low = std::max(std::floor(corr(y.beta_fast)), 0.0);          // 10 for DeepSeek
    double high = std::min(std::ceil(corr(y.beta_slow)), double(d - 1));  // 23 for DeepSeek
    if (low == high) high += 0.001;
    const float lowf = float(low), span = float(high - low);
    for (int64_t i = 0; i < half; ++i) {
        float fe = extrapolation[size_t(i)];
        float fi = 1.0f / (factor * pos_freq[size_t(i)]);
        float ramp = (float(i) - lowf) / span;
        ramp = std::min(std::max(ramp, 0.0f), 1.0f);
        float mask = 1.0f - ramp;  // extrapolation weight
        out[size_t(i)] = fi * (1.0f - mask) + fe * mask;
    }
    return out;
}

float ModelConfig::rope_attention_factor() const {
    if (!is_yarn(*this)) return 1.0f;
    const RopeScaling& y = *rope_scaling;
    // Remote code: get_mscale(f, mscale) / get_mscale(f, mscale_all_dim) (mscale_all_dim 0 -> 1).
    return float(yarn_get_mscale(y.factor, y.mscale) / yarn_get_mscale(y.factor, y.mscale_all_dim));
}

}  // namespace engine
