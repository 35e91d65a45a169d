// cuda_backend.cu — device, stream, cuBLAS handle, memory, copies; and the dlopen entry point.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "attention_flash.h"
#include "checks.h"
#include "common.cuh"
#include "cuda_backend.h"

namespace cuda_backend {

using engine::DType;
using engine::Tensor;
using engine::TensorView;

// ---- kernels ----

struct Strides4 {
    int64_t shape[4];
    int64_t src[4];
    int64_t dst[4];
};

template <typename Tin, typename Tout>
__global__ void copy_convert_kernel(Tout* dst, const Tin* src, Strides4 s, int64_t n) {
    int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (i >= n) return;
    int64_t rem = i, so = 0, d = 0;
    for (int k = 3; k >= 0; --k) {
        int64_t c = rem % s.shape[k];
        rem /= s.shape[k];
        so += c * s.src[k];
        d += c * s.dst[k];
    }
    if constexpr (std::is_same_v<Tin, Tout>) {
        dst[d] = src[so];
    } else {
        float v = to_float<Tin>(src[so]);
        if constexpr (std::is_same_v<Tout, float>) dst[d] = v;
        else if constexpr (std::is_same_v<Tout, __nv_bfloat16>) dst[d] = __float2bfloat16(v);
        else dst[d] = __float2half(v);
    }
}

__global__ void fill_kernel(float* y, int64_t rows, int64_t cols, int64_t row_stride, float v) {
    int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (i >= rows * cols) return;
    y[(i / cols) * row_stride + i % cols] = v;
}

// ---- helpers ----

namespace {

Strides4 strides_of(const TensorView& src, const TensorView& dst) {
    Strides4 s{};
    int pad = 4 - src.ndim;
    for (int k = 0; k < 4; ++k) {
        int d = k - pad;
        s.shape[k] = d < 0 ? 1 : src.shape[d];
        s.src[k] = d < 0 ? 0 : src.stride[d];
        s.dst[k] = d < 0 ? 0 : dst.stride[d];
    }
    return s;
}

// A contiguous host copy of a (possibly strided) host view.
std::vector<char> pack_host(const TensorView& v) {
    const size_t es = engine::dtype_size(v.dtype);
    std::vector<char> out(v.nbytes());
    const int64_t n = v.numel();
    for (int64_t i = 0; i < n; ++i) {
        int64_t rem = i, off = 0;
        for (int d = v.ndim - 1; d >= 0; --d) {
            off += (rem % v.shape[d]) * v.stride[d];
            rem /= v.shape[d];
        }
        std::memcpy(out.data() + size_t(i) * es, static_cast<const char*>(v.data) + size_t(off) * es, es);
    }
    return out;
}

void unpack_host(const TensorView& v, const char* packed) {
    const size_t es = engine::dtype_size(v.dtype);
    const int64_t n = v.numel();
    for (int64_t i = 0; i < n; ++i) {
        int64_t rem = i, off = 0;
        for (int d = v.ndim - 1; d >= 0; --d) {
            off += (rem % v.shape[d]) * v.stride[d];
            rem /= v.shape[d];
        }
        std::memcpy(static_cast<char*>(v.data) + size_t(off) * es, packed + size_t(i) * es, es);
    }
}

bool is_float16ish(DType t) { return t == DType::F32 || t == DType::BF16 || t == DType::F16; }

}  // namespace

// Device-to-device copy with optional dtype conversion (F32/BF16/F16) and arbitrary strides.
static void device_copy(cudaStream_t stream, const TensorView& dst, const TensorView& src) {
    const int64_t n = src.numel();
    if (n == 0) return;
    Strides4 s = strides_of(src, dst);
    const int threads = 256;
    const int64_t blocks = ceil_div(n, threads);
    if (src.dtype == dst.dtype) {
        switch (engine::dtype_size(src.dtype)) {
            case 1: copy_convert_kernel<uint8_t, uint8_t><<<blocks, threads, 0, stream>>>(dst.as<uint8_t>(), src.as<uint8_t>(), s, n); break;
            case 2: copy_convert_kernel<uint16_t, uint16_t><<<blocks, threads, 0, stream>>>(dst.as<uint16_t>(), src.as<uint16_t>(), s, n); break;
            case 4: copy_convert_kernel<uint32_t, uint32_t><<<blocks, threads, 0, stream>>>(dst.as<uint32_t>(), src.as<uint32_t>(), s, n); break;
            case 8: copy_convert_kernel<uint64_t, uint64_t><<<blocks, threads, 0, stream>>>(dst.as<uint64_t>(), src.as<uint64_t>(), s, n); break;
            default: ENGINE_THROW(kInvalidArgument, "copy: unsupported element size");
        }
        CUDA_CHECK_LAUNCH();
        return;
    }
    ENGINE_CHECK(is_float16ish(src.dtype) && is_float16ish(dst.dtype), kInvalidArgument, "copy: cannot convert ",
                 engine::dtype_name(src.dtype), " to ", engine::dtype_name(dst.dtype));
    dispatch_float(src.dtype, "copy", [&](auto tag_Tin) {
        using Tin = typename decltype(tag_Tin)::type;
        dispatch_float(dst.dtype, "copy", [&](auto tag_Tout) {
        using Tout = typename decltype(tag_Tout)::type;
            copy_convert_kernel<Tin, Tout><<<blocks, threads, 0, stream>>>(dst.as<Tout>(), src.as<Tin>(), s, n);
        });
    });
    CUDA_CHECK_LAUNCH();
}

CudaBackend::CudaBackend(int device) : device_(device) {
    int count = 0;
    CUDA_CHECK(cudaGetDeviceCount(&count));
    ENGINE_CHECK(device >= 0 && device < count, kInvalidArgument, "GPU ", device, " does not exist (", count,
                 " CUDA devices found)");
    CUDA_CHECK(cudaSetDevice(device));
    cudaDeviceProp prop{};
    CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    ENGINE_CHECK(prop.major >= 8, kUnsupported, prop.name, " has compute capability ", prop.major, ".", prop.minor,
                 "; the CUDA backend needs 8.0 or newer (Ampere, Ada, Hopper). Use the CPU backend.");
    name_ = std::string(prop.name);
    sm_count_ = prop.multiProcessorCount;  // sizes split-KV grids (attention_decode.cu)
    const char* attn = std::getenv("LATENT_CUDA_ATTENTION");
    attention_reference_ = attn != nullptr && std::string(attn) == "reference";
    attention_tf32_ = attn != nullptr && std::string(attn) == "tf32";
    CUDA_CHECK(cudaDeviceGetAttribute(&shared_optin_, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    flash_attention_tc_setup(shared_optin_);  // the tensor-core kernels may use all of it
    flash_attention_backward_tc_setup(shared_optin_);
    graphs_enabled_ = graphs_enabled_by_env();
    moe_loop_ = moe_loop_by_env();
    gemv_enabled_ = gemv_by_env();
    gemv_setup();
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    CUBLAS_CHECK(cublasCreate(&cublas_));
    CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
    CUBLAS_CHECK(cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH));
    // Our own cuBLAS workspace (32 MiB, NVIDIA's recommendation for Hopper): without one, cuBLAS
    // allocates workspace inside a stream capture, once per captured graph (PyTorch issue 83461), and the
    // decode step is captured every token (step_graph.cu).
    CUDA_CHECK(cudaMalloc(&cublas_workspace_, kCublasWorkspaceBytes));
    CUBLAS_CHECK(cublasSetWorkspace(cublas_, cublas_workspace_, kCublasWorkspaceBytes));
}

CudaBackend::~CudaBackend() {
    // Teardown must not throw; errors here are ignored (a sticky error is reported by the last op).
    if (capturing_) abort_capture();
    destroy_graphs();
    expert_tables_.clear();  // their tensors free on stream_, so before it goes
    if (workspace_) cudaFree(workspace_);
    if (cublas_) cublasDestroy(cublas_);
    if (cublas_workspace_) cudaFree(cublas_workspace_);
    if (stream_) cudaStreamDestroy(stream_);
}

engine::DeviceMemoryInfo CudaBackend::memory_info() const {
    size_t free_b = 0, total_b = 0;
    CUDA_CHECK(cudaSetDevice(device_));
    CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    return {int64_t(free_b), int64_t(total_b)};
}

Tensor CudaBackend::alloc(DType dtype, const int64_t* shape, int ndim) {
    refuse_while_capturing("allocating device memory");
    TensorView v = TensorView::contiguous(nullptr, dtype, shape, ndim, engine::Device::CUDA);
    size_t bytes = std::max<size_t>(v.nbytes(), 1);
    void* p = nullptr;
    cudaError_t err = cudaMallocAsync(&p, bytes, stream_);
    if (err == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        ENGINE_THROW(kOutOfMemory, "GPU out of memory: a tensor ", v.shape_str(), " needs ", bytes / 1048576.0,
                     " MiB, ", free_b / 1048576.0, " MiB of ", total_b / 1048576.0,
                     " MiB are free. Load a smaller model, use a shorter context, or use the CPU backend.");
    }
    CUDA_CHECK(err);
    CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream_));
    v.data = p;
    cudaStream_t s = stream_;
    return Tensor(v, [s](void* q) { cudaFreeAsync(q, s); });
}

Tensor CudaBackend::upload_weight(const TensorView& host) {
    ENGINE_CHECK(host.device == engine::Device::CPU, kInvalidArgument, "upload_weight: the source must be on the host");
    Tensor t = alloc(host.dtype, host.shape.data(), host.ndim);
    copy(t.view(), host);
    synchronize();  // the host buffer (e.g. an mmapped file) may go away after this call
    return t;
}

void* CudaBackend::workspace(size_t bytes) {
    if (bytes > workspace_bytes_) {
        refuse_while_capturing("growing the workspace");
        if (workspace_) CUDA_CHECK(cudaFreeAsync(workspace_, stream_));
        workspace_ = nullptr;
        workspace_bytes_ = 0;
        CUDA_CHECK(cudaMallocAsync(&workspace_, bytes, stream_));
        workspace_bytes_ = bytes;
    }
    return workspace_;
}

void CudaBackend::copy(const TensorView& dst, const TensorView& src) {
    check_same_shape(dst, src, "copy");
    if (src.numel() == 0) return;
    const bool src_dev = src.device == engine::Device::CUDA, dst_dev = dst.device == engine::Device::CUDA;
    if (src_dev && dst_dev) {
        if (src.is_contiguous() && dst.is_contiguous() && src.dtype == dst.dtype)  // the copy engine's rate
            CUDA_CHECK(cudaMemcpyAsync(dst.data, src.data, src.nbytes(), cudaMemcpyDeviceToDevice, stream_));
        else
            device_copy(stream_, dst, src);
        return;
    }
    if (!src_dev && !dst_dev) ENGINE_THROW(kInvalidArgument, "copy: both sides are on the host; use the CPU backend");
    refuse_while_capturing("a copy to or from the host");
    if (!src_dev) {  // host -> device: pack on the host, upload into the workspace, convert/scatter on the device
        std::vector<char> packed = src.is_contiguous() ? std::vector<char>() : pack_host(src);
        const void* bytes = src.is_contiguous() ? src.data : packed.data();
        if (dst.is_contiguous() && dst.dtype == src.dtype) {
            CUDA_CHECK(cudaMemcpyAsync(dst.data, bytes, src.nbytes(), cudaMemcpyHostToDevice, stream_));
            CUDA_CHECK(cudaStreamSynchronize(stream_));
            return;
        }
        void* staging = workspace(src.nbytes());
        CUDA_CHECK(cudaMemcpyAsync(staging, bytes, src.nbytes(), cudaMemcpyHostToDevice, stream_));
        TensorView st = TensorView::contiguous(staging, src.dtype, src.shape.data(), src.ndim, engine::Device::CUDA);
        device_copy(stream_, dst, st);
        CUDA_CHECK(cudaStreamSynchronize(stream_));
        return;
    }
    // device -> host: convert/gather into a contiguous staging buffer of dst's dtype, then download.
    TensorView st = TensorView::contiguous(nullptr, dst.dtype, dst.shape.data(), dst.ndim, engine::Device::CUDA);
    if (src.is_contiguous() && src.dtype == dst.dtype) {
        st.data = src.data;
    } else {
        st.data = workspace(st.nbytes());
        device_copy(stream_, st, src);
    }
    if (dst.is_contiguous()) {
        CUDA_CHECK(cudaMemcpyAsync(dst.data, st.data, st.nbytes(), cudaMemcpyDeviceToHost, stream_));
        CUDA_CHECK(cudaStreamSynchronize(stream_));
    } else {
        std::vector<char> packed(st.nbytes());
        CUDA_CHECK(cudaMemcpyAsync(packed.data(), st.data, st.nbytes(), cudaMemcpyDeviceToHost, stream_));
        CUDA_CHECK(cudaStreamSynchronize(stream_));
        unpack_host(dst, packed.data());
    }
}

void CudaBackend::fill(const TensorView& dst, float value) {
    check_f32(dst, "fill", "dst");
    check_rows(dst, "fill", "dst");
    const int64_t n = dst.numel();
    if (n == 0) return;
    fill_kernel<<<ceil_div(n, 256), 256, 0, stream_>>>(dst.as<float>(), dst.rows(), dst.cols(), dst.row_stride(), value);
    CUDA_CHECK_LAUNCH();
}

void CudaBackend::synchronize() { CUDA_CHECK(cudaStreamSynchronize(stream_)); }

}  // namespace cuda_backend

extern "C" engine::Backend* latent_create_cuda_backend(int device, char* error, unsigned long error_size) {
    try {
        return new cuda_backend::CudaBackend(device);
    } catch (const engine::Error& e) {
        if (error && error_size) std::snprintf(error, error_size, "%s", e.message().c_str());
    } catch (const std::exception& e) {
        if (error && error_size) std::snprintf(error, error_size, "%s", e.what());
    }
    return nullptr;
}
