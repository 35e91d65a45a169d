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
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
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
    std::vector<std::array<float, 32 * 10>> mma;  // per warp: every lane's A, B and C of an mma (mma_tf32_16x8x8)
    std::vector<float> dynamic;                   // the launch's dynamic shared memory (poisoned with NaN)
};

// Dynamic shared memory a kernel may use: 48 KB, or what cudaFuncSetAttribute allowed it (per kernel).
constexpr size_t kDefaultDynamicShared = 48 * 1024, kOptinShared = 232448;  // an H100's opt-in maximum
inline std::mutex g_attr_mutex;
inline std::map<const void*, size_t> g_max_dynamic_shared;
inline size_t max_dynamic_shared(const void* kernel) {
    std::lock_guard<std::mutex> lock(g_attr_mutex);
    const auto it = g_max_dynamic_shared.find(kernel);
    return it == g_max_dynamic_shared.end() ? kDefaultDynamicShared : it->second;
}
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
void launch_now(K kernel, dim3 grid, dim3 block, size_t shared, A... args);

template <class K>
void check_launch(K kernel, dim3 grid, dim3 block, size_t shared) {
    const unsigned n = block.x * block.y * block.z;
    if (n == 0 || n > 1024 || grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 || grid.z > 65535)
        throw std::runtime_error("emu: invalid launch configuration");
    if (shared > max_dynamic_shared(reinterpret_cast<const void*>(kernel)))
        throw std::runtime_error("emu: " + std::to_string(shared) + " bytes of dynamic shared memory without "
                                 "cudaFuncAttributeMaxDynamicSharedMemorySize allowing them");
}

// kernel<<<grid, block, shared, stream>>>(args...) (rewrite_launches.py passes shared = 0 when omitted).
template <class K, class... A>
void launch(K kernel, dim3 grid, dim3 block, size_t shared, A... args) {
    check_launch(kernel, grid, block, shared);
    if (t_capture) {
        t_capture->ops.push_back([=] { launch_now(kernel, grid, block, shared, args...); });
        return;
    }
    launch_now(kernel, grid, block, shared, args...);
}

template <class K, class... A>
void launch_now(K kernel, dim3 grid, dim3 block, size_t shared, A... args) {
    check_launch(kernel, grid, block, shared);
    const unsigned n = block.x * block.y * block.z;
    Block b;
    b.bar = std::make_unique<std::barrier<>>(n);
    for (unsigned w = 0; w < (n + 31) / 32; ++w) b.warp_bar.push_back(std::make_unique<std::barrier<>>(std::min(32u, n - 32 * w)));
    b.buf.resize((n + 31) / 32);
    b.mma.resize((n + 31) / 32);
    b.dynamic.assign((shared + 3) / 4, NAN);
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
namespace emu {
inline void* dynamic_shared() { return t_block->dynamic.data(); }
}  // namespace emu
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

namespace emu {
// cvt.rna.tf32.f32: round to nearest, ties away from zero, to 10 mantissa bits (kept as a float).
inline float float_to_tf32(float f) {
    unsigned u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;  // finite: round, keep 10 bits
    std::memcpy(&f, &u, 4);
    return f;
}

// mma.sync.m16n8k8 TF32 (kernels/mma_tf32.cuh), with the PTX ISA's fragment layout: every lane publishes
// its A (4), B (2) and C (4) values, then computes its own 4 outputs from the whole warp's, the products
// exact (TF32 × TF32 fits a float) and summed in fp32 in k order.
inline void mma_tf32_16x8x8(float (&d)[4], const float (&a)[4], const float (&b)[2]) {
    const unsigned lane = threadIdx.x & 31, w = threadIdx.x / 32;
    float* x = t_block->mma[w].data();  // lane l: [a0..a3, b0, b1, c0..c3] at 10·l
    for (int i = 0; i < 4; ++i) x[10 * lane + i] = a[i], x[10 * lane + 6 + i] = d[i];
    x[10 * lane + 4] = b[0], x[10 * lane + 5] = b[1];
    t_block->warp_bar[w]->arrive_and_wait();
    auto A = [&](unsigned r, unsigned k) { return x[10 * (4 * (r % 8) + k % 4) + (r >= 8) + 2 * (k >= 4)]; };
    auto B = [&](unsigned k, unsigned n) { return x[10 * (4 * n + k % 4) + 4 + (k >= 4)]; };
    const unsigned g = lane / 4, t = lane % 4;
    float out[4];
    for (unsigned i = 0; i < 4; ++i) {
        const unsigned r = g + 8 * (i / 2), c = 2 * t + i % 2;
        float acc = d[i];
        for (unsigned k = 0; k < 8; ++k) acc += A(r, k) * B(k, c);
        out[i] = acc;
    }
    t_block->warp_bar[w]->arrive_and_wait();
    for (int i = 0; i < 4; ++i) d[i] = out[i];
}
}  // namespace emu

// Vector type and bit casts the GEMV kernels use (moe_decode.cu).
struct alignas(16) uint4 { unsigned x, y, z, w; };
struct alignas(8) uint2 { unsigned x, y; };
struct alignas(16) float4 { float x, y, z, w; };
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
    cudaErrorStreamCaptureInvalidated = 901, cudaErrorIllegalState = 401, cudaErrorInvalidValue = 1
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
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount = 16, cudaDevAttrMaxSharedMemoryPerBlockOptin = 97 };
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int) {  // an H100 SXM's
    *v = a == cudaDevAttrMaxSharedMemoryPerBlockOptin ? int(emu::kOptinShared) : 132;
    return cudaSuccess;
}
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
template <class K>
inline cudaError_t cudaFuncSetAttribute(K kernel, cudaFuncAttribute, int bytes) {
    if (bytes < 0 || size_t(bytes) > emu::kOptinShared) return cudaErrorInvalidValue;
    std::lock_guard<std::mutex> lock(emu::g_attr_mutex);
    emu::g_max_dynamic_shared[reinterpret_cast<const void*>(kernel)] = size_t(bytes);
    return cudaSuccess;
}
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
