// tensor.cpp — TensorView helpers and host-owned Tensors.
#include "engine/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <sstream>

#include "engine/error.h"

namespace engine {

TensorView TensorView::contiguous(void* data, DType dtype, const int64_t* shape, int ndim, Device device) {
    ENGINE_CHECK(ndim >= 0 && ndim <= kMaxDims, kInvalidArgument, "tensor rank ", ndim, " is not in [0, 4]");
    TensorView v;
    v.data = data;
    v.dtype = dtype;
    v.device = device;
    v.ndim = ndim;
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; --i) {
        ENGINE_CHECK(shape[i] >= 0, kInvalidArgument, "negative dimension ", shape[i]);
        v.shape[i] = shape[i];
        v.stride[i] = s;
        s *= shape[i];
    }
    return v;
}

TensorView TensorView::contiguous(void* data, DType dtype, std::initializer_list<int64_t> shape, Device device) {
    return contiguous(data, dtype, shape.begin(), int(shape.size()), device);
}

int64_t TensorView::numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return n;
}

bool TensorView::is_contiguous() const {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; --i) {
        if (shape[i] != 1 && stride[i] != s) return false;
        s *= shape[i];
    }
    return true;
}

TensorView TensorView::slice_rows(int64_t begin, int64_t end) const {
    ENGINE_CHECK(ndim >= 1 && 0 <= begin && begin <= end && end <= shape[0], kInvalidArgument,
                 "slice_rows [", begin, ", ", end, ") out of range for ", shape_str());
    TensorView v = *this;
    v.data = static_cast<char*>(data) + size_t(begin * stride[0]) * dtype_size(dtype);
    v.shape[0] = end - begin;
    return v;
}

TensorView TensorView::slice_last(int64_t begin, int64_t end) const {
    ENGINE_CHECK(ndim >= 1 && 0 <= begin && begin <= end && end <= shape[ndim - 1], kInvalidArgument,
                 "slice_last [", begin, ", ", end, ") out of range for ", shape_str());
    TensorView v = *this;
    v.data = static_cast<char*>(data) + size_t(begin * stride[ndim - 1]) * dtype_size(dtype);
    v.shape[ndim - 1] = end - begin;
    return v;
}

TensorView TensorView::strided(int64_t elem_offset, std::initializer_list<int64_t> new_shape,
                               std::initializer_list<int64_t> new_strides) const {
    ENGINE_CHECK(new_shape.size() == new_strides.size() && new_shape.size() <= size_t(kMaxDims), kInvalidArgument,
                 "strided view: ", new_shape.size(), " dims with ", new_strides.size(), " strides (at most ", kMaxDims,
                 ")");
    TensorView v = *this;
    v.data = static_cast<char*>(data) + size_t(elem_offset) * dtype_size(dtype);
    v.ndim = int(new_shape.size());
    std::copy(new_shape.begin(), new_shape.end(), v.shape.begin());
    std::copy(new_strides.begin(), new_strides.end(), v.stride.begin());
    return v;
}

TensorView TensorView::reshape(std::initializer_list<int64_t> new_shape) const {
    ENGINE_CHECK(is_contiguous(), kInvalidArgument, "reshape of a non-contiguous view ", shape_str());
    TensorView v = contiguous(data, dtype, new_shape, device);
    ENGINE_CHECK(v.numel() == numel(), kInvalidArgument, "reshape ", shape_str(), " -> ", v.shape_str(),
                 " changes the element count");
    return v;
}

std::string TensorView::shape_str() const {
    std::ostringstream s;
    s << '[';
    for (int i = 0; i < ndim; ++i) s << (i ? ", " : "") << shape[i];
    s << ']';
    return s.str();
}

Tensor::Tensor(TensorView view, std::function<void(void*)> deleter)
    : view_(view), owner_(view.data, std::move(deleter)) {}

Tensor Tensor::cpu(DType dtype, const int64_t* shape, int ndim) {
    TensorView v = TensorView::contiguous(nullptr, dtype, shape, ndim);
    size_t bytes = v.nbytes();
    size_t alloc = (bytes + 63) / 64 * 64;
    if (alloc == 0) alloc = 64;
    void* p = std::aligned_alloc(64, alloc);
    if (p == nullptr)
        ENGINE_THROW(kOutOfMemory, "could not allocate ", bytes, " bytes of host memory for a tensor ",
                     v.shape_str());
    std::memset(p, 0, alloc);
    v.data = p;
    return Tensor(v, [](void* q) { std::free(q); });
}

Tensor Tensor::cpu(DType dtype, std::initializer_list<int64_t> shape) {
    return cpu(dtype, shape.begin(), int(shape.size()));
}

}  // namespace engine
