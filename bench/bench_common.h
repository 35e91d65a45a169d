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

// Read bandwidth in GB/s (1e9 bytes/s): every thread sums its share of a `bytes` buffer.
inline double measure_read_bandwidth(size_t bytes = size_t(1) << 30, int threads = 0, int reps = 5) {
    if (threads <= 0) threads = omp_get_num_procs();
    const size_t n = bytes / sizeof(float);
    std::vector<float> buf(n);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t i = 0; i < n; ++i) buf[i] = float(i & 1023) * 1e-3f;  // first touch by the reading thread
    volatile float sink = 0.0f;
    const double t = best_of(reps, [&] {
        float total = 0.0f;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : total)
        for (size_t b = 0; b < n / 64; ++b) {
            const float* p = buf.data() + b * 64;
            float acc[16] = {};
            for (int j = 0; j < 64; j += 16)
                for (int k = 0; k < 16; ++k) acc[k] += p[j + k];
            float s = 0.0f;
            for (int k = 0; k < 16; ++k) s += acc[k];
            total += s;
        }
        sink = sink + total;
    });
    return double(n / 64 * 64 * sizeof(float)) / t * 1e-9;
}

// OpenBLAS sgemm GFLOP/s on an n x n x n problem (all threads).
inline double measure_sgemm_peak(int n = 2048, int threads = 0, int reps = 3) {
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
