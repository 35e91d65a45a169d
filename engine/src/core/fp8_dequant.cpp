// fp8_dequant.cpp — multi-threaded FP8 (E4M3) x 128x128-block-scale -> BF16 dequantization.
#include "engine/detail/fp8_dequant.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <system_error>
#include <thread>

#include "engine/dtype.h"
#include "engine/error.h"

namespace engine {

namespace {

// 256-entry table of engine::f8e4m3_to_f32 (the scalar reference), so the hot loop is a lookup.
std::array<float, 256> make_e4m3_table() {
    std::array<float, 256> t{};
    for (int v = 0; v < 256; ++v) t[size_t(v)] = f8e4m3_to_f32(uint8_t(v));
    return t;
}

struct Task {
    size_t job;
    int64_t row_block;
};

void run_block(const Fp8DequantJob& j, int64_t rb, const std::array<float, 256>& lut) {
    const int64_t scale_cols = fp8_scale_blocks(j.cols);
    const int64_t r0 = rb * kFp8BlockSize;
    const int64_t r1 = std::min(j.rows, r0 + kFp8BlockSize);
    const float* scale_row = j.scale_inv + rb * scale_cols;  // [scale_cols]
    for (int64_t r = r0; r < r1; ++r) {
        const uint8_t* src = j.weight + r * j.cols;
        uint16_t* dst = j.out + r * j.cols;
        for (int64_t cb = 0; cb < scale_cols; ++cb) {
            const float s = scale_row[cb];
            const int64_t c1 = std::min(j.cols, (cb + 1) * kFp8BlockSize);
            for (int64_t c = cb * kFp8BlockSize; c < c1; ++c) dst[c] = f32_to_bf16(lut[src[c]] * s);
        }
    }
}

}  // namespace

void dequantize_fp8_jobs(const std::vector<Fp8DequantJob>& jobs, int threads) {
    if (jobs.empty()) return;
    static_assert(sizeof(float) == 4);
    const std::array<float, 256> lut = make_e4m3_table();
    std::vector<Task> tasks;
    for (size_t i = 0; i < jobs.size(); ++i) {
        if (jobs[i].cols == 0 || jobs[i].rows == 0) continue;
        const int64_t blocks = fp8_scale_blocks(jobs[i].rows);
        for (int64_t b = 0; b < blocks; ++b) tasks.push_back({i, b});
    }
    if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
    threads = int(std::min<size_t>(size_t(threads), tasks.size()));
    std::atomic<size_t> next{0};
    auto worker = [&] {
        for (size_t t = next.fetch_add(1); t < tasks.size(); t = next.fetch_add(1))
            run_block(jobs[tasks[t].job], tasks[t].row_block, lut);
    };
    if (threads <= 1) {
        worker();
        return;
    }
    std::vector<std::thread> pool;
    pool.reserve(size_t(threads - 1));
    for (int i = 1; i < threads; ++i) {
        try {
            pool.emplace_back(worker);
        } catch (const std::system_error&) {  // no more threads: the ones we have finish the tasks
            break;
        }
    }
    worker();
    for (auto& th : pool) th.join();
}

void check_fp8_dequant_views(const TensorView& dst, const TensorView& src, const TensorView& scale_inv,
                             Device device) {
    const char* where = device == Device::CPU ? "the host" : "the GPU";
    ENGINE_CHECK(src.dtype == DType::F8_E4M3 && src.ndim == 2, kInvalidArgument, "dequantize_fp8: src is ",
                 dtype_name(src.dtype), " ", src.shape_str(), "; expected F8_E4M3 [rows, cols]");
    ENGINE_CHECK(dst.dtype == DType::BF16 && dst.ndim == 2 && dst.shape[0] == src.shape[0] &&
                     dst.shape[1] == src.shape[1],
                 kInvalidArgument, "dequantize_fp8: dst is ", dtype_name(dst.dtype), " ", dst.shape_str(),
                 "; expected BF16 ", src.shape_str());
    const int64_t rows = src.shape[0], cols = src.shape[1];
    const int64_t br = fp8_scale_blocks(rows), bc = fp8_scale_blocks(cols);
    ENGINE_CHECK(scale_inv.dtype == DType::F32 && scale_inv.ndim == 2 && scale_inv.shape[0] == br &&
                     scale_inv.shape[1] == bc,
                 kInvalidArgument, "dequantize_fp8: scale_inv is ", dtype_name(scale_inv.dtype), " ",
                 scale_inv.shape_str(), "; expected F32 [", br, ", ", bc, "] (one scale per 128x128 block of ",
                 src.shape_str(), ")");
    ENGINE_CHECK(src.is_contiguous() && dst.is_contiguous() && scale_inv.is_contiguous(), kInvalidArgument,
                 "dequantize_fp8: src, dst and scale_inv must be contiguous");
    ENGINE_CHECK(src.device == device && dst.device == device && scale_inv.device == device, kInvalidArgument,
                 "dequantize_fp8: src, dst and scale_inv must all be on ", where);
    ENGINE_CHECK((src.numel() == 0) || (src.data && dst.data && scale_inv.data), kInvalidArgument,
                 "dequantize_fp8: a null operand for ", src.shape_str());
}

}  // namespace engine
