// cuda_flash_parity_test.cpp — the fused flash attention forward (kernels/attention_flash.cu, taken by
// CudaBackend::attention for T ≥ 5, dk ≤ 256, dv ≤ 256) and the flash backward
// (kernels/attention_flash_backward.cu, same shapes) against the CPU backend, and against the reference
// CUDA kernels (a second CUDA backend created with LATENT_CUDA_ATTENTION=reference); and the TF32
// tensor-core kernels (attention_flash_tc.cu, attention_flash_backward_tc.cu; LATENT_CUDA_ATTENTION=tf32,
// or a reduced matmul precision) against the CPU.
// Tolerance: max |gpu − cpu| / max |cpu| ≤ 1e-5 (fp32, different summation order); 3e-3 for TF32 (10
// mantissa bits in q, k, p, v: ~5e-4 per product).
#include <array>
#include <cstdlib>
#include <string>

#include "cuda_parity_fixture.h"

namespace parity {
namespace {

constexpr double kTol = 1e-5;

// [T, H, d] view of a device tensor laid out [H, T, d] (heads outermost: a transposed layout).
TensorView heads_outer(const Tensor& t_htd) {
    TensorView v = t_htd.view();
    const int64_t H = v.shape[0], T = v.shape[1], d = v.shape[2];
    v.shape = {T, H, d, 0};
    v.stride = {d, T * d, 1, 0};
    return v;
}

class CudaFlashAttention : public CudaParity {
protected:
    struct Case {
        int64_t T, H, Hk, dk, dv, q_pos0, S;
    };
    // Runs one case with contiguous tensors (v its own tensor, or the first dv dims of k when alias_v)
    // and returns the GPU output; checks it against the CPU backend.
    std::vector<float> run_case(const Case& c, bool alias_v, const char* what, Backend* gpu = nullptr,
                                double tol = kTol) {
        if (gpu == nullptr) gpu = gpu_.get();
        const float scale = 1.0f / std::sqrt(float(c.dk));
        Tensor q = host(DType::F32, {c.T, c.H, c.dk}), k = host(DType::F32, {c.S, c.Hk, c.dk});
        Tensor v = host(DType::F32, {c.S, c.Hk, c.dv}), o = host(DType::F32, {c.T, c.H, c.dv});
        Tensor dq = gpu_to(gpu, q), dk = gpu_to(gpu, k), dv = gpu_to(gpu, v), dout = gpu_to(gpu, o);
        const TensorView hv = alias_v ? k.view().slice_last(0, c.dv) : v.view();
        const TensorView gv = alias_v ? dk.view().slice_last(0, c.dv) : dv.view();
        cpu_->attention(o.view(), q.view(), k.view(), hv, scale, c.q_pos0);
        gpu->attention(dout.view(), dq.view(), dk.view(), gv, scale, c.q_pos0);
        Tensor back = Tensor::cpu(DType::F32, {c.T, c.H, c.dv});
        gpu->copy(back.view(), dout.view());
        std::vector<float> got(back.as<float>(), back.as<float>() + back.view().numel());
        expect_close(got, o.as<float>(), tol, what);
        return got;
    }
    static Tensor gpu_to(Backend* gpu, const Tensor& h) {
        Tensor d = gpu->alloc(h.view().dtype, h.view().shape.data(), h.view().ndim);
        gpu->copy(d.view(), h.view());
        return d;
    }
};

// DeepSeek MLA explicit form (dk 192 = 128 nope + 64 rope, dv 128); T = 37 is not a multiple of the
// 32-query tile, so the second tile is partial.
TEST_F(CudaFlashAttention, MlaExplicitDims192x128) { run_case({37, 3, 3, 192, 128, 0, 37}, false, "mha 192/128"); }

// A cached prefix: queries at positions 45..65 over S = q_pos0 + T keys (key tiles the queries see
// only in part), and the same with keys beyond the last query (never visible).
TEST_F(CudaFlashAttention, CachedPrefix) {
    run_case({21, 2, 2, 64, 64, 45, 66}, false, "q_pos0 45, S = q_pos0 + T");
    run_case({9, 2, 2, 64, 32, 40, 70}, false, "q_pos0 40, S > q_pos0 + T");
    run_case({40, 1, 1, 16, 8, 260, 300}, false, "long prefix: 10 key tiles");
}

// One shared K/V head (MQA), v separate and v = the first dv dims of k (the latent-cache aliasing).
TEST_F(CudaFlashAttention, SharedKvHead) {
    run_case({11, 4, 1, 80, 64, 3, 14}, false, "mqa");
    run_case({11, 4, 1, 80, 64, 3, 14}, true, "mqa, v aliases k");
}

// Head dims that are not multiples of 32 (nor of the 64-dim key chunk), and the largest ones.
TEST_F(CudaFlashAttention, OddAndLargestHeadDims) {
    run_case({33, 2, 2, 48, 40, 0, 33}, false, "dk 48 / dv 40");
    run_case({7, 1, 1, 1, 1, 2, 9}, false, "dk 1 / dv 1");
    run_case({6, 2, 2, 256, 256, 1, 7}, false, "dk 256 / dv 256");
}

// Strided views: q and out with heads outermost ([H, T, d] storage), k and v as column slices of one
// fused [S, H, dk + dv + 3] tensor (row stride ≠ dk), out a slice of wider rows.
TEST_F(CudaFlashAttention, StridedViews) {
    const int64_t T = 19, H = 3, dk = 40, dv = 24, S = 25, q_pos0 = 6, W = dk + dv + 3;
    const float scale = 0.17f;
    Tensor q_htd = host(DType::F32, {H, T, dk}), kv = host(DType::F32, {S, H, W});
    Tensor o = host(DType::F32, {T, H, dv});
    Tensor dq = to_gpu(q_htd), dkv = to_gpu(kv), dout = to_gpu(host(DType::F32, {T, H, dv + 5}));
    cpu_->attention(o.view(), heads_outer(q_htd), kv.view().slice_last(0, dk), kv.view().slice_last(dk + 3, W),
                    scale, q_pos0);
    const TensorView gout = dout.view().slice_last(2, 2 + dv);
    gpu_->attention(gout, heads_outer(dq), dkv.view().slice_last(0, dk), dkv.view().slice_last(dk + 3, W), scale,
                    q_pos0);
    expect_close(to_host(gout), o.as<float>(), kTol, "strided views");
}

// The absorbed MLA latent form with T ≥ 5 (Hk 1, dk 576, dv 512 = the first 512 dims of k) is beyond
// the flash kernel's dims: the split-KV kernel takes it (T ≤ 256); beyond that, and for heads wider than
// 256 without the latent shape, the reference kernel keeps it correct.
TEST_F(CudaFlashAttention, LatentMqaPrefillStaysCorrect) {
    run_case({6, 2, 1, 576, 512, 4, 10}, true, "latent mqa 576/512, T 6: split-KV kernel");
    run_case({260, 1, 1, 264, 8, 0, 260}, false, "mqa dk 264, T 260: reference kernel");
}

// The flash path is the one taken: the same case on a backend forced onto the reference kernel
// (LATENT_CUDA_ATTENTION=reference) is close too, but not bit-identical (the two kernels sum in a
// different order: identical bits over the whole output would mean the same kernel ran twice).
TEST_F(CudaFlashAttention, FlashPathIsTaken) {
    const char* before = std::getenv("LATENT_CUDA_ATTENTION");
    ASSERT_TRUE(before == nullptr) << "unset LATENT_CUDA_ATTENTION to run this test";
    std::unique_ptr<Backend> ref = cuda_backend_with_attention("reference");
    const Case c{70, 2, 2, 96, 64, 5, 75};  // 3 query tiles, 3 key tiles
    rng_.seed(7);
    const std::vector<float> flash = run_case(c, false, "flash path");
    rng_.seed(7);
    const std::vector<float> reference = run_case(c, false, "reference path", ref.get());
    ASSERT_EQ(flash.size(), reference.size());
    expect_close(flash, reference, kTol, "flash vs reference kernel");
    size_t differ = 0;
    for (size_t i = 0; i < flash.size(); ++i) differ += flash[i] != reference[i];
    EXPECT_GT(differ, 0u) << "flash and reference outputs are bit-identical: the flash kernel did not run";
}

// ---- backward ----

// A [rows, heads, d] view at `offset` floats into buf's storage, token stride ld, heads packed (the
// layout the CPU backend's attention_backward takes: any token stride, heads packed inside a row).
TensorView rows_view(const Tensor& buf, int64_t offset, int64_t rows, int64_t heads, int64_t d, int64_t ld) {
    TensorView v = buf.view();
    v.data = buf.as<float>() + offset;
    v.ndim = 3;
    v.shape = {rows, heads, d, 0};
    v.stride = {ld, d, 1, 0};
    return v;
}

class CudaFlashAttentionBackward : public CudaFlashAttention {
protected:
    struct Grads {
        std::vector<float> dq, dk, dv;
    };
    // One case on `gpu` (default gpu_) and the CPU. Layout: q/dq/dout rows padded by `pad` floats; k and
    // v side by side in one [S, Hk·(dk + dv) + pad] buffer (dk/dv alike in their own), or, with alias_v,
    // v = the first dv dims of k and dv a view of the same width in its own [S, Hk, dk] buffer.
    Grads run_bwd(const Case& c, const char* what, bool alias_v = false, int64_t pad = 0, Backend* gpu = nullptr,
                  double tol = kTol) {
        if (gpu == nullptr) gpu = gpu_.get();
        const float scale = 1.0f / std::sqrt(float(c.dk));
        const int64_t ldq = c.H * c.dk + pad, ldo = c.H * c.dv + pad;
        const int64_t ldkv = alias_v ? c.Hk * c.dk : c.Hk * (c.dk + c.dv) + pad;
        const int64_t v_off = alias_v ? 0 : c.Hk * c.dk;
        Tensor q = host(DType::F32, {c.T, ldq}), kv = host(DType::F32, {c.S, ldkv}), go = host(DType::F32, {c.T, ldo});
        Tensor dq = host(DType::F32, {c.T, ldq}), dkv = host(DType::F32, {c.S, ldkv});
        Tensor dvb = host(DType::F32, {c.S, ldkv});  // dv's own buffer when v aliases k
        auto views = [&](const Tensor& tq, const Tensor& tkv, const Tensor& tgo, const Tensor& tdq, const Tensor& tdkv,
                         const Tensor& tdvb, Backend* be) {
            const TensorView vq = rows_view(tq, 0, c.T, c.H, c.dk, ldq), vk = rows_view(tkv, 0, c.S, c.Hk, c.dk, ldkv);
            const TensorView vv = rows_view(tkv, v_off, c.S, c.Hk, c.dv, ldkv);
            const TensorView vo = rows_view(tgo, 0, c.T, c.H, c.dv, ldo), vdq = rows_view(tdq, 0, c.T, c.H, c.dk, ldq);
            const TensorView vdk = rows_view(tdkv, 0, c.S, c.Hk, c.dk, ldkv);
            const TensorView vdv = alias_v ? rows_view(tdvb, 0, c.S, c.Hk, c.dv, ldkv)
                                           : rows_view(tdkv, v_off, c.S, c.Hk, c.dv, ldkv);
            be->attention_backward(vdq, vdk, vdv, vo, vq, vk, vv, scale, c.q_pos0);
            return std::array<TensorView, 3>{vdq, vdk, vdv};
        };
        Tensor gq = gpu_to(gpu, q), gkv = gpu_to(gpu, kv), ggo = gpu_to(gpu, go), gdq = gpu_to(gpu, dq);
        Tensor gdkv = gpu_to(gpu, dkv), gdvb = gpu_to(gpu, dvb);
        const auto want = views(q, kv, go, dq, dkv, dvb, cpu_.get());
        const auto got = views(gq, gkv, ggo, gdq, gdkv, gdvb, gpu);
        Grads g;
        std::vector<float>* out[3] = {&g.dq, &g.dk, &g.dv};
        const char* names[3] = {"dq", "dk", "dv"};
        for (int i = 0; i < 3; ++i) {
            Tensor back = Tensor::cpu(DType::F32, got[i].shape.data(), 3);
            gpu->copy(back.view(), got[i]);
            *out[i] = std::vector<float>(back.as<float>(), back.as<float>() + back.view().numel());
            expect_close(*out[i], values(want[i]), tol, (std::string(what) + ": " + names[i]).c_str());
        }
        return g;
    }
};

// DeepSeek MLA explicit form, T = 21 (not a multiple of the 16-row or 32-column tiles).
TEST_F(CudaFlashAttentionBackward, MlaExplicitDims192x128) { run_bwd({21, 2, 2, 192, 128, 0, 21}, "mha 192/128"); }

// Cached prefix with S = q_pos0 + T, keys past the last query (dk = dv = 0 there), and S < q_pos0 + T
// (allowed by attention_backward: query t sees keys ≤ min(S − 1, q_pos0 + t)).
TEST_F(CudaFlashAttentionBackward, CachedPrefixAndKeyRange) {
    run_bwd({9, 2, 2, 64, 48, 30, 39}, "q_pos0 30, S = q_pos0 + T");
    run_bwd({9, 2, 2, 64, 48, 30, 60}, "q_pos0 30, S > q_pos0 + T");
    run_bwd({8, 2, 2, 32, 32, 10, 12}, "q_pos0 10, S < q_pos0 + T");
    run_bwd({40, 1, 1, 16, 8, 260, 300}, "long prefix: 10 key tiles, 19 key CTAs");
}

// One shared K/V head: dk/dv sum over every head; and the latent aliasing (v = first dv dims of k).
TEST_F(CudaFlashAttentionBackward, SharedKvHead) {
    run_bwd({11, 3, 1, 40, 24, 2, 13}, "mqa");
    run_bwd({11, 3, 1, 40, 24, 2, 13}, "mqa, v aliases k", true);
}

// Odd head dims and padded token rows (token strides ≠ H·d, k and v side by side in one buffer).
TEST_F(CudaFlashAttentionBackward, OddDimsAndStridedRows) {
    run_bwd({33, 2, 2, 48, 40, 0, 33}, "dk 48 / dv 40");
    run_bwd({13, 3, 3, 40, 24, 4, 17}, "padded rows", false, 7);
}

// The flash path is taken (close to the reference kernels' result, not bit-identical) and
// deterministic (the same bits twice).
TEST_F(CudaFlashAttentionBackward, FlashPathIsTakenAndDeterministic) {
    ASSERT_TRUE(std::getenv("LATENT_CUDA_ATTENTION") == nullptr) << "unset LATENT_CUDA_ATTENTION to run this test";
    std::unique_ptr<Backend> ref = cuda_backend_with_attention("reference");
    const Case c{40, 2, 2, 72, 40, 3, 45};
    rng_.seed(11);
    const Grads flash = run_bwd(c, "flash");
    rng_.seed(11);
    const Grads again = run_bwd(c, "flash again");
    rng_.seed(11);
    const Grads reference = run_bwd(c, "reference", false, 0, ref.get(), 1e-4);
    EXPECT_TRUE(flash.dq == again.dq && flash.dk == again.dk && flash.dv == again.dv) << "not deterministic";
    size_t differ = 0;
    for (size_t i = 0; i < flash.dq.size(); ++i) differ += flash.dq[i] != reference.dq[i];
    for (size_t i = 0; i < flash.dk.size(); ++i) differ += flash.dk[i] != reference.dk[i];
    EXPECT_GT(differ, 0u) << "flash and reference gradients are bit-identical: the flash backward did not run";
}

// ---- the TF32 tensor-core forward (LATENT_CUDA_ATTENTION=tf32) ----

constexpr double kTf32Tol = 3e-3;

class CudaFlashAttentionTf32 : public CudaFlashAttentionBackward {
protected:
    void SetUp() override {
        CudaFlashAttentionBackward::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        ASSERT_TRUE(std::getenv("LATENT_CUDA_ATTENTION") == nullptr) << "unset LATENT_CUDA_ATTENTION to run this test";
        tf32_ = cuda_backend_with_attention("tf32");
    }
    std::vector<float> tf32_case(const Case& c, bool alias_v, const char* what, double tol = kTf32Tol) {
        return run_case(c, alias_v, what, tf32_.get(), tol);
    }
    std::unique_ptr<Backend> tf32_;
};

// DeepSeek's explicit MLA dims (192 / 128: 16 O tiles): 70 queries = a whole 64-query tile and a partial
// one with three padding warps; 3 key tiles, the last partial.
TEST_F(CudaFlashAttentionTf32, MlaExplicitDims192x128) { tf32_case({70, 2, 2, 192, 128, 0, 70}, false, "mha 192/128"); }

// The base preset's dims (96 / 64: 8 O tiles) with a cached prefix (the diagonal inside key tiles), keys
// past the last query, and a long prefix with a 40-query tile (warps of padding rows).
TEST_F(CudaFlashAttentionTf32, PresetDimsAndCachedPrefix) {
    tf32_case({21, 2, 2, 96, 64, 45, 66}, false, "96/64, q_pos0 45, S = q_pos0 + T");
    tf32_case({9, 2, 2, 64, 32, 40, 70}, false, "q_pos0 40, S > q_pos0 + T");
    tf32_case({40, 1, 1, 16, 8, 260, 300}, false, "long prefix: 10 key tiles");
}

// Several query tiles over one head: warps whose rows precede a key tile skip it (causal diagonal).
TEST_F(CudaFlashAttentionTf32, CausalSkipAcrossQueryTiles) {
    tf32_case({150, 1, 1, 64, 64, 0, 150}, false, "T 150: 3 query tiles, 5 key tiles");
}

// One shared K/V head, v separate and v = the first dv dims of k (the latent-cache aliasing); and strided
// views whose rows are not 16-byte aligned (the scalar tile loads).
TEST_F(CudaFlashAttentionTf32, SharedKvHeadAndStridedViews) {
    tf32_case({11, 4, 1, 80, 64, 3, 14}, false, "mqa");
    tf32_case({11, 4, 1, 80, 64, 3, 14}, true, "mqa, v aliases k");
    const int64_t T = 19, H = 3, dk = 40, dv = 24, S = 25, q_pos0 = 6, W = dk + dv + 3;
    Tensor q_htd = host(DType::F32, {H, T, dk}), kv = host(DType::F32, {S, H, W});
    Tensor o = host(DType::F32, {T, H, dv});
    Tensor dq = to_gpu(q_htd), dkv = to_gpu(kv), dout = to_gpu(host(DType::F32, {T, H, dv + 5}));
    cpu_->attention(o.view(), heads_outer(q_htd), kv.view().slice_last(0, dk), kv.view().slice_last(dk + 3, W), 0.17f,
                    q_pos0);
    const TensorView gout = dout.view().slice_last(2, 2 + dv);
    tf32_->attention(gout, heads_outer(dq), dkv.view().slice_last(0, dk), dkv.view().slice_last(dk + 3, W), 0.17f,
                     q_pos0);
    expect_close(to_host(gout), o.as<float>(), kTf32Tol, "strided views, unaligned rows");
}

// The tensor-core kernel is the one that ran: its output differs from the fp32 kernel's by a TF32-sized
// amount (> 1e-6 relative somewhere; the fp32 kernels agree to ~1e-7). Shapes it does not take (dv > 128,
// dk or dv not a multiple of 8) fall back to the fp32 kernel, within the fp32 tolerance.
TEST_F(CudaFlashAttentionTf32, TensorCoresRunWhereTheyApplyAndFallBackElsewhere) {
    const Case c{70, 2, 2, 96, 64, 5, 75};
    rng_.seed(7);
    const std::vector<float> fp32 = run_case(c, false, "fp32 kernel");
    rng_.seed(7);
    const std::vector<float> tf32 = tf32_case(c, false, "tf32 kernel");
    EXPECT_GT(max_rel_diff(fp32, tf32), 1e-6)
        << "TF32 and fp32 outputs agree to fp32 precision: the tensor-core kernel did not run";
    tf32_case({6, 2, 2, 256, 256, 1, 7}, false, "dv 256: the fp32 kernel", kTol);
    tf32_case({33, 2, 2, 44, 40, 0, 33}, false, "dk 44: the fp32 kernel", kTol);
    tf32_case({33, 2, 2, 48, 36, 0, 33}, false, "dv 36: the fp32 kernel", kTol);
}

// Without the variable, a reduced matmul precision (training's bf16 / TF32 GEMMs) switches the flash
// forward and backward to the tensor-core kernels too; kExact switches them back (bit-identical to before).
TEST_F(CudaFlashAttentionTf32, FollowsTheMatmulPrecision) {
    const Case c{70, 2, 2, 96, 64, 5, 75};
    rng_.seed(5);
    const std::vector<float> exact = run_case(c, false, "exact");
    for (MatmulPrecision p : {MatmulPrecision::kTf32, MatmulPrecision::kBf16}) {
        gpu_->set_matmul_precision(p);
        rng_.seed(5);
        const std::vector<float> reduced = run_case(c, false, matmul_precision_name(p), nullptr, kTf32Tol);
        rng_.seed(5);
        const Grads g = run_bwd(c, matmul_precision_name(p), false, 0, nullptr, 1e-2);
        gpu_->set_matmul_precision(MatmulPrecision::kExact);
        rng_.seed(5);
        const Grads g_exact = run_bwd(c, "exact");
        EXPECT_GT(max_rel_diff(exact, reduced), 1e-6) << matmul_precision_name(p) << ": the forward stayed fp32";
        EXPECT_GT(max_rel_diff(g_exact.dk, g.dk), 1e-6) << matmul_precision_name(p) << ": the backward stayed fp32";
    }
    rng_.seed(5);
    EXPECT_EQ(run_case(c, false, "exact again"), exact) << "kExact is the fp32 kernel again";
}

// The backward on the TF32 backend: the stats pass runs the tensor-core forward and the dq, dk and dv
// passes attention_flash_backward_tc.cu; gradients within a TF32-sized 1e-2 of the CPU's (emulated:
// 3e-4 to 1.0e-3). Covers 192-wide outputs (24 accumulator tiles), several 64-row CTAs, keys past the last query
// and S < q_pos0 + T, the shared K/V head (dk, dv summed over heads), the latent aliasing, unaligned
// padded rows (scalar tile loads), and a shape beyond the kernels (Dk 256) that stays fp32 (1e-5).
TEST_F(CudaFlashAttentionTf32, Backward) {
    const double tol = 1e-2;
    run_bwd({21, 2, 2, 192, 128, 0, 21}, "tf32 mha 192/128", false, 0, tf32_.get(), tol);
    run_bwd({40, 2, 2, 96, 64, 3, 45}, "tf32 96/64, q_pos0 3", false, 0, tf32_.get(), tol);
    run_bwd({100, 1, 1, 32, 32, 0, 100}, "tf32 T 100: two row CTAs", false, 0, tf32_.get(), tol);
    run_bwd({9, 2, 2, 64, 48, 30, 60}, "tf32 S > q_pos0 + T", false, 0, tf32_.get(), tol);
    run_bwd({8, 2, 2, 32, 32, 10, 12}, "tf32 S < q_pos0 + T", false, 0, tf32_.get(), tol);
    run_bwd({11, 3, 1, 40, 24, 2, 13}, "tf32 mqa", false, 0, tf32_.get(), tol);
    run_bwd({11, 3, 1, 40, 24, 2, 13}, "tf32 mqa, v aliases k", true, 0, tf32_.get(), tol);
    run_bwd({13, 3, 3, 40, 24, 4, 17}, "tf32 padded rows", false, 7, tf32_.get(), tol);
    run_bwd({6, 2, 2, 256, 256, 1, 7}, "tf32 backend, Dk 256: the fp32 kernels", false, 0, tf32_.get(), kTol);
}

// The tensor-core backward is the one that ran: dq, dk and dv each differ from the fp32 kernels' by a
// TF32-sized amount (> 1e-6 relative somewhere), and two runs give the same bits (one writer per output).
TEST_F(CudaFlashAttentionTf32, BackwardDiffersFromFp32AndIsDeterministic) {
    const Case c{40, 2, 2, 72, 40, 3, 45};
    rng_.seed(11);
    const Grads fp32 = run_bwd(c, "fp32");
    rng_.seed(11);
    const Grads tf32 = run_bwd(c, "tf32", false, 0, tf32_.get(), 1e-2);
    rng_.seed(11);
    const Grads again = run_bwd(c, "tf32 again", false, 0, tf32_.get(), 1e-2);
    EXPECT_TRUE(tf32.dq == again.dq && tf32.dk == again.dk && tf32.dv == again.dv) << "not deterministic";
    EXPECT_GT(max_rel_diff(fp32.dq, tf32.dq), 1e-6) << "dq: TF32 and fp32 agree to fp32 precision";
    EXPECT_GT(max_rel_diff(fp32.dk, tf32.dk), 1e-6) << "dk: TF32 and fp32 agree to fp32 precision";
    EXPECT_GT(max_rel_diff(fp32.dv, tf32.dv), 1e-6) << "dv: TF32 and fp32 agree to fp32 precision";
}

}  // namespace
}  // namespace parity
