// tensor.h — non-owning tensor views and owning tensors.
//
// Layout convention (everywhere in the engine): row-major, the LAST dimension is contiguous.
// shape = {rows, cols} for a matrix; a PyTorch Linear weight is stored [out, in] and a matmul
// computes y[M, N] = x[M, K] · W[N, K]ᵀ. Strides are in elements, not bytes.
// A TensorView never owns memory (gemma.cpp's MatPtr); a Tensor owns it through its allocator.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>

#include "engine/dtype.h"

namespace engine {

enum class Device : uint8_t { CPU, CUDA };

constexpr int kMaxDims = 4;

struct TensorView {
    void* data = nullptr;
    DType dtype = DType::F32;
    Device device = Device::CPU;
    int ndim = 0;
    std::array<int64_t, kMaxDims> shape{};   // e.g. {T, H, d_qk}
    std::array<int64_t, kMaxDims> stride{};  // elements; stride[ndim-1] == 1 when contiguous

    // A contiguous view of `data` with the given shape.
    static TensorView contiguous(void* data, DType dtype, std::initializer_list<int64_t> shape,
                                 Device device = Device::CPU);
    static TensorView contiguous(void* data, DType dtype, const int64_t* shape, int ndim,
                                 Device device = Device::CPU);

    int64_t numel() const;
    size_t nbytes() const { return size_t(numel()) * dtype_size(dtype); }
    bool is_contiguous() const;
    int64_t dim(int i) const { return shape[i < 0 ? ndim + i : i]; }
    // Rows/cols of the view seen as a matrix: cols = last dim, rows = product of the others.
    int64_t cols() const { return ndim == 0 ? 1 : shape[ndim - 1]; }
    int64_t rows() const { return ndim == 0 ? 1 : numel() / cols(); }
    // Stride between consecutive rows (valid when all but the last dim are collapsible).
    int64_t row_stride() const { return ndim <= 1 ? cols() : stride[ndim - 2]; }

    template <typename T> T* as() const { return static_cast<T*>(data); }

    // Sub-views (no copy).
    TensorView slice_rows(int64_t begin, int64_t end) const;        // along dim 0
    TensorView slice_last(int64_t begin, int64_t end) const;        // along the last dim
    TensorView reshape(std::initializer_list<int64_t> shape) const; // requires contiguity
    // The same storage from `elem_offset` elements in, with explicit shape and strides (elements; no
    // bounds check: the caller knows the layout it describes).
    TensorView strided(int64_t elem_offset, std::initializer_list<int64_t> shape,
                       std::initializer_list<int64_t> strides) const;
    std::string shape_str() const;  // "[2, 16, 192]"
};

// An owning tensor. The deleter knows which device/allocator the memory came from.
class Tensor {
public:
    Tensor() = default;
    Tensor(TensorView view, std::function<void(void*)> deleter);
    Tensor(Tensor&&) noexcept = default;
    Tensor& operator=(Tensor&&) noexcept = default;
    Tensor(const Tensor&) = delete;
    Tensor& operator=(const Tensor&) = delete;

    // Host tensor, zero-filled, 64-byte aligned.
    static Tensor cpu(DType dtype, std::initializer_list<int64_t> shape);
    static Tensor cpu(DType dtype, const int64_t* shape, int ndim);

    const TensorView& view() const { return view_; }
    operator const TensorView&() const { return view_; }
    void* data() const { return view_.data; }
    template <typename T> T* as() const { return view_.as<T>(); }
    bool empty() const { return view_.data == nullptr; }

private:
    TensorView view_;
    std::unique_ptr<void, std::function<void(void*)>> owner_;
};

}  // namespace engine
