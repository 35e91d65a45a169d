// dequantize_test.cpp — CpuBackend::dequantize_fp8 against a scalar reference written here: every
// one of the 256 E4M3 codes (subnormals, the largest normal 448, both NaN codes), 128x128 block scales
// including partial edge blocks, and the argument checks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "cpu_test_util.h"

namespace engine::test {
namespace {

// OCP E4M3 "fn" from its definition: bias 7, 3 mantissa bits, no infinities, S.1111.111 is NaN.
float e4m3(uint8_t v) {
    const int sign = v >> 7, exp = (v >> 3) & 0xf, man = v & 7;
    if (exp == 15 && man == 7) return std::nanf("");
    const double mag = exp == 0 ? std::ldexp(man / 8.0, -6) : std::ldexp(1.0 + man / 8.0, exp - 7);
    return float(sign ? -mag : mag);
}

struct Fp8Case {
    int64_t rows, cols;
    Tensor w, scale;  // F8_E4M3 [rows, cols], F32 [ceil(rows/128), ceil(cols/128)]
    Fp8Case(int64_t r, int64_t c, uint32_t seed) : rows(r), cols(c) {
        w = Tensor::cpu(DType::F8_E4M3, {r, c});
        scale = Tensor::cpu(DType::F32, {(r + 127) / 128, (c + 127) / 128});
        std::mt19937 rng(seed);
        auto* b = w.as<uint8_t>();
        for (int64_t i = 0; i < r * c; ++i) b[i] = i < 256 ? uint8_t(i) : uint8_t(rng());  // all codes first
        std::uniform_real_distribution<float> u(1e-4f, 4.0f);
        for (int64_t i = 0; i < scale.view().numel(); ++i) scale.as<float>()[i] = u(rng);
    }
    float expected(int64_t i, int64_t j) const {
        const int64_t sc = (cols + 127) / 128;
        return e4m3(w.as<uint8_t>()[i * cols + j]) * scale.as<float>()[(i / 128) * sc + j / 128];
    }
};

TEST(DequantizeFp8, EveryCodeAndEdgeBlocksMatchTheScalarReference) {
    auto be = make_cpu_backend(3);
    // 300 = 2·128 + 44 rows, 200 = 128 + 72 cols; 129 cols leaves a 1-wide block; 1 x 5 is one partial block.
    for (auto [r, c] : {std::pair<int64_t, int64_t>{300, 200}, {128, 129}, {1, 5}, {2, 256}}) {
        Fp8Case k(r, c, uint32_t(r * 1000 + c));
        Tensor out = Tensor::cpu(DType::BF16, {r, c});
        be->dequantize_fp8(out, k.w, k.scale);
        int mismatches = 0, nans = 0;
        for (int64_t i = 0; i < r; ++i)
            for (int64_t j = 0; j < c; ++j) {
                const uint16_t got = out.as<uint16_t>()[i * c + j];
                const float want = k.expected(i, j);
                if (std::isnan(want)) {  // a quiet NaN keeping the code's sign
                    ++nans;
                    const bool ok = (got & 0x7f80u) == 0x7f80u && (got & 0x7fu) != 0 &&
                                    (got >> 15) == (k.w.as<uint8_t>()[i * c + j] >> 7);
                    mismatches += !ok;
                } else {
                    mismatches += got != f32_to_bf16(want);
                }
            }
        EXPECT_EQ(mismatches, 0) << r << " x " << c;
        if (r * c >= 256) {
            EXPECT_GE(nans, 2) << "both NaN codes are in the first 256 weights";
        }
    }
    // Spot values read off the format: 0x7e = 1.75·2^8 = 448 (the largest), 0x01 = 2^-9, 0xb8 = -1.
    Fp8Case k(1, 3, 7);
    k.w.as<uint8_t>()[0] = 0x7e;
    k.w.as<uint8_t>()[1] = 0x01;
    k.w.as<uint8_t>()[2] = 0xb8;
    k.scale.as<float>()[0] = 0.5f;
    Tensor out = Tensor::cpu(DType::BF16, {1, 3});
    be->dequantize_fp8(out, k.w, k.scale);
    EXPECT_EQ(bf16_to_f32(out.as<uint16_t>()[0]), 224.0f);
    EXPECT_EQ(bf16_to_f32(out.as<uint16_t>()[1]), std::ldexp(1.0f, -10));
    EXPECT_EQ(bf16_to_f32(out.as<uint16_t>()[2]), -0.5f);
}

TEST(DequantizeFp8, EmptyWeightIsANoOp) {
    auto be = make_cpu_backend(1);
    Tensor w = Tensor::cpu(DType::F8_E4M3, {0, 7}), s = Tensor::cpu(DType::F32, {0, 1});
    Tensor out = Tensor::cpu(DType::BF16, {0, 7});
    EXPECT_NO_THROW(be->dequantize_fp8(out, w, s));
}

TEST(DequantizeFp8, RejectsWrongShapesAndDtypesNamingThem) {
    auto be = make_cpu_backend(1);
    Fp8Case k(130, 10, 1);  // scales [2, 1]
    Tensor out = Tensor::cpu(DType::BF16, {130, 10});
    auto message = [&](const TensorView& d, const TensorView& s, const TensorView& sc) {
        try {
            be->dequantize_fp8(d, s, sc);
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
            return std::string(e.what());
        }
        return std::string("no error");
    };
    Tensor bad_scale = Tensor::cpu(DType::F32, {1, 1});
    EXPECT_NE(message(out, k.w, bad_scale).find("expected F32 [2, 1]"), std::string::npos);
    Tensor f32_out = Tensor::cpu(DType::F32, {130, 10});
    EXPECT_NE(message(f32_out, k.w, k.scale).find("expected BF16 [130, 10]"), std::string::npos);
    Tensor u8 = Tensor::cpu(DType::U8, {130, 10});
    EXPECT_NE(message(out, u8, k.scale).find("expected F8_E4M3"), std::string::npos);
    TensorView strided = out.view();
    strided.shape[1] = 5;
    strided.stride[0] = 10;
    TensorView half_w = k.w.view();
    half_w.shape[1] = 5;
    EXPECT_NE(message(strided, half_w, k.scale).find("contiguous"), std::string::npos);
}

}  // namespace
}  // namespace engine::test
