// attention.cpp — causal scaled-dot-product attention with an fp32, max-subtracted softmax.
//   q [T, H, dk] at positions q_pos0 .. q_pos0+T-1;  k [S, Hk, dk];  v [S, Hk, dv];  out [T, H, dv]
//   Hk == H (MHA) or Hk == 1 (MQA: every head reads the one shared key/value, e.g. the MLA latent).
//
// Three paths with the same math:
//   * decode MQA (T = 1, Hk = 1, e.g. the absorbed MLA latent): attention_decode.cpp's AVX2 kernel.
//   * direct: one (query, head) per work item, OpenMP over them; for few query rows (decode with MHA).
//   * blocked BLAS: query rows that share K/V (all heads when Hk == 1, else one head) are cut into
//     blocks, and keys into chunks when there are fewer blocks than threads (decode); each (block, key
//     chunk) is scores = scale · Q·Kᵀ (sgemm), masked exp, P·V (sgemm), merged by the running-max rule.
//     Keys beyond a block's last visible position are skipped.
// Keys and values may be F32 or BF16 (a BF16 KV cache, Model::new_cache); all math is fp32. The decode and
// direct paths widen bf16 as they load it; the BLAS path converts each key chunk into a per-thread buffer.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "cpu/attention_decode.h"
#include "cpu/cpu_backend.h"
#include "cpu/cpu_common.h"
#include "cpu/simd_load.h"

namespace engine {

using namespace cpu;

namespace {

constexpr int64_t kScoreBudget = int64_t(1) << 20;  // floats of scores per work item (4 MiB per thread)

// Query rows sharing one K/V head: row r is query t = r / heads_per_row_group.
template <class KT>
struct AttnGroup {
    const float* q;
    int64_t ldq;
    const KT* k;
    int64_t ldk;
    const KT* v;
    int64_t ldv;
    float* out;
    int64_t ldo;
    int64_t rows;
    int64_t heads;  // consecutive rows per query position
};

// In-place softmax of p[0, n_valid) with zeros written to p[n_valid, n_total).
inline void softmax_row(float* p, int64_t n_valid, int64_t n_total) {
    float mx = -std::numeric_limits<float>::infinity();
    for (int64_t s = 0; s < n_valid; ++s) mx = std::max(mx, p[s]);
    float sum = 0.0f;
    for (int64_t s = 0; s < n_valid; ++s) {
        p[s] = std::exp(p[s] - mx);
        sum += p[s];
    }
    const float inv = 1.0f / sum;
    for (int64_t s = 0; s < n_valid; ++s) p[s] *= inv;
    for (int64_t s = n_valid; s < n_total; ++s) p[s] = 0.0f;
}

// The three paths of the header comment, keys/values stored as KT (float or bf16 bits); shapes validated.
template <class KT>
void run_attention(const TensorView& out, const TensorView& q, const TensorView& k, const TensorView& v, float scale,
                   int64_t q_pos0, int threads) {
    constexpr WKind kW = bf16_or_f32_kind<KT>();  // keys/values: float, or uint16_t holding bf16 bits
    const int64_t T = q.shape[0], H = q.shape[1], dk = q.shape[2];
    const int64_t S = k.shape[0], Hk = k.shape[1], dv = v.shape[2];
    // Build the groups of query rows that share one K/V head.
    std::vector<AttnGroup<KT>> groups;
    const bool q_flat = T == 1 || q.shape[1] == 1 || q.stride[0] == H * q.stride[1];
    const bool o_flat = T == 1 || out.shape[1] == 1 || out.stride[0] == H * out.stride[1];
    if (Hk == 1 && q_flat && o_flat) {
        groups.push_back({q.as<float>(), q.stride[1], k.as<KT>(), k.stride[0], v.as<KT>(), v.stride[0],
                          out.as<float>(), out.stride[1], T * H, H});
        if (H == 1) groups.back().ldq = q.stride[0], groups.back().ldo = out.stride[0];
    } else {
        for (int64_t h = 0; h < H; ++h) {
            const int64_t hk = Hk == 1 ? 0 : h;
            groups.push_back({q.as<float>() + h * q.stride[1], q.stride[0], k.as<KT>() + hk * k.stride[1],
                              k.stride[0], v.as<KT>() + hk * v.stride[1], v.stride[0],
                              out.as<float>() + h * out.stride[1], out.stride[0], T, 1});
        }
    }
    if (T == 1 && Hk == 1 && groups.size() == 1 && dk > 0) {
        // Decode over a shared key/value head (MLA latent): the fused kernel (attention_decode.cpp).
        const AttnGroup<KT>& g = groups[0];
        if (mqa_decode_avx2(g.q, g.ldq, g.k, g.ldk, g.v, g.ldv, g.out, g.ldo, H, q_pos0 + 1, dk, dv, scale, threads))
            return;
    }
    const bool blas = groups[0].rows >= 4 && S >= 32 && dk > 0;

    if (!blas) {
        // Direct path: work item = (group, row).
        const int64_t rows = groups[0].rows;
        const int64_t items = int64_t(groups.size()) * rows;
#pragma omp parallel num_threads(threads) if (items * S * (dk + dv) >= (1 << 15))
        {
            std::vector<float> p(static_cast<size_t>(S));  // [S] scores -> probabilities
            std::vector<float> acc(static_cast<size_t>(dv));
#pragma omp for schedule(static)
            for (int64_t it = 0; it < items; ++it) {
                const AttnGroup<KT>& g = groups[size_t(it / rows)];
                const int64_t r = it % rows, t = r / g.heads;
                const int64_t n_valid = q_pos0 + t + 1;
                const float* qr = g.q + r * g.ldq;  // [dk]
                for (int64_t s = 0; s < n_valid; ++s) {
                    const KT* kr = g.k + s * g.ldk;  // [dk]
                    float d = 0.0f;
                    for (int64_t i = 0; i < dk; ++i) d += qr[i] * load1_w<kW>(kr, i);
                    p[size_t(s)] = d * scale;
                }
                softmax_row(p.data(), n_valid, n_valid);
                std::fill(acc.begin(), acc.end(), 0.0f);
                for (int64_t s = 0; s < n_valid; ++s) {
                    const KT* vr = g.v + s * g.ldv;  // [dv]
                    const float ps = p[size_t(s)];
                    for (int64_t i = 0; i < dv; ++i) acc[size_t(i)] += ps * load1_w<kW>(vr, i);
                }
                float* o = g.out + r * g.ldo;  // [dv]
                for (int64_t i = 0; i < dv; ++i) o[i] = acc[size_t(i)];
            }
        }
        return;
    }

    // Blocked BLAS path. Work item = (group, block of query rows, chunk of keys), all items in one
    // OpenMP loop (one barrier: robust when cores are shared), OpenBLAS single-threaded inside:
    //   scores = scale · Q_block · K_chunkᵀ;  p = exp(scores − m) masked;  o = p · V_chunk
    // With one key chunk the item normalises and writes `out` directly. With several (decode, where
    // there are fewer row blocks than threads) each item keeps its row max m, sum l and unnormalised o,
    // and a merge pass combines them: out = Σ_j e^(m_j−M) o_j / Σ_j e^(m_j−M) l_j.
    const int64_t rows = groups[0].rows, hg = groups[0].heads;
    const int64_t n_groups = int64_t(groups.size());
    const double flops = 2.0 * double(n_groups) * double(rows) * double(S) * double(dk + dv);
    const int nt = flops < 2e6 ? 1 : threads;
    int64_t block = std::max<int64_t>(hg, kScoreBudget / S / hg * hg);  // whole query positions per block
    block = std::min(block, rows);
    const int64_t n_blocks = (rows + block - 1) / block;
    const int64_t base_items = n_groups * n_blocks;
    int64_t n_kc = 1;
    if (base_items < nt) n_kc = std::min<int64_t>((nt + base_items - 1) / base_items, std::max<int64_t>(1, S / 256));
    const int64_t kc_len = ((S + n_kc - 1) / n_kc + 15) / 16 * 16;
    n_kc = (S + kc_len - 1) / kc_len;
    const int64_t items = base_items * n_kc;
    // Partial results for the merge (only when keys are split).
    std::vector<float> part_m, part_l, part_o;
    if (n_kc > 1) {
        part_m.assign(size_t(items * block), -std::numeric_limits<float>::infinity());
        part_l.assign(size_t(items * block), 0.0f);
        part_o.assign(size_t(items * block * dv), 0.0f);
    }
    blas_single_thread();
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        std::vector<float> sc(size_t(block * std::min(S, kc_len)));  // [nb, ns] scores -> probabilities
        std::vector<float> kbuf, vbuf;  // BF16 keys/values: this chunk's rows as F32, [ns, dk] / [ns, dv]
        if constexpr (!std::is_same_v<KT, float>) {
            kbuf.resize(size_t(std::min(S, kc_len) * dk));
            vbuf.resize(size_t(std::min(S, kc_len) * dv));
        }
#pragma omp for schedule(dynamic)
        for (int64_t it = 0; it < items; ++it) {
            const int64_t kc = it % n_kc, gb = it / n_kc;
            const AttnGroup<KT>& g = groups[size_t(gb / n_blocks)];
            const int64_t r0 = (gb % n_blocks) * block, nb = std::min(block, rows - r0);
            const int64_t t_last = (r0 + nb - 1) / hg;
            const int64_t s_end = std::min(S, q_pos0 + t_last + 1);  // keys any row of the block can see
            const int64_t s0 = kc * kc_len, ns = std::min(kc_len, s_end - s0);
            if (ns <= 0) continue;  // keys all in the future of this block (partials stay empty)
            const float *kc_rows, *vc_rows;  // this chunk's keys [ns, dk] and values [ns, dv] as F32
            int64_t ldk, ldv;
            if constexpr (std::is_same_v<KT, float>) {
                kc_rows = g.k + s0 * g.ldk, ldk = std::max(g.ldk, dk);
                vc_rows = g.v + s0 * g.ldv, ldv = std::max(g.ldv, dv);
            } else {
                for (int64_t j = 0; j < ns; ++j) {
                    to_f32(kbuf.data() + j * dk, g.k + (s0 + j) * g.ldk, DType::BF16, dk);
                    to_f32(vbuf.data() + j * dv, g.v + (s0 + j) * g.ldv, DType::BF16, dv);
                }
                kc_rows = kbuf.data(), ldk = dk, vc_rows = vbuf.data(), ldv = dv;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(nb), int(ns), int(dk), scale, g.q + r0 * g.ldq,
                        int(std::max(g.ldq, dk)), kc_rows, int(ldk), 0.0f, sc.data(), int(ns));
            float* m_out = n_kc > 1 ? part_m.data() + it * block : nullptr;
            float* l_out = n_kc > 1 ? part_l.data() + it * block : nullptr;
            for (int64_t i = 0; i < nb; ++i) {
                const int64_t t = (r0 + i) / hg;
                const int64_t n_valid = std::clamp<int64_t>(q_pos0 + t + 1 - s0, 0, ns);
                float* p = sc.data() + i * ns;
                if (n_kc == 1) {
                    softmax_row(p, n_valid, ns);
                    continue;
                }
                float mx = -std::numeric_limits<float>::infinity(), sum = 0.0f;
                for (int64_t j = 0; j < n_valid; ++j) mx = std::max(mx, p[j]);
                for (int64_t j = 0; j < n_valid; ++j) sum += (p[j] = std::exp(p[j] - mx));
                for (int64_t j = n_valid; j < ns; ++j) p[j] = 0.0f;
                m_out[i] = mx;
                l_out[i] = sum;
            }
            float* o = n_kc > 1 ? part_o.data() + it * block * dv : g.out + r0 * g.ldo;
            const int64_t ldo = n_kc > 1 ? dv : std::max(g.ldo, dv);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(nb), int(dv), int(ns), 1.0f, sc.data(), int(ns),
                        vc_rows, int(ldv), 0.0f, o, int(ldo));
        }
        if (n_kc > 1) {
            // Merge the key chunks of every (group, block) row.
#pragma omp for schedule(static)
            for (int64_t gr = 0; gr < n_groups * rows; ++gr) {
                const AttnGroup<KT>& g = groups[size_t(gr / rows)];
                const int64_t r = gr % rows, b = r / block, i = r % block;
                const int64_t first = ((gr / rows) * n_blocks + b) * n_kc;
                float big = -std::numeric_limits<float>::infinity();
                for (int64_t kc = 0; kc < n_kc; ++kc) big = std::max(big, part_m[size_t((first + kc) * block + i)]);
                float denom = 0.0f;
                float* dst = g.out + r * g.ldo;  // [dv]
                for (int64_t c = 0; c < dv; ++c) dst[c] = 0.0f;
                for (int64_t kc = 0; kc < n_kc; ++kc) {
                    const int64_t pi = (first + kc) * block + i;
                    if (part_l[size_t(pi)] == 0.0f) continue;  // chunk entirely masked for this row
                    const float wgt = std::exp(part_m[size_t(pi)] - big);
                    denom += wgt * part_l[size_t(pi)];
                    const float* o = part_o.data() + pi * dv;
                    for (int64_t c = 0; c < dv; ++c) dst[c] += wgt * o[c];
                }
                const float inv = 1.0f / denom;
                for (int64_t c = 0; c < dv; ++c) dst[c] *= inv;
            }
        }
    }
}

}  // namespace

void CpuBackend::attention(const TensorView& out, const TensorView& q, const TensorView& k, const TensorView& v,
                           float scale, int64_t q_pos0) {
    const char* op = "attention";
    check_view(op, "out", out);
    check_view(op, "q", q);
    check_view(op, "k", k);
    check_view(op, "v", v);
    check_dtype(op, "out", out, DType::F32);
    check_dtype(op, "q", q, DType::F32);
    ENGINE_CHECK((k.dtype == DType::F32 || k.dtype == DType::BF16) && v.dtype == k.dtype, kInvalidArgument, op,
                 ": k and v must both be F32 or both BF16 (a KV cache's types), got ", dtype_name(k.dtype), " and ",
                 dtype_name(v.dtype));
    check_ndim(op, "out", out, 3, 3);
    check_ndim(op, "q", q, 3, 3);
    check_ndim(op, "k", k, 3, 3);
    check_ndim(op, "v", v, 3, 3);
    const int64_t T = q.shape[0], H = q.shape[1], dk = q.shape[2];
    const int64_t S = k.shape[0], Hk = k.shape[1], dv = v.shape[2];
    ENGINE_CHECK(k.shape[2] == dk, kInvalidArgument, op, ": q ", q.shape_str(), " and k ", k.shape_str(),
                 ": head dims differ");
    ENGINE_CHECK(Hk == H || Hk == 1, kInvalidArgument, op, ": q ", q.shape_str(), " and k ", k.shape_str(),
                 ": k must have as many heads as q (MHA) or 1 (MQA)");
    ENGINE_CHECK(v.shape[0] == S && v.shape[1] == Hk, kInvalidArgument, op, ": k ", k.shape_str(), " and v ",
                 v.shape_str(), ": v must have k's positions and heads");
    ENGINE_CHECK(out.shape[0] == T && out.shape[1] == H && out.shape[2] == dv, kInvalidArgument, op, ": out ",
                 out.shape_str(), " does not match q ", q.shape_str(), " and v ", v.shape_str(), " (expected [", T,
                 ", ", H, ", ", dv, "])");
    ENGINE_CHECK(q_pos0 >= 0 && q_pos0 + T <= S, kInvalidArgument, op, ": q ", q.shape_str(), " at q_pos0 ", q_pos0,
                 " needs keys up to position ", q_pos0 + T - 1, " but k ", k.shape_str(), " holds ", S,
                 "; append this step's keys before attending");
    ENGINE_CHECK(std::isfinite(scale), kInvalidArgument, op, ": scale ", scale, " is not finite");
    if (T == 0 || H == 0 || dv == 0) return;
    if (k.dtype == DType::BF16)
        run_attention<uint16_t>(out, q, k, v, scale, q_pos0, threads_);
    else
        run_attention<float>(out, q, k, v, scale, q_pos0, threads_);
}

}  // namespace engine
