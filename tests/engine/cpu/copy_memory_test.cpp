// copy_memory_test.cpp — CpuBackend::copy (same dtype, F32 <-> F16/BF16 bit-exact against dtype.h's
// scalar converters including NaN/inf/subnormals/ties, F16 <-> BF16, strided views) and the memory
// side: alloc (zero-filled, out-of-memory error), upload_weight (aliases), name, memory_info.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>

#include "cpu_test_util.h"

namespace engine::test {
namespace {

std::vector<float> special_values(std::mt19937& rng, int64_t n) {
    std::vector<float> v = {0.0f, -0.0f, 1.0f, -1.0f, std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN(),
                            1e-40f, -3e-39f, 6e-8f, 3e-5f, 65504.0f, 65520.0f, 70000.0f, 3.4e38f,
                            1.00390625f /* bf16 tie */, 1.01171875f, 1.000488281f /* f16 tie */};
    std::uniform_int_distribution<uint32_t> bits;
    while (int64_t(v.size()) < n) {
        uint32_t b = bits(rng);
        float f;
        std::memcpy(&f, &b, 4);
        v.push_back(f);
    }
    return v;
}

TEST(Copy, ConvertsBitExactlyLikeTheScalarReference) {
    auto be = make_cpu_backend(2);
    std::mt19937 rng(2024);
    const int64_t n = 1000;  // odd tail after the 8-wide vectors
    std::vector<float> vals = special_values(rng, n);
    Tensor f = Tensor::cpu(DType::F32, {n});
    std::memcpy(f.data(), vals.data(), size_t(n) * 4);
    for (DType dt : {DType::BF16, DType::F16}) {
        Tensor h = Tensor::cpu(dt, {n});
        be->copy(h, f);
        for (int64_t i = 0; i < n; ++i) {
            const uint16_t want = dt == DType::BF16 ? f32_to_bf16(vals[size_t(i)]) : f32_to_f16(vals[size_t(i)]);
            ASSERT_EQ(h.as<uint16_t>()[i], want) << dtype_name(dt) << " of " << vals[size_t(i)] << " (i=" << i << ")";
        }
        Tensor back = Tensor::cpu(DType::F32, {n});
        be->copy(back, h);
        for (int64_t i = 0; i < n; ++i) {
            const uint16_t hv = h.as<uint16_t>()[i];
            const float want = dt == DType::BF16 ? bf16_to_f32(hv) : f16_to_f32(hv);
            uint32_t a, b;
            std::memcpy(&a, &back.as<float>()[i], 4);
            std::memcpy(&b, &want, 4);
            ASSERT_EQ(a, b) << dtype_name(dt) << " -> F32 of 0x" << std::hex << hv;
        }
    }
    // F16 -> BF16 goes through fp32.
    Tensor h16 = Tensor::cpu(DType::F16, {n});
    be->copy(h16, f);
    Tensor b16 = Tensor::cpu(DType::BF16, {n});
    be->copy(b16, h16);
    for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(b16.as<uint16_t>()[i], f32_to_bf16(f16_to_f32(h16.as<uint16_t>()[i])));
}

TEST(Copy, StridedSameDtypeAnd3D) {
    auto be = make_cpu_backend(2);
    std::mt19937 rng(5);
    Tensor src = random_f32(rng, {4, 3, 20});
    Tensor dstb = Tensor::cpu(DType::F32, {4, 3, 25});
    TensorView dst = dstb.view().slice_last(5, 25);
    be->copy(dst, src);
    for (int64_t i = 0; i < 4 * 3 * 20; ++i) EXPECT_EQ(load(dst, i), src.as<float>()[i]);
    for (int64_t r = 0; r < 12; ++r)
        for (int j = 0; j < 5; ++j) EXPECT_EQ(dstb.as<float>()[r * 25 + j], 0.0f);
    Tensor wrong = Tensor::cpu(DType::F32, {4, 3, 21});
    expect_invalid([&] { be->copy(wrong, src); }, {"copy", "dst [4, 3, 21]", "src [4, 3, 20]"});
    Tensor ints = Tensor::cpu(DType::I32, {4, 3, 20});
    expect_invalid([&] { be->copy(ints, src); }, {"copy", "I32"});
}

TEST(Memory, AllocUploadNameInfo) {
    auto be = make_cpu_backend(3);
    EXPECT_EQ(be->device(), Device::CPU);
    EXPECT_NE(be->name().find("3 threads"), std::string::npos) << be->name();
    const DeviceMemoryInfo info = be->memory_info();
    EXPECT_GT(info.total_bytes, 0);
    EXPECT_GT(info.free_bytes, 0);
    EXPECT_LE(info.free_bytes, info.total_bytes);

    Tensor t = be->alloc(DType::BF16, {7, 33});
    ASSERT_FALSE(t.empty());
    EXPECT_EQ(t.view().dtype, DType::BF16);
    EXPECT_EQ(t.view().shape[1], 33);
    for (int i = 0; i < 7 * 33; ++i) EXPECT_EQ(t.as<uint16_t>()[i], 0);

    std::vector<float> host(12, 2.0f);
    TensorView hv = TensorView::contiguous(host.data(), DType::F32, {3, 4});
    Tensor w = be->upload_weight(hv);
    EXPECT_EQ(w.data(), host.data());  // aliases, no copy

    try {
        be->alloc(DType::F32, {int64_t(1) << 40, int64_t(1) << 10});
        ADD_FAILURE() << "expected kOutOfMemory";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kOutOfMemory);
        EXPECT_NE(e.message().find("available"), std::string::npos) << e.message();
    }
    try {
        be->alloc(DType::F32, {int64_t(1) << 40, int64_t(1) << 40});
        ADD_FAILURE() << "expected kOutOfMemory";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kOutOfMemory) << e.what();
    }
    auto all = make_cpu_backend(0);
    EXPECT_NE(all->name().find("thread"), std::string::npos);
}

}  // namespace
}  // namespace engine::test
