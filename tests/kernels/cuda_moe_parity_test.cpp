// cuda_moe_parity_test.cpp — the CUDA backend's MoE expert ops against the CPU backend:
//   moe_decode (decode-time MoE, routing read on the device; kernels/moe_decode.cu): every weight dtype,
//   the 16-byte vector path and the unaligned scalar path, with and without shared experts, the cached
//   expert table reused, rebuilt when an entry changes, and mixed dtypes (the composed default);
//   moe_experts (prefill; kernels/moe_prefill.cu): grouped GEMMs and the per-problem loop, an empty
//   expert, accumulation into y.
// Also runs as a CPU self-test.
#include "cuda_parity_fixture.h"

namespace parity {
namespace {

class MoeDecodeParity : public CudaParitySelftest {
protected:
    struct Experts {
        std::vector<Tensor> host, dev;   // gate, up, down per expert, in order
        std::vector<SwigluExpert> h, d;  // views of host / device weights
    };
    // n experts of width I (dtype dt) for hidden size D; the same values on both backends.
    Experts make(int64_t n, int64_t I, int64_t D, DType dt) {
        Experts ex;
        const float a = 1.0f / std::sqrt(float(D));
        for (int64_t e = 0; e < n; ++e) {
            for (auto shape : {std::vector<int64_t>{I, D}, {I, D}, {D, I}}) {
                Tensor t = host(dt, {shape[0], shape[1]}, a);
                ex.dev.push_back(to_gpu(t));
                ex.host.push_back(std::move(t));
            }
        }
        for (int64_t e = 0; e < n; ++e) {
            const size_t b = size_t(3 * e);
            ex.h.push_back({ex.host[b].view(), ex.host[b + 1].view(), ex.host[b + 2].view(), 1.0f});
            ex.d.push_back({ex.dev[b].view(), ex.dev[b + 1].view(), ex.dev[b + 2].view(), 1.0f});
        }
        return ex;
    }
    // y on both backends for the routing (ids, weights); compares within rel of max |y|.
    void run(const Experts& routed, const Experts* shared, const std::vector<int32_t>& ids, int64_t D,
             const char* what, double rel = 1e-4) {
        const int64_t K = int64_t(ids.size()), E = int64_t(routed.h.size());
        std::vector<float> wv;
        for (int64_t k = 0; k < K; ++k) wv.push_back(0.3f + 0.45f * float(k) * (k % 2 ? -1.0f : 1.0f));
        Tensor idx = host_i32({1, K}, ids), wts = Tensor::cpu(DType::F32, {1, K});
        std::copy(wv.begin(), wv.end(), wts.as<float>());
        Tensor x = host(DType::F32, {1, D}), y = Tensor::cpu(DType::F32, {1, D});
        const int64_t ns = shared ? int64_t(shared->h.size()) : 0;
        const int64_t wn = Backend::moe_decode_work(K, routed.h[0].gate.dim(0), shared ? shared->h.data() : nullptr, ns, D);
        Tensor work = Tensor::cpu(DType::F32, {wn});
        Tensor didx = to_gpu(idx), dwts = to_gpu(wts), dx = to_gpu(x), dy = to_gpu(host(DType::F32, {1, D}));
        Tensor dwork = gpu_->alloc(DType::F32, {wn});
        cpu_->moe_decode(y.view(), x.view(), idx.view(), wts.view(), routed.h.data(), E, shared ? shared->h.data() : nullptr,
                         ns, work.view());
        gpu_->moe_decode(dy.view(), dx.view(), didx.view(), dwts.view(), routed.d.data(), E,
                         shared ? shared->d.data() : nullptr, ns, dwork.view());
        expect_close(to_host(dy.view()), y.as<float>(), rel, what);
    }
};

TEST_F(MoeDecodeParity, EveryDtypeVectorPathWithSharedExperts) {
    for (DType dt : {DType::BF16, DType::F16, DType::F32}) {
        const int64_t D = 256, I = 64;  // rows of 16-byte multiples: the vector path
        Experts routed = make(8, I, D, dt), shared = make(1, 128, D, dt);
        run(routed, &shared, {5, 0, 7}, D, dtype_name(dt));
        run(routed, &shared, {2, 5, 1}, D, "second token, same (cached) table");
        run(routed, nullptr, {3, 6, 4, 0, 1, 2}, D, "K = 6, no shared experts");
    }
}

TEST_F(MoeDecodeParity, OddShapesTakeTheScalarPath) {
    const int64_t D = 37, I = 13;  // neither row length is a multiple of 8 elements
    Experts routed = make(5, I, D, DType::BF16), shared = make(2, 7, D, DType::BF16);
    run(routed, &shared, {4, 1}, D, "odd D and I, two shared experts");
}

TEST_F(MoeDecodeParity, ChangedTableIsRebuiltAndMixedDtypesWork) {
    const int64_t D = 64, I = 32;
    Experts routed = make(4, I, D, DType::BF16), shared = make(1, 32, D, DType::BF16);
    run(routed, &shared, {1, 3}, D, "first use");
    // Same array, entries 1 and 3 swapped (on both sides): the device table must follow.
    std::swap(routed.h[1], routed.h[3]);
    std::swap(routed.d[1], routed.d[3]);
    run(routed, &shared, {1, 2}, D, "after swapping entries of the table");
    // Shared expert in F32 next to BF16 routed experts: outside the fused kernels, the composed default,
    // whose one-row products run gemv.cu on the fp32 activation: the fp32 tolerance holds there too.
    Experts shared32 = make(1, 32, D, DType::F32);
    run(routed, &shared32, {0, 2}, D, "bf16 routed + f32 shared", 1e-4);
}

// moe_experts: T tokens, K experts each (distinct per token), pairs sorted by expert; expert `empty` gets
// no token. y starts random (the op accumulates).
class MoeExpertsParity : public MoeDecodeParity {
protected:
    void run_prefill(Backend& gpu, DType dt, double rel, const char* what) {
        const int64_t T = 7, K = 2, E = 6, D = 64, I = 32, empty = 3;
        Experts ex = make(E, I, D, dt);
        std::vector<std::vector<int32_t>> by_expert(static_cast<size_t>(E));
        std::vector<std::vector<float>> w_by_expert(static_cast<size_t>(E));
        for (int64_t t = 0; t < T; ++t) {
            int64_t a = (t * 5 + 1) % E, b = (t * 3 + 2) % E;
            if (a == empty) a = (a + 1) % E;
            if (b == empty || b == a) b = (b + 2) % E;
            if (b == empty || b == a) b = (b + 1) % E;
            for (int64_t e : {a, b}) {
                by_expert[size_t(e)].push_back(int32_t(t));
                w_by_expert[size_t(e)].push_back(0.2f + 0.1f * float(t) - 0.05f * float(e));
            }
        }
        std::vector<int64_t> offsets{0};
        std::vector<int32_t> rows;
        std::vector<float> sc;
        for (int64_t e = 0; e < E; ++e) {
            rows.insert(rows.end(), by_expert[size_t(e)].begin(), by_expert[size_t(e)].end());
            sc.insert(sc.end(), w_by_expert[size_t(e)].begin(), w_by_expert[size_t(e)].end());
            offsets.push_back(int64_t(rows.size()));
        }
        ASSERT_EQ(offsets[size_t(empty) + 1], offsets[size_t(empty)]);
        const int64_t P = int64_t(rows.size());
        ASSERT_EQ(P, T * K);
        Tensor r = host_i32({P}, rows), s = Tensor::cpu(DType::F32, {P});
        std::copy(sc.begin(), sc.end(), s.as<float>());
        Tensor x = host(DType::F32, {T, D}), y = host(DType::F32, {T, D});
        Tensor dx = to_gpu(x), dy = to_gpu(y), dr = to_gpu(r), ds = to_gpu(s);
        // Rebuild the device weights on `gpu` (it may be a second backend).
        std::vector<Tensor> dev;
        std::vector<SwigluExpert> dex;
        for (size_t i = 0; i < ex.host.size(); ++i) {
            const TensorView& h = ex.host[i].view();
            Tensor d = gpu.alloc(h.dtype, h.shape.data(), h.ndim);
            gpu.copy(d.view(), h);
            dev.push_back(std::move(d));
        }
        for (int64_t e = 0; e < E; ++e)
            dex.push_back({dev[size_t(3 * e)].view(), dev[size_t(3 * e + 1)].view(), dev[size_t(3 * e + 2)].view(), 1.0f});
        int64_t max_rows = 0;
        for (int64_t e = 0; e < E; ++e) max_rows = std::max(max_rows, offsets[size_t(e) + 1] - offsets[size_t(e)]);
        const int64_t cw = cpu_->moe_experts_work(P, max_rows, D, I), gw = gpu.moe_experts_work(P, max_rows, D, I);
        Tensor work = Tensor::cpu(DType::F32, {cw});
        Tensor dwork = gpu.alloc(DType::F32, {gw});
        cpu_->moe_experts(y.view(), x.view(), ex.h.data(), offsets.data(), E, r.view(), s.view(), work.view());
        gpu.moe_experts(dy.view(), dx.view(), dex.data(), offsets.data(), E, dr.view(), ds.view(), dwork.view());
        Tensor back = Tensor::cpu(DType::F32, {T, D});
        gpu.copy(back.view(), dy.view());
        expect_close(std::vector<float>(back.as<float>(), back.as<float>() + T * D), y.as<float>(), rel, what);
    }
};

// bf16 / f16 weights: the GPU feeds the GEMMs bf16/f16 activations (as every bf16 GEMM of > 4 rows does),
// the CPU keeps them f32: ~0.4 % of the largest output. f32 weights: only the summation order differs.
TEST_F(MoeExpertsParity, GroupedGemmsEveryDtype) {
    run_prefill(*gpu_, DType::BF16, 1e-2, "bf16 experts");
    run_prefill(*gpu_, DType::F16, 2e-3, "f16 experts");
    run_prefill(*gpu_, DType::F32, 1e-4, "f32 experts");
}

TEST_F(MoeExpertsParity, PerProblemLoopMatchesToo) {
    if (selftest()) GTEST_SKIP() << "the loop is a CUDA backend path (LATENT_CUDA_MOE=loop)";
    ::setenv("LATENT_CUDA_MOE", "loop", 1);
    std::unique_ptr<Backend> loop = make_cuda_backend(0);
    ::unsetenv("LATENT_CUDA_MOE");
    run_prefill(*loop, DType::BF16, 1e-2, "bf16 experts, one GEMM per problem");
    run_prefill(*loop, DType::F32, 1e-4, "f32 experts, one GEMM per problem");
}

}  // namespace
}  // namespace parity
