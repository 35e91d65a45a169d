// mhc_diagnostics.cpp — mHC stability diagnostics over depth (mhc.md §6): forward / backward gains of
// the composite mixing matrices and the Sinkhorn column error per sublayer.
#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/error.h"
#include "engine/train/mhc.h"

namespace engine::mhc {

double amax_forward_gain(const double* P, int n) {
    double g = 0;
    for (int i = 0; i < n; ++i) {
        double s = 0;
        for (int j = 0; j < n; ++j) s += P[i * n + j];
        g = std::max(g, std::abs(s));
    }
    return g;
}

double amax_backward_gain(const double* P, int n) {
    double g = 0;
    for (int j = 0; j < n; ++j) {
        double s = 0;
        for (int i = 0; i < n; ++i) s += P[i * n + j];
        g = std::max(g, std::abs(s));
    }
    return g;
}

DepthGains depth_gains(const std::vector<std::vector<double>>& mix, int n) {
    DepthGains g;
    const size_t L = mix.size(), nn = size_t(n) * size_t(n);
    for (const auto& A : mix)
        ENGINE_CHECK(A.size() == nn, kInvalidArgument, "depth_gains: a mixing matrix has ", A.size(),
                     " entries, expected n² = ", nn);
    auto mul = [n](const std::vector<double>& X, const std::vector<double>& Y) {  // X·Y
        std::vector<double> Z(size_t(n * n), 0.0);
        for (int i = 0; i < n; ++i)
            for (int k = 0; k < n; ++k)
                for (int j = 0; j < n; ++j) Z[size_t(i * n + j)] += X[size_t(i * n + k)] * Y[size_t(k * n + j)];
        return Z;
    };
    std::vector<double> I(nn, 0.0);
    for (int i = 0; i < n; ++i) I[size_t(i * n + i)] = 1.0;
    std::vector<double> P = I;
    for (size_t l = 0; l < L; ++l) {
        P = mul(mix[l], P);
        g.forward.push_back(amax_forward_gain(P.data(), n));
        double ce = 0;
        for (int j = 0; j < n; ++j) {
            double c = 0;
            for (int i = 0; i < n; ++i) c += mix[l][size_t(i * n + j)];
            ce = std::max(ce, std::abs(c - 1));
        }
        g.column_error.push_back(ce);
    }
    g.backward.assign(L, 0.0);
    P = I;
    for (size_t l = L; l-- > 0;) {
        P = mul(P, mix[l]);
        g.backward[l] = amax_backward_gain(P.data(), n);
    }
    return g;
}

}  // namespace engine::mhc
