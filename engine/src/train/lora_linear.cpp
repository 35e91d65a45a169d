// lora_linear.cpp — Linear forward/backward with an optional LoRA adapter (see lora_linear.h).
#include "train/lora_linear.h"

#include <random>

#include "engine/error.h"

namespace engine::train {

namespace {

// splitmix64 finaliser: decorrelates (seed, call, adapter) into one RNG seed.
uint64_t mix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

}  // namespace

void linear_forward(Ctx& c, const P& p, const TensorView& y, const TensorView& x) {
    c.be.matmul(y, x, p.w);
    Lora* l = p.lora;
    if (!l) return;
    ENGINE_CHECK(x.ndim == 2 && x.is_contiguous() && y.ndim == 2, kInternal, "LoRA linear: x ", x.shape_str(),
                 " / y ", y.shape_str(), " must be contiguous 2-D");
    const int64_t n = x.shape[0], in = x.shape[1], r = l->r;
    l->n = n;
    sized(c, l->xd, n * in);  // [n, in]
    c.be.copy(tv(l->xd, {n, in}), x);
    l->masked = false;
    if (c.im.training && l->dropout > 0) {
        // The mask is drawn on the host (one seeded stream, the same on every backend, so a run gives the
        // same weights on the CPU and the GPU and resumes bit-exactly), uploaded, and applied with mul.
        std::mt19937_64 rng(mix(mix(c.im.lora_seed ^ mix(c.im.dropout_calls)) ^ mix(l->id + 1)));
        std::bernoulli_distribution keep(1.0 - double(l->dropout));
        const float inv = 1.0f / (1.0f - l->dropout);
        l->host_keep.resize(size_t(n * in));
        for (int64_t i = 0; i < n * in; ++i) l->host_keep[size_t(i)] = keep(rng) ? inv : 0.0f;
        l->keep.from_host(c.be, l->host_keep.data(), n * in);
        c.be.mul(tv(l->xd, {n, in}), tv(l->xd, {n, in}), tv(l->keep, {n, in}));
        l->masked = true;
    }
    sized(c, l->xs, n * r);  // overwritten by the matmul
    c.be.matmul(tv(l->xs, {n, r}), tv(l->xd, {n, in}), l->A.w);     // [n, r] = xd·Aᵀ
    c.be.scale(tv(l->xs, {n, r}), l->scale);
    c.be.matmul(y, tv(l->xs, {n, r}), l->B.w, true, /*accumulate=*/true);  // y += xs·Bᵀ
}

void linear_weight_grad(Ctx& c, const P& p, const TensorView& dy, const TensorView& x) {
    if (p.g.data) c.be.matmul_weight_grad(p.g, dy, x);
    Lora* l = p.lora;
    if (!l) return;
    const int64_t n = l->n, in = x.shape[x.ndim - 1], r = l->r;
    ENGINE_CHECK(dy.shape[0] == n, kInternal, "LoRA linear: backward rows ", dy.shape[0], " != forward rows ", n);
    c.be.matmul_weight_grad(l->B.g, dy, tv(l->xs, {n, r}));  // dB [out, r] += dyᵀ·xs
    sized(c, l->gs, n * r);  // overwritten by the matmul
    c.be.matmul(tv(l->gs, {n, r}), dy, l->B.w, /*w_transposed=*/false);  // [n, r] = dy·B
    c.be.scale(tv(l->gs, {n, r}), l->scale);
    c.be.matmul_weight_grad(l->A.g, tv(l->gs, {n, r}), tv(l->xd, {n, in}));  // dA [r, in] += gsᵀ·xd
}

void linear_input_grad(Ctx& c, const P& p, const TensorView& dx, const TensorView& dy, bool accumulate) {
    c.be.matmul(dx, dy, p.w, false, accumulate);
    Lora* l = p.lora;
    if (!l) return;
    const int64_t n = l->n, in = dx.shape[1], r = l->r;
    ENGINE_CHECK(dx.ndim == 2 && dx.is_contiguous() && n * r == l->gs.size(), kInternal,
                 "LoRA linear: input grad before weight grad, or dx ", dx.shape_str(), " not contiguous 2-D");
    Buf t;
    sized(c, t, n * in);
    c.be.matmul(tv(t, {n, in}), tv(l->gs, {n, r}), l->A.w, false);  // [n, in] = gs·A
    if (l->masked) c.be.mul(tv(t, {n, in}), tv(t, {n, in}), tv(l->keep, {n, in}));  // through the mask
    c.be.axpy(dx, tv(t, {n, in}), 1.0f);
}

}  // namespace engine::train
