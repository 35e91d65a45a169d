// dtype_test.cpp — scalar conversions against values fixed by the IEEE / OCP formats.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "engine/dtype.h"
#include "engine/error.h"
#include "engine/tensor.h"

using namespace engine;

TEST(DType, NamesRoundTrip) {
    for (DType t : {DType::F32, DType::F16, DType::BF16, DType::F8_E4M3, DType::I64, DType::BOOL}) {
        auto back = dtype_from_name(dtype_name(t));
        ASSERT_TRUE(back.has_value());
        EXPECT_EQ(*back, t);
    }
    EXPECT_FALSE(dtype_from_name("F4").has_value());
    EXPECT_EQ(dtype_size(DType::BF16), 2u);
    EXPECT_EQ(dtype_size(DType::F8_E4M3), 1u);
}

TEST(DType, Half_KnownValues) {
    EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
    EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
    EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
    EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);      // rounds to infinity
    EXPECT_EQ(f32_to_f16(0.1f), 0x2e66);
    EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
    EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);  // tie to even -> 0
    EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 ulp -> 2 (tie to even)
    EXPECT_FLOAT_EQ(f16_to_f32(0x3555), 0.333251953125f);
    EXPECT_TRUE(std::isnan(f16_to_f32(0x7e00)));
}

TEST(DType, Half_AllValuesRoundTrip) {
    for (uint32_t h = 0; h < 65536; ++h) {
        float f = f16_to_f32(uint16_t(h));
        if (std::isnan(f)) continue;
        ASSERT_EQ(f32_to_f16(f), h) << "half 0x" << std::hex << h;
    }
}

TEST(DType, BFloat16_RoundsToNearestEven) {
    EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
    float f;
    uint32_t bits = 0x3f808000u;  // exactly halfway between 0x3f80 and 0x3f81 -> even (0x3f80)
    std::memcpy(&f, &bits, 4);
    EXPECT_EQ(f32_to_bf16(f), 0x3f80);
    bits = 0x3f818000u;  // halfway between 0x3f81 and 0x3f82 -> even (0x3f82)
    std::memcpy(&f, &bits, 4);
    EXPECT_EQ(f32_to_bf16(f), 0x3f82);
    EXPECT_EQ(bf16_to_f32(0xc040), -3.0f);
    for (uint32_t h = 0; h < 65536; ++h) {
        float g = bf16_to_f32(uint16_t(h));
        if (std::isnan(g)) continue;
        ASSERT_EQ(f32_to_bf16(g), h);
    }
}

TEST(DType, Fp8E4M3_OcpValues) {
    EXPECT_EQ(f8e4m3_to_f32(0x7e), 448.0f);        // largest finite
    EXPECT_EQ(f8e4m3_to_f32(0xfe), -448.0f);
    EXPECT_TRUE(std::isnan(f8e4m3_to_f32(0x7f)));  // only NaN encodings, no infinities
    EXPECT_TRUE(std::isnan(f8e4m3_to_f32(0xff)));
    EXPECT_EQ(f8e4m3_to_f32(0x38), 1.0f);          // exponent bias 7
    EXPECT_EQ(f8e4m3_to_f32(0x01), std::ldexp(1.0f, -9));  // smallest subnormal
    EXPECT_EQ(f8e4m3_to_f32(0x08), std::ldexp(1.0f, -6));  // smallest normal
    EXPECT_EQ(f8e5m2_to_f32(0x3c), 1.0f);
    EXPECT_TRUE(std::isinf(f8e5m2_to_f32(0x7c)));
}

TEST(Tensor, ViewsSliceAndReshape) {
    Tensor t = Tensor::cpu(DType::F32, {4, 3, 2});
    for (int i = 0; i < 24; ++i) t.as<float>()[i] = float(i);
    TensorView v = t.view();
    EXPECT_EQ(v.numel(), 24);
    EXPECT_TRUE(v.is_contiguous());
    EXPECT_EQ(v.rows(), 12);
    TensorView rows = v.slice_rows(1, 3);
    EXPECT_EQ(rows.shape[0], 2);
    EXPECT_EQ(rows.as<float>()[0], 6.0f);
    TensorView last = v.slice_last(1, 2);
    EXPECT_FALSE(last.is_contiguous());
    EXPECT_EQ(last.as<float>()[0], 1.0f);
    EXPECT_EQ(v.reshape({12, 2}).shape_str(), "[12, 2]");
    EXPECT_THROW(v.reshape({5, 5}), Error);
    EXPECT_THROW(v.slice_rows(3, 5), Error);
    EXPECT_THROW(last.reshape({24}), Error);
    // Explicit strides: columns 0..1 and rows 1..3 of v seen as [4, 6], transposed: tr[i][j] = 6 + 6·j + i.
    TensorView tr = v.strided(6, {2, 3}, {1, 6});
    EXPECT_EQ(tr.shape_str(), "[2, 3]");
    EXPECT_EQ(tr.as<float>()[tr.stride[1] * 2 + tr.stride[0]], 19.0f);  // tr[1][2]
    EXPECT_EQ(tr.dtype, DType::F32);
    EXPECT_EQ(tr.device, Device::CPU);
    EXPECT_THROW(v.strided(0, {2, 3}, {1}), Error);
}

TEST(Error, CarriesKindAndUserMessage) {
    try {
        ENGINE_THROW(kBadFile, "model.safetensors: tensor '", "x", "' is missing");
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kBadFile);
        EXPECT_EQ(e.message(), "model.safetensors: tensor 'x' is missing");
        EXPECT_NE(std::string(e.what()).find("dtype_test.cpp"), std::string::npos);
    }
}
