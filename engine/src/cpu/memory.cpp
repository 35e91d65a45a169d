// memory.cpp — the CPU backend's identity, host memory accounting, allocation and weight "upload"
// (an alias: mmapped checkpoint files stay mapped, nothing is copied).
#include <cblas.h>
#include <omp.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "cpu/cpu_backend.h"
#include "cpu/cpu_common.h"

namespace engine {

CpuBackend::CpuBackend(int threads) {
    threads_ = threads > 0 ? threads : omp_get_num_procs();
    if (threads_ < 1) threads_ = 1;
}

std::unique_ptr<Backend> make_cpu_backend(int threads) { return std::make_unique<CpuBackend>(threads); }

std::string CpuBackend::name() const {
    return str_cat("CPU (OpenBLAS, ", threads_, threads_ == 1 ? " thread)" : " threads)");
}

void CpuBackend::use_blas_threads() const {
    // OpenBLAS keeps one process-wide setting; only touch it when it differs (the call is cheap).
    if (openblas_get_num_threads() != threads_) openblas_set_num_threads(threads_);
}

DeviceMemoryInfo CpuBackend::memory_info() const {
    DeviceMemoryInfo info;
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) info.total_bytes = int64_t(pages) * page;
    info.free_bytes = info.total_bytes;
    // MemAvailable (kB) is the kernel's estimate of what can be allocated without swapping.
    std::ifstream meminfo("/proc/meminfo");
    std::string key;
    int64_t kb = 0;
    std::string unit;
    while (meminfo >> key >> kb) {
        std::getline(meminfo, unit);
        if (key == "MemAvailable:") {
            info.free_bytes = kb * 1024;
            break;
        }
    }
    return info;
}

Tensor CpuBackend::alloc(DType dtype, const int64_t* shape, int ndim) {
    ENGINE_CHECK(ndim >= 0 && ndim <= kMaxDims, kInvalidArgument, "alloc: rank ", ndim, " is not in [0, ",
                 kMaxDims, "]");
    ENGINE_CHECK(dtype_size(dtype) > 0, kInvalidArgument, "alloc: dtype ", dtype_name(dtype), " has no size");
    int64_t count = 1;
    std::string shape_s = "[";
    for (int i = 0; i < ndim; ++i) {
        shape_s += (i ? ", " : "") + std::to_string(shape[i]);
        ENGINE_CHECK(shape[i] >= 0, kInvalidArgument, "alloc: negative dimension in shape ", shape_s, "]");
    }
    shape_s += "]";
    int64_t bytes = 0;
    bool overflow = false;
    for (int i = 0; i < ndim; ++i) overflow |= __builtin_mul_overflow(count, shape[i], &count);
    overflow |= __builtin_mul_overflow(count, int64_t(dtype_size(dtype)), &bytes);
    ENGINE_CHECK(!overflow, kOutOfMemory, "alloc: ", dtype_name(dtype), " ", shape_s,
                 " needs more bytes than fit in 64 bits");
    const DeviceMemoryInfo mem = memory_info();
    if (bytes > mem.free_bytes)
        ENGINE_THROW(kOutOfMemory, "alloc: ", dtype_name(dtype), " ", shape_s, " needs ", bytes,
                     " bytes of host memory but only ", mem.free_bytes, " bytes are available (of ",
                     mem.total_bytes, "); use a smaller batch/context or close other programs");
    try {
        return Tensor::cpu(dtype, shape, ndim);
    } catch (const Error& e) {
        if (e.kind() != ErrorKind::kOutOfMemory) throw;
        ENGINE_THROW(kOutOfMemory, "alloc: ", dtype_name(dtype), " ", shape_s, " needs ", bytes,
                     " bytes of host memory; the allocation failed with ", mem.free_bytes,
                     " bytes reported available");
    }
}

Tensor CpuBackend::upload_weight(const TensorView& host) {
    cpu::check_view("upload_weight", "host", host);
    return Tensor(host, [](void*) {});  // alias: the caller's storage owns the bytes
}

}  // namespace engine
