// ops_bench.cpp — CPU backend op benchmarks. Every figure is printed as a fraction of a limit measured
// in the same run (see docs/performance.md): memory-bound ops against the read-bandwidth probe,
// compute-bound ops against OpenBLAS sgemm peak.
//
//   latent_ops_bench [--threads N] [--reps R] [--decode-only]   (--decode-only: skip the prefill GEMMs and
//                                                              prefill attention)
//
// Not a test: it asserts nothing; it prints numbers.
#include <cmath>
#include <cstdlib>
#include <string>

#include "bench_common.h"
#include "engine/backend.h"

using namespace engine;
using namespace engine::bench;

namespace {

Tensor random_tensor(DType dt, std::initializer_list<int64_t> shape, unsigned seed) {
    Tensor t = Tensor::cpu(dt, shape);
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    const int64_t n = t.view().numel();
    if (dt == DType::F32) {
        for (int64_t i = 0; i < n; ++i) t.as<float>()[i] = u(rng);
    } else {
        for (int64_t i = 0; i < n; ++i)
            t.as<uint16_t>()[i] = dt == DType::BF16 ? f32_to_bf16(u(rng)) : f32_to_f16(u(rng));
    }
    return t;
}

}  // namespace

int main(int argc, char** argv) {
    int threads = 0, reps = 5;
    bool decode_only = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
        else if (a == "--reps" && i + 1 < argc) reps = std::atoi(argv[++i]);
        else if (a == "--decode-only") decode_only = true;
        else {
            std::fprintf(stderr, "usage: %s [--threads N] [--reps R] [--decode-only]\n", argv[0]);
            return 2;
        }
    }
    if (threads <= 0) threads = omp_get_num_procs();
    auto be = make_cpu_backend(threads);
    std::printf("backend: %s\n", be->name().c_str());

    // The limits are measured before and after the op timings; the larger (best-case) value is used, so
    // a limit measured during a burst of load elsewhere does not inflate the fractions.
    double bw = measure_read_bandwidth(size_t(1) << 30, threads, reps);
    double peak = measure_sgemm_peak(2048, threads, reps);
    std::printf("(a) limit: read bandwidth (1 GiB, %d threads)      %8.2f GB/s\n", threads, bw);
    std::printf("(b) limit: OpenBLAS sgemm 2048^3                   %8.2f GFLOP/s\n", peak);
    struct Line {
        std::string text;
        double value;
        bool vs_bw;
    };
    std::vector<Line> lines;

    // (c) decode GEMV with bf16 weights: weight bytes read per second vs bandwidth.
    struct Gemv {
        int64_t M, N, K;
        DType dt;
    };
    for (const Gemv& g : {Gemv{1, 10944, 2048, DType::BF16}, Gemv{1, 2048, 10944, DType::BF16},
                          Gemv{4, 10944, 2048, DType::BF16}, Gemv{1, 10944, 2048, DType::F16},
                          Gemv{1, 10944, 2048, DType::F32}}) {
        // Cycle through copies totalling >= 512 MiB so the weights come from memory, not the cache.
        const size_t one = size_t(g.N * g.K) * dtype_size(g.dt);
        const size_t copies = std::max<size_t>(2, (size_t(512) << 20) / one + 1);
        std::vector<Tensor> ws;
        for (size_t c = 0; c < copies; ++c) ws.push_back(random_tensor(g.dt, {g.N, g.K}, unsigned(c + 1)));
        Tensor x = random_tensor(DType::F32, {g.M, g.K}, 2);
        Tensor y = Tensor::cpu(DType::F32, {g.M, g.N});
        // Best single call over several passes through the copies (each call's weight is cold).
        double t = 1e30;
        for (int rep = 0; rep < reps; ++rep)
            for (size_t c = 0; c < copies; ++c) {
                const double t0 = now_s();
                be->matmul(y, x, ws[c]);
                t = std::min(t, now_s() - t0);
            }
        const double gbs = double(one) / t * 1e-9;
        char buf[200];
        std::snprintf(buf, sizeof buf, "(c) matmul %-4s M=%-3lld [%lld x %lld] weight  %8.3f ms  %7.2f GB/s ", dtype_name(g.dt),
                      (long long)g.M, (long long)g.N, (long long)g.K, t * 1e3, gbs);
        lines.push_back({buf, gbs, true});
    }

    // (c) decode on SMALL matrices, as in the model benchmark (D=768): one q_proj-sized GEMV, and the MoE
    // of one token (4 routed + 1 shared SwiGLU experts of width 192: 4.4 MiB) through swiglu_experts
    // (fused on the CPU) and through the Backend default (3 matmuls + silu_mul + axpy per expert).
    {
        const int64_t D = 768, I = 192, n_exp = 5;
        const size_t one = size_t(n_exp * 3 * I * D) * 2;
        const size_t copies = (size_t(512) << 20) / one + 1;
        std::vector<Tensor> ws;  // copies × experts × {gate, up, down}
        for (size_t c = 0; c < copies * n_exp; ++c) {
            ws.push_back(random_tensor(DType::BF16, {I, D}, unsigned(3 * c + 1)));
            ws.push_back(random_tensor(DType::BF16, {I, D}, unsigned(3 * c + 2)));
            ws.push_back(random_tensor(DType::BF16, {D, I}, unsigned(3 * c + 3)));
        }
        Tensor x = random_tensor(DType::F32, {1, D}, 2);
        Tensor y = Tensor::cpu(DType::F32, {1, D});
        Tensor work = Tensor::cpu(DType::F32, {3 * n_exp * I + D});
        for (int fused = 1; fused >= 0; --fused) {
            double t = 1e30;
            for (int rep = 0; rep < reps; ++rep)
                for (size_t c = 0; c < copies; ++c) {
                    SwigluExpert ex[n_exp];
                    for (int64_t j = 0; j < n_exp; ++j) {
                        const size_t b = (c * n_exp + size_t(j)) * 3;
                        ex[j] = {ws[b].view(), ws[b + 1].view(), ws[b + 2].view(), 0.3f};
                    }
                    const double t0 = now_s();
                    if (fused)
                        be->swiglu_experts(y, x, ex, n_exp, work);
                    else
                        be->Backend::swiglu_experts(y, x, ex, n_exp, work);
                    t = std::min(t, now_s() - t0);
                }
            const double gbs = double(one) / t * 1e-9;
            char buf[200];
            std::snprintf(buf, sizeof buf, "(c) MoE token, 5 experts D=768 I=192, %-9s %8.3f ms  %7.2f GB/s ",
                          fused ? "fused" : "unfused", t * 1e3, gbs);
            lines.push_back({buf, gbs, true});
        }
        // One q_proj-sized GEMV [1152 x 768], cold (cycling through copies of the expert weights' memory
        // would not be this shape: separate copies).
        const int64_t N = 1152;
        const size_t qb = size_t(N * D) * 2, qcopies = (size_t(512) << 20) / qb + 1;
        std::vector<Tensor> qs;
        for (size_t c = 0; c < qcopies; ++c) qs.push_back(random_tensor(DType::BF16, {N, D}, unsigned(c + 7)));
        Tensor yq = Tensor::cpu(DType::F32, {1, N});
        double t = 1e30;
        for (int rep = 0; rep < reps; ++rep)
            for (size_t c = 0; c < qcopies; ++c) {
                const double t0 = now_s();
                be->matmul(yq, x, qs[c]);
                t = std::min(t, now_s() - t0);
            }
        char buf[200];
        std::snprintf(buf, sizeof buf, "(c) matmul BF16 M=1   [%lld x %lld] weight     %8.3f ms  %7.2f GB/s ", (long long)N,
                      (long long)D, t * 1e3, double(qb) / t * 1e-9);
        lines.push_back({buf, double(qb) / t * 1e-9, true});
    }

    // (d) prefill GEMM: GFLOP/s vs sgemm peak.
    struct Prefill {
        int64_t M, N, K;
        DType dt;
    };
    for (const Prefill& p : {Prefill{512, 10944, 2048, DType::BF16}, Prefill{512, 2048, 10944, DType::BF16},
                             Prefill{512, 10944, 2048, DType::F32}, Prefill{64, 10944, 2048, DType::BF16}}) {
        if (decode_only) break;
        Tensor w = random_tensor(p.dt, {p.N, p.K}, 3);
        Tensor x = random_tensor(DType::F32, {p.M, p.K}, 4);
        Tensor y = Tensor::cpu(DType::F32, {p.M, p.N});
        const double t = best_of(std::max(2, reps / 2), [&] { be->matmul(y, x, w); });
        const double gf = 2.0 * double(p.M) * p.N * p.K / t * 1e-9;
        char buf[200];
        std::snprintf(buf, sizeof buf, "(d) matmul %-4s M=%-3lld [%lld x %lld] weight  %8.2f ms  %7.1f GFLOP/s", dtype_name(p.dt),
                      (long long)p.M, (long long)p.N, (long long)p.K, t * 1e3, gf);
        lines.push_back({buf, gf, false});
    }

    // (e) attention. Decode with the MLA absorbed latent (MQA: H=16 query heads on one 576-wide key whose
    // first 512 dims are the value): memory-bound on the cache, vs (a). Prefill MHA: vs (b), counting only
    // the causal (unmasked) FLOPs.
    // The cache in fp32 and in bf16 (`--kv-cache bf16`: half the bytes, widened in registers).
    for (DType cache_dt : {DType::F32, DType::BF16})
        for (int64_t S : {int64_t(1024), int64_t(4096)}) {
            const int64_t H = 16, dk = 576, dv = 512;
            Tensor q = random_tensor(DType::F32, {1, H, dk}, 5);
            Tensor k = random_tensor(cache_dt, {S, 1, dk}, 6);
            TensorView v = k.view().slice_last(0, dv);
            Tensor out = Tensor::cpu(DType::F32, {1, H, dv});
            const double t = best_of(reps * 4, [&] { be->attention(out, q, k, v, 0.05f, S - 1); });
            const double gbs = double(k.view().nbytes()) / t * 1e-9;
            char buf[200];
            std::snprintf(buf, sizeof buf, "(e) attention decode MLA-latent H=16 S=%-5lld %-4s %8.3f ms  %7.2f GB/s ",
                          (long long)S, cache_dt == DType::BF16 ? "bf16" : "f32", t * 1e3, gbs);
            lines.push_back({buf, gbs, true});
        }
    if (!decode_only) {
        const int64_t T = 1024, H = 16, dk = 192, dv = 128;
        Tensor q = random_tensor(DType::F32, {T, H, dk}, 7);
        Tensor k = random_tensor(DType::F32, {T, H, dk}, 8);
        Tensor v = random_tensor(DType::F32, {T, H, dv}, 9);
        Tensor out = Tensor::cpu(DType::F32, {T, H, dv});
        const double t = best_of(std::max(2, reps / 2), [&] { be->attention(out, q, k, v, 0.07f, 0); });
        const double flops = 2.0 * H * (double(T) * (T + 1) / 2) * (dk + dv);
        const double gf = flops / t * 1e-9;
        char buf[200];
        std::snprintf(buf, sizeof buf, "(e) attention prefill MHA T=S=%lld H=16 dk=192     %8.2f ms  %7.1f GFLOP/s", (long long)T,
                      t * 1e3, gf);
        lines.push_back({buf, gf, false});
    }
    const double bw2 = measure_read_bandwidth(size_t(1) << 30, threads, reps);
    const double peak2 = measure_sgemm_peak(2048, threads, reps);
    std::printf("(a) limit again after the ops: %.2f GB/s; (b) again: %.2f GFLOP/s\n", bw2, peak2);
    bw = std::max(bw, bw2);
    peak = std::max(peak, peak2);
    std::printf("using (a) = %.2f GB/s, (b) = %.2f GFLOP/s\n", bw, peak);
    for (const Line& l : lines)
        std::printf("%s = %5.1f%% of %s\n", l.text.c_str(), 100.0 * l.value / (l.vs_bw ? bw : peak), l.vs_bw ? "(a)" : "(b)");
    return 0;
}
