// attention.cpp — causal scaled-dot-product attention with an fp32, max-subtracted softmax.
//   q [T, H, dk] at positions q_pos0 .. q_pos0+T-1;  k [S, Hk, dk];  v [S, Hk, dv];  out [T, H, dv]
//   Hk == H (MHA) or Hk == 1 (MQA: every head reads the one shared key/value, e.g. the MLA latent).
//
// Two paths with the same math:
//   * direct: one (query, head) per work item, OpenMP over them; for few query rows (decode with MHA).
//   * blocked BLAS: a group of query rows that share K/V (all heads when Hk == 1, else one head) is
//     processed in row blocks: scores = scale · Q·Kᵀ (sgemm), masked softmax per row (OpenMP),
//     out = P·V (sgemm). Keys beyond the block's last visible position are skipped.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/cpu_backend.h"
#include "cpu/cpu_common.h"

namespace engine {

using namespace cpu;

namespace {

constexpr int64_t kScoreBudget = int64_t(1) << 21;  // floats of scores per block (8 MiB)

// Query rows sharing one K/V head: row r is query t = r / heads_per_row_group.
struct AttnGroup {
    const float* q;
    int64_t ldq;
    const float* k;
    int64_t ldk;
    const float* v;
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
    check_dtype(op, "k", k, DType::F32);
    check_dtype(op, "v", v, DType::F32);
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

    // Build the groups of query rows that share one K/V head.
    std::vector<AttnGroup> groups;
    const bool q_flat = T == 1 || q.shape[1] == 1 || q.stride[0] == H * q.stride[1];
    const bool o_flat = T == 1 || out.shape[1] == 1 || out.stride[0] == H * out.stride[1];
    if (Hk == 1 && q_flat && o_flat) {
        groups.push_back({q.as<float>(), q.stride[1], k.as<float>(), k.stride[0], v.as<float>(), v.stride[0],
                          out.as<float>(), out.stride[1], T * H, H});
        if (H == 1) groups.back().ldq = q.stride[0], groups.back().ldo = out.stride[0];
    } else {
        for (int64_t h = 0; h < H; ++h) {
            const int64_t hk = Hk == 1 ? 0 : h;
            groups.push_back({q.as<float>() + h * q.stride[1], q.stride[0], k.as<float>() + hk * k.stride[1],
                              k.stride[0], v.as<float>() + hk * v.stride[1], v.stride[0],
                              out.as<float>() + h * out.stride[1], out.stride[0], T, 1});
        }
    }
    const bool blas = groups[0].rows >= 4 && S >= 32 && dk > 0;

    if (!blas) {
        // Direct path: work item = (group, row).
        const int64_t rows = groups[0].rows;
        const int64_t items = int64_t(groups.size()) * rows;
#pragma omp parallel num_threads(threads_) if (items * S * (dk + dv) >= (1 << 15))
        {
            std::vector<float> p(static_cast<size_t>(S));  // [S] scores -> probabilities
            std::vector<float> acc(static_cast<size_t>(dv));
#pragma omp for schedule(static)
            for (int64_t it = 0; it < items; ++it) {
                const AttnGroup& g = groups[size_t(it / rows)];
                const int64_t r = it % rows, t = r / g.heads;
                const int64_t n_valid = q_pos0 + t + 1;
                const float* qr = g.q + r * g.ldq;  // [dk]
                for (int64_t s = 0; s < n_valid; ++s) {
                    const float* kr = g.k + s * g.ldk;  // [dk]
                    float d = 0.0f;
                    for (int64_t i = 0; i < dk; ++i) d += qr[i] * kr[i];
                    p[size_t(s)] = d * scale;
                }
                softmax_row(p.data(), n_valid, n_valid);
                std::fill(acc.begin(), acc.end(), 0.0f);
                for (int64_t s = 0; s < n_valid; ++s) {
                    const float* vr = g.v + s * g.ldv;  // [dv]
                    const float ps = p[size_t(s)];
                    for (int64_t i = 0; i < dv; ++i) acc[size_t(i)] += ps * vr[i];
                }
                float* o = g.out + r * g.ldo;  // [dv]
                for (int64_t i = 0; i < dv; ++i) o[i] = acc[size_t(i)];
            }
        }
        return;
    }

    // Blocked BLAS path: blocks one after another, all threads cooperating in three phases per block
    // (OpenBLAS single-threaded inside the OpenMP region, so one thread pool owns the cores):
    //   1. scores[:, key chunk] = scale · Q_block · K_chunkᵀ   (threads split the keys)
    //   2. masked softmax per row                               (threads split the rows)
    //   3. out_block[:, col chunk] = P · V[:, col chunk]         (threads split the value columns)
    const int64_t rows = groups[0].rows, hg = groups[0].heads;
    int64_t block = std::max<int64_t>(hg, kScoreBudget / S / hg * hg);  // whole query positions per block
    block = std::min(block, rows);
    std::vector<float> scores(size_t(block * S));  // [block, S_eff]
    const double flops = 2.0 * double(groups.size()) * double(rows) * double(S) * double(dk + dv);
    const int nt = flops < 2e6 ? 1 : threads_;
    const int64_t s_chunk = std::max<int64_t>(16, ((S + nt - 1) / nt + 15) / 16 * 16);
    const int64_t c_chunk = std::max<int64_t>(16, ((dv + nt - 1) / nt + 15) / 16 * 16);
    blas_single_thread();
#pragma omp parallel num_threads(nt) if (nt > 1)
    for (const AttnGroup& g : groups) {
        for (int64_t r0 = 0; r0 < rows; r0 += block) {
            const int64_t nb = std::min(block, rows - r0);
            const int64_t t_last = (r0 + nb - 1) / hg;
            const int64_t s_eff = std::min(S, q_pos0 + t_last + 1);  // keys any row of the block can see
            const int64_t n_sc = (s_eff + s_chunk - 1) / s_chunk;
#pragma omp for schedule(static)
            for (int64_t c = 0; c < n_sc; ++c) {
                const int64_t s0 = c * s_chunk, ns = std::min(s_chunk, s_eff - s0);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(nb), int(ns), int(dk), scale,
                            g.q + r0 * g.ldq, int(std::max(g.ldq, dk)), g.k + s0 * g.ldk, int(std::max(g.ldk, dk)),
                            0.0f, scores.data() + s0, int(s_eff));
            }
#pragma omp for schedule(static)
            for (int64_t i = 0; i < nb; ++i) {
                const int64_t t = (r0 + i) / hg;
                softmax_row(scores.data() + i * s_eff, q_pos0 + t + 1, s_eff);
            }
            const int64_t n_cc = (dv + c_chunk - 1) / c_chunk;
#pragma omp for schedule(static)
            for (int64_t c = 0; c < n_cc; ++c) {
                const int64_t c0 = c * c_chunk, nc = std::min(c_chunk, dv - c0);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(nb), int(nc), int(s_eff), 1.0f,
                            scores.data(), int(s_eff), g.v + c0, int(std::max(g.ldv, dv)), 0.0f,
                            g.out + r0 * g.ldo + c0, int(std::max(g.ldo, dv)));
            }
        }
    }
}

}  // namespace engine
