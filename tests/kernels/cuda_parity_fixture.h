// cuda_parity_fixture.h — the fixture of the CUDA-vs-CPU parity tests (cuda_parity_test.cpp: forward
// ops; cuda_train_parity_test.cpp: training ops): a GPU backend and the CPU reference backend, random
// host tensors, transfers, and a max-relative-error comparison.
//
// Every test skips itself (GTEST_SKIP) when the CUDA backend cannot be created: no NVIDIA GPU, no
// driver, or a GPU older than compute capability 8.0.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/error.h"

namespace parity {

using namespace engine;

class CudaParity : public ::testing::Test {
protected:
    void SetUp() override {
        ::setenv("LATENT_CUDA_BACKEND", LATENT_CUDA_LIBRARY, 0);
        try {
            gpu_ = make_cuda_backend(0);
        } catch (const Error& e) {
            GTEST_SKIP() << "no usable NVIDIA GPU: " << e.message();
        }
        cpu_ = make_cpu_backend(0);
    }
    // Host tensor of N(0, scale²) values in dtype dt (F32, BF16 or F16).
    Tensor host(DType dt, std::initializer_list<int64_t> shape, float scale = 1.0f) {
        Tensor t = Tensor::cpu(dt, shape);
        std::normal_distribution<float> n(0.0f, scale);
        for (int64_t i = 0; i < t.view().numel(); ++i) {
            float v = n(rng_);
            if (dt == DType::F32) t.as<float>()[i] = v;
            else if (dt == DType::BF16) t.as<uint16_t>()[i] = f32_to_bf16(v);
            else if (dt == DType::F16) t.as<uint16_t>()[i] = f32_to_f16(v);
        }
        return t;
    }
    // Host I32 tensor holding `values`.
    static Tensor host_i32(std::initializer_list<int64_t> shape, const std::vector<int32_t>& values) {
        Tensor t = Tensor::cpu(DType::I32, shape);
        EXPECT_EQ(size_t(t.view().numel()), values.size());
        std::copy(values.begin(), values.end(), t.as<int32_t>());
        return t;
    }
    // A device copy of a (contiguous) host tensor, same dtype and shape.
    Tensor to_gpu(const Tensor& h) {
        Tensor d = gpu_->alloc(h.view().dtype, h.view().shape.data(), h.view().ndim);
        gpu_->copy(d.view(), h.view());
        return d;
    }
    // The values of an F32 device view (any strides), contiguous on the host.
    std::vector<float> to_host(const TensorView& d) {
        Tensor h = Tensor::cpu(DType::F32, d.shape.data(), d.ndim);
        gpu_->copy(h.view(), d);
        return std::vector<float>(h.as<float>(), h.as<float>() + h.view().numel());
    }
    // The values of an F32 host view (any strides), contiguous.
    static std::vector<float> values(const TensorView& h) {
        std::vector<float> out(size_t(h.numel()));
        for (int64_t i = 0; i < h.numel(); ++i) {
            int64_t rem = i, off = 0;
            for (int d = h.ndim - 1; d >= 0; --d) {
                off += (rem % h.shape[d]) * h.stride[d];
                rem /= h.shape[d];
            }
            out[size_t(i)] = h.as<float>()[off];
        }
        return out;
    }
    // max |got − want| / max(|want|, 1e-6) ≤ rel  (0 asks for identical values).
    static void expect_close(const std::vector<float>& got, const float* want, double rel, const char* what) {
        double max_ref = 1e-6, max_err = 0;
        for (size_t i = 0; i < got.size(); ++i) {
            max_ref = std::max(max_ref, double(std::fabs(want[i])));
            max_err = std::max(max_err, double(std::fabs(got[i] - want[i])));
            if (std::isnan(got[i]) != std::isnan(want[i])) max_err = INFINITY;
        }
        EXPECT_LE(max_err / max_ref, rel) << what << ": max abs err " << max_err << " (max |ref| " << max_ref << ")";
    }
    static void expect_close(const std::vector<float>& got, const std::vector<float>& want, double rel,
                             const char* what) {
        ASSERT_EQ(got.size(), want.size()) << what;
        expect_close(got, want.data(), rel, what);
    }
    std::unique_ptr<Backend> gpu_, cpu_;
    std::mt19937 rng_{123};
};

// CudaParity whose cases also run with LATENT_PARITY_SELFTEST=1: a single-threaded CPU backend in the
// GPU's place, so the test code itself (shapes, the CPU side's constraints, tolerances) is checked on
// machines without a GPU (CI).
class CudaParitySelftest : public CudaParity {
protected:
    void SetUp() override {
        const char* self = std::getenv("LATENT_PARITY_SELFTEST");
        if (self && std::string(self) == "1") {
            gpu_ = make_cpu_backend(1);
            cpu_ = make_cpu_backend(0);
            return;
        }
        CudaParity::SetUp();
    }
    bool selftest() const { return gpu_->device() == Device::CPU; }
};

// max |a − b| / max |a|: how far b is from a (a check that two paths really differ).
inline double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
    EXPECT_EQ(a.size(), b.size());
    double max_diff = 0, max_ref = 1e-30;
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
        max_diff = std::max(max_diff, double(std::fabs(a[i] - b[i])));
        max_ref = std::max(max_ref, double(std::fabs(a[i])));
    }
    return max_diff / max_ref;
}

// A second CUDA backend made with the environment variable `var` set to `value` (the backend reads its
// switches when it is created); the variable is unset again whatever happens.
inline std::unique_ptr<Backend> cuda_backend_with(const char* var, const char* value) {
    ::setenv(var, value, 1);
    std::unique_ptr<Backend> be;
    try {
        be = make_cuda_backend(0);
    } catch (...) {
        ::unsetenv(var);
        throw;
    }
    ::unsetenv(var);
    return be;
}

// LATENT_CUDA_ATTENTION=`mode` ("reference": the plain attention kernels; "tf32": decode and flash-forward
// attention on tensor cores).
inline std::unique_ptr<Backend> cuda_backend_with_attention(const char* mode) {
    return cuda_backend_with("LATENT_CUDA_ATTENTION", mode);
}

}  // namespace parity
