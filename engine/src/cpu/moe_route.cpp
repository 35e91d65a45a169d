// moe_route.cpp — CpuBackend::moe_route: DeepSeekMoE top-k routing (deepseek-arch.md §3).
//
// Per token, from router logits [T, E] (F32):
//   scores  s = softmax(logits) | sigmoid(logits)
//   choice  c = s + e_score_correction_bias   (kNoauxTc with a bias; selection only)  else c = s
//   groups  kGroupLimitedGreedy: group score = max(c in group)         (V2 remote code)
//           kNoauxTc:           group score = sum(top-2 c in group)    (V3, HF + DeepSeek model.py)
//           keep the topk_group best groups; other experts' c := 0.0 (HF's masked_fill value)
//   idx = top-K of c (ties: lower expert id first, so results are deterministic)
//   w   = s[idx] (unbiased)
// Weight post-processing, exactly one convention per method:
//   kNoauxTc (V3 / Moonlight / GLM, HF-native and DeepSeek model.py):
//       if norm_topk_prob: w /= (Σw + 1e-20);   then always w *= routed_scaling_factor
//   kGreedy / kGroupLimitedGreedy (V2 family, the hub remote code, whose branches are EXCLUSIVE):
//       if K > 1 and norm_topk_prob: w /= (Σw + 1e-20)   else: w *= routed_scaling_factor
//   Every released V2 checkpoint has norm_topk_prob = false, where HF-native V2 (always × rsf, never
//   normalised) and the remote code agree; we follow the remote code that shipped with the weights.
//
// Tiny per-token work (E ≤ a few hundred) on the host: a plain loop, parallel over tokens, with
// per-thread scratch so routing allocates nothing per token.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "cpu/cpu_backend.h"
#include "cpu/cpu_common.h"

namespace engine {

void CpuBackend::moe_route(const TensorView& idx, const TensorView& weights, const TensorView& logits,
                           const TensorView& bias, const RouterParams& p) {
    const char* op = "moe_route";
    cpu::check_view(op, "idx", idx);
    cpu::check_view(op, "weights", weights);
    cpu::check_view(op, "logits", logits);
    cpu::check_dtype(op, "idx", idx, DType::I32);
    cpu::check_dtype(op, "weights", weights, DType::F32);
    cpu::check_dtype(op, "logits", logits, DType::F32);
    const int64_t T = logits.rows(), E = logits.cols(), K = p.top_k;
    ENGINE_CHECK(E == p.n_routed_experts, kInvalidArgument, "moe_route: logits ", logits.shape_str(), " has ", E,
                 " experts, router params say ", p.n_routed_experts);
    ENGINE_CHECK(K >= 1 && K <= E, kInvalidArgument, "moe_route: top_k ", K, " must be in [1, ", E, "]");
    ENGINE_CHECK(idx.rows() == T && idx.cols() == K && weights.rows() == T && weights.cols() == K,
                 kInvalidArgument, "moe_route: idx ", idx.shape_str(), " and weights ", weights.shape_str(),
                 " must be [", T, ", ", K, "] for logits ", logits.shape_str());
    const bool grouped = p.method != RouterParams::Method::kGreedy && p.n_group > 1;
    ENGINE_CHECK(p.n_group >= 1 && E % p.n_group == 0 && p.topk_group >= 1 && p.topk_group <= p.n_group,
                 kInvalidArgument, "moe_route: n_group ", p.n_group, " must divide ", E,
                 " experts and topk_group ", p.topk_group, " must be in [1, n_group]");
    const bool has_bias = bias.data != nullptr;
    if (has_bias) {
        cpu::check_view(op, "bias", bias);
        cpu::check_dtype(op, "bias", bias, DType::F32);
        ENGINE_CHECK(bias.numel() == E, kInvalidArgument, "moe_route: bias ", bias.shape_str(), " must have ", E,
                     " elements");
    }
    const bool use_bias = has_bias && p.method == RouterParams::Method::kNoauxTc;
    const int64_t G = p.n_group, per_group = E / G;
    const float* b = has_bias ? bias.as<float>() : nullptr;

#pragma omp parallel num_threads(threads_) if (T > 16)
    {
    // Per-thread buffers, reused for every token this thread routes.
    std::vector<float> s(static_cast<size_t>(E)), c(static_cast<size_t>(E)), gscore(static_cast<size_t>(G));
    std::vector<int64_t> order(static_cast<size_t>(E)), gorder(static_cast<size_t>(G));
    std::vector<char> keep(static_cast<size_t>(G), 0);
#pragma omp for schedule(static)
    for (int64_t t = 0; t < T; ++t) {
        const float* l = cpu::row_ptr<const float>(logits, t);
        if (p.scoring == RouterParams::Scoring::kSoftmax) {
            float mx = *std::max_element(l, l + E);
            double sum = 0;
            for (int64_t e = 0; e < E; ++e) sum += (s[size_t(e)] = std::exp(l[e] - mx));
            for (int64_t e = 0; e < E; ++e) s[size_t(e)] = float(s[size_t(e)] / sum);
        } else {
            for (int64_t e = 0; e < E; ++e) s[size_t(e)] = 1.0f / (1.0f + std::exp(-l[e]));
        }
        for (int64_t e = 0; e < E; ++e) c[size_t(e)] = s[size_t(e)] + (use_bias ? b[e] : 0.0f);

        if (grouped && p.topk_group < G) {
            for (int64_t g = 0; g < G; ++g) {
                const float* cg = c.data() + g * per_group;
                if (p.method == RouterParams::Method::kGroupLimitedGreedy || per_group < 2) {
                    gscore[size_t(g)] = *std::max_element(cg, cg + per_group);
                } else {
                    float a = -INFINITY, a2 = -INFINITY;  // top-2
                    for (int64_t j = 0; j < per_group; ++j) {
                        if (cg[j] > a) { a2 = a; a = cg[j]; } else if (cg[j] > a2) { a2 = cg[j]; }
                    }
                    gscore[size_t(g)] = a + a2;
                }
            }
            std::iota(gorder.begin(), gorder.end(), 0);
            std::stable_sort(gorder.begin(), gorder.end(),
                             [&](int64_t x, int64_t y) { return gscore[size_t(x)] > gscore[size_t(y)]; });
            std::fill(keep.begin(), keep.end(), 0);
            for (int64_t g = 0; g < p.topk_group; ++g) keep[size_t(gorder[size_t(g)])] = 1;
            for (int64_t e = 0; e < E; ++e)
                if (!keep[size_t(e / per_group)]) c[size_t(e)] = 0.0f;
        }

        std::iota(order.begin(), order.end(), 0);
        std::partial_sort(order.begin(), order.begin() + K, order.end(), [&](int64_t x, int64_t y) {
            return c[size_t(x)] > c[size_t(y)] || (c[size_t(x)] == c[size_t(y)] && x < y);
        });
        int32_t* out_i = cpu::row_ptr<int32_t>(idx, t);
        float* out_w = cpu::row_ptr<float>(weights, t);
        double wsum = 0;
        for (int64_t k = 0; k < K; ++k) {
            out_i[k] = int32_t(order[size_t(k)]);
            out_w[k] = s[size_t(order[size_t(k)])];
            wsum += out_w[k];
        }
        const float rsf = p.routed_scaling_factor;
        if (p.method == RouterParams::Method::kNoauxTc) {
            if (p.norm_topk_prob)
                for (int64_t k = 0; k < K; ++k) out_w[k] = float(out_w[k] / (wsum + 1e-20));
            for (int64_t k = 0; k < K; ++k) out_w[k] *= rsf;
        } else if (K > 1 && p.norm_topk_prob) {
            for (int64_t k = 0; k < K; ++k) out_w[k] = float(out_w[k] / (wsum + 1e-20));
        } else {
            for (int64_t k = 0; k < K; ++k) out_w[k] *= rsf;
        }
    }
    }  // omp parallel
}

}  // namespace engine
