// cuda_moe_decode_parity_test.cpp — CudaBackend::moe_decode (decode-time MoE, routing read on the
// device; kernels/moe_decode.cu) against the CPU backend: every weight dtype, the 16-byte vector path
// and the unaligned scalar path, with and without shared experts, the cached expert table reused,
// rebuilt when an entry changes, and mixed dtypes (the composed default). Also runs as a CPU self-test.
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
    // Shared expert in F32 next to BF16 routed experts: outside the fused kernels (the composed default,
    // whose cuBLAS GEMMs round x to bf16 like every bf16 matmul of the backend: hence 3e-3), still correct.
    Experts shared32 = make(1, 32, D, DType::F32);
    run(routed, &shared32, {0, 2}, D, "bf16 routed + f32 shared", 3e-3);
}

}  // namespace
}  // namespace parity
