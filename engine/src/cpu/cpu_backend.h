// cpu_backend.h — the CPU reference Backend (OpenBLAS + OpenMP): class declaration shared by the
// per-op source files in this folder (matmul.cpp, rmsnorm.cpp, rope.cpp, attention.cpp,
// elementwise.cpp, embedding.cpp, gather_scatter.cpp, copy.cpp, memory.cpp, moe_route.cpp).
//
// Every public op validates shapes/dtypes once at entry (errors name the op and the shapes) and then
// calls plain kernels that never validate. Weights stay in their stored dtype (F32/F16/BF16); BF16/F16
// weights are converted to fp32 on the fly, never in place.
//
// Not here: graphs, scheduling, autograd (see backend.h).
#pragma once

#include <string>

#include "engine/backend.h"

namespace engine {

class CpuBackend final : public Backend {
public:
    explicit CpuBackend(int threads);  // threads <= 0: all cores

    int threads() const { return threads_; }

    // ---- identity & memory (memory.cpp) ----
    Device device() const override { return Device::CPU; }
    std::string name() const override;
    DeviceMemoryInfo memory_info() const override;
    Tensor alloc(DType dtype, const int64_t* shape, int ndim) override;
    using Backend::alloc;
    Tensor upload_weight(const TensorView& host) override;
    void synchronize() override {}

    // ---- copy.cpp / elementwise.cpp ----
    void copy(const TensorView& dst, const TensorView& src) override;
    void fill(const TensorView& dst, float value) override;
    void dequantize_fp8(const TensorView& dst, const TensorView& src, const TensorView& scale_inv) override;

    // ---- forward ops (one file each) ----
    void matmul(const TensorView& y, const TensorView& x, const TensorView& w, bool w_transposed = true,
                bool accumulate = false) override;
    void rmsnorm(const TensorView& y, const TensorView& x, const TensorView& w, float eps) override;
    void rope(const TensorView& x, const TensorView& positions, const TensorView& inv_freq,
              float attn_factor) override;
    void attention(const TensorView& out, const TensorView& q, const TensorView& k, const TensorView& v,
                   float scale, int64_t q_pos0) override;
    void silu_mul(const TensorView& out, const TensorView& gate, const TensorView& up) override;
    void add(const TensorView& y, const TensorView& a, const TensorView& b) override;
    void mul(const TensorView& y, const TensorView& a, const TensorView& b) override;  // elementwise.cpp
    void axpy(const TensorView& y, const TensorView& x, float alpha) override;
    void embedding(const TensorView& out, const TensorView& table, const TensorView& ids) override;
    // Defined in moe_route.cpp (owned by the model module's author).
    void moe_route(const TensorView& idx, const TensorView& weights, const TensorView& logits,
                   const TensorView& bias, const RouterParams& params) override;
    void gather_rows(const TensorView& dst, const TensorView& src, const TensorView& rows) override;
    void scatter_add_rows(const TensorView& dst, const TensorView& src, const TensorView& rows,
                          const TensorView& scale) override;
    // Defined in swiglu_experts.cpp (decode-time MoE of one token, fused).
    void swiglu_experts(const TensorView& y, const TensorView& x, const SwigluExpert* experts, int64_t n,
                        const TensorView& work) override;
    // Defined in moe_experts.cpp (prefill-time routed experts: one expert per thread, one parallel region).
    int64_t moe_experts_work(int64_t pairs, int64_t max_rows, int64_t D, int64_t i_max) const override;
    void moe_experts(const TensorView& y, const TensorView& x, const SwigluExpert* experts, const int64_t* offsets,
                     int64_t n, const TensorView& rows, const TensorView& scale, const TensorView& work) override;
    // Defined in hyper_connections.cpp (fp64 coefficient algebra; the reference for the CUDA kernels).
    void hc_logits(const TensorView& m, const TensorView& rho, const TensorView& X, const TensorView& fn,
                   float eps) override;
    void hc_logits_backward(const TensorView& dX, const TensorView& dfn, const TensorView& dm, const TensorView& X,
                            const TensorView& fn, const TensorView& m, const TensorView& rho) override;
    void hc_coeffs(const TensorView& pre, const TensorView& post, const TensorView& mix, const TensorView& m,
                   const TensorView& base, const TensorView& scale, const HcParams& p) override;
    void hc_pre(const TensorView& u, const TensorView& X, const TensorView& pre) override;
    void hc_post_res(const TensorView& Xout, const TensorView& X, const TensorView& y, const TensorView& post,
                     const TensorView& mix) override;
    void hc_coeffs_backward(const TensorView& dm, const TensorView& dbase, const TensorView& dscale,
                            const TensorView& dpre, const TensorView& dpost, const TensorView& dmix,
                            const TensorView& m, const TensorView& base, const TensorView& scale,
                            const HcParams& p) override;
    void hc_pre_backward(const TensorView& dpre, const TensorView& dX, const TensorView& du, const TensorView& X,
                         const TensorView& pre) override;
    void hc_post_res_backward(const TensorView& dy, const TensorView& dpost, const TensorView& dmix,
                              const TensorView& dX, const TensorView& dXout, const TensorView& X, const TensorView& y,
                              const TensorView& post, const TensorView& mix) override;

    // ---- training ops (train helper) ----
    // Defined in train_ops.cpp (kernels: train_kernels.h, templated so the tests run them in fp64).
    void matmul_weight_grad(const TensorView& dw, const TensorView& dy, const TensorView& x,
                            bool accumulate = true) override;
    void rmsnorm_backward(const TensorView& dx, const TensorView& dw, const TensorView& dy, const TensorView& x,
                          const TensorView& w, float eps) override;
    void rope_backward(const TensorView& dx, const TensorView& positions, const TensorView& inv_freq,
                       float attn_factor) override;
    void attention_backward(const TensorView& dq, const TensorView& dk, const TensorView& dv,
                            const TensorView& dout, const TensorView& q, const TensorView& k, const TensorView& v,
                            float scale, int64_t q_pos0) override;
    void silu_mul_backward(const TensorView& dgate, const TensorView& dup, const TensorView& dout,
                           const TensorView& gate, const TensorView& up) override;
    void embedding_backward(const TensorView& dtable, const TensorView& dout, const TensorView& ids) override;
    float cross_entropy(const TensorView& dlogits, const TensorView& logits, const TensorView& targets,
                        int32_t ignore_index = -100, float grad_scale = 1.0f, int64_t* counted = nullptr) override;
    // moe_train.cpp
    void moe_permute(const TensorView& rows, const TensorView& slot, const TensorView& scale, int64_t* offsets,
                     int64_t E, const TensorView& idx, const TensorView& weights) override;
    double moe_seq_aux_loss(const TensorView& dlogits, const TensorView& logits, const TensorView& idx, int64_t B,
                            float alpha, RouterParams::Scoring scoring) override;
    void scatter_add_rows_backward(const TensorView& dsrc, const TensorView& dscale, const TensorView& dy,
                                   const TensorView& src, const TensorView& rows, const TensorView& scale) override;
    void moe_router_backward(const TensorView& dlogits, const TensorView& dweights, const TensorView& logits,
                             const TensorView& idx, const RouterParams& params) override;
    void adamw_step(const TensorView& param, const TensorView& grad, const TensorView& m, const TensorView& v,
                    float lr, float beta1, float beta2, float eps, float weight_decay, int64_t step) override;
    double sum_squares(const TensorView& x) override;
    void scale(const TensorView& y, float alpha) override;
    // ---- end of training ops (train helper) ----

private:
    // matmul on `threads` threads (matmul.cpp); 1 inside a parallel region of our own.
    void matmul_threads(const TensorView& y, const TensorView& x, const TensorView& w, bool w_transposed,
                        bool accumulate, int threads);
    // Sets OpenBLAS's thread count to ours before a BLAS call (outside any OpenMP region).
    void use_blas_threads() const;

    int threads_ = 1;
};

}  // namespace engine
