// cuda_train_parity_test.cpp — every training op of the CUDA backend (backend.h "training ops") against
// the CPU reference backend, one case (or more) per op: odd sizes (not multiples of 32/128), strided
// views, accumulate on and off, ignored targets, causal attention with a cached prefix (q_pos0 > 0) and a
// shared K/V head (Hk < H), and the errors the CPU raises for bad indices.
//
// Tolerances (max |gpu − cpu| / max |cpu|), stated per op where the check is made:
//   GEMM / reductions over rows in f32 ≤ 1e-5 .. 1e-4 (different summation orders);
//   elementwise f32 with expf/cosf ≤ 1e-5 (CUDA's expf/sinf/cosf are within 2 ulp, glibc's within 1);
//   cross-entropy mean loss ≤ 1e-5 relative; sum_squares (double accumulation) ≤ 1e-11 relative;
//   scale is one IEEE multiply per element: identical.
//
// LATENT_PARITY_SELFTEST=1 runs these cases with a single-threaded CPU backend in the GPU's place, so
// the test code itself (shapes, the CPU side's constraints, tolerances) can be checked on a machine
// without a GPU. tests/kernels/emu/run_emulated.sh goes further: it runs the real kernels/*.cu on the CPU
// (emulated CUDA headers) against these cases.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "cuda_parity_fixture.h"  // CudaParity: gpu_/cpu_ backends, host(), to_gpu(), to_host(), expect_close()

using namespace engine;

namespace {

class CudaTrainParity : public parity::CudaParitySelftest {
protected:
    std::vector<int32_t> random_ids(int64_t n, int32_t lo, int32_t hi) {  // uniform in [lo, hi]
        std::uniform_int_distribution<int32_t> u(lo, hi);
        std::vector<int32_t> out(static_cast<size_t>(n));
        for (auto& v : out) v = u(rng_);
        return out;
    }
};

// A view of the first `cols` columns of a wider tensor (row stride > cols).
TensorView first_cols(const Tensor& t, int64_t cols) { return t.view().slice_last(0, cols); }

}  // namespace

// dw[N, K] (+)= dy[M, N]ᵀ · x[M, K]: cuBLAS fp32 vs OpenBLAS fp32, different summation orders: ≤ 1e-5.
TEST_F(CudaTrainParity, MatmulWeightGrad) {
    struct Case { int64_t M, N, K; };
    for (const Case c : {Case{37, 53, 70}, Case{517, 131, 259}, Case{1, 9, 5}}) {
        for (bool accumulate : {false, true}) {
            Tensor x = host(DType::F32, {c.M, c.K}), dy = host(DType::F32, {c.M, c.N});
            Tensor dw = host(DType::F32, {c.N, c.K});
            Tensor gx = to_gpu(x), gdy = to_gpu(dy), gdw = to_gpu(dw);
            cpu_->matmul_weight_grad(dw.view(), dy.view(), x.view(), accumulate);
            gpu_->matmul_weight_grad(gdw.view(), gdy.view(), gx.view(), accumulate);
            expect_close(to_host(gdw.view()), dw.as<float>(), 1e-5, accumulate ? "dw accumulate" : "dw overwrite");
        }
    }
    // Strided operands: dy and x as column slices of wider tensors, dw a column slice too; 3-D rows.
    Tensor x = host(DType::F32, {3, 13, 77}), dy = host(DType::F32, {3, 13, 45}), dw = host(DType::F32, {41, 77});
    Tensor gx = to_gpu(x), gdy = to_gpu(dy), gdw = to_gpu(dw);
    TensorView xv = x.view().slice_last(0, 70), dyv = dy.view().slice_last(0, 41), dwv = dw.view().slice_last(0, 70);
    cpu_->matmul_weight_grad(dwv, dyv, xv, true);
    gpu_->matmul_weight_grad(gdw.view().slice_last(0, 70), gdy.view().slice_last(0, 41), gx.view().slice_last(0, 70),
                             true);
    expect_close(to_host(gdw.view()), dw.as<float>(), 1e-5, "strided dw");  // untouched columns must match too
    // M = 0: overwrite gives zeros, accumulate leaves dw unchanged.
    Tensor gx0 = gpu_->alloc(DType::F32, {0, 6}), gdy0 = gpu_->alloc(DType::F32, {0, 4});
    Tensor w0 = host(DType::F32, {4, 6});
    Tensor gw0 = to_gpu(w0);
    gpu_->matmul_weight_grad(gw0.view(), gdy0.view(), gx0.view(), true);
    expect_close(to_host(gw0.view()), w0.as<float>(), 0, "M = 0, accumulate");
    gpu_->matmul_weight_grad(gw0.view(), gdy0.view(), gx0.view(), false);
    expect_close(to_host(gw0.view()), std::vector<float>(24, 0.0f), 0, "M = 0, overwrite");
}

// dx overwritten, dw accumulated (or skipped when dw.data == nullptr). Row reductions in f32: ≤ 1e-5.
TEST_F(CudaTrainParity, RmsNormBackward) {
    struct Case { int64_t rows, n, x_cols; };  // x_cols > n: x is a strided column slice
    for (const Case c : {Case{37, 130, 130}, Case{600, 97, 101}, Case{3, 1111, 1111}}) {
        Tensor xfull = host(DType::F32, {c.rows, c.x_cols}), dy = host(DType::F32, {c.rows, c.n});
        Tensor w = host(DType::F32, {c.n}, 0.5f), dw = host(DType::F32, {c.n}), dx = host(DType::F32, {c.rows, c.n});
        Tensor gx = to_gpu(xfull), gdy = to_gpu(dy), gw = to_gpu(w), gdw = to_gpu(dw), gdx = to_gpu(dx);
        cpu_->rmsnorm_backward(dx.view(), dw.view(), dy.view(), first_cols(xfull, c.n), w.view(), 1e-6f);
        gpu_->rmsnorm_backward(gdx.view(), gdw.view(), gdy.view(), gx.view().slice_last(0, c.n), gw.view(), 1e-6f);
        expect_close(to_host(gdx.view()), dx.as<float>(), 1e-5, "rmsnorm dx");
        expect_close(to_host(gdw.view()), dw.as<float>(), 1e-5, "rmsnorm dw (accumulated)");
    }
    // Frozen weight: no dw; 3-D rows [B, T, n].
    Tensor x = host(DType::F32, {2, 5, 33}), dy = host(DType::F32, {2, 5, 33}), w = host(DType::F32, {33});
    Tensor dx = host(DType::F32, {2, 5, 33});
    Tensor gx = to_gpu(x), gdy = to_gpu(dy), gw = to_gpu(w), gdx = to_gpu(dx);
    cpu_->rmsnorm_backward(dx.view(), TensorView{}, dy.view(), x.view(), w.view(), 1e-5f);
    gpu_->rmsnorm_backward(gdx.view(), TensorView{}, gdy.view(), gx.view(), gw.view(), 1e-5f);
    expect_close(to_host(gdx.view()), dx.as<float>(), 1e-5, "rmsnorm dx without dw");
    // The weight must be F32 (the fp32 master copy), as on the CPU.
    Tensor wb = host(DType::BF16, {33});
    Tensor gwb = to_gpu(wb);
    EXPECT_THROW(gpu_->rmsnorm_backward(gdx.view(), TensorView{}, gdy.view(), gx.view(), gwb.view(), 1e-5f), Error);
}

// The inverse rotation in place, on the rope slice of q [T, H, d_nope + d_r] (token and head strides).
// cosf/sinf of large angles (positions ~1000): ≤ 1e-4 as the forward rope's parity.
TEST_F(CudaTrainParity, RopeBackward) {
    const int64_t T = 7, H = 3, d_nope = 32, d_r = 64;
    Tensor q = host(DType::F32, {T, H, d_nope + d_r});
    Tensor pos = Tensor::cpu(DType::I32, {T}), inv = Tensor::cpu(DType::F32, {d_r / 2});
    for (int i = 0; i < T; ++i) pos.as<int32_t>()[i] = 1000 + 7 * i;
    for (int i = 0; i < d_r / 2; ++i) inv.as<float>()[i] = std::pow(10000.0f, -2.0f * i / float(d_r)) * 0.25f;
    Tensor gq = to_gpu(q), gpos = to_gpu(pos), ginv = to_gpu(inv);
    const float af = 1.1f;
    cpu_->rope_backward(q.view().slice_last(d_nope, d_nope + d_r), pos.view(), inv.view(), af);
    gpu_->rope_backward(gq.view().slice_last(d_nope, d_nope + d_r), gpos.view(), ginv.view(), af);
    expect_close(to_host(gq.view()), q.as<float>(), 1e-4, "rope_backward");  // the nope part must be untouched

    // On the device alone: backward(forward(x)) = af²·x (a rotation and its transpose).
    Tensor x = host(DType::F32, {5, 1, 16}), p5 = Tensor::cpu(DType::I32, {5}), i8 = Tensor::cpu(DType::F32, {8});
    for (int i = 0; i < 5; ++i) p5.as<int32_t>()[i] = 3 + 11 * i;
    for (int i = 0; i < 8; ++i) i8.as<float>()[i] = std::pow(10000.0f, -2.0f * i / 16.0f);
    Tensor gxr = to_gpu(x), gp5 = to_gpu(p5), gi8 = to_gpu(i8);
    gpu_->rope(gxr.view(), gp5.view(), gi8.view(), 0.9f);
    gpu_->rope_backward(gxr.view(), gp5.view(), gi8.view(), 0.9f);
    std::vector<float> want = values(x.view());
    for (float& v : want) v *= 0.81f;
    expect_close(to_host(gxr.view()), want, 1e-5, "rope_backward ∘ rope");
}

namespace {

struct AttnCase {
    int64_t T, S, H, Hk, dk, dv, q_pos0;
    float scale;
    const char* what;
};

}  // namespace

// dq, dk, dv overwritten (pre-filled with noise here). Softmax rows over up to S keys and sums over
// T queries × heads in f32: ≤ 1e-4.
TEST_F(CudaTrainParity, AttentionBackward) {
    const AttnCase cases[] = {
        {5, 11, 3, 3, 24, 20, 6, 0.2f, "MHA, cached prefix (q_pos0 6)"},
        {37, 37, 4, 1, 33, 17, 0, 0.17f, "MQA prefill (Hk 1 < H 4, q_pos0 0)"},
        {3, 150, 2, 2, 40, 40, 147, 0.15f, "MHA decode-like (S 150 > 128 threads)"},
        {6, 9, 5, 1, 40, 40, 3, 0.15f, "MQA, q_pos0 3"},
        {1, 1, 1, 1, 7, 5, 0, 0.4f, "one query, one key"},
    };
    for (const AttnCase& c : cases) {
        Tensor q = host(DType::F32, {c.T, c.H, c.dk}), k = host(DType::F32, {c.S, c.Hk, c.dk});
        Tensor v = host(DType::F32, {c.S, c.Hk, c.dv}), dout = host(DType::F32, {c.T, c.H, c.dv});
        Tensor dq = host(DType::F32, {c.T, c.H, c.dk}), dk = host(DType::F32, {c.S, c.Hk, c.dk});
        Tensor dv = host(DType::F32, {c.S, c.Hk, c.dv});
        Tensor gq = to_gpu(q), gk = to_gpu(k), gv = to_gpu(v), gdo = to_gpu(dout);
        Tensor gdq = to_gpu(dq), gdk = to_gpu(dk), gdv = to_gpu(dv);
        cpu_->attention_backward(dq.view(), dk.view(), dv.view(), dout.view(), q.view(), k.view(), v.view(), c.scale,
                                 c.q_pos0);
        gpu_->attention_backward(gdq.view(), gdk.view(), gdv.view(), gdo.view(), gq.view(), gk.view(), gv.view(),
                                 c.scale, c.q_pos0);
        SCOPED_TRACE(c.what);
        expect_close(to_host(gdq.view()), dq.as<float>(), 1e-4, "dq");
        expect_close(to_host(gdk.view()), dk.as<float>(), 1e-4, "dk");
        expect_close(to_host(gdv.view()), dv.as<float>(), 1e-4, "dv");
    }
}

// The MLA latent layout: one K/V head of r dims, v = its first dv dims (a strided view of the same cache);
// dv is then a view of the same width as v inside its own [S, 1, r] buffer (the CPU wants dv's token
// stride to equal v's).
TEST_F(CudaTrainParity, AttentionBackwardLatentSharedCache) {
    const int64_t T = 4, S = 13, H = 6, r = 40, dvw = 32, q_pos0 = 9;
    Tensor q = host(DType::F32, {T, H, r}), cache = host(DType::F32, {S, 1, r}), dout = host(DType::F32, {T, H, dvw});
    Tensor dq = host(DType::F32, {T, H, r}), dk = host(DType::F32, {S, 1, r}), dvbuf = host(DType::F32, {S, 1, r});
    Tensor gq = to_gpu(q), gc = to_gpu(cache), gdo = to_gpu(dout), gdq = to_gpu(dq), gdk = to_gpu(dk), gdv = to_gpu(dvbuf);
    cpu_->attention_backward(dq.view(), dk.view(), dvbuf.view().slice_last(0, dvw), dout.view(), q.view(), cache.view(),
                             cache.view().slice_last(0, dvw), 0.125f, q_pos0);
    gpu_->attention_backward(gdq.view(), gdk.view(), gdv.view().slice_last(0, dvw), gdo.view(), gq.view(), gc.view(),
                             gc.view().slice_last(0, dvw), 0.125f, q_pos0);
    expect_close(to_host(gdq.view()), dq.as<float>(), 1e-4, "latent dq");
    expect_close(to_host(gdk.view()), dk.as<float>(), 1e-4, "latent dk");
    expect_close(to_host(gdv.view()), dvbuf.as<float>(), 1e-4, "latent dv (and the untouched tail columns)");
}

// Long enough that the CUDA kernel's P/dS workspace (256 MiB) takes the queries in 3 chunks (per query
// 2·H·S·4 bytes = 512 KiB, 512 queries per chunk: 512 + 512 + 6), so dk/dv add up across chunks. Small
// head dims keep it cheap (also under compute-sanitizer). f32 sums over 4096 keys and 1030 queries: ≤ 1e-4.
TEST_F(CudaTrainParity, AttentionBackwardChunked) {
    const int64_t T = 1030, S = 4096, H = 16, dk = 9, dv = 7, q_pos0 = S - T;
    Tensor q = host(DType::F32, {T, H, dk}), k = host(DType::F32, {S, H, dk}), v = host(DType::F32, {S, H, dv});
    Tensor dout = host(DType::F32, {T, H, dv});
    Tensor dq = Tensor::cpu(DType::F32, {T, H, dk}), dkt = Tensor::cpu(DType::F32, {S, H, dk});
    Tensor dvt = Tensor::cpu(DType::F32, {S, H, dv});
    Tensor gq = to_gpu(q), gk = to_gpu(k), gv = to_gpu(v), gdo = to_gpu(dout);
    Tensor gdq = to_gpu(dq), gdk = to_gpu(dkt), gdv = to_gpu(dvt);
    cpu_->attention_backward(dq.view(), dkt.view(), dvt.view(), dout.view(), q.view(), k.view(), v.view(), 0.33f,
                             q_pos0);
    gpu_->attention_backward(gdq.view(), gdk.view(), gdv.view(), gdo.view(), gq.view(), gk.view(), gv.view(), 0.33f,
                             q_pos0);
    expect_close(to_host(gdq.view()), dq.as<float>(), 1e-4, "chunked dq");
    expect_close(to_host(gdk.view()), dkt.as<float>(), 1e-4, "chunked dk");
    expect_close(to_host(gdv.view()), dvt.as<float>(), 1e-4, "chunked dv");
}

// Elementwise with expf: ≤ 1e-5. gate/up are column slices (row stride > cols).
TEST_F(CudaTrainParity, SiluMulBackward) {
    Tensor gu = host(DType::F32, {37, 2 * 130}, 2.0f), dout = host(DType::F32, {37, 130});
    Tensor dg = host(DType::F32, {37, 130}), du = host(DType::F32, {37, 130});
    Tensor ggu = to_gpu(gu), gdo = to_gpu(dout), gdg = to_gpu(dg), gdu = to_gpu(du);
    cpu_->silu_mul_backward(dg.view(), du.view(), dout.view(), gu.view().slice_last(0, 130), gu.view().slice_last(130, 260));
    gpu_->silu_mul_backward(gdg.view(), gdu.view(), gdo.view(), ggu.view().slice_last(0, 130),
                            ggu.view().slice_last(130, 260));
    expect_close(to_host(gdg.view()), dg.as<float>(), 1e-5, "dgate");
    expect_close(to_host(gdu.view()), du.as<float>(), 1e-5, "dup");
}

// dtable[ids[t], :] += dout[t, :] with repeated ids (atomicAdd: order-dependent last bits): ≤ 1e-6.
TEST_F(CudaTrainParity, EmbeddingBackward) {
    const int64_t V = 50, D = 24;
    Tensor dtable = host(DType::F32, {V, D}), dout = host(DType::F32, {3, 7, D});
    std::vector<int32_t> idv = random_ids(21, 0, V - 1);
    idv[0] = 0;
    idv[1] = V - 1;
    idv[2] = idv[3] = idv[4] = 7;  // repeats
    Tensor ids = host_i32({21}, idv);
    Tensor gt = to_gpu(dtable), gdo = to_gpu(dout), gids = to_gpu(ids);
    cpu_->embedding_backward(dtable.view(), dout.view(), ids.view());
    gpu_->embedding_backward(gt.view(), gdo.view(), gids.view());
    expect_close(to_host(gt.view()), dtable.as<float>(), 1e-6, "dtable");
    for (int32_t bad : {int32_t(V), -1}) {
        idv[5] = bad;
        Tensor gbad = to_gpu(host_i32({21}, idv));
        EXPECT_THROW(gpu_->embedding_backward(gt.view(), gdo.view(), gbad.view()), Error) << "id " << bad;
    }
}

// Mean loss ≤ 1e-5 relative, count exact, dlogits ≤ 1e-5 (5e-5 at V = 50021; relative to the largest |dlogit|).
TEST_F(CudaTrainParity, CrossEntropy) {
    struct Case { int64_t T, V, ld; int32_t ignore; float grad_scale; };
    for (const Case c : {Case{37, 1003, 1003, -100, 0.5f}, Case{5, 50021, 50021, -100, 1.0f},
                         Case{19, 131, 140, 5, 2.0f}}) {
        Tensor logits = host(DType::F32, {c.T, c.ld}, 3.0f), dl = host(DType::F32, {c.T, c.V});
        std::vector<int32_t> tg = random_ids(c.T, 0, int32_t(c.V - 1));
        for (int64_t t = 0; t < c.T; t += 4) tg[size_t(t)] = c.ignore;  // ignored rows
        if (c.ignore >= 0) tg[1] = c.ignore;  // an in-range ignore index
        Tensor targets = host_i32({c.T}, tg);
        Tensor gl = to_gpu(logits), gdl = to_gpu(dl), gtg = to_gpu(targets);
        int64_t cpu_count = -1, gpu_count = -2;
        const float cpu_loss = cpu_->cross_entropy(dl.view(), first_cols(logits, c.V), targets.view(), c.ignore,
                                                   c.grad_scale, &cpu_count);
        const float gpu_loss = gpu_->cross_entropy(gdl.view(), gl.view().slice_last(0, c.V), gtg.view(), c.ignore,
                                                   c.grad_scale, &gpu_count);
        EXPECT_EQ(gpu_count, cpu_count);
        EXPECT_NEAR(gpu_loss, cpu_loss, 1e-5 * std::fabs(cpu_loss)) << "V " << c.V;
        // The CPU sums exp() over a row sequentially in f32 (relative error growing like √V·2⁻²⁴), the GPU
        // as a tree: lse, hence every probability, differs by a few 1e-6 relative at V = 50021.
        expect_close(to_host(gdl.view()), dl.as<float>(), c.V > 10000 ? 5e-5 : 1e-5, "dlogits");
        // Loss only (dlogits.data == nullptr).
        const float gpu_loss2 = gpu_->cross_entropy(TensorView{}, gl.view().slice_last(0, c.V), gtg.view(), c.ignore,
                                                    c.grad_scale, nullptr);
        EXPECT_EQ(gpu_loss2, gpu_loss);  // same kernels, same order: identical
    }
    // Every target ignored: loss 0, count 0, zero gradient.
    Tensor logits = host(DType::F32, {3, 10}), dl = host(DType::F32, {3, 10});
    Tensor gl = to_gpu(logits), gdl = to_gpu(dl), gtg = to_gpu(host_i32({3}, {-100, -100, -100}));
    int64_t n = -1;
    EXPECT_EQ(gpu_->cross_entropy(gdl.view(), gl.view(), gtg.view(), -100, 1.0f, &n), 0.0f);
    EXPECT_EQ(n, 0);
    expect_close(to_host(gdl.view()), std::vector<float>(30, 0.0f), 0, "all ignored");
    // A target outside [0, V) that is not the ignore index is an error, as on the CPU.
    Tensor gbad = to_gpu(host_i32({3}, {1, 10, -100}));
    EXPECT_THROW(gpu_->cross_entropy(gdl.view(), gl.view(), gbad.view(), -100, 1.0f, nullptr), Error);
}

// dsrc[i] = scale[i]·dy[rows[i]], dscale[i] = <dy[rows[i]], src[i]> (rows repeat), both overwritten: ≤ 1e-5.
TEST_F(CudaTrainParity, ScatterAddRowsBackward) {
    const int64_t n = 13, D = 70, Ty = 7;
    Tensor dy = host(DType::F32, {Ty, D}), src = host(DType::F32, {n, D}), scale = host(DType::F32, {n});
    Tensor dsrc = host(DType::F32, {n, D}), dscale = host(DType::F32, {n});
    std::vector<int32_t> rv = random_ids(n, 0, int32_t(Ty - 1));
    rv[0] = rv[1] = 3;
    rv[2] = 0;
    rv[3] = int32_t(Ty - 1);
    Tensor rows = host_i32({n}, rv);
    Tensor gdy = to_gpu(dy), gsrc = to_gpu(src), gsc = to_gpu(scale), gdsrc = to_gpu(dsrc), gdsc = to_gpu(dscale);
    Tensor grows = to_gpu(rows);
    cpu_->scatter_add_rows_backward(dsrc.view(), dscale.view(), dy.view(), src.view(), rows.view(), scale.view());
    gpu_->scatter_add_rows_backward(gdsrc.view(), gdsc.view(), gdy.view(), gsrc.view(), grows.view(), gsc.view());
    expect_close(to_host(gdsrc.view()), dsrc.as<float>(), 1e-5, "dsrc");
    expect_close(to_host(gdsc.view()), dscale.as<float>(), 1e-5, "dscale");
    rv[4] = int32_t(Ty);
    Tensor gbad = to_gpu(host_i32({n}, rv));
    EXPECT_THROW(gpu_->scatter_add_rows_backward(gdsrc.view(), gdsc.view(), gdy.view(), gsrc.view(), gbad.view(),
                                                 gsc.view()),
                 Error);
}

// dlogits [T, E] from dweights [T, K] through the routing weights' convention per method: ≤ 1e-5.
TEST_F(CudaTrainParity, MoeRouterBackward) {
    using S = RouterParams::Scoring;
    using M = RouterParams::Method;
    struct Case { S s; M m; int E, K, groups, topk_group; bool norm; float rsf; const char* what; };
    const Case cases[] = {
        {S::kSoftmax, M::kGreedy, 16, 3, 1, 1, false, 1.0f, "V2 greedy softmax, × rsf 1"},
        {S::kSoftmax, M::kGroupLimitedGreedy, 16, 3, 4, 2, true, 16.0f, "V2 groups, normalised (rsf unused)"},
        {S::kSoftmax, M::kGreedy, 16, 1, 1, 1, true, 2.0f, "V2 K = 1: norm ignored, × rsf"},
        {S::kSigmoid, M::kNoauxTc, 64, 6, 8, 3, true, 2.5f, "V3 noaux_tc sigmoid, normalised then × rsf"},
        {S::kSigmoid, M::kNoauxTc, 24, 4, 4, 2, false, 1.5f, "noaux_tc sigmoid, × rsf only"},
    };
    for (const Case& c : cases) {
        RouterParams p;
        p.scoring = c.s;
        p.method = c.m;
        p.n_routed_experts = c.E;
        p.top_k = c.K;
        p.n_group = c.groups;
        p.topk_group = c.topk_group;
        p.norm_topk_prob = c.norm;
        p.routed_scaling_factor = c.rsf;
        const int64_t T = 11;
        Tensor logits = host(DType::F32, {T, c.E}), bias = host(DType::F32, {c.E}, 0.1f);
        Tensor idx = Tensor::cpu(DType::I32, {T, c.K}), w = Tensor::cpu(DType::F32, {T, c.K});
        cpu_->moe_route(idx.view(), w.view(), logits.view(), c.m == M::kNoauxTc ? bias.view() : TensorView{}, p);
        Tensor dweights = host(DType::F32, {T, c.K}), dl = host(DType::F32, {T, c.E});
        Tensor gl = to_gpu(logits), gidx = to_gpu(idx), gdw = to_gpu(dweights), gdl = to_gpu(dl);
        cpu_->moe_router_backward(dl.view(), dweights.view(), logits.view(), idx.view(), p);
        gpu_->moe_router_backward(gdl.view(), gdw.view(), gl.view(), gidx.view(), p);
        expect_close(to_host(gdl.view()), dl.as<float>(), 1e-5, c.what);
    }
}

// Three AdamW steps on the same state (different gradients): elementwise f32, ≤ 1e-6 for p, m, v.
TEST_F(CudaTrainParity, AdamwStep) {
    const int64_t n = 100003;
    Tensor p = host(DType::F32, {n}), m = Tensor::cpu(DType::F32, {n}), v = Tensor::cpu(DType::F32, {n});
    Tensor gp = to_gpu(p), gm = to_gpu(m), gv = to_gpu(v);
    for (int64_t step = 1; step <= 3; ++step) {
        Tensor g = host(DType::F32, {n}, 0.01f);
        Tensor gg = to_gpu(g);
        cpu_->adamw_step(p.view(), g.view(), m.view(), v.view(), 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, step);
        gpu_->adamw_step(gp.view(), gg.view(), gm.view(), gv.view(), 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, step);
    }
    expect_close(to_host(gp.view()), p.as<float>(), 1e-6, "param");
    expect_close(to_host(gm.view()), m.as<float>(), 1e-6, "m");
    expect_close(to_host(gv.view()), v.as<float>(), 1e-6, "v");
    Tensor gg = to_gpu(host(DType::F32, {n}));
    EXPECT_THROW(gpu_->adamw_step(gp.view(), gg.view(), gm.view(), gv.view(), 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 0),
                 Error);
}

// Σx² accumulated in double: ≤ 1e-11 relative (sequential vs tree order; an f32 accumulation would miss
// by ~1e-4 at n = 1e6); NaN and Inf propagate; empty gives 0.
TEST_F(CudaTrainParity, SumSquares) {
    for (int64_t n : {int64_t(1), int64_t(1000003), int64_t(300)}) {
        Tensor x = host(DType::F32, {n}, 3.0f);
        Tensor gx = to_gpu(x);
        const double want = cpu_->sum_squares(x.view()), got = gpu_->sum_squares(gx.view());
        EXPECT_NEAR(got, want, 1e-11 * want) << "n " << n;
    }
    Tensor x = host(DType::F32, {1001});
    x.as<float>()[500] = std::numeric_limits<float>::quiet_NaN();
    Tensor gx = to_gpu(x);
    EXPECT_TRUE(std::isnan(gpu_->sum_squares(gx.view())));
    x.as<float>()[500] = std::numeric_limits<float>::infinity();
    Tensor gxi = to_gpu(x);
    EXPECT_TRUE(std::isinf(gpu_->sum_squares(gxi.view())));
    Tensor ge = gpu_->alloc(DType::F32, {0});
    EXPECT_EQ(gpu_->sum_squares(ge.view()), 0.0);
}

// One IEEE multiply per element: identical.
TEST_F(CudaTrainParity, Scale) {
    Tensor y = host(DType::F32, {37, 29});
    Tensor gy = to_gpu(y);
    cpu_->scale(y.view(), 0.37f);
    gpu_->scale(gy.view(), 0.37f);
    expect_close(to_host(gy.view()), y.as<float>(), 0, "scale");
}

// y = a ⊙ b (the LoRA dropout mask), strided rows, in place: one IEEE multiply per element, identical.
TEST_F(CudaTrainParity, MulInPlaceAndStrided) {
    Tensor a = host(DType::F32, {13, 40}), b = host(DType::F32, {13, 40});
    Tensor ga = to_gpu(a), gb = to_gpu(b);
    const TensorView sa = a.view().slice_last(0, 33), sb = b.view().slice_last(7, 40);  // row stride 40, 33 wide
    cpu_->mul(sa, sa, sb);
    gpu_->mul(ga.view().slice_last(0, 33), ga.view().slice_last(0, 33), gb.view().slice_last(7, 40));
    expect_close(to_host(ga.view()), a.as<float>(), 0, "mul");
}

// The MoE permutation of training (kernels/moe_train.cu): identical output to the CPU's stable counting
// sort (integers and copied weights: exact), over several 256-entry chunks, with an empty expert; an id
// outside [0, E) is kInternal. V2-Lite-like E = 64, K = 6 and a small E = 5, K = 1.
TEST_F(CudaTrainParity, MoePermuteMatchesCpuExactly) {
    struct Case { int64_t R, K, E; };
    for (const Case c : {Case{300, 6, 64}, Case{77, 1, 5}}) {
        const int64_t n = c.R * c.K;
        std::vector<int32_t> ids;
        std::uniform_int_distribution<int32_t> pick(0, int32_t(c.E - 2));  // the last expert stays empty
        for (int64_t t = 0; t < c.R; ++t) {
            std::vector<int32_t> row;
            while (int64_t(row.size()) < c.K) {
                const int32_t e = pick(rng_);
                if (std::find(row.begin(), row.end(), e) == row.end()) row.push_back(e);
            }
            ids.insert(ids.end(), row.begin(), row.end());
        }
        Tensor idx = host_i32({c.R, c.K}, ids), w = host(DType::F32, {c.R, c.K});
        Tensor rows = Tensor::cpu(DType::I32, {n}), slot = Tensor::cpu(DType::I32, {n}), scale = Tensor::cpu(DType::F32, {n});
        std::vector<int64_t> off_cpu(size_t(c.E + 1)), off_gpu(size_t(c.E + 1), -1);
        cpu_->moe_permute(rows.view(), slot.view(), scale.view(), off_cpu.data(), c.E, idx.view(), w.view());
        Tensor gidx = to_gpu(idx), gw = to_gpu(w);
        Tensor grows = gpu_->alloc(DType::I32, {n}), gslot = gpu_->alloc(DType::I32, {n}), gscale = gpu_->alloc(DType::F32, {n});
        gpu_->moe_permute(grows.view(), gslot.view(), gscale.view(), off_gpu.data(), c.E, gidx.view(), gw.view());
        EXPECT_EQ(off_gpu, off_cpu) << "E " << c.E;
        EXPECT_EQ(off_gpu[size_t(c.E)], n);
        Tensor hr = Tensor::cpu(DType::I32, {n}), hs = Tensor::cpu(DType::I32, {n});
        gpu_->copy(hr.view(), grows.view());
        gpu_->copy(hs.view(), gslot.view());
        const std::vector<float> hsc = to_host(gscale.view());
        int64_t bad = 0;
        for (int64_t i = 0; i < n; ++i)
            bad += hr.as<int32_t>()[i] != rows.as<int32_t>()[i] || hs.as<int32_t>()[i] != slot.as<int32_t>()[i] ||
                   hsc[size_t(i)] != scale.as<float>()[i];
        EXPECT_EQ(bad, 0) << "E " << c.E;
        ids[size_t(n / 2)] = int32_t(c.E);
        Tensor gbad = to_gpu(host_i32({c.R, c.K}, ids));
        try {
            gpu_->moe_permute(grows.view(), gslot.view(), gscale.view(), off_gpu.data(), c.E, gbad.view(), gw.view());
            ADD_FAILURE() << "no error for an id outside [0, E)";
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::kInternal) << e.message();
        }
    }
}

// The sequence-wise balance loss and its gradient: fp32 on the GPU vs the CPU's double: ≤ 1e-5
// relative, softmax (V2) and sigmoid (V3) scores, E = 64 over 3 sequences and E = 5 over 1.
TEST_F(CudaTrainParity, MoeSeqAuxLoss) {
    struct Case { int64_t B, T, K, E; RouterParams::Scoring s; };
    for (const Case c : {Case{3, 40, 6, 64, RouterParams::Scoring::kSoftmax},
                         Case{1, 33, 2, 5, RouterParams::Scoring::kSigmoid},
                         Case{2, 17, 8, 256, RouterParams::Scoring::kSigmoid}}) {
        const int64_t R = c.B * c.T;
        Tensor logits = host(DType::F32, {R, c.E}, 2.0f);
        std::vector<int32_t> ids = random_ids(R * c.K, 0, int32_t(c.E - 1));
        Tensor idx = host_i32({R, c.K}, ids);
        Tensor dl = Tensor::cpu(DType::F32, {R, c.E});
        const double want = cpu_->moe_seq_aux_loss(dl.view(), logits.view(), idx.view(), c.B, 0.3f, c.s);
        Tensor gl = to_gpu(logits), gidx = to_gpu(idx), gdl = gpu_->alloc(DType::F32, {R, c.E});
        const double got = gpu_->moe_seq_aux_loss(gdl.view(), gl.view(), gidx.view(), c.B, 0.3f, c.s);
        EXPECT_NEAR(got, want, 1e-5 * std::fabs(want)) << "E " << c.E;
        expect_close(to_host(gdl.view()), dl.as<float>(), 1e-5, "dlogits");
    }
}
