// workspace_buf.cpp — Buf and IdxBuf (train_model_impl.h): the training workspace's buffers on the
// model's backend.
#include "engine/error.h"
#include "train/train_model_impl.h"

namespace engine::train {

Buf& Buf::operator=(const Buf& o) {
    if (this == &o) return *this;
    if (o.n_ == 0) {
        clear();
        return *this;
    }
    ensure(*o.be_, o.n_);
    be_->copy(TensorView::contiguous(data(), DType::F32, {n_}, be_->device()),
              TensorView::contiguous(o.data(), DType::F32, {o.n_}, o.be_->device()));
    return *this;
}

void Buf::ensure(Backend& be, int64_t n) {
    ENGINE_CHECK(n >= 0, kInternal, "workspace buffer of ", n, " floats");
    if (n == n_ && &be == be_) return;
    be_ = &be;
    n_ = n;
    t_ = n > 0 ? be.alloc(DType::F32, {n}) : Tensor();
}

void Buf::zeros(Backend& be, int64_t n) {
    const bool fresh = n != n_ || &be != be_;
    ensure(be, n);
    if (!fresh && n > 0) be.fill(t_.view(), 0.0f);  // alloc() already zero-fills a new buffer
}

std::vector<float> Buf::to_host() const {
    std::vector<float> out(static_cast<size_t>(n_));
    if (n_ > 0) be_->copy(TensorView::contiguous(out.data(), DType::F32, {n_}), t_.view());
    return out;
}

void Buf::from_host(Backend& be, const float* p, int64_t n) {
    ensure(be, n);
    if (n > 0) be.copy(t_.view(), TensorView::contiguous(const_cast<float*>(p), DType::F32, {n}));
}

void IdxBuf::upload(Backend& be, const std::vector<int32_t>& host) {
    const int64_t m = int64_t(host.size());
    resize(be, m);
    if (m > 0) be.copy(view(0, m), TensorView::contiguous(const_cast<int32_t*>(host.data()), DType::I32, {m}));
}

void IdxBuf::resize(Backend& be, int64_t m) {
    if (m != n || t.empty()) {
        n = m;
        t = be.alloc(DType::I32, {std::max<int64_t>(m, 1)});
    }
}

TensorView IdxBuf::view(int64_t offset, int64_t count) const {
    ENGINE_CHECK(offset >= 0 && offset + count <= n, kInternal, "index buffer of ", n, ": [", offset, ", +", count, ")");
    return TensorView::contiguous(static_cast<int32_t*>(t.data()) + offset, DType::I32, {count}, t.view().device);
}

}  // namespace engine::train
