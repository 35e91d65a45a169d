// moe_train.cpp — the MoE ops of training on the CPU: moe_permute (a stable counting sort of the
// routing choices by expert) and moe_seq_aux_loss (DeepSeek-V3's sequence-wise balance loss and its
// gradient, in double). The references for kernels/moe_train.cu.
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/cpu_backend.h"
#include "engine/detail/moe_train_checks.h"

namespace engine {

void CpuBackend::moe_permute(const TensorView& rows, const TensorView& slot, const TensorView& scale,
                             int64_t* offsets, int64_t E, const TensorView& idx, const TensorView& weights) {
    check_moe_permute_args(rows, slot, scale, offsets, E, idx, weights, Device::CPU);
    const int64_t n = idx.numel(), K = idx.shape[1];
    const int32_t* id = idx.as<const int32_t>();
    std::fill(offsets, offsets + E + 1, int64_t(0));
    for (int64_t i = 0; i < n; ++i) {
        ENGINE_CHECK(id[i] >= 0 && id[i] < E, kInternal, "moe_permute: expert id ", id[i], " (row ", i / K,
                     ") outside [0, ", E, ")");
        ++offsets[id[i] + 1];
    }
    for (int64_t e = 0; e < E; ++e) offsets[e + 1] += offsets[e];
    std::vector<int64_t> next(offsets, offsets + E);
    for (int64_t i = 0; i < n; ++i) {  // (t, k) order: stable
        const int64_t at = next[size_t(id[i])]++;
        rows.as<int32_t>()[at] = int32_t(i / K);
        slot.as<int32_t>()[at] = int32_t(i);
        scale.as<float>()[at] = weights.as<const float>()[i];
    }
}

double CpuBackend::moe_seq_aux_loss(const TensorView& dlogits, const TensorView& logits, const TensorView& idx,
                                    int64_t B, float alpha, RouterParams::Scoring scoring) {
    check_moe_aux_args(dlogits, logits, idx, B, Device::CPU);
    const int64_t R = logits.shape[0], E = logits.shape[1], K = idx.shape[1], T = R / B;
    const bool softmax = scoring == RouterParams::Scoring::kSoftmax;
    const float* lg = logits.as<const float>();
    const int32_t* id = idx.as<const int32_t>();
    float* dl_all = dlogits.as<float>();
    double total = 0;
    const size_t n_e = static_cast<size_t>(E);
    std::vector<double> s(n_e), sn(n_e), f(n_e), P(n_e), ds(n_e);
    for (int64_t b = 0; b < B; ++b) {
        std::fill(f.begin(), f.end(), 0.0);
        std::fill(P.begin(), P.end(), 0.0);
        for (int64_t t = b * T; t < (b + 1) * T; ++t)
            for (int64_t k = 0; k < K; ++k) {
                const int32_t e = id[t * K + k];
                ENGINE_CHECK(e >= 0 && e < E, kInternal, "moe_seq_aux_loss: expert id ", e, " (row ", t,
                             ") outside [0, ", E, ")");
                f[size_t(e)] += double(E) / double(K * T);
            }
        for (int pass = 0; pass < 2; ++pass)
            for (int64_t t = b * T; t < (b + 1) * T; ++t) {
                const float* l = lg + t * E;
                double mx = l[0], z = 0;
                for (int64_t e = 1; e < E; ++e) mx = std::max(mx, double(l[e]));
                for (int64_t e = 0; e < E; ++e) {
                    s[size_t(e)] = softmax ? std::exp(double(l[e]) - mx) : 1.0 / (1.0 + std::exp(-double(l[e])));
                    z += s[size_t(e)];
                }
                if (softmax) {
                    for (auto& v : s) v /= z;
                    z = 1.0;
                }
                for (int64_t e = 0; e < E; ++e) sn[size_t(e)] = s[size_t(e)] / z;
                if (pass == 0) {
                    for (int64_t e = 0; e < E; ++e) P[size_t(e)] += sn[size_t(e)] / double(T);
                    continue;
                }
                // dL/ds'_e = α f_e / (T·B); through s' = s/z, then the scoring function.
                double dot = 0;
                for (int64_t e = 0; e < E; ++e) dot += alpha * f[size_t(e)] / double(T * B) * sn[size_t(e)];
                for (int64_t e = 0; e < E; ++e) ds[size_t(e)] = (alpha * f[size_t(e)] / double(T * B) - dot) / z;
                float* dl = dl_all + t * E;
                if (softmax) {
                    double d2 = 0;
                    for (int64_t e = 0; e < E; ++e) d2 += ds[size_t(e)] * s[size_t(e)];
                    for (int64_t e = 0; e < E; ++e) dl[e] = float(s[size_t(e)] * (ds[size_t(e)] - d2));
                } else {
                    for (int64_t e = 0; e < E; ++e) dl[e] = float(ds[size_t(e)] * s[size_t(e)] * (1 - s[size_t(e)]));
                }
            }
        double Lb = 0;
        for (int64_t e = 0; e < E; ++e) Lb += f[size_t(e)] * P[size_t(e)];
        total += alpha * Lb / double(B);
    }
    return total;
}

}  // namespace engine
