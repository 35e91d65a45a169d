// dequantize.cpp — Backend::dequantize_fp8 on the host: the shared block-parallel dequantizer of
// engine/detail/fp8_dequant.h over this backend's threads.
#include "cpu/cpu_backend.h"
#include "engine/detail/fp8_dequant.h"

namespace engine {

void CpuBackend::dequantize_fp8(const TensorView& dst, const TensorView& src, const TensorView& scale_inv) {
    check_fp8_dequant_views(dst, src, scale_inv, Device::CPU);
    if (src.numel() == 0) return;
    dequantize_fp8_jobs({{src.as<const uint8_t>(), scale_inv.as<const float>(), dst.as<uint16_t>(), src.shape[0],
                          src.shape[1]}},
                        threads_);
}

}  // namespace engine
