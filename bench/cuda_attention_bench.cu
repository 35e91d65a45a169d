// cuda_attention_bench.cu — MLA decode attention on the GPU (kernels/attention_decode.cu) at batch 64:
// 64 independent sequences of `context` tokens each, one query per sequence, heads 16 and 128, a latent
// cache of 576 fp32 values per token (v = its first 512), contiguous [64, S, 576] and paged (64-token
// pages in a shuffled order through the block table). Prints time per call, bytes read (cache + q + out;
// the split partials are not counted), GB/s, and that as a fraction of the device-to-device cudaMemcpy
// bandwidth measured in the same run (copy bandwidth counted as read + write = 2·bytes/time).
// Each case runs four times: the fp32 SIMT split kernel (the default), the TF32 tensor-core one
// (attention_decode_tc.cu, MlaDecodeArgs::tensor_cores; LATENT_CUDA_ATTENTION=tf32 in the backend), and,
// over a BF16 copy of the cache (a BF16 KV cache, `--kv-cache bf16`: 2 bytes per value read), the SIMT
// kernel and the bf16 tensor-core one. Checks a few (sequence, head) outputs against a double-precision
// CPU recompute over the values the kernel read (limit 1e-4 for fp32 math, 3e-3 for TF32, 1e-2 for bf16
// mma); exits 1 on mismatch.
// Then a prefill case (kernels/attention_flash.cu): T = S = --prefill tokens (default 4096), H 16,
// DeepSeek MLA explicit dims 192 / 128, causal, with the fp32 SIMT kernel and the TF32 tensor-core one
// (attention_flash_tc.cu); prints time, TFLOP/s (causal FLOPs: 2·H·(dk + dv)·T(T+1)/2) and that as a
// fraction of a cuBLAS GEMM of the same math measured in the same run (n = T, 2n³ FLOPs; fp32 SGEMM for
// the fp32 kernel, CUBLAS_COMPUTE_32F_FAST_TF32 for the TF32 one); checks 3 queries x 2 heads of each
// against a double-precision recompute (1e-4 / 3e-3). Then the training backward of that case with both
// kernel sets (flash_attention_backward; TF32: attention_flash_backward_tc.cu), TFLOP/s the same way.
// Not a test, not installed. Usage: latent_cuda_attention_bench [--batch 64] [--context 4096] [--iters 20]
// [--heads 16|128 (default both)] [--prefill 4096 (0: skip)]. Without a GPU its logic (incl. the paged
// path) runs in the emulator:
//   E=tests/kernels/emu; O=$(mktemp -d); for f in bench/cuda_attention_bench kernels/attention_decode
//   kernels/attention_decode_tc kernels/attention_flash kernels/attention_flash_tc kernels/attention_flash_backward
//   kernels/attention_flash_backward_tc; do python3 $E/rewrite_launches.py $f.cu $O/$(basename $f).cpp;
//   done && g++ -std=c++20 -O2 -pthread -w -I$E -Ikernels -Iengine/include $O/*.cpp BUILD/engine/liblatent_core.a
//   -o $O/bench_emu && $O/bench_emu --batch 3 --context 640 --iters 1 --heads 16 --prefill 70
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "attention_decode.h"
#include "attention_flash.h"
#include "common.cuh"
#include "engine/dtype.h"

using namespace cuda_backend;

namespace {

constexpr int64_t kDk = 576, kDv = 512;

// x[i] = a pseudo-random value in [-1, 1) from i and seed (splitmix-style hash).
__global__ void fill_kernel(float* x, int64_t n, uint64_t seed) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
        uint64_t z = uint64_t(i) * 0x9E3779B97F4A7C15ull + seed;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        x[i] = float(z >> 40) / float(1ull << 23) - 1.0f;
    }
}

void fill(float* x, int64_t n, uint64_t seed) {
    fill_kernel<<<1024, 256>>>(x, n, seed);
    CUDA_CHECK_LAUNCH();
}

__global__ void to_bf16_kernel(__nv_bfloat16* y, const float* x, int64_t n) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
        y[i] = __float2bfloat16(x[i]);
}

struct Opts {
    int64_t batch = 64, context = 4096;
    int iters = 20;
    int64_t heads = 0;  // 0: both 16 and 128
    int64_t prefill = 4096;  // T = S of the prefill case; 0: skip it
};

// Seconds per call of f (after 3 warm-up calls), by CUDA events on the default stream.
template <class F>
double time_it(int iters, F&& f) {
    for (int i = 0; i < 3; ++i) f();
    cudaEvent_t e0, e1;
    CUDA_CHECK(cudaEventCreate(&e0));
    CUDA_CHECK(cudaEventCreate(&e1));
    CUDA_CHECK(cudaEventRecord(e0));
    for (int i = 0; i < iters; ++i) f();
    CUDA_CHECK(cudaEventRecord(e1));
    CUDA_CHECK(cudaEventSynchronize(e1));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
    CUDA_CHECK(cudaEventDestroy(e0));
    CUDA_CHECK(cudaEventDestroy(e1));
    return double(ms) * 1e-3 / iters;
}

// Max relative error (to max |ref|) of out[b, 0, h, :] against a double-precision recompute from the
// host copies of sequence b's cache rows (in token order) and its queries.
double check_one(const MlaDecodeArgs& a, const std::vector<float>& rows, const std::vector<float>& q,
                 const std::vector<float>& out, int64_t h) {
    const int64_t S = a.S;
    std::vector<double> sc(size_t(S), 0.0);
    double mx = -INFINITY;
    for (int64_t s = 0; s < S; ++s) {
        double d = 0;
        for (int64_t i = 0; i < kDk; ++i) d += double(q[size_t(h * kDk + i)]) * rows[size_t(s * kDk + i)];
        sc[size_t(s)] = d * a.scale;
        mx = std::max(mx, sc[size_t(s)]);
    }
    double l = 0;
    for (auto& v : sc) l += (v = std::exp(v - mx));
    double max_ref = 1e-6, max_err = 0;
    for (int64_t d = 0; d < kDv; ++d) {
        double o = 0;
        for (int64_t s = 0; s < S; ++s) o += sc[size_t(s)] * rows[size_t(s * kDk + d)];
        o /= l;
        max_ref = std::max(max_ref, std::fabs(o));
        const double got = out[size_t(h * kDv + d)];
        max_err = std::isfinite(got) ? std::max(max_err, std::fabs(got - o)) : INFINITY;
    }
    return max_err / max_ref;
}

// Runs and checks one configuration; returns false on a mismatch.
// cache16: non-null runs over that BF16 copy of the cache instead of the fp32 one.
bool run_case(const Opts& o, int64_t H, bool paged, bool tc, float* cache, const __nv_bfloat16* cache16,
              const int32_t* d_table, const std::vector<int32_t>& table, float* q, float* out, void* ws,
              size_t ws_bytes, int sms, double copy_gbs) {
    const int64_t B = o.batch, S = o.context, pages = S / kMlaPageTokens;
    const bool bf16 = cache16 != nullptr;
    const int64_t elem = bf16 ? 2 : 4;  // bytes per cache value
    MlaDecodeArgs a;
    a.q = q, a.q_sb = H * kDk, a.q_st = H * kDk, a.q_sh = kDk;                        // q [B, 1, H, 576]
    a.k = bf16 ? static_cast<const void*>(cache16) : cache, a.k_ld = kDk, a.k_sb = S * kDk;  // cache [B, S, 576]
    a.v = a.k, a.v_ld = kDk, a.v_sb = S * kDk;                                        // v = its first 512
    a.kv_bf16 = bf16;
    a.block_table = paged ? d_table : nullptr, a.bt_ld = pages;                       // table [B, S/64]
    a.out = out, a.o_sb = H * kDv, a.o_st = H * kDv, a.o_sh = kDv;                   // out [B, 1, H, 512]
    a.B = B, a.T = 1, a.H = H, a.dk = kDk, a.dv = kDv, a.S = S, a.q_pos0 = S - 1;
    a.scale = 1.0f / std::sqrt(192.0f);
    a.tensor_cores = tc;
    const bool tc_ran = mla_decode_tc_applies(a);
    const double limit = tc_ran ? (bf16 ? 1e-2 : 3e-3) : 1e-4;
    ENGINE_CHECK(mla_decode_workspace_bytes(a, sms) <= ws_bytes, kInternal, "workspace too small");
    fill(q, B * H * kDk, 7 + uint64_t(H));
    const double sec = time_it(o.iters, [&] { mla_decode(a, ws, sms, nullptr); });
    CUDA_CHECK(cudaDeviceSynchronize());
    const double bytes = double(B * S * kDk * elem) + double(B * H * kDk + B * H * kDv) * sizeof(float);
    const double gbs = bytes / sec * 1e-9;
    std::printf("MLA decode B=%lld S=%lld H=%3lld %-10s %-15s splits %lld: %8.1f us  %7.1f MB read  %7.1f GB/s  "
                "%5.1f%% of D2D copy%s\n",
                (long long)B, (long long)S, (long long)H, paged ? "paged" : "contiguous",
                tc_ran ? (bf16 ? "bf16 cache mma" : "TF32 mma") : bf16 ? "bf16 cache SIMT" : "fp32 SIMT",
                (long long)mla_decode_splits(a, sms), sec * 1e6, bytes * 1e-6, gbs, 100.0 * gbs / copy_gbs,
                gbs >= 0.8 * copy_gbs ? "" : "  (target 80%: missed)");
    // Check sequences 0, B/2+1, B-1 at heads 0, H/2+3, H-1.
    bool ok = true;
    std::vector<float> hq(size_t(H * kDk)), hout(size_t(H * kDv)), rows(size_t(S * kDk));
    for (int64_t b : {int64_t(0), B / 2 + 1, B - 1}) {
        if (b >= B) continue;
        CUDA_CHECK(cudaMemcpy(hq.data(), q + b * a.q_sb, hq.size() * 4, cudaMemcpyDeviceToHost));
        CUDA_CHECK(cudaMemcpy(hout.data(), out + b * a.o_sb, hout.size() * 4, cudaMemcpyDeviceToHost));
        for (int64_t p = 0; p < pages; ++p) {  // the sequence's rows in token order
            const int64_t first = paged ? int64_t(table[size_t(b * pages + p)]) * kMlaPageTokens
                                        : b * S + p * kMlaPageTokens;
            float* dst = rows.data() + p * kMlaPageTokens * kDk;
            if (bf16) {  // the rounded values the kernel read
                std::vector<uint16_t> page(size_t(kMlaPageTokens * kDk));
                CUDA_CHECK(cudaMemcpy(page.data(), cache16 + first * kDk, page.size() * 2, cudaMemcpyDeviceToHost));
                for (size_t i = 0; i < page.size(); ++i) dst[i] = engine::bf16_to_f32(page[i]);
            } else {
                CUDA_CHECK(cudaMemcpy(dst, cache + first * kDk, size_t(kMlaPageTokens * kDk) * 4,
                                      cudaMemcpyDeviceToHost));
            }
        }
        for (int64_t h : {int64_t(0), std::min(H - 1, H / 2 + 3), H - 1}) {
            const double err = check_one(a, rows, hq, hout, h);
            if (!(err <= limit)) {
                std::printf("  MISMATCH sequence %lld head %lld: max rel err %.3g (limit %.0e)\n", (long long)b,
                            (long long)h, err, limit);
                ok = false;
            }
        }
    }
    return ok;
}

bool check_prefill(const float* q, const float* k, const float* v, const float* out, int64_t T, int64_t H, int64_t dk,
                   int64_t dv, float scale, double limit);
bool run_prefill_backward(const Opts& o, const float* q, const float* k, const float* v, float* dout,
                          const double gemm_tflops[2], int optin);

// The prefill case: causal flash attention over T = S = o.prefill tokens, H 16, dk 192, dv 128, with both
// kernels, against GEMMs of n = T of the same math measured in the same run. Returns false on a mismatch.
bool run_prefill(const Opts& o) {
    constexpr int64_t H = 16, dk = 192, dv = 128;
    const int64_t T = o.prefill;
    float *q = nullptr, *k = nullptr, *v = nullptr, *out = nullptr;
    CUDA_CHECK(cudaMalloc(&q, size_t(T * H * dk) * 4));    // [T, H, 192]
    CUDA_CHECK(cudaMalloc(&k, size_t(T * H * dk) * 4));    // [S, H, 192]
    CUDA_CHECK(cudaMalloc(&v, size_t(T * H * dv) * 4));    // [S, H, 128]
    CUDA_CHECK(cudaMalloc(&out, size_t(T * H * dv) * 4));  // [T, H, 128]
    fill(q, T * H * dk, 11), fill(k, T * H * dk, 12), fill(v, T * H * dv, 13);
    // Peak references: C = A·B, n × n × n fp32 (column-major, all leading dims n), fp32 and TF32 math.
    const int n = int(T);
    float *A = nullptr, *B = nullptr, *C = nullptr;
    CUDA_CHECK(cudaMalloc(&A, size_t(n) * n * 4));
    CUDA_CHECK(cudaMalloc(&B, size_t(n) * n * 4));
    CUDA_CHECK(cudaMalloc(&C, size_t(n) * n * 4));
    fill(A, int64_t(n) * n, 21), fill(B, int64_t(n) * n, 22);
    cublasHandle_t handle = nullptr;
    CUBLAS_CHECK(cublasCreate(&handle));
    const float one = 1.0f, zero = 0.0f;
    double gemm_tflops[2] = {0, 0};  // fp32 SGEMM, TF32 tensor-core GEMM
    for (int tc = 0; tc < 2; ++tc) {
        const cublasComputeType_t math = tc ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
        const double gemm_sec = time_it(o.iters, [&] {
            CUBLAS_CHECK(cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, A, CUDA_R_32F, n, B, CUDA_R_32F,
                                      n, &zero, C, CUDA_R_32F, n, math, CUBLAS_GEMM_DEFAULT));
        });
        gemm_tflops[tc] = 2.0 * double(n) * n * n / gemm_sec * 1e-12;
        std::printf("%s cuBLAS GEMM %d^3: %.1f us, %.2f TFLOP/s (the peak reference of the %s kernel below)\n",
                    tc ? "TF32" : "fp32", n, gemm_sec * 1e6, gemm_tflops[tc], tc ? "TF32" : "fp32");
    }
    CUBLAS_CHECK(cublasDestroy(handle));
    CUDA_CHECK(cudaFree(A));
    CUDA_CHECK(cudaFree(B));
    CUDA_CHECK(cudaFree(C));
    int dev = 0, optin = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    flash_attention_tc_setup(optin);
    bool ok = true;
    for (bool tc : {false, true}) {
        FlashAttnArgs a;
        a.q = q, a.q_st = H * dk, a.q_sh = dk, a.k = k, a.k_st = H * dk, a.k_sh = dk;
        a.v = v, a.v_st = H * dv, a.v_sh = dv, a.out = out, a.o_st = H * dv, a.o_sh = dv;
        a.T = T, a.H = H, a.Hk = H, a.dk = dk, a.dv = dv, a.S = T, a.q_pos0 = 0, a.scale = 1.0f / std::sqrt(192.0f);
        a.tensor_cores = tc, a.shared_optin = optin;
        ENGINE_CHECK(!tc || flash_attention_tc_applies(a), kInternal, "the TF32 flash kernel does not take dk ", dk,
                     " dv ", dv, " with ", optin, " bytes of shared memory");
        const double sec = time_it(o.iters, [&] { flash_attention(a, nullptr); });
        CUDA_CHECK(cudaDeviceSynchronize());
        const double flops = 2.0 * double(H) * double(dk + dv) * double(T) * double(T + 1) / 2.0;
        const double tflops = flops / sec * 1e-12;
        std::printf("flash prefill %s T=S=%lld H=%lld dk=%lld dv=%lld causal: %9.1f us  %.2f TFLOP/s  "
                    "%5.1f%% of the %s GEMM\n",
                    tc ? "TF32" : "fp32", (long long)T, (long long)H, (long long)dk, (long long)dv, sec * 1e6, tflops,
                    100.0 * tflops / gemm_tflops[tc], tc ? "TF32" : "fp32");
        ok = check_prefill(q, k, v, out, T, H, dk, dv, a.scale, tc ? 3e-3 : 1e-4) && ok;
    }
    std::printf("%s: prefill outputs vs double-precision CPU recompute (3 queries x 2 heads, both kernels)\n",
                ok ? "PASS" : "FAIL");
    ok = run_prefill_backward(o, q, k, v, out, gemm_tflops, optin) && ok;
    CUDA_CHECK(cudaFree(q));
    CUDA_CHECK(cudaFree(k));
    CUDA_CHECK(cudaFree(v));
    CUDA_CHECK(cudaFree(out));
    return ok;
}

// The training backward of the prefill case (dq, dk, dv from a random dO; flash_attention_backward: the
// stats pass, then dq, then dk/dv), fp32 kernels and TF32 kernels. FLOPs counted: 2·H·(3·dk + 2·dv) per
// visible (query, key) pair (dO·vᵀ, and dS·k, dSᵀ·q, Pᵀ·dO; the recomputed q·kᵀ and the stats pass are
// not counted). The TF32 gradients are checked against the fp32 kernels' (max |diff| / max |fp32| ≤ 1e-2
// per gradient; the fp32 kernels are the ones the parity tests check against the CPU).
bool run_prefill_backward(const Opts& o, const float* q, const float* k, const float* v, float* dout,
                          const double gemm_tflops[2], int optin) {
    constexpr int64_t H = 16, dk = 192, dv = 128;
    const int64_t T = o.prefill;
    const size_t nq = size_t(T * H * dk), nv = size_t(T * H * dv);
    fill(dout, int64_t(nv), 14);  // dO [T, H, 128]
    float* grads[2][3] = {};      // [fp32 | tf32][dq, dk, dv]
    for (auto& g : grads) {
        CUDA_CHECK(cudaMalloc(&g[0], nq * 4));
        CUDA_CHECK(cudaMalloc(&g[1], nq * 4));
        CUDA_CHECK(cudaMalloc(&g[2], nv * 4));
    }
    void* ws = nullptr;
    CUDA_CHECK(cudaMalloc(&ws, flash_attention_backward_workspace_bytes(T, H)));
    flash_attention_backward_tc_setup(optin);
    const double flops = 2.0 * double(H) * double(3 * dk + 2 * dv) * double(T) * double(T + 1) / 2.0;
    for (int tc = 0; tc < 2; ++tc) {
        FlashAttnBwdArgs a;
        a.q = q, a.q_st = H * dk, a.q_sh = dk, a.k = k, a.k_st = H * dk, a.k_sh = dk;
        a.v = v, a.v_st = H * dv, a.v_sh = dv, a.dout = dout, a.do_st = H * dv, a.do_sh = dv;
        a.dq = grads[tc][0], a.dq_st = H * dk, a.dq_sh = dk, a.dk = grads[tc][1], a.dk_st = H * dk, a.dk_sh = dk;
        a.dv = grads[tc][2], a.dv_st = H * dv, a.dv_sh = dv;
        a.T = T, a.H = H, a.Hk = H, a.Dk = dk, a.Dv = dv, a.S = T, a.q_pos0 = 0, a.scale = 1.0f / std::sqrt(192.0f);
        a.tensor_cores = tc == 1, a.shared_optin = optin;
        const double sec = time_it(o.iters, [&] { flash_attention_backward(a, ws, nullptr); });
        CUDA_CHECK(cudaDeviceSynchronize());
        const double tflops = flops / sec * 1e-12;
        std::printf("flash backward %s T=S=%lld H=%lld dk=%lld dv=%lld causal: %9.1f us  %.2f TFLOP/s  "
                    "%5.1f%% of the %s GEMM\n",
                    tc ? "TF32" : "fp32", (long long)T, (long long)H, (long long)dk, (long long)dv, sec * 1e6, tflops,
                    100.0 * tflops / gemm_tflops[tc], tc ? "TF32" : "fp32");
    }
    bool ok = true;
    const char* names[3] = {"dq", "dk", "dv"};
    for (int i = 0; i < 3; ++i) {
        const size_t n = i < 2 ? nq : nv;
        std::vector<float> ref(n), got(n);
        CUDA_CHECK(cudaMemcpy(ref.data(), grads[0][i], n * 4, cudaMemcpyDeviceToHost));
        CUDA_CHECK(cudaMemcpy(got.data(), grads[1][i], n * 4, cudaMemcpyDeviceToHost));
        double max_ref = 1e-30, max_err = 0;
        for (size_t j = 0; j < n; ++j) {
            max_ref = std::max(max_ref, double(std::fabs(ref[j])));
            max_err = std::isfinite(got[j]) ? std::max(max_err, double(std::fabs(got[j] - ref[j]))) : INFINITY;
        }
        std::printf("  TF32 %s vs fp32 kernels: max rel diff %.3g (limit 1e-2)\n", names[i], max_err / max_ref);
        ok = ok && max_err / max_ref <= 1e-2;
    }
    for (auto& g : grads)
        for (float* p : g) CUDA_CHECK(cudaFree(p));
    CUDA_CHECK(cudaFree(ws));
    std::printf("%s: TF32 backward vs the fp32 kernels\n", ok ? "PASS" : "FAIL");
    return ok;
}

// Queries 0, T/2 + 1, T − 1 at heads 0 and H − 1 of the prefill output against a double-precision
// recompute; false (and a line per mismatch) beyond `limit` relative to the largest output.
bool check_prefill(const float* q, const float* k, const float* v, const float* out, int64_t T, int64_t H, int64_t dk,
                   int64_t dv, float scale, double limit) {
    std::vector<float> hq(size_t(T * H * dk)), hk(hq.size()), hv(size_t(T * H * dv)), ho(hv.size());
    CUDA_CHECK(cudaMemcpy(hq.data(), q, hq.size() * 4, cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaMemcpy(hk.data(), k, hk.size() * 4, cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaMemcpy(hv.data(), v, hv.size() * 4, cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaMemcpy(ho.data(), out, ho.size() * 4, cudaMemcpyDeviceToHost));
    bool ok = true;
    for (int64_t t : {int64_t(0), std::min(T - 1, T / 2 + 1), T - 1})
        for (int64_t h : {int64_t(0), H - 1}) {
            std::vector<double> sc(size_t(t + 1));
            double mx = -INFINITY, l = 0, max_ref = 1e-6, max_err = 0;
            for (int64_t s = 0; s <= t; ++s) {
                double d = 0;
                for (int64_t i = 0; i < dk; ++i)
                    d += double(hq[size_t((t * H + h) * dk + i)]) * hk[size_t((s * H + h) * dk + i)];
                sc[size_t(s)] = d * scale;
                mx = std::max(mx, sc[size_t(s)]);
            }
            for (auto& e : sc) l += (e = std::exp(e - mx));
            for (int64_t d = 0; d < dv; ++d) {
                double acc = 0;
                for (int64_t s = 0; s <= t; ++s) acc += sc[size_t(s)] * hv[size_t((s * H + h) * dv + d)];
                acc /= l;
                const double got = ho[size_t((t * H + h) * dv + d)];
                max_ref = std::max(max_ref, std::fabs(acc));
                max_err = std::isfinite(got) ? std::max(max_err, std::fabs(got - acc)) : INFINITY;
            }
            if (!(max_err / max_ref <= limit)) {
                std::printf("  MISMATCH prefill query %lld head %lld: max rel err %.3g (limit %.0e)\n", (long long)t,
                            (long long)h, max_err / max_ref, limit);
                ok = false;
            }
        }
    return ok;
}

int run(const Opts& o) {
    int dev = 0, sms = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    cudaDeviceProp prop{};
    CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
    ENGINE_CHECK(o.context % kMlaPageTokens == 0 && o.batch >= 1 && o.iters >= 1, kInvalidArgument,
                 "--context must be a multiple of 64");
    const int64_t B = o.batch, S = o.context, pages = S / kMlaPageTokens, n_cache = B * S * kDk;
    std::printf("%s, %d SMs; latent cache %lld x %lld x %lld fp32 = %.1f MB\n", prop.name, sms, (long long)B,
                (long long)S, (long long)kDk, double(n_cache) * 4e-6);
    float *cache = nullptr, *copy = nullptr, *q = nullptr, *out = nullptr;
    int32_t* d_table = nullptr;
    CUDA_CHECK(cudaMalloc(&cache, size_t(n_cache) * 4));
    CUDA_CHECK(cudaMalloc(&copy, size_t(n_cache) * 4));
    fill(cache, n_cache, 1);
    // D2D copy bandwidth of a buffer the cache's size: bandwidth = 2·bytes/time (read + write).
    const double copy_sec = time_it(o.iters, [&] {
        CUDA_CHECK(cudaMemcpyAsync(copy, cache, size_t(n_cache) * 4, cudaMemcpyDeviceToDevice));
    });
    const double copy_gbs = 2.0 * double(n_cache) * 4 / copy_sec * 1e-9;
    std::printf("D2D cudaMemcpy of %.1f MB: %.1f us, %.1f GB/s (counted as read + write = 2*bytes/time)\n",
                double(n_cache) * 4e-6, copy_sec * 1e6, copy_gbs);
    CUDA_CHECK(cudaFree(copy));
    // Block table: the B·S/64 pages of the buffer in a shuffled order (sequence b, page p -> table[b, p]).
    std::vector<int32_t> table(size_t(B * pages));
    std::iota(table.begin(), table.end(), 0);
    std::shuffle(table.begin(), table.end(), std::mt19937(42));
    CUDA_CHECK(cudaMalloc(&d_table, table.size() * 4));
    CUDA_CHECK(cudaMemcpy(d_table, table.data(), table.size() * 4, cudaMemcpyHostToDevice));
    const int64_t max_h = o.heads > 0 ? o.heads : 128;
    std::vector<int64_t> head_counts = o.heads > 0 ? std::vector<int64_t>{o.heads} : std::vector<int64_t>{16, 128};
    CUDA_CHECK(cudaMalloc(&q, size_t(B * max_h * kDk) * 4));
    CUDA_CHECK(cudaMalloc(&out, size_t(B * max_h * kDv) * 4));
    size_t ws_bytes = 0;
    for (int64_t H : head_counts) {
        MlaDecodeArgs a;
        a.B = B, a.T = 1, a.H = H, a.dk = kDk, a.dv = kDv, a.S = S;
        ws_bytes = std::max(ws_bytes, mla_decode_workspace_bytes(a, sms));
        a.q = q, a.k = a.v = cache, a.k_ld = a.v_ld = kDk, a.k_sb = a.v_sb = S * kDk, a.q_sh = kDk;
        a.q_sb = a.q_st = H * kDk, a.tensor_cores = true;  // its splits are rounded to 64 keys: maybe fewer
        ws_bytes = std::max(ws_bytes, mla_decode_workspace_bytes(a, sms));
    }
    void* ws = nullptr;
    CUDA_CHECK(cudaMalloc(&ws, ws_bytes));
    __nv_bfloat16* cache16 = nullptr;  // the same cache rounded to bf16
    CUDA_CHECK(cudaMalloc(&cache16, size_t(n_cache) * 2));
    to_bf16_kernel<<<1024, 256>>>(cache16, cache, n_cache);
    CUDA_CHECK_LAUNCH();
    bool ok = true;
    for (int64_t H : head_counts)
        for (bool paged : {false, true})
            for (int kind = 0; kind < 4; ++kind)  // fp32 SIMT, TF32 mma, bf16 cache SIMT, bf16 cache mma
                ok = run_case(o, H, paged, kind % 2 == 1, cache, kind >= 2 ? cache16 : nullptr, d_table, table, q,
                              out, ws, ws_bytes, sms, copy_gbs) && ok;
    CUDA_CHECK(cudaFree(cache16));
    CUDA_CHECK(cudaFree(ws));
    CUDA_CHECK(cudaFree(out));
    CUDA_CHECK(cudaFree(q));
    CUDA_CHECK(cudaFree(d_table));
    CUDA_CHECK(cudaFree(cache));
    std::printf("%s: outputs vs double-precision CPU recompute (3 sequences x 3 heads per case)\n",
                ok ? "PASS" : "FAIL");
    if (o.prefill > 0) ok = run_prefill(o) && ok;
    return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    Opts o;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const bool has = i + 1 < argc;
        if (arg == "--batch" && has) o.batch = std::atoll(argv[++i]);
        else if (arg == "--context" && has) o.context = std::atoll(argv[++i]);
        else if (arg == "--iters" && has) o.iters = std::atoi(argv[++i]);
        else if (arg == "--heads" && has) o.heads = std::atoll(argv[++i]);
        else if (arg == "--prefill" && has) o.prefill = std::atoll(argv[++i]);
        else {
            std::fprintf(stderr,
                         "usage: %s [--batch 64] [--context 4096] [--iters 20] [--heads 16|128] [--prefill 4096]\n",
                         argv[0]);
            return 2;
        }
    }
    try {
        return run(o);
    } catch (const engine::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
