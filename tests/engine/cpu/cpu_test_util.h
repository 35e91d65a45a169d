// cpu_test_util.h — helpers for the CPU backend tests: seeded random tensors, weights stored in
// F32/F16/BF16, and element access through a view's strides for the scalar references (which live
// in each test file and accumulate in double).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/dtype.h"
#include "engine/error.h"
#include "engine/tensor.h"

namespace engine::test {

inline Tensor random_f32(std::mt19937& rng, std::initializer_list<int64_t> shape, float lo = -1.0f,
                         float hi = 1.0f) {
    Tensor t = Tensor::cpu(DType::F32, shape);
    std::uniform_real_distribution<float> u(lo, hi);
    float* p = t.as<float>();
    for (int64_t i = 0; i < t.view().numel(); ++i) p[i] = u(rng);
    return t;
}

// Store value f in element i of a contiguous F32/F16/BF16 buffer.
inline void store(const TensorView& v, int64_t i, float f) {
    switch (v.dtype) {
        case DType::F32: v.as<float>()[i] = f; break;
        case DType::F16: v.as<uint16_t>()[i] = f32_to_f16(f); break;
        case DType::BF16: v.as<uint16_t>()[i] = f32_to_bf16(f); break;
        default: FAIL() << "store: unsupported dtype";
    }
}

// Element at flat (row-major logical) index i of any-strided view, as float via dtype.h's scalars.
inline int64_t offset_of(const TensorView& v, int64_t i) {
    int64_t off = 0;
    for (int d = v.ndim - 1; d >= 0; --d) {
        off += (i % v.shape[d]) * v.stride[d];
        i /= v.shape[d];
    }
    return off;
}
inline float load(const TensorView& v, int64_t i) {
    const int64_t o = offset_of(v, i);
    switch (v.dtype) {
        case DType::F32: return v.as<float>()[o];
        case DType::F16: return f16_to_f32(v.as<uint16_t>()[o]);
        case DType::BF16: return bf16_to_f32(v.as<uint16_t>()[o]);
        case DType::I32: return float(v.as<int32_t>()[o]);
        default: return NAN;
    }
}
inline void store_at(const TensorView& v, int64_t i, float f) {
    const int64_t o = offset_of(v, i);
    switch (v.dtype) {
        case DType::F32: v.as<float>()[o] = f; break;
        case DType::F16: v.as<uint16_t>()[o] = f32_to_f16(f); break;
        case DType::BF16: v.as<uint16_t>()[o] = f32_to_bf16(f); break;
        default: FAIL() << "store_at: unsupported dtype";
    }
}

// A random tensor in the given dtype (values are drawn in f32 and rounded to the dtype).
inline Tensor random_of(std::mt19937& rng, DType dt, std::initializer_list<int64_t> shape, float lo = -1.0f,
                        float hi = 1.0f) {
    Tensor t = Tensor::cpu(dt, shape);
    std::uniform_real_distribution<float> u(lo, hi);
    for (int64_t i = 0; i < t.view().numel(); ++i) store(t.view(), i, u(rng));
    return t;
}

// Fill a (possibly strided) view with random values.
inline void randomize(std::mt19937& rng, const TensorView& v, float lo = -1.0f, float hi = 1.0f) {
    std::uniform_real_distribution<float> u(lo, hi);
    for (int64_t i = 0; i < v.numel(); ++i) store_at(v, i, u(rng));
}

// Runs fn, expects engine::Error of kind kInvalidArgument whose message contains every fragment.
template <typename Fn>
void expect_invalid(Fn&& fn, std::initializer_list<const char*> fragments) {
    try {
        fn();
        ADD_FAILURE() << "expected engine::Error(kInvalidArgument)";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << e.what();
        for (const char* f : fragments)
            EXPECT_NE(e.message().find(f), std::string::npos) << "message '" << e.message() << "' lacks '" << f << "'";
    }
}

}  // namespace engine::test
