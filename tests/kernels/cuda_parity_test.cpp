// cuda_parity_test.cpp — every forward op of the CUDA backend against the CPU reference backend.
// Tolerances: f32 paths ≤ 1e-4 relative; GEMMs with bf16/f16 weights cast the activation to the
// weight dtype (bf16 in, fp32 accumulate), so they are compared at bf16/f16 precision, except the
// decode-sized ones (≤ 4 rows: gemv.cu keeps x in fp32).
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "cuda_parity_fixture.h"  // CudaParity: gpu_/cpu_ backends, host(), to_gpu(), to_host(), expect_close()

using namespace engine;
using parity::CudaParity;
using parity::CudaParitySelftest;
using parity::max_rel_diff;

TEST_F(CudaParity, MatmulAllWeightDtypes) {
    for (DType wt : {DType::F32, DType::BF16, DType::F16}) {
        for (bool accumulate : {false, true}) {
            Tensor x = host(DType::F32, {37, 96}), w = host(wt, {53, 96}, 0.1f), y = host(DType::F32, {37, 53});
            Tensor dx = to_gpu(x), dw = to_gpu(w), dy = to_gpu(y);
            cpu_->matmul(y.view(), x.view(), w.view(), true, accumulate);
            gpu_->matmul(dy.view(), dx.view(), dw.view(), true, accumulate);
            expect_close(to_host(dy.view()), y.as<float>(), wt == DType::F32 ? 1e-4 : 2e-2, dtype_name(wt));
        }
    }
}

TEST_F(CudaParity, BatchedMatmulUntransposedStridedWeight) {
    // Per-head absorption: x [H, T, d_n] · w[H, d_n, r] where w is a strided view of a [H, d_n + d_v, r] tensor.
    Tensor x = host(DType::F32, {4, 3, 16}), wfull = host(DType::BF16, {4, 24, 32}, 0.2f), y = host(DType::F32, {4, 3, 32});
    TensorView w = wfull.view();
    w.shape[1] = 16;  // first d_n rows of each head
    Tensor dx = to_gpu(x), dwf = to_gpu(wfull), dy = to_gpu(y);
    TensorView dw = dwf.view();
    dw.shape[1] = 16;
    cpu_->matmul(y.view(), x.view(), w, false, false);
    gpu_->matmul(dy.view(), dx.view(), dw, false, false);
    expect_close(to_host(dy.view()), y.as<float>(), 2e-2, "batched");
}

// Decode-sized products (≤ 4 rows of x, [out, in] weights) run gemv.cu on the fp32 activation, so every
// weight dtype matches the CPU at the fp32 tolerance; the cuBLAS path (x rounded to bf16/f16) misses it by
// two orders of magnitude. Cases: M 1..4; K with a tail after the 16-byte vectors and K not a multiple of
// 4 (padded shared-memory rows); x over 48 KB (the shared-memory opt-in); N not a multiple of a block's 8
// columns; accumulate; rows that are not 16-byte aligned (scalar loads); and the absorbed-MLA form, batched
// over heads with strided x, w and y. M = 5, and x beyond the opt-in, take cuBLAS. LATENT_CUDA_GEMV=cublas
// must send the same products to cuBLAS.
TEST_F(CudaParitySelftest, DecodeGemvSmallM) {
    constexpr double kTol = 2e-5;
    struct Case {
        int64_t M, N, K;
        bool accumulate;
    };
    const Case cases[] = {{1, 53, 96, false}, {2, 64, 1003, true}, {3, 40, 200, false},
                          {4, 17, 517, true}, {1, 33, 13000, false}, {4, 9, 3100, true}};
    auto run = [&](Backend& gpu, const Tensor& x, const TensorView& w_host, const TensorView& w_gpu, Tensor& y,
                   bool accumulate) {
        Tensor dx = to_gpu(x), dy = to_gpu(y);
        cpu_->matmul(y.view(), x.view(), w_host, true, accumulate);
        gpu.matmul(dy.view(), dx.view(), w_gpu, true, accumulate);
        return to_host(dy.view());
    };
    for (DType wt : {DType::F32, DType::BF16, DType::F16}) {
        for (const Case& c : cases) {
            Tensor x = host(DType::F32, {c.M, c.K}), w = host(wt, {c.N, c.K}, 0.1f), y = host(DType::F32, {c.M, c.N});
            Tensor dw = to_gpu(w);
            const std::string what = std::string(dtype_name(wt)) + " M" + std::to_string(c.M) + " N" +
                                     std::to_string(c.N) + " K" + std::to_string(c.K);
            const std::vector<float> got = run(*gpu_, x, w.view(), dw.view(), y, c.accumulate);
            expect_close(got, y.as<float>(), kTol, what.c_str());
        }
        // Rows one element into a [29, 260] tensor: 2- or 4-byte offsets, 520- or 1040-byte row strides.
        Tensor wfull = host(wt, {29, 260}, 0.1f), x = host(DType::F32, {2, 256}), y = host(DType::F32, {2, 29});
        Tensor dwfull = to_gpu(wfull);
        const TensorView w = wfull.view().slice_last(1, 257), dw = dwfull.view().slice_last(1, 257);
        const std::vector<float> got = run(*gpu_, x, w, dw, y, false);
        expect_close(got, y.as<float>(), kTol, (std::string(dtype_name(wt)) + " unaligned rows").c_str());
    }
    // Absorbed MLA, H 4 heads, T 1: x = q_nope [H, 1, 48] inside q [1, H, 64]; w = rows 40..71 of each head's
    // [72, 48] block (kv_b's W_UV part); y = o [H, 1, 32] inside [1, H, 32].
    Tensor q = host(DType::F32, {1, 4, 64}), kvb = host(DType::BF16, {4, 72, 48}, 0.1f);
    Tensor o = host(DType::F32, {1, 4, 32});
    Tensor dq = to_gpu(q), dkvb = to_gpu(kvb), dout = to_gpu(o);
    const TensorView x = q.view().strided(0, {4, 1, 48}, {64, 256, 1});
    const TensorView dx = dq.view().strided(0, {4, 1, 48}, {64, 256, 1});
    const TensorView w = kvb.view().strided(40 * 48, {4, 32, 48}, {72 * 48, 48, 1});
    const TensorView dw = dkvb.view().strided(40 * 48, {4, 32, 48}, {72 * 48, 48, 1});
    cpu_->matmul(o.view().strided(0, {4, 1, 32}, {32, 128, 1}), x, w, true, false);
    gpu_->matmul(dout.view().strided(0, {4, 1, 32}, {32, 128, 1}), dx, dw, true, false);
    expect_close(to_host(dout.view()), o.as<float>(), kTol, "batched absorbed heads");

    // Beyond the GEMV: M = 5, x of 4 x 60000 floats (960 KB: over any device's opt-in), and the cuBLAS
    // switch; all round x to bf16 (GPU only).
    if (selftest()) return;
    Tensor x5 = host(DType::F32, {5, 1003}), w5 = host(DType::BF16, {64, 1003}, 0.1f), y5 = host(DType::F32, {5, 64});
    Tensor dw5 = to_gpu(w5);
    const std::vector<float> g5 = run(*gpu_, x5, w5.view(), dw5.view(), y5, false);
    expect_close(g5, y5.as<float>(), 2e-2, "M 5 (cuBLAS)");
    Tensor xb = host(DType::F32, {4, 60000}), wb = host(DType::BF16, {9, 60000}, 0.1f), yb = host(DType::F32, {4, 9});
    Tensor dwb = to_gpu(wb);
    const std::vector<float> gb = run(*gpu_, xb, wb.view(), dwb.view(), yb, false);
    expect_close(gb, yb.as<float>(), 2e-2, "x beyond the shared-memory opt-in (cuBLAS)");
    std::unique_ptr<Backend> cublas = parity::cuda_backend_with("LATENT_CUDA_GEMV", "cublas");
    Tensor x1 = host(DType::F32, {1, 1003}), y1 = host(DType::F32, {1, 64});
    Tensor cw = cublas->alloc(DType::BF16, w5.view().shape.data(), 2), cx = cublas->alloc(DType::F32, {1, 1003});
    Tensor cy = cublas->alloc(DType::F32, {1, 64});
    cublas->copy(cw.view(), w5.view());
    cublas->copy(cx.view(), x1.view());
    cpu_->matmul(y1.view(), x1.view(), w5.view(), true, false);
    cublas->matmul(cy.view(), cx.view(), cw.view(), true, false);
    Tensor hy = Tensor::cpu(DType::F32, {1, 64});
    cublas->copy(hy.view(), cy.view());
    const std::vector<float> gc(hy.as<float>(), hy.as<float>() + 64);
    expect_close(gc, y1.as<float>(), 2e-2, "LATENT_CUDA_GEMV=cublas");
    EXPECT_GT(max_rel_diff(std::vector<float>(y1.as<float>(), y1.as<float>() + 64), gc), 1e-4)
        << "LATENT_CUDA_GEMV=cublas gave fp32-exact values: the switch did not reach cuBLAS";
}

TEST_F(CudaParity, RmsNormRopeSiluAddAxpyEmbedding) {
    Tensor x = host(DType::F32, {9, 130}), w = host(DType::BF16, {130}), y = host(DType::F32, {9, 130});
    Tensor dx = to_gpu(x), dw = to_gpu(w), dy = to_gpu(y);
    cpu_->rmsnorm(y.view(), x.view(), w.view(), 1e-6f);
    gpu_->rmsnorm(dy.view(), dx.view(), dw.view(), 1e-6f);
    expect_close(to_host(dy.view()), y.as<float>(), 1e-5, "rmsnorm");

    Tensor q = host(DType::F32, {5, 3, 64}), pos = Tensor::cpu(DType::I32, {5}), inv = Tensor::cpu(DType::F32, {32});
    for (int i = 0; i < 5; ++i) pos.as<int32_t>()[i] = 1000 + 7 * i;
    for (int i = 0; i < 32; ++i) inv.as<float>()[i] = std::pow(10000.0f, -2.0f * i / 64.0f);
    Tensor dq = to_gpu(q), dpos = to_gpu(pos), dinv = to_gpu(inv);
    cpu_->rope(q.view(), pos.view(), inv.view(), 1.0f);
    gpu_->rope(dq.view(), dpos.view(), dinv.view(), 1.0f);
    expect_close(to_host(dq.view()), q.as<float>(), 1e-4, "rope");

    Tensor g = host(DType::F32, {6, 40}), u = host(DType::F32, {6, 40}), o = host(DType::F32, {6, 40});
    Tensor dg = to_gpu(g), du = to_gpu(u), dout = to_gpu(o);
    cpu_->silu_mul(o.view(), g.view(), u.view());
    gpu_->silu_mul(dout.view(), dg.view(), du.view());
    expect_close(to_host(dout.view()), o.as<float>(), 1e-5, "silu_mul");
    cpu_->add(o.view(), o.view(), g.view());
    gpu_->add(dout.view(), dout.view(), dg.view());
    cpu_->axpy(o.view(), u.view(), -0.5f);
    gpu_->axpy(dout.view(), du.view(), -0.5f);
    expect_close(to_host(dout.view()), o.as<float>(), 1e-5, "add+axpy");

    Tensor table = host(DType::BF16, {50, 24}), ids = Tensor::cpu(DType::I32, {4}), e = host(DType::F32, {4, 24});
    int32_t idv[4] = {0, 49, 7, 7};
    std::copy(idv, idv + 4, ids.as<int32_t>());
    Tensor dt = to_gpu(table), di = to_gpu(ids), de = to_gpu(e);
    cpu_->embedding(e.view(), table.view(), ids.view());
    gpu_->embedding(de.view(), dt.view(), di.view());
    expect_close(to_host(de.view()), e.as<float>(), 0, "embedding");
    ids.as<int32_t>()[1] = 50;
    Tensor bad = to_gpu(ids);
    EXPECT_THROW(gpu_->embedding(de.view(), dt.view(), bad.view()), Error);
}

TEST_F(CudaParity, AttentionMhaAndLatentMqa) {
    // MHA prefill with a cached prefix: T = 4 queries at positions 6..9 over S = 10 keys.
    Tensor q = host(DType::F32, {4, 3, 24}), k = host(DType::F32, {10, 3, 24}), v = host(DType::F32, {10, 3, 16});
    Tensor o = host(DType::F32, {4, 3, 16});
    Tensor dq = to_gpu(q), dk = to_gpu(k), dv = to_gpu(v), dout = to_gpu(o);
    cpu_->attention(o.view(), q.view(), k.view(), v.view(), 0.2f, 6);
    gpu_->attention(dout.view(), dq.view(), dk.view(), dv.view(), 0.2f, 6);
    expect_close(to_host(dout.view()), o.as<float>(), 1e-4, "mha");
    // MLA latent: 1 KV head of 40 dims, v = its first 32 dims (a strided view of the same cache).
    Tensor ql = host(DType::F32, {2, 5, 40}), cache = host(DType::F32, {7, 1, 40}), ol = host(DType::F32, {2, 5, 32});
    TensorView vl = cache.view().slice_last(0, 32);
    Tensor dql = to_gpu(ql), dcache = to_gpu(cache), dol = to_gpu(ol);
    cpu_->attention(ol.view(), ql.view(), cache.view(), vl, 0.15f, 5);
    gpu_->attention(dol.view(), dql.view(), dcache.view(), dcache.view().slice_last(0, 32), 0.15f, 5);
    expect_close(to_host(dol.view()), ol.as<float>(), 1e-4, "latent mqa");
    // BF16 keys/values (a BF16 KV cache): MHA over 12 queries takes the reference kernel (the flash kernels
    // read fp32 only); both backends widen the same bf16 values.
    Tensor qh = host(DType::F32, {12, 3, 24}), kh = host(DType::BF16, {20, 3, 24}), vh = host(DType::BF16, {20, 3, 16});
    Tensor oh = host(DType::F32, {12, 3, 16});
    Tensor dqh = to_gpu(qh), dkh = to_gpu(kh), dvh = to_gpu(vh), doh = to_gpu(oh);
    cpu_->attention(oh.view(), qh.view(), kh.view(), vh.view(), 0.2f, 8);
    gpu_->attention(doh.view(), dqh.view(), dkh.view(), dvh.view(), 0.2f, 8);
    expect_close(to_host(doh.view()), oh.as<float>(), 1e-4, "mha bf16 k/v");
    EXPECT_THROW(gpu_->attention(doh.view(), dqh.view(), dkh.view(), to_gpu(host(DType::F32, {20, 3, 16})).view(),
                                 0.2f, 8),
                 Error) << "k BF16 with v F32";
}

TEST_F(CudaParity, MoeRoutingAndCombine) {
    struct Case { RouterParams::Scoring s; RouterParams::Method m; int groups, topk_group; bool norm; float rsf; };
    const Case cases[] = {
        {RouterParams::Scoring::kSoftmax, RouterParams::Method::kGreedy, 1, 1, false, 1.0f},
        {RouterParams::Scoring::kSoftmax, RouterParams::Method::kGroupLimitedGreedy, 4, 2, false, 16.0f},
        {RouterParams::Scoring::kSigmoid, RouterParams::Method::kNoauxTc, 4, 2, true, 2.5f},
        // V2 methods normalise OR scale (K > 1 and norm_topk_prob: normalise only; rsf is not applied)
        {RouterParams::Scoring::kSoftmax, RouterParams::Method::kGreedy, 1, 1, true, 16.0f},
    };
    for (const Case& c : cases) {
        RouterParams p;
        p.scoring = c.s;
        p.method = c.m;
        p.n_routed_experts = 16;
        p.top_k = 3;
        p.n_group = c.groups;
        p.topk_group = c.topk_group;
        p.norm_topk_prob = c.norm;
        p.routed_scaling_factor = c.rsf;
        Tensor logits = host(DType::F32, {11, 16}), bias = host(DType::F32, {16}, 0.1f);
        Tensor idx = Tensor::cpu(DType::I32, {11, 3}), w = Tensor::cpu(DType::F32, {11, 3});
        Tensor dl = to_gpu(logits), db = to_gpu(bias), didx = to_gpu(idx), dw = to_gpu(w);
        TensorView no_bias;
        const bool use_bias = c.m == RouterParams::Method::kNoauxTc;
        cpu_->moe_route(idx.view(), w.view(), logits.view(), use_bias ? bias.view() : no_bias, p);
        gpu_->moe_route(didx.view(), dw.view(), dl.view(), use_bias ? db.view() : no_bias, p);
        Tensor gidx = Tensor::cpu(DType::I32, {11, 3});
        gpu_->copy(gidx.view(), didx.view());
        for (int i = 0; i < 33; ++i) EXPECT_EQ(gidx.as<int32_t>()[i], idx.as<int32_t>()[i]) << "expert choice " << i;
        expect_close(to_host(dw.view()), w.as<float>(), 1e-5, "routing weights");
    }
    Tensor src = host(DType::F32, {6, 8}), dst = host(DType::F32, {4, 8}), rows = Tensor::cpu(DType::I32, {6});
    Tensor scale = host(DType::F32, {6});
    int32_t r[6] = {0, 3, 3, 1, 0, 2};
    std::copy(r, r + 6, rows.as<int32_t>());
    Tensor ds = to_gpu(src), dd = to_gpu(dst), dr = to_gpu(rows), dsc = to_gpu(scale);
    cpu_->scatter_add_rows(dst.view(), src.view(), rows.view(), scale.view());
    gpu_->scatter_add_rows(dd.view(), ds.view(), dr.view(), dsc.view());
    expect_close(to_host(dd.view()), dst.as<float>(), 1e-5, "scatter_add_rows");
    Tensor g = host(DType::F32, {6, 8});
    Tensor dg = to_gpu(g);
    cpu_->gather_rows(g.view(), dst.view(), rows.view());
    gpu_->gather_rows(dg.view(), dd.view(), dr.view());
    expect_close(to_host(dg.view()), g.as<float>(), 1e-5, "gather_rows");
}

TEST_F(CudaParity, OutOfMemoryIsReportedAndRecoverable) {
    const DeviceMemoryInfo mem = gpu_->memory_info();
    const int64_t too_many = mem.total_bytes / 4 * 2;  // F32 elements: twice the device memory
    try {
        Tensor t = gpu_->alloc(DType::F32, {too_many});
        FAIL() << "allocating " << too_many * 4 << " bytes should fail";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kOutOfMemory);
        EXPECT_NE(e.message().find("MiB are free"), std::string::npos) << e.message();
    }
    Tensor small = gpu_->alloc(DType::F32, {1024});  // the backend stays usable
    gpu_->fill(small.view(), 2.0f);
    auto v = to_host(small.view());
    EXPECT_EQ(v[1023], 2.0f);
}

// Decode attention over the MLA latent cache (attention_decode.cu's split-KV kernel: Hk = 1, T ≤ 256):
// k = the latent rows [S, 1, 576], v = their first 512 columns (a strided view of the same cache), as
// the model's MLA path calls it. cpu / gpu outputs must agree to 1e-4 of the largest |output| (fp32;
// only the summation order differs: splits of 256+ keys, tiles of 8, warp reductions).
// Sizes are small for the emulator (tests/kernels/emu): S < 512 is one split, larger S two or three.
namespace {
struct DecodeCase {
    int64_t T, H, S, q_pos0, k_ld;  // k_ld > 576: the cache rows are a slice of wider rows
    bool separate_v;                // v its own tensor [S, 1, 512] instead of a view of the cache
    bool bf16 = false;              // the cache (and v) in BF16, as a BF16 KV cache holds them
};
}  // namespace

class CudaParityDecode : public CudaParity {
protected:
    void run(const DecodeCase& c, const char* what) {
        constexpr int64_t dk = 576, dv = 512;
        const float scale = 0.0722f;  // 1/sqrt(192), DeepSeek's q·k scale before mscale
        const DType kv = c.bf16 ? DType::BF16 : DType::F32;
        Tensor q = host(DType::F32, {c.T, c.H, dk}), cache = host(kv, {c.S, 1, c.k_ld});
        Tensor vsep = host(kv, {c.S, 1, dv}), o = host(DType::F32, {c.T, c.H, dv});
        const TensorView k = cache.view().slice_last(0, dk);
        const TensorView v = c.separate_v ? vsep.view() : cache.view().slice_last(0, dv);
        cpu_->attention(o.view(), q.view(), k, v, scale, c.q_pos0);
        Tensor dq = to_gpu(q), dcache = to_gpu(cache), dvsep = to_gpu(vsep), dout = to_gpu(o);
        gpu_->fill(dout.view(), NAN);  // every output element must be written
        const TensorView dkv = dcache.view().slice_last(0, dk);
        const TensorView dvv = c.separate_v ? dvsep.view() : dcache.view().slice_last(0, dv);
        gpu_->attention(dout.view(), dq.view(), dkv, dvv, scale, c.q_pos0);
        expect_close(to_host(dout.view()), o.as<float>(), tol_, what);
    }
    double tol_ = 1e-4;
};

TEST_F(CudaParityDecode, LatentH16TwoSplits) { run({1, 16, 517, 516, 576, false}, "H16 S517"); }
TEST_F(CudaParityDecode, LatentH128TwoSplits) { run({1, 128, 613, 612, 576, false}, "H128 S613"); }
// T = 2 queries at q_pos0, q_pos0 + 1 with keys beyond them in the cache: the causal limit falls inside
// split 1 (keys 352..698) in the first case; in the second, split 1 is empty for both queries.
TEST_F(CudaParityDecode, LatentCausalT2) {
    run({2, 16, 699, 400, 576, false}, "T2 q_pos0 400 S699");
    run({2, 16, 699, 100, 576, false}, "T2 q_pos0 100 S699");
}
// A chat turn run absorbed: 8 new tokens after 512 cached ones (each query's causal limit inside the
// second split), and 5 tokens over a short cache. (The TF32 variant below takes 40 tokens; 8 keep the
// SIMT kernel's emulated run short.)
TEST_F(CudaParityDecode, LatentChatTurnManyQueries) {
    run({8, 16, 520, 512, 576, false}, "T8 q_pos0 512 S520");
    run({5, 16, 12, 7, 576, false}, "T5 q_pos0 7 S12");
}
// S below one split (37 keys: 4 full tiles + 5), 20 heads (a partly filled second head group), cache
// rows with a leading dimension of 580, and v as its own tensor (the non-aliased path).
TEST_F(CudaParityDecode, LatentShortContextStridedSeparateV) {
    run({1, 20, 37, 36, 580, false}, "S37 H20 ld580");
    run({3, 20, 37, 30, 580, true}, "S37 H20 T3 separate v");
}
// A BF16 latent cache (Model::new_cache(.., BF16)): both backends read the same bf16 values and compute
// in fp32, so the fp32 tolerance holds. Two splits, a chat turn's queries, and a separate strided v.
TEST_F(CudaParityDecode, Bf16LatentCache) {
    run({1, 16, 517, 516, 576, false, true}, "bf16 H16 S517");
    run({5, 16, 300, 290, 576, false, true}, "bf16 T5 q_pos0 290 S300");
    run({3, 20, 37, 30, 580, true, true}, "bf16 S37 H20 T3 separate v");
}

// The same decode through the TF32 tensor-core split kernel (attention_decode_tc.cu), on a second
// backend created with LATENT_CUDA_ATTENTION=tf32: q, k, v and the probabilities are rounded to 10
// mantissa bits, so the tolerance is 3e-3 of the largest |output| (emulated: 6.0e-4 to 6.2e-4). Cases:
// two splits with a tile cut inside a 16-key group and a tail of < 8 keys (S 517), 128 heads, two head
// groups with whole 8-key steps inside the cut group (H 32, S 200), causal T = 2, and H 20 (GLM-4.7-
// Flash's head count: a second group of 4 real heads and 12 zero-padded ones). 580-float cache rows are
// not 32-byte aligned: that case takes the SIMT kernel.
class CudaParityDecodeTf32 : public CudaParityDecode {
protected:
    void SetUp() override {
        CudaParityDecode::SetUp();
        if (IsSkipped()) return;
        gpu_ = parity::cuda_backend_with_attention("tf32");
        tol_ = 3e-3;
    }
};

TEST_F(CudaParityDecodeTf32, H16TwoSplitsCutGroupAndTail) { run({1, 16, 517, 516, 576, false}, "tf32 H16 S517"); }
TEST_F(CudaParityDecodeTf32, H128) { run({1, 128, 613, 612, 576, false}, "tf32 H128 S613"); }
TEST_F(CudaParityDecodeTf32, TwoHeadGroupsWholeStepsInCutGroup) { run({1, 32, 200, 199, 576, false}, "tf32 H32 S200"); }
TEST_F(CudaParityDecodeTf32, CausalT2) { run({2, 16, 699, 400, 576, false}, "tf32 T2 q_pos0 400 S699"); }
TEST_F(CudaParityDecodeTf32, ChatTurnManyQueries) {
    run({40, 16, 600, 560, 576, false}, "tf32 T40 q_pos0 560 S600");
}
TEST_F(CudaParityDecodeTf32, H20PaddedHeadGroup) { run({1, 20, 300, 299, 576, false}, "tf32 H20 S300"); }
// A BF16 cache on the tensor-core kernel (bf16 WMMA m16n16k16: q and the probabilities rounded to bf16
// as well, 7 mantissa bits): against the CPU over the same bf16 cache, tolerance 1e-2 of the largest
// |output| (emulated: 2.0e-3 at H 16, 2.1e-3 at H 128). Cases: two splits with a tail of 5 keys after the
// last 16-key step, 128 heads, a chat turn's queries, 20 heads (a padded group), and 580-element rows (not
// 32-byte aligned: the SIMT kernel, 1e-4).
class CudaParityDecodeBf16Mma : public CudaParityDecodeTf32 {
protected:
    void SetUp() override {
        CudaParityDecodeTf32::SetUp();
        tol_ = 1e-2;
    }
};

TEST_F(CudaParityDecodeBf16Mma, H16TwoSplitsAndTail) { run({1, 16, 517, 516, 576, false, true}, "bf16 mma H16 S517"); }
TEST_F(CudaParityDecodeBf16Mma, H128) { run({1, 128, 613, 612, 576, false, true}, "bf16 mma H128 S613"); }
TEST_F(CudaParityDecodeBf16Mma, ChatTurnAndPaddedHeads) {
    run({9, 16, 300, 291, 576, false, true}, "bf16 mma T9 q_pos0 291 S300");
    run({1, 20, 300, 299, 576, false, true}, "bf16 mma H20 S300");
}
TEST_F(CudaParityDecodeBf16Mma, FallsBackToSimtForUnalignedRows) {
    tol_ = 1e-4;
    run({1, 20, 37, 36, 580, false, true}, "bf16 H20 ld580 (SIMT)");
}
TEST_F(CudaParityDecodeTf32, FallsBackToSimtForUnalignedRows) { run({1, 20, 37, 36, 580, false}, "tf32 H20 ld580 (SIMT)"); }
