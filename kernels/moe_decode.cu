// moe_decode.cu — CudaBackend::moe_decode: the decode-time MoE of one token (top-k routed + shared
// experts) in two kernels, reading the routing where moe_route left it on the device. No host round
// trip, so a whole decode step can be captured as one CUDA Graph; and 2 launches per MoE layer instead
// of ~6 per expert (K = 6 routed + shared: ~45 launches and a synchronising read-back before).
//
//   kernel 1 (gate_up)  grid (row blocks, slots): slot j < K is routed expert idx[j] with weight wts[j],
//                       slot K + s is shared expert s. One warp per row i of the slot's expert:
//                       act_j[i] = w_j · silu(gate_e[i]·x) · (up_e[i]·x)        act: [Σ_j I_j] in `work`
//   kernel 2 (down)     one warp per output row d:  y[d] = Σ_j down_e[d, :] · act_j   (slots in order)
//
// Both are GEMVs over bf16/f16/f32 weights: memory-bound, so each lane streams 16-byte vectors of a row
// (8 bf16) when every row is 16-byte aligned (gemv.cuh's lane_dot), x sits in shared memory, and the sums
// are fp32 with a fixed order (deterministic, no atomics). The expert pointer table ([E] {gate, up, down, strides})
// is uploaded once per layer and cached, keyed by the caller's table address and checked entry by entry.
// An id outside [0, E) (moe_route never writes one) gives that slot a zero contribution.
#include <cstring>

#include "checks.h"
#include "common.cuh"
#include "cuda_backend.h"
#include "gemv.cuh"
#include "reduce.cuh"

namespace cuda_backend {

using engine::DType;
using engine::SwigluExpert;
using engine::TensorView;

namespace {

constexpr int kMaxTopK = 16;
constexpr int kMaxShared = 8;
constexpr int kMaxSlots = kMaxTopK + kMaxShared;
constexpr int64_t kMaxD = 8192;  // x in static shared memory (32 KB); larger D takes the Backend default
constexpr int kWarps = 8;        // 256 threads: 8 rows per block

struct MoeDecodeParams {
    const ExpertPtrs* table;  // device [E]
    const int32_t* idx;       // [K]
    const float* wts;         // [K]
    int K = 0, n_shared = 0, E = 0;
    int64_t I_routed = 0;
    ExpertPtrs shared[kMaxShared];
    float shared_scale[kMaxShared];
    int64_t act_off[kMaxSlots + 1];  // slot j's activations: act[act_off[j] .. act_off[j+1])
    const float* x;                  // [D]
    float* act;                      // [Σ I]
    float* y;                        // [D]
    int64_t D = 0;
};

// The expert of slot j, its width and its combine weight; false when a routed id is out of range.
__device__ __forceinline__ bool slot_expert(const MoeDecodeParams& p, int j, ExpertPtrs& e, int64_t& I, float& w) {
    if (j < p.K) {
        const int32_t id = p.idx[j];
        if (id < 0 || id >= p.E) return false;
        e = p.table[id];
        I = p.I_routed;
        w = p.wts[j];
    } else {
        e = p.shared[j - p.K];
        I = p.act_off[j + 1] - p.act_off[j];
        w = p.shared_scale[j - p.K];
    }
    return true;
}

template <typename W, bool kVec>
__global__ void __launch_bounds__(32 * kWarps) moe_decode_gate_up_kernel(MoeDecodeParams p) {
    __shared__ __align__(16) float xs[kMaxD];
    for (int64_t k = threadIdx.x; k < p.D; k += blockDim.x) xs[k] = p.x[k];
    __syncthreads();
    const int j = int(blockIdx.y), lane = int(threadIdx.x & 31);
    const int64_t i = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
    ExpertPtrs e;
    int64_t I;
    float w;
    if (!slot_expert(p, j, e, I, w) || i >= I) return;  // a bad id's slot is skipped by kernel 2 too
    const W* gate = static_cast<const W*>(e.gate) + i * e.ld_gate;
    const W* up = static_cast<const W*>(e.up) + i * e.ld_up;
    const float g = warp_reduce(lane_dot<W, kVec, kVec>(gate, xs, p.D, lane), SumOp{});  // xs: 16-byte aligned
    const float u = warp_reduce(lane_dot<W, kVec, kVec>(up, xs, p.D, lane), SumOp{});
    if (lane == 0) p.act[p.act_off[j] + i] = w * (g / (1.0f + expf(-g))) * u;
}

// kXVec: every slot's activations start 16-byte aligned, so lanes read them as float4s (8 scalar loads 32
// bytes apart would make L1, not memory, the limit).
template <typename W, bool kVec, bool kXVec>
__global__ void __launch_bounds__(32 * kWarps) moe_decode_down_kernel(MoeDecodeParams p) {
    const int lane = int(threadIdx.x & 31);
    const int64_t d = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
    if (d >= p.D) return;
    float s = 0.0f;
    for (int j = 0; j < p.K + p.n_shared; ++j) {
        ExpertPtrs e;
        int64_t I;
        float w;
        if (!slot_expert(p, j, e, I, w)) continue;
        s += lane_dot<W, kVec, kXVec>(static_cast<const W*>(e.down) + d * e.ld_down, p.act + p.act_off[j], I, lane);
    }
    s = warp_reduce(s, SumOp{});
    if (lane == 0) p.y[d] = s;
}

bool aligned16(const void* ptr, int64_t ld, DType dt) {
    return is_aligned(ptr, 16) && (ld * int64_t(engine::dtype_size(dt))) % 16 == 0;
}

bool same_entry(const ExpertPtrs& a, const ExpertPtrs& b) {
    return a.gate == b.gate && a.up == b.up && a.down == b.down && a.ld_gate == b.ld_gate && a.ld_up == b.ld_up &&
           a.ld_down == b.ld_down;
}

}  // namespace

// Validates one expert against D (shapes [I, D], [I, D], [D, I], one dtype) and returns its pointers.
static ExpertPtrs expert_ptrs(const SwigluExpert& e, int64_t D, DType dt, const char* what, int64_t j) {
    const int64_t I = e.gate.ndim == 2 ? e.gate.shape[0] : -1;
    ENGINE_CHECK(e.gate.ndim == 2 && e.up.ndim == 2 && e.down.ndim == 2 && e.gate.shape[1] == D && e.up.shape[0] == I &&
                     e.up.shape[1] == D && e.down.shape[0] == D && e.down.shape[1] == I && e.gate.stride[1] == 1 &&
                     e.up.stride[1] == 1 && e.down.stride[1] == 1,
                 kInvalidArgument, "moe_decode: ", what, " expert ", j, ": gate ", e.gate.shape_str(), ", up ",
                 e.up.shape_str(), ", down ", e.down.shape_str(), " do not fit D = ", D,
                 " (expected [I, D], [I, D], [D, I] with contiguous rows)");
    ENGINE_CHECK(e.gate.dtype == dt && e.up.dtype == dt && e.down.dtype == dt, kInvalidArgument, "moe_decode: ", what,
                 " expert ", j, " mixes dtypes");
    check_device(e.gate, "moe_decode", "gate");
    check_device(e.up, "moe_decode", "up");
    check_device(e.down, "moe_decode", "down");
    return {e.gate.data, e.up.data, e.down.data, e.gate.stride[0], e.up.stride[0], e.down.stride[0]};
}

const CudaBackend::ExpertTable& CudaBackend::expert_table(const SwigluExpert* routed, int64_t E, int64_t D) {
    for (const auto& t : expert_tables_) {
        if (t->key != routed || int64_t(t->host.size()) != E) continue;
        bool same = t->D == D && t->dtype == routed[0].gate.dtype && t->I == routed[0].gate.shape[0];
        for (int64_t e = 0; e < E && same; ++e) {
            const SwigluExpert& r = routed[e];
            same = same_entry(t->host[size_t(e)], {r.gate.data, r.up.data, r.down.data, r.gate.stride[0],
                                                   r.up.stride[0], r.down.stride[0]}) &&
                   r.gate.dtype == t->dtype && r.up.dtype == t->dtype && r.down.dtype == t->dtype &&
                   r.gate.shape[0] == t->I;
        }
        if (same) return *t;
    }
    // New (or changed) table: validate every expert once, upload the pointers.
    refuse_while_capturing("uploading a new expert table");
    if (expert_tables_.size() >= 512) expert_tables_.clear();  // models come and go; keep the cache bounded
    auto t = std::make_unique<ExpertTable>();
    t->key = routed;
    t->dtype = routed[0].gate.dtype;
    t->I = routed[0].gate.shape[0];
    t->D = D;
    t->vec = true;
    for (int64_t e = 0; e < E; ++e) {
        const ExpertPtrs p = expert_ptrs(routed[e], D, t->dtype, "routed", e);
        ENGINE_CHECK(routed[e].gate.shape[0] == t->I, kInvalidArgument, "moe_decode: routed expert ", e, " has width ",
                     routed[e].gate.shape[0], ", expert 0 has ", t->I, " (routed experts share one width)");
        t->vec = t->vec && aligned16(p.gate, p.ld_gate, t->dtype) && aligned16(p.up, p.ld_up, t->dtype) &&
                 aligned16(p.down, p.ld_down, t->dtype);
        t->host.push_back(p);
    }
    const int64_t words = int64_t(sizeof(ExpertPtrs) / sizeof(int32_t)) * E;
    t->device = alloc(DType::I32, &words, 1);
    CUDA_CHECK(cudaMemcpyAsync(t->device.view().data, t->host.data(), sizeof(ExpertPtrs) * size_t(E),
                               cudaMemcpyHostToDevice, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));  // t->host may move; the copy reads it now
    expert_tables_.push_back(std::move(t));
    return *expert_tables_.back();
}

void CudaBackend::moe_decode(const TensorView& y, const TensorView& x, const TensorView& idx, const TensorView& wts,
                             const SwigluExpert* routed, int64_t E, const SwigluExpert* shared, int64_t n_shared,
                             const TensorView& work) {
    const char* op = "moe_decode";
    check_f32(y, op, "y");
    check_f32(x, op, "x");
    check_f32(wts, op, "wts");
    check_f32(work, op, "work");
    check_device(idx, op, "idx");
    const int64_t D = x.ndim == 2 ? x.shape[1] : -1, K = idx.numel();
    ENGINE_CHECK(x.ndim == 2 && x.shape[0] == 1 && y.ndim == 2 && y.shape[0] == 1 && y.shape[1] == D &&
                     x.is_contiguous() && y.is_contiguous(),
                 kInvalidArgument, op, ": x ", x.shape_str(), " and y ", y.shape_str(), " must be one contiguous row [1, D]");
    ENGINE_CHECK(idx.dtype == DType::I32 && K >= 1 && K <= kMaxTopK && wts.numel() == K && idx.is_contiguous() &&
                     wts.is_contiguous() && E >= 1 && routed != nullptr && n_shared >= 0 && n_shared <= kMaxShared &&
                     (n_shared == 0 || shared != nullptr),
                 kInvalidArgument, op, ": idx ", idx.shape_str(), ", wts ", wts.shape_str(), " with ", E, " routed and ",
                 n_shared, " shared experts (need I32/F32 [1, K], 1 ≤ K ≤ ", kMaxTopK, ", ≤ ", kMaxShared, " shared)");
    bool one_dtype = true;
    for (int64_t s = 0; s < n_shared; ++s)
        one_dtype = one_dtype && shared[s].gate.dtype == routed[0].gate.dtype &&
                    shared[s].up.dtype == routed[0].gate.dtype && shared[s].down.dtype == routed[0].gate.dtype;
    if (D > kMaxD || !one_dtype) {  // outside what the fused kernels take: the composed default
        Backend::moe_decode(y, x, idx, wts, routed, E, shared, n_shared, work);
        return;
    }
    const ExpertTable& table = expert_table(routed, E, D);
    MoeDecodeParams p{};
    p.table = static_cast<const ExpertPtrs*>(table.device.view().data);
    p.idx = idx.as<int32_t>();
    p.wts = wts.as<float>();
    p.K = int(K);
    p.n_shared = int(n_shared);
    p.E = int(E);
    p.I_routed = table.I;
    bool vec = table.vec;
    int64_t max_rows = table.I;
    p.act_off[0] = 0;
    for (int64_t j = 0; j < K; ++j) p.act_off[j + 1] = p.act_off[j] + table.I;
    for (int64_t s = 0; s < n_shared; ++s) {
        p.shared[s] = expert_ptrs(shared[s], D, table.dtype, "shared", s);
        p.shared_scale[s] = shared[s].scale;
        const int64_t I = shared[s].gate.shape[0];
        p.act_off[K + s + 1] = p.act_off[K + s] + I;
        max_rows = std::max(max_rows, I);
        vec = vec && aligned16(p.shared[s].gate, p.shared[s].ld_gate, table.dtype) &&
              aligned16(p.shared[s].up, p.shared[s].ld_up, table.dtype) &&
              aligned16(p.shared[s].down, p.shared[s].ld_down, table.dtype);
    }
    const int64_t sum_i = p.act_off[K + n_shared];
    ENGINE_CHECK(work.is_contiguous() && work.numel() >= 3 * sum_i + D, kInvalidArgument, op, ": work ",
                 work.shape_str(), " holds fewer than 3·", sum_i, " + ", D, " F32 elements");
    p.x = x.as<float>();
    p.act = work.as<float>();
    p.y = y.as<float>();
    p.D = D;
    if (max_rows == 0 || D == 0) {
        fill(y, 0.0f);
        return;
    }
    // With 16-byte rows every width is a multiple of 4 floats, so the slots' activations stay aligned.
    bool act_vec = vec && is_aligned(p.act, 16);
    for (int64_t j = 0; j <= K + n_shared; ++j) act_vec = act_vec && p.act_off[j] % 4 == 0;
    const dim3 grid1(unsigned(ceil_div(max_rows, kWarps)), unsigned(K + n_shared));
    const unsigned grid2 = unsigned(ceil_div(D, kWarps));
    dispatch_float(table.dtype, op, [&](auto tag) {
        using W = typename decltype(tag)::type;
        if (vec) {
            moe_decode_gate_up_kernel<W, true><<<grid1, 32 * kWarps, 0, stream_>>>(p);
            CUDA_CHECK_LAUNCH();
            if (act_vec) moe_decode_down_kernel<W, true, true><<<grid2, 32 * kWarps, 0, stream_>>>(p);
            else moe_decode_down_kernel<W, true, false><<<grid2, 32 * kWarps, 0, stream_>>>(p);
        } else {
            moe_decode_gate_up_kernel<W, false><<<grid1, 32 * kWarps, 0, stream_>>>(p);
            CUDA_CHECK_LAUNCH();
            moe_decode_down_kernel<W, false, false><<<grid2, 32 * kWarps, 0, stream_>>>(p);
        }
        CUDA_CHECK_LAUNCH();
    });
}

}  // namespace cuda_backend
