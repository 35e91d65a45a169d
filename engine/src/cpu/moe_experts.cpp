// moe_experts.cpp — CpuBackend::moe_experts: the routed experts of a prefill MoE step.
//
// The Backend default runs the experts one after the other, each through matmul / silu_mul / matmul with
// its own OpenMP regions: ~5 fork/joins per expert, 64 experts, every MoE layer. With OpenMP's passive
// wait (what `latent` and the app use) each fork wakes a sleeping thread, and 2-thread prefill ran at
// 1.3x the 1-thread speed (docs/performance.md). Here ONE parallel region takes whole experts, largest
// first (dynamic schedule); each thread runs its expert's GEMMs single-threaded into a per-pair output
// buffer, and a second pass adds the pairs into y in pair order, so each row receives its contributions
// in increasing expert order, as in the default (and the same per-expert products: same values).
#include <algorithm>
#include <cstring>
#include <exception>
#include <vector>

#include <omp.h>

#include "cpu/cpu_backend.h"
#include "cpu/cpu_common.h"

namespace engine {

using namespace cpu;

// Work layout: [P, D] per-pair outputs, then per thread: xe [max_rows, D], g, u [max_rows, I].
int64_t CpuBackend::moe_experts_work(int64_t pairs, int64_t max_rows, int64_t D, int64_t i_max) const {
    return pairs * D + int64_t(std::max(threads_, 1)) * max_rows * (D + 2 * i_max);
}

void CpuBackend::moe_experts(const TensorView& y, const TensorView& x, const SwigluExpert* experts,
                             const int64_t* offsets, int64_t n, const TensorView& rows, const TensorView& scale,
                             const TensorView& work) {
    const char* op = "moe_experts";
    check_view(op, "y", y);
    check_view(op, "x", x);
    check_dtype(op, "y", y, DType::F32);
    check_dtype(op, "x", x, DType::F32);
    check_dtype(op, "rows", rows, DType::I32);
    check_dtype(op, "scale", scale, DType::F32);
    check_ndim(op, "x", x, 2, 2);
    check_same_shape(op, "y", y, "x", x);
    const int64_t T = x.rows(), D = x.cols();
    ENGINE_CHECK(n >= 0 && offsets != nullptr && offsets[0] == 0, kInvalidArgument, op,
                 ": offsets must start at 0 (", n, " experts)");
    const int64_t P = offsets[n];
    ENGINE_CHECK(rows.is_contiguous() && scale.is_contiguous() && rows.numel() == P && scale.numel() == P,
                 kInvalidArgument, op, ": rows ", rows.shape_str(), " and scale ", scale.shape_str(),
                 " must be contiguous with offsets[n] = ", P, " elements");
    int64_t max_rows = 0, i_max = 0;
    for (int64_t e = 0; e < n; ++e) {
        const int64_t cnt = offsets[e + 1] - offsets[e];
        ENGINE_CHECK(cnt >= 0, kInvalidArgument, op, ": offsets decrease at expert ", e);
        const SwigluExpert& ex = experts[e];
        const int64_t I = ex.gate.dim(0);
        ENGINE_CHECK(ex.gate.ndim == 2 && ex.up.ndim == 2 && ex.down.ndim == 2 && ex.gate.dim(1) == D &&
                         ex.up.dim(0) == I && ex.up.dim(1) == D && ex.down.dim(0) == D && ex.down.dim(1) == I,
                     kInvalidArgument, op, ": expert ", e, " has gate ", ex.gate.shape_str(), ", up ",
                     ex.up.shape_str(), ", down ", ex.down.shape_str(), "; expected [I, ", D, "], [I, ", D, "], [",
                     D, ", I]");
        for (const TensorView* w : {&ex.gate, &ex.up, &ex.down}) {
            check_float_dtype(op, "expert weight", *w);
            ENGINE_CHECK(w->stride[1] == 1 && w->stride[0] >= w->dim(1), kInvalidArgument, op, ": expert ", e,
                         " has a weight ", w->shape_str(), " whose rows are not contiguous");
        }
        max_rows = std::max(max_rows, cnt);
        i_max = std::max(i_max, I);
    }
    ENGINE_CHECK(work.dtype == DType::F32 && work.is_contiguous() &&
                     work.numel() >= moe_experts_work(P, max_rows, D, i_max),
                 kInvalidArgument, op, ": work ", work.shape_str(), " is smaller than ",
                 moe_experts_work(P, max_rows, D, i_max), " F32 elements");
    const int32_t* row = rows.as<int32_t>();
    for (int64_t p = 0; p < P; ++p)
        ENGINE_CHECK(row[p] >= 0 && row[p] < T, kInvalidArgument, op, ": rows[", p, "] = ", row[p],
                     " outside [0, ", T, ")");
    if (P == 0) return;

    // Experts with work, largest first: the dynamic schedule then balances the threads.
    std::vector<int64_t> order;
    for (int64_t e = 0; e < n; ++e)
        if (offsets[e + 1] > offsets[e]) order.push_back(e);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        return offsets[a + 1] - offsets[a] > offsets[b + 1] - offsets[b];
    });
    float* ypair = work.as<float>();  // [P, D]
    const int64_t per_thread = max_rows * (D + 2 * i_max);
    const int nt = std::max(1, std::min<int>(threads_, int(order.size())));
    blas_single_thread();
    std::exception_ptr failed;  // nothing may leave a parallel region; rethrown below
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        float* mine = ypair + P * D + int64_t(omp_get_thread_num()) * per_thread;
#pragma omp for schedule(dynamic, 1)
        for (size_t j = 0; j < order.size(); ++j) try {
            const int64_t e = order[j], b = offsets[e], cnt = offsets[e + 1] - b;
            const SwigluExpert& ex = experts[e];
            const int64_t I = ex.gate.dim(0);
            const TensorView xe = TensorView::contiguous(mine, DType::F32, {cnt, D});                  // [cnt, D]
            const TensorView g = TensorView::contiguous(mine + cnt * D, DType::F32, {cnt, I});         // [cnt, I]
            const TensorView u = TensorView::contiguous(mine + cnt * (D + I), DType::F32, {cnt, I});   // [cnt, I]
            const TensorView ye = TensorView::contiguous(ypair + b * D, DType::F32, {cnt, D});         // [cnt, D]
            for (int64_t i = 0; i < cnt; ++i)
                std::memcpy(mine + i * D, row_ptr<float>(x, row[b + i]), size_t(D) * sizeof(float));
            matmul_threads(g, xe, ex.gate, true, false, 1);
            matmul_threads(u, xe, ex.up, true, false, 1);
            silu_mul_row(g.as<float>(), g.as<float>(), u.as<float>(), cnt * I);  // in place: g = silu(g)·u
            matmul_threads(ye, g, ex.down, true, false, 1);
        } catch (...) {
#pragma omp critical(moe_experts_error)
            if (!failed) failed = std::current_exception();
        }
        // Combine: columns split over the threads, pairs in order within each column (no races, and
        // every row gets its experts' outputs in increasing expert order).
        // (`failed` is read after the loop's implicit barrier; on an error y is left untouched.)
        const int team = omp_get_num_threads();
        const int64_t c_per = (D + team - 1) / team;
        const int64_t c0 = std::min(D, int64_t(omp_get_thread_num()) * c_per), c1 = std::min(D, c0 + c_per);
        const float* sc = scale.as<float>();
        for (int64_t p = 0; p < P && !failed; ++p) {
            float* out = row_ptr<float>(y, row[p]);
            const float* src = ypair + p * D;
            const float s = sc[p];
            for (int64_t c = c0; c < c1; ++c) out[c] += s * src[c];
        }
    }
    if (failed) std::rethrow_exception(failed);
}

}  // namespace engine
