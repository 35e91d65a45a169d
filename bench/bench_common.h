// bench_common.h — the two limits every benchmark figure is divided by, measured in the same run:
// host memory bandwidth (multithreaded read of a buffer much larger than the last-level cache) and
// OpenBLAS sgemm peak (a large square sgemm). Plain timing helpers; no test assertions here.
#pragma once

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

namespace engine::bench {

inline double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Best (minimum) seconds of `reps` runs of fn after one warm-up run.
inline double best_of(int reps, const std::function<void()>& fn) {
    fn();
    double best = 1e30;
    for (int i = 0; i < reps; ++i) {
        const double t0 = now_s();
        fn();
        best = std::min(best, now_s() - t0);
    }
    return best;
}

// Read bandwidth in GB/s (1e9 bytes/s): all threads sum a 1 GiB buffer (4 streams each), timed per 64 MiB segment
// (each far larger than the last-level cache a core sees); the best segment rate over `reps` passes.
// Per-segment timing keeps the probe comparable with the per-call timings of the op benchmarks when
// the machine is shared (a pass over the whole buffer is often interrupted).
inline double measure_read_bandwidth(size_t bytes = size_t(1) << 30, int threads = 0, int reps = 5) {
    if (threads <= 0) threads = omp_get_num_procs();
    const size_t n = bytes / sizeof(float);
    const size_t seg = (size_t(64) << 20) / sizeof(float);
    std::vector<float> buf(n);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t i = 0; i < n; ++i) buf[i] = float(i & 1023) * 1e-3f;  // first touch by the reading thread
    volatile float sink = 0.0f;
    double best = 1e30;
    for (int rep = 0; rep < reps; ++rep)
        for (size_t s0 = 0; s0 + seg <= n; s0 += seg) {
            const double t0 = now_s();
            float total = 0.0f;
#pragma omp parallel num_threads(threads) reduction(+ : total)
            {
                // Each thread streams its contiguous share with 32 independent lanes of sums (no
                // horizontal reduction inside the loop, so the adds never limit the read rate).
                const size_t nth = size_t(omp_get_num_threads()), id = size_t(omp_get_thread_num());
                // Four interleaved streams per thread: one sequential stream leaves bandwidth unused
                // (the GEMV kernels read 4 weight rows at once and measured faster than one stream).
                const size_t per = seg / nth / 128 * 128, quarter = per / 4;
                const float* p = buf.data() + s0 + id * per;
                float acc[4][16] = {};
                for (size_t i = 0; i < quarter; i += 16)
                    for (int st = 0; st < 4; ++st)
                        for (int k = 0; k < 16; ++k) acc[st][k] += p[st * quarter + i + k];
                for (int st = 0; st < 4; ++st)
                    for (int k = 0; k < 16; ++k) total += acc[st][k];
            }
            sink = sink + total;
            best = std::min(best, now_s() - t0);
        }
    return double(seg * sizeof(float)) / best * 1e-9;
}

// OpenBLAS sgemm GFLOP/s on an n x n x n problem (all threads).
inline double measure_sgemm_peak(int n = 2048, int threads = 0, int reps = 5) {
    if (threads <= 0) threads = omp_get_num_procs();
    openblas_set_num_threads(threads);
    std::vector<float> a(size_t(n) * n), b(size_t(n) * n), c(size_t(n) * n);
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (auto& v : a) v = u(rng);
    for (auto& v : b) v = u(rng);
    const double t = best_of(reps, [&] {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f,
                    c.data(), n);
    });
    return 2.0 * double(n) * n * n / t * 1e-9;
}

}  // namespace engine::bench
