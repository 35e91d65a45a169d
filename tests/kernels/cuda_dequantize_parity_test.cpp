// cuda_dequantize_parity_test.cpp — Backend::dequantize_fp8 on the GPU (kernels/dequantize.cu) against
// the CPU backend, bit for bit: all 256 E4M3 codes (subnormals, ±448, both NaN codes), partial 128x128
// edge blocks, the 4-byte path (cols % 4 == 0) and the one-weight-per-thread path, and a misaligned
// source view. The CPU side is checked against the format's definition in tests/engine/cpu/dequantize_test.
// Also runs as a CPU self-test (test_kernels_cpu_selftest).
#include <cstring>

#include "cuda_parity_fixture.h"

namespace parity {
namespace {

class DequantizeParity : public CudaParitySelftest {
protected:
    // Dequantizes W [rows, cols] (codes: 0..255 first, then random) on both backends; returns mismatches.
    // `offset`: bytes the device source starts after an aligned allocation (0 = aligned).
    int64_t mismatches(int64_t rows, int64_t cols, int64_t offset = 0) {
        const int64_t br = (rows + 127) / 128, bc = (cols + 127) / 128;
        Tensor w = Tensor::cpu(DType::F8_E4M3, {rows * cols + offset});
        Tensor scale = Tensor::cpu(DType::F32, {br, bc});
        auto* b = w.as<uint8_t>();
        for (int64_t i = 0; i < rows * cols + offset; ++i) b[i] = i - offset < 256 ? uint8_t(i - offset) : uint8_t(rng_());
        std::uniform_real_distribution<float> u(1e-5f, 8.0f);
        for (int64_t i = 0; i < br * bc; ++i) scale.as<float>()[i] = u(rng_);
        const TensorView w_host = TensorView::contiguous(b + offset, DType::F8_E4M3, {rows, cols});

        Tensor want = Tensor::cpu(DType::BF16, {rows, cols});
        cpu_->dequantize_fp8(want.view(), w_host, scale.view());

        Tensor w_dev = to_gpu(w), s_dev = to_gpu(scale);
        TensorView src = TensorView::contiguous(static_cast<uint8_t*>(w_dev.data()) + offset, DType::F8_E4M3,
                                                {rows, cols}, w_dev.view().device);
        Tensor out = gpu_->alloc(DType::BF16, {rows, cols});
        gpu_->dequantize_fp8(out.view(), src, s_dev.view());
        Tensor got = Tensor::cpu(DType::BF16, {rows, cols});
        gpu_->copy(got.view(), out.view());
        int64_t bad = 0;
        for (int64_t i = 0; i < rows * cols; ++i) bad += got.as<uint16_t>()[i] != want.as<uint16_t>()[i];
        return bad;
    }
};

TEST_F(DequantizeParity, FourByteGroupsEveryCodeAndEdgeBlocks) {
    EXPECT_EQ(mismatches(300, 200), 0);  // 3 x 2 blocks, the last ones partial
    EXPECT_EQ(mismatches(2, 256), 0);
    EXPECT_EQ(mismatches(129, 1028), 0);  // 9 block columns, 4 of them in the last
}

TEST_F(DequantizeParity, OddWidthsAndMisalignedSourceTakeTheScalarPath) {
    EXPECT_EQ(mismatches(128, 129), 0);
    EXPECT_EQ(mismatches(1, 5), 0);
    EXPECT_EQ(mismatches(40, 260, 1), 0);  // cols % 4 == 0 but the source starts one byte in
}

TEST_F(DequantizeParity, BadScaleShapeIsAnErrorNotALaunch) {
    Tensor w = gpu_->alloc(DType::F8_E4M3, {130, 8});
    Tensor s = gpu_->alloc(DType::F32, {1, 1});  // needs [2, 1]
    Tensor out = gpu_->alloc(DType::BF16, {130, 8});
    try {
        gpu_->dequantize_fp8(out.view(), w.view(), s.view());
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
        EXPECT_NE(e.message().find("expected F32 [2, 1]"), std::string::npos) << e.message();
    }
}

}  // namespace
}  // namespace parity
