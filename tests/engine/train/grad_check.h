// grad_check.h — helpers for the training tests: seeded random vectors and a central finite-difference
// gradient check in fp64.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace train_test {

inline std::vector<double> randn(size_t n, uint32_t seed, double stddev = 1.0) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> d(0.0, stddev);
    std::vector<double> v(n);
    for (double& x : v) x = d(rng);
    return v;
}

inline std::vector<float> to_f32(const std::vector<double>& v) { return {v.begin(), v.end()}; }

// Checks analytic[i] against (f(x + h e_i) − f(x − h e_i)) / 2h for every i (or `stride` apart).
// Error measure: |a − fd| / max(1, |fd|). Returns the worst error seen.
inline double fd_check(const std::string& what, std::vector<double>& x, const std::vector<double>& analytic,
                       const std::function<double()>& f, double tol, double h = 1e-6, size_t stride = 1) {
    EXPECT_EQ(x.size(), analytic.size()) << what;
    double worst = 0;
    for (size_t i = 0; i < x.size(); i += stride) {
        const double keep = x[i];
        x[i] = keep + h;
        const double fp = f();
        x[i] = keep - h;
        const double fm = f();
        x[i] = keep;
        const double fd = (fp - fm) / (2 * h);
        const double err = std::abs(analytic[i] - fd) / std::max(1.0, std::abs(fd));
        worst = std::max(worst, err);
        EXPECT_LE(err, tol) << what << "[" << i << "]: analytic " << analytic[i] << " vs finite difference " << fd;
    }
    return worst;
}

// max |a − b| / max(max|b|, tiny)
template <typename A, typename B>
double rel_max_diff(const std::vector<A>& a, const std::vector<B>& b) {
    double num = 0, den = 1e-30;
    for (size_t i = 0; i < a.size(); ++i) {
        num = std::max(num, std::abs(double(a[i]) - double(b[i])));
        den = std::max(den, std::abs(double(b[i])));
    }
    return num / den;
}

inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
    return s;
}

}  // namespace train_test
