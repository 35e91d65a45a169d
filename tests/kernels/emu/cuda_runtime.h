// cuda_runtime.h (emulated) — the part of the CUDA runtime and device language that kernels/*.cu use,
// on the CPU, so that the real kernels and launchers can run without a GPU (run_emulated.sh).
//
// What it is: each launch runs its blocks one after the other; a block's threads are real std::threads
// (one per CUDA thread) that meet at a std::barrier for __syncthreads and at a per-warp barrier for
// __shfl_xor_sync; __shared__ is a function-local static (one block at a time, so it is per block);
// device memory is host memory (256-byte aligned like cudaMalloc's, poisoned with NaN like uninitialised
// memory should be treated).
// What it checks: indexing, grid/block shapes, reductions, the launchers' validation, workspace layout and
// the cuBLAS argument mapping (column-major reference GEMM that rejects bad leading dimensions).
// What it does not: the memory model, races, warp divergence with partial masks (only full-warp shuffles
// are emulated), __syncthreads reached by only part of a block, device limits, speed. Not a substitute
// for the GPU run (tests/kernels on a GPU + compute-sanitizer).
#pragma once
#include <algorithm>
#include <array>
#include <atomic>
#include <barrier>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};

namespace emu {
struct Block {
    std::unique_ptr<std::barrier<>> bar;
    std::vector<std::unique_ptr<std::barrier<>>> warp_bar;
    std::vector<std::array<unsigned long long, 32>> buf;
};
inline thread_local dim3 t_threadIdx, t_blockIdx, t_blockDim, t_gridDim;
inline thread_local Block* t_block = nullptr;

// Stream capture (CUDA Graphs): while a capture runs on this thread, launches, device-to-device copies,
// memsets and GEMMs are recorded as closures instead of run; a graph launch runs them in order. What a
// real capture refuses (host copies, synchronisation, allocation) returns an error and invalidates it.
struct Recording {
    std::vector<std::function<void()>> ops;
    bool invalid = false;
};
inline thread_local Recording* t_capture = nullptr;

template <class K, class... A>
void launch_now(K kernel, dim3 grid, dim3 block, A... args);

template <class K, class... A>
void launch(K kernel, dim3 grid, dim3 block, A... args) {
    if (t_capture) {
        const unsigned n = block.x * block.y * block.z;
        if (n == 0 || n > 1024 || grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 || grid.z > 65535)
            throw std::runtime_error("emu: invalid launch configuration");
        t_capture->ops.push_back([=] { launch_now(kernel, grid, block, args...); });
        return;
    }
    launch_now(kernel, grid, block, args...);
}

template <class K, class... A>
void launch_now(K kernel, dim3 grid, dim3 block, A... args) {
    const unsigned n = block.x * block.y * block.z;
    if (n == 0 || n > 1024 || grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 || grid.z > 65535)
        throw std::runtime_error("emu: invalid launch configuration");
    Block b;
    b.bar = std::make_unique<std::barrier<>>(n);
    for (unsigned w = 0; w < (n + 31) / 32; ++w) b.warp_bar.push_back(std::make_unique<std::barrier<>>(std::min(32u, n - 32 * w)));
    b.buf.resize((n + 31) / 32);
    std::vector<std::thread> th;
    for (unsigned tid = 0; tid < n; ++tid)
        th.emplace_back([&, tid] {
            t_threadIdx = dim3(tid % block.x, (tid / block.x) % block.y, tid / (block.x * block.y));
            t_blockDim = block;
            t_gridDim = grid;
            t_block = &b;
            for (unsigned z = 0; z < grid.z; ++z)
                for (unsigned y = 0; y < grid.y; ++y)
                    for (unsigned x = 0; x < grid.x; ++x) {
                        t_blockIdx = dim3(x, y, z);
                        kernel(args...);
                        b.bar->arrive_and_wait();  // end of block
                    }
        });
    for (auto& t : th) t.join();
}
}  // namespace emu

#define threadIdx ::emu::t_threadIdx
#define blockIdx ::emu::t_blockIdx
#define blockDim ::emu::t_blockDim
#define gridDim ::emu::t_gridDim

inline void __syncthreads() { emu::t_block->bar->arrive_and_wait(); }
inline void __syncwarp(unsigned = 0xffffffffu) { emu::t_block->warp_bar[threadIdx.x / 32]->arrive_and_wait(); }

template <class T>
inline T __shfl_xor_sync(unsigned, T v, int off) {
    static_assert(sizeof(T) <= 8);
    const unsigned lane = threadIdx.x & 31, w = threadIdx.x / 32;
    auto& buf = emu::t_block->buf[w];
    std::memcpy(&buf[lane], &v, sizeof(T));
    emu::t_block->warp_bar[w]->arrive_and_wait();
    T r;
    std::memcpy(&r, &buf[lane ^ unsigned(off)], sizeof(T));
    emu::t_block->warp_bar[w]->arrive_and_wait();
    return r;
}

// Vector type and bit casts the GEMV kernels use (moe_decode.cu).
struct alignas(16) uint4 { unsigned x, y, z, w; };
struct alignas(8) uint2 { unsigned x, y; };
inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
inline unsigned __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }

template <class T> inline T min(T a, T b) { return a < b ? a : b; }
template <class T> inline T max(T a, T b) { return a < b ? b : a; }

inline float atomicAdd(float* p, float v) { return std::atomic_ref<float>(*p).fetch_add(v); }
inline int atomicAdd(int* p, int v) { return std::atomic_ref<int>(*p).fetch_add(v); }
inline int atomicMin(int* p, int v) {
    std::atomic_ref<int> a(*p);
    int cur = a.load();
    while (v < cur && !a.compare_exchange_weak(cur, v)) {}
    return cur;
}
inline int atomicMax(int* p, int v) {
    std::atomic_ref<int> a(*p);
    int cur = a.load();
    while (v > cur && !a.compare_exchange_weak(cur, v)) {}
    return cur;
}

// ---- runtime API stubs ----
enum cudaError_t {
    cudaSuccess = 0, cudaErrorMemoryAllocation = 2, cudaErrorStreamCaptureUnsupported = 900,
    cudaErrorStreamCaptureInvalidated = 901, cudaErrorIllegalState = 401
};
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
using cudaStream_t = void*;
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline const char* cudaGetErrorName(cudaError_t) { return "emu"; }
inline const char* cudaGetErrorString(cudaError_t) { return "emu"; }
namespace emu {
inline cudaError_t refuse_in_capture() {  // what a real capture refuses invalidates it
    t_capture->invalid = true;
    return cudaErrorStreamCaptureUnsupported;
}
}  // namespace emu
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind k, cudaStream_t = nullptr) {
    if (emu::t_capture) {
        if (k != cudaMemcpyDeviceToDevice) return emu::refuse_in_capture();
        emu::t_capture->ops.push_back([=] { std::memcpy(d, s, n); });
        return cudaSuccess;
    }
    std::memcpy(d, s, n);
    return cudaSuccess;
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return emu::t_capture ? emu::refuse_in_capture() : cudaSuccess; }

inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
enum { cudaStreamNonBlocking = 1 };
struct cudaDeviceProp { char name[256]; int major, minor, multiProcessorCount; };
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount = 16 };
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr, int) { *v = 132; return cudaSuccess; }  // an H100 SXM's SMs
inline cudaError_t cudaGetDeviceCount(int* n) { *n = 1; return cudaSuccess; }
inline cudaError_t cudaSetDevice(int) { return cudaSuccess; }
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) { std::strcpy(p->name, "emulated H100"); p->major = 9; p->minor = 0; p->multiProcessorCount = 132; return cudaSuccess; }
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) { static int dummy; *s = &dummy; return cudaSuccess; }
inline cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaMallocAsync(void** p, size_t n, cudaStream_t) {
    if (emu::t_capture) return emu::refuse_in_capture();
    // poison: NaN floats, so reads of never-written memory show up (alloc() memsets to 0 afterwards itself)
    *p = std::aligned_alloc(256, (n + 255) / 256 * 256 + 256);  // 256-byte aligned, as cudaMalloc's
    if (!*p) return cudaErrorMemoryAllocation;
    for (size_t i = 0; i + 4 <= n; i += 4) { float nan = NAN; std::memcpy(static_cast<char*>(*p) + i, &nan, 4); }
    return cudaSuccess;
}
inline cudaError_t cudaFreeAsync(void* p, cudaStream_t) {
    if (emu::t_capture) return emu::refuse_in_capture();
    std::free(p);
    return cudaSuccess;
}
inline cudaError_t cudaFree(void* p) { return cudaFreeAsync(p, nullptr); }
inline cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t) {
    if (emu::t_capture) {
        emu::t_capture->ops.push_back([=] { std::memset(p, v, n); });
        return cudaSuccess;
    }
    std::memset(p, v, n);
    return cudaSuccess;
}
// Graphs: a graph and an executable graph are both a recording; an update copies the ops over.
enum cudaStreamCaptureMode { cudaStreamCaptureModeGlobal, cudaStreamCaptureModeThreadLocal, cudaStreamCaptureModeRelaxed };
using cudaGraph_t = emu::Recording*;
using cudaGraphExec_t = emu::Recording*;
struct cudaGraphExecUpdateResultInfo { int result; };
inline cudaError_t cudaStreamBeginCapture(cudaStream_t, cudaStreamCaptureMode) {
    if (emu::t_capture) return cudaErrorIllegalState;
    emu::t_capture = new emu::Recording;
    return cudaSuccess;
}
inline cudaError_t cudaStreamEndCapture(cudaStream_t, cudaGraph_t* g) {
    if (!emu::t_capture) return cudaErrorIllegalState;
    emu::Recording* r = emu::t_capture;
    emu::t_capture = nullptr;
    if (r->invalid) {
        delete r;
        *g = nullptr;
        return cudaErrorStreamCaptureInvalidated;
    }
    *g = r;
    return cudaSuccess;
}
inline cudaError_t cudaGraphInstantiate(cudaGraphExec_t* e, cudaGraph_t g, unsigned long long = 0) {
    *e = new emu::Recording(*g);
    return cudaSuccess;
}
inline cudaError_t cudaGraphExecUpdate(cudaGraphExec_t e, cudaGraph_t g, cudaGraphExecUpdateResultInfo*) {
    e->ops = g->ops;
    return cudaSuccess;
}
inline cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t) {
    if (emu::t_capture) return emu::refuse_in_capture();
    for (auto& op : e->ops) op();
    return cudaSuccess;
}
inline cudaError_t cudaGraphDestroy(cudaGraph_t g) { delete g; return cudaSuccess; }
inline cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) { delete e; return cudaSuccess; }
inline cudaError_t cudaMemGetInfo(size_t* f, size_t* t) { *f = size_t(8) << 30; *t = size_t(16) << 30; return cudaSuccess; }
// For bench/cuda_attention_bench.cu under the emulator (synchronous copies, events that time nothing).
template <class T> inline cudaError_t cudaMalloc(T** p, size_t n) { return cudaMallocAsync(reinterpret_cast<void**>(p), n, nullptr); }
inline cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind k) { return cudaMemcpyAsync(d, s, n, k, nullptr); }
inline cudaError_t cudaGetDevice(int* d) { *d = 0; return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
using cudaEvent_t = int*;
inline cudaError_t cudaEventCreate(cudaEvent_t* e) { *e = nullptr; return cudaSuccess; }
inline cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t = nullptr) { return cudaSuccess; }
inline cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
inline cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t, cudaEvent_t) { *ms = 1.0f; return cudaSuccess; }
inline cudaError_t cudaEventDestroy(cudaEvent_t) { return cudaSuccess; }
