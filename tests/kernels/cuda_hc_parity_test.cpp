// cuda_hc_parity_test.cpp — the hyper-connection ops of the CUDA backend (backend.h "hyper-connections",
// kernels/hyper_connections.cu), forward and backward, against the CPU reference backend: every
// coefficient form (mHC V4 and paper, HC, head), n = 4 and a non-power-of-two n = 3, token counts that
// are not multiples of a block, D not a multiple of 256, and accumulation onto non-zero gradients.
//
// Tolerances (max |gpu − cpu| / max |cpu|): the CPU computes the coefficients in fp64, the GPU in fp32
// through up to 40 Sinkhorn normalisations (forward ≤ 2e-5; the recomputing backward ≤ 1e-4); the
// stream sums and merges are fp32 FMAs (≤ 1e-5) and their per-token reductions over D ≤ 1e-4.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cuda_parity_fixture.h"

using namespace engine;

namespace {

using Kind = HcParams::Kind;

struct Form {
    const char* name;
    Kind kind;
    bool paper;
    int n;
};

class CudaHcParity : public parity::CudaParitySelftest, public ::testing::WithParamInterface<Form> {
protected:
    HcParams params() const {
        HcParams p;
        p.kind = GetParam().kind;
        p.n = GetParam().n;
        p.sinkhorn_iters = 20;
        p.eps = 1e-6f;
        p.paper_form = GetParam().paper;
        return p;
    }
};

const Form kForms[] = {{"mhc_v4", Kind::kMHC, false, 4}, {"mhc_paper", Kind::kMHC, true, 4},
                       {"mhc_v4_n3", Kind::kMHC, false, 3}, {"hc", Kind::kHC, false, 4},
                       {"head", Kind::kHead, false, 4}};

}  // namespace

TEST_P(CudaHcParity, CoeffsForwardAndBackward) {
    const HcParams p = params();
    const bool head = p.kind == Kind::kHead;
    const int64_t T = 37, n = p.n, K = p.logits(), S = p.scales();
    Tensor m = host(DType::F32, {T, K}, 1.5f), base = host(DType::F32, {K}, 1.0f), scale = host(DType::F32, {S}, 1.0f);
    Tensor pre = host(DType::F32, {T, n}), post = host(DType::F32, {T, n}), mix = host(DType::F32, {T, n, n});
    Tensor gm = to_gpu(m), gbase = to_gpu(base), gscale = to_gpu(scale);
    Tensor gpre = to_gpu(pre), gpost = to_gpu(post), gmix = to_gpu(mix);
    cpu_->hc_coeffs(pre.view(), head ? TensorView{} : post.view(), head ? TensorView{} : mix.view(), m.view(),
                    base.view(), scale.view(), p);
    gpu_->hc_coeffs(gpre.view(), head ? TensorView{} : gpost.view(), head ? TensorView{} : gmix.view(), gm.view(),
                    gbase.view(), gscale.view(), p);
    expect_close(to_host(gpre.view()), pre.as<float>(), 2e-5, "pre");
    if (!head) {
        expect_close(to_host(gpost.view()), post.as<float>(), 2e-5, "post");
        expect_close(to_host(gmix.view()), mix.as<float>(), 2e-5, "mix");
    }
    // Backward, accumulating onto random dbase / dscale.
    Tensor dpre = host(DType::F32, {T, n}), dpost = host(DType::F32, {T, n}), dmix = host(DType::F32, {T, n, n});
    Tensor dm = host(DType::F32, {T, K}), dbase = host(DType::F32, {K}), dscale = host(DType::F32, {S});
    Tensor gdpre = to_gpu(dpre), gdpost = to_gpu(dpost), gdmix = to_gpu(dmix);
    Tensor gdm = to_gpu(dm), gdbase = to_gpu(dbase), gdscale = to_gpu(dscale);
    cpu_->hc_coeffs_backward(dm.view(), dbase.view(), dscale.view(), dpre.view(), head ? TensorView{} : dpost.view(),
                             head ? TensorView{} : dmix.view(), m.view(), base.view(), scale.view(), p);
    gpu_->hc_coeffs_backward(gdm.view(), gdbase.view(), gdscale.view(), gdpre.view(),
                             head ? TensorView{} : gdpost.view(), head ? TensorView{} : gdmix.view(), gm.view(),
                             gbase.view(), gscale.view(), p);
    expect_close(to_host(gdm.view()), dm.as<float>(), 1e-4, "dm");
    expect_close(to_host(gdbase.view()), dbase.as<float>(), 1e-4, "dbase");
    expect_close(to_host(gdscale.view()), dscale.as<float>(), 1e-4, "dscale");
}

INSTANTIATE_TEST_SUITE_P(Forms, CudaHcParity, ::testing::ValuesIn(kForms),
                         [](const auto& info) { return std::string(info.param.name); });

namespace {
class CudaHcStreams : public parity::CudaParitySelftest {};
}  // namespace

TEST_F(CudaHcStreams, PreAndPostResForwardAndBackward) {
    for (const int64_t n : {4, 3}) {
        SCOPED_TRACE("n = " + std::to_string(n));
        const int64_t T = 37, D = 300;
        Tensor X = host(DType::F32, {T, n, D}), y = host(DType::F32, {T, D}), pre = host(DType::F32, {T, n});
        Tensor post = host(DType::F32, {T, n}), mix = host(DType::F32, {T, n, n}, 0.5f);
        Tensor u = host(DType::F32, {T, D}), Xo = host(DType::F32, {T, n, D});
        Tensor gX = to_gpu(X), gy = to_gpu(y), gpre = to_gpu(pre), gpost = to_gpu(post), gmix = to_gpu(mix);
        Tensor gu = to_gpu(u), gXo = to_gpu(Xo);
        cpu_->hc_pre(u.view(), X.view(), pre.view());
        gpu_->hc_pre(gu.view(), gX.view(), gpre.view());
        expect_close(to_host(gu.view()), u.as<float>(), 1e-5, "u");
        cpu_->hc_post_res(Xo.view(), X.view(), y.view(), post.view(), mix.view());
        gpu_->hc_post_res(gXo.view(), gX.view(), gy.view(), gpost.view(), gmix.view());
        expect_close(to_host(gXo.view()), Xo.as<float>(), 1e-5, "Xout");

        Tensor du = host(DType::F32, {T, D}), dpre = host(DType::F32, {T, n}), dX = host(DType::F32, {T, n, D});
        Tensor gdu = to_gpu(du), gdpre = to_gpu(dpre), gdX = to_gpu(dX);  // dX accumulates
        cpu_->hc_pre_backward(dpre.view(), dX.view(), du.view(), X.view(), pre.view());
        gpu_->hc_pre_backward(gdpre.view(), gdX.view(), gdu.view(), gX.view(), gpre.view());
        expect_close(to_host(gdpre.view()), dpre.as<float>(), 1e-4, "dpre");
        expect_close(to_host(gdX.view()), dX.as<float>(), 1e-5, "dX (pre)");

        Tensor g = host(DType::F32, {T, n, D}), dy = host(DType::F32, {T, D}), dpost = host(DType::F32, {T, n});
        Tensor dmix = host(DType::F32, {T, n, n}), dX2 = host(DType::F32, {T, n, D});
        Tensor gg = to_gpu(g), gdy = to_gpu(dy), gdpost = to_gpu(dpost), gdmix = to_gpu(dmix), gdX2 = to_gpu(dX2);
        cpu_->hc_post_res_backward(dy.view(), dpost.view(), dmix.view(), dX2.view(), g.view(), X.view(), y.view(),
                                   post.view(), mix.view());
        gpu_->hc_post_res_backward(gdy.view(), gdpost.view(), gdmix.view(), gdX2.view(), gg.view(), gX.view(), gy.view(),
                                   gpost.view(), gmix.view());
        expect_close(to_host(gdy.view()), dy.as<float>(), 1e-5, "dy");
        expect_close(to_host(gdX2.view()), dX2.as<float>(), 1e-5, "dX (post_res)");
        expect_close(to_host(gdpost.view()), dpost.as<float>(), 1e-4, "dpost");
        expect_close(to_host(gdmix.view()), dmix.as<float>(), 1e-4, "dmix");
    }
}

// hc_logits (cuBLAS + the ρ row kernel) and its backward, for an F32 and a BF16 fn; the backward
// with and without dfn (frozen weight). GEMM summation orders differ: ≤ 1e-5 (bf16 weights: the GPU
// casts the activations to bf16 for the GEMM, ≤ 1e-2 against the CPU's fp32 activations).
TEST_F(CudaHcStreams, LogitsForwardAndBackward) {
    const int64_t T = 37, n = 4, D = 72, nD = n * D, K = n * n + 2 * n;
    for (const DType dt : {DType::F32, DType::BF16}) {
        SCOPED_TRACE(dt == DType::F32 ? "F32 fn" : "BF16 fn");
        const double tol = dt == DType::F32 ? 1e-5 : 1e-2;
        Tensor X = host(DType::F32, {T, n, D}), fn = host(dt, {K, nD}, 0.2f);
        Tensor m = host(DType::F32, {T, K}), rho = host(DType::F32, {T});
        Tensor gX = to_gpu(X), gm = to_gpu(m), grho = to_gpu(rho);
        Tensor gfn = gpu_->upload_weight(fn.view());
        cpu_->hc_logits(m.view(), rho.view(), X.view(), fn.view(), 1e-6f);
        gpu_->hc_logits(gm.view(), grho.view(), gX.view(), gfn.view(), 1e-6f);
        expect_close(to_host(grho.view()), rho.as<float>(), 1e-5, "rho");
        expect_close(to_host(gm.view()), m.as<float>(), tol, "m");
        if (dt != DType::F32) continue;  // training weights are F32
        Tensor dm = host(DType::F32, {T, K}), dX = host(DType::F32, {T, n, D}), dfn = host(DType::F32, {K, nD});
        Tensor gdm = to_gpu(dm), gdX = to_gpu(dX), gdfn = to_gpu(dfn), gdX2 = to_gpu(dX);
        Tensor dX2 = host(DType::F32, {T, n, D});
        cpu_->copy(dX2.view(), dX.view());
        cpu_->hc_logits_backward(dX.view(), dfn.view(), dm.view(), X.view(), fn.view(), m.view(), rho.view());
        gpu_->hc_logits_backward(gdX.view(), gdfn.view(), gdm.view(), gX.view(), gfn.view(), gm.view(), grho.view());
        expect_close(to_host(gdX.view()), dX.as<float>(), 1e-5, "dX");
        expect_close(to_host(gdfn.view()), dfn.as<float>(), 1e-5, "dfn");
        gpu_->hc_logits_backward(gdX2.view(), TensorView{}, gdm.view(), gX.view(), gfn.view(), gm.view(), grho.view());
        expect_close(to_host(gdX2.view()), dX.as<float>(), 1e-5, "dX (frozen fn)");
    }
}

// The GPU kernels hold n² values per thread: hc_mult above 8 is refused with kUnsupported naming the
// limit (the CPU backend runs any n).
TEST_F(CudaHcStreams, TooManyStreamsIsAnErrorOnTheGpu) {
    if (selftest()) GTEST_SKIP() << "a GPU-only limit";
    const int64_t T = 2, n = 9, D = 8;
    Tensor X = to_gpu(host(DType::F32, {T, n, D})), u = to_gpu(host(DType::F32, {T, D}));
    Tensor pre = to_gpu(host(DType::F32, {T, n}));
    try {
        gpu_->hc_pre(u.view(), X.view(), pre.view());
        ADD_FAILURE() << "hc_pre accepted n = 9";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
        EXPECT_NE(e.message().find("up to 8"), std::string::npos) << e.message();
    }
}
