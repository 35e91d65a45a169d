// cuda_backend.h — engine::Backend on one NVIDIA GPU (cuBLAS GEMMs + our kernels).
//
// Owns its device, stream, cuBLAS handle and a workspace (no globals). Weights live in their stored
// dtype (bf16/f16/f32) on the device; activations are f32. GEMMs with bf16/f16 weights cast the
// activation to the weight's dtype in the workspace and run cublasGemmEx with fp32 accumulation and
// fp32 output (tensor cores); f32 weights use cublasSgemm. Decode-sized products (≤ 4 rows) run our GEMV
// (gemv.cu) on the fp32 activation instead.
// Kernel files: matmul.cu (+ gemv.cu), norm_rope.cu, attention.cu (+ attention_decode.cu, attention_flash.cu),
// elementwise.cu, moe.cu (+ moe_decode.cu), hyper_connections.cu, cuda_backend.cu; the
// training ops: train_dense.cu, train_rows.cu, train_loss_optim.cu, attention_backward.cu (+
// attention_flash_backward.cu).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/backend.h"

namespace cuda_backend {

// One expert's weight pointers and row strides (elements), as moe_decode's kernels read them.
struct ExpertPtrs {
    const void* gate;
    const void* up;
    const void* down;
    int64_t ld_gate, ld_up, ld_down;
};

// One GEMM as cuBLAS sees it (column-major, A transposed): C[m, n] = A[k, m]ᵀ·B[k, n] (moe_prefill.cu).
struct GemmProblem {
    int m, n, k, lda, ldb, ldc;
    const void* A;
    const void* B;
    void* C;
};

// The most rows of x a product may have to run gemv.cu's kernel instead of cuBLAS (decode-sized).
constexpr int kGemvMaxM = 4;

class CudaBackend final : public engine::Backend {
public:
    explicit CudaBackend(int device);
    ~CudaBackend() override;

    engine::Device device() const override { return engine::Device::CUDA; }
    std::string name() const override { return name_; }
    engine::DeviceMemoryInfo memory_info() const override;

    engine::Tensor alloc(engine::DType dtype, const int64_t* shape, int ndim) override;
    using engine::Backend::alloc;
    engine::Tensor upload_weight(const engine::TensorView& host) override;
    void copy(const engine::TensorView& dst, const engine::TensorView& src) override;
    void fill(const engine::TensorView& dst, float value) override;
    // dequantize.cu
    void dequantize_fp8(const engine::TensorView& dst, const engine::TensorView& src,
                        const engine::TensorView& scale_inv) override;
    void synchronize() override;
    void set_matmul_precision(engine::MatmulPrecision p) override { precision_ = p; }
    engine::MatmulPrecision matmul_precision() const override { return precision_; }
    // step_graph.cu: decode steps as CUDA Graphs.
    bool begin_capture(const void* key) override;
    void end_capture() override;
    void abort_capture() override;
    bool capturing() const override { return capturing_; }
    CaptureStats capture_stats() const override { return stats_; }

    void matmul(const engine::TensorView& y, const engine::TensorView& x, const engine::TensorView& w,
                bool w_transposed, bool accumulate) override;
    void rmsnorm(const engine::TensorView& y, const engine::TensorView& x, const engine::TensorView& w,
                 float eps) override;
    void rope(const engine::TensorView& x, const engine::TensorView& positions,
              const engine::TensorView& inv_freq, float attn_factor) override;
    void attention(const engine::TensorView& out, const engine::TensorView& q, const engine::TensorView& k,
                   const engine::TensorView& v, float scale, int64_t q_pos0) override;
    void silu_mul(const engine::TensorView& out, const engine::TensorView& gate,
                  const engine::TensorView& up) override;
    void add(const engine::TensorView& y, const engine::TensorView& a, const engine::TensorView& b) override;
    void axpy(const engine::TensorView& y, const engine::TensorView& x, float alpha) override;
    void embedding(const engine::TensorView& out, const engine::TensorView& table,
                   const engine::TensorView& ids) override;
    void moe_route(const engine::TensorView& idx, const engine::TensorView& weights,
                   const engine::TensorView& logits, const engine::TensorView& bias,
                   const engine::RouterParams& params) override;
    void gather_rows(const engine::TensorView& dst, const engine::TensorView& src,
                     const engine::TensorView& rows) override;
    void scatter_add_rows(const engine::TensorView& dst, const engine::TensorView& src,
                          const engine::TensorView& rows, const engine::TensorView& scale) override;
    // moe_prefill.cu: gather, two grouped GEMMs, silu, a deterministic combine.
    int64_t moe_experts_work(int64_t pairs, int64_t max_rows, int64_t D, int64_t i_max) const override;
    void moe_experts(const engine::TensorView& y, const engine::TensorView& x, const engine::SwigluExpert* experts,
                     const int64_t* offsets, int64_t n, const engine::TensorView& rows,
                     const engine::TensorView& scale, const engine::TensorView& work) override;
    // moe_decode.cu: two fused kernels, the routing read on the device (no host synchronisation).
    void moe_decode(const engine::TensorView& y, const engine::TensorView& x, const engine::TensorView& idx,
                    const engine::TensorView& wts, const engine::SwigluExpert* routed, int64_t E,
                    const engine::SwigluExpert* shared, int64_t n_shared, const engine::TensorView& work) override;

    // ---- hyper-connections (hyper_connections.cu) ----
    void hc_logits(const engine::TensorView& m, const engine::TensorView& rho, const engine::TensorView& X,
                   const engine::TensorView& fn, float eps) override;
    void hc_logits_backward(const engine::TensorView& dX, const engine::TensorView& dfn, const engine::TensorView& dm,
                            const engine::TensorView& X, const engine::TensorView& fn, const engine::TensorView& m,
                            const engine::TensorView& rho) override;
    void hc_coeffs(const engine::TensorView& pre, const engine::TensorView& post, const engine::TensorView& mix,
                   const engine::TensorView& m, const engine::TensorView& base, const engine::TensorView& scale,
                   const engine::HcParams& p) override;
    void hc_pre(const engine::TensorView& u, const engine::TensorView& X, const engine::TensorView& pre) override;
    void hc_post_res(const engine::TensorView& Xout, const engine::TensorView& X, const engine::TensorView& y,
                     const engine::TensorView& post, const engine::TensorView& mix) override;
    void hc_coeffs_backward(const engine::TensorView& dm, const engine::TensorView& dbase,
                            const engine::TensorView& dscale, const engine::TensorView& dpre,
                            const engine::TensorView& dpost, const engine::TensorView& dmix,
                            const engine::TensorView& m, const engine::TensorView& base,
                            const engine::TensorView& scale, const engine::HcParams& p) override;
    void hc_pre_backward(const engine::TensorView& dpre, const engine::TensorView& dX, const engine::TensorView& du,
                         const engine::TensorView& X, const engine::TensorView& pre) override;
    void hc_post_res_backward(const engine::TensorView& dy, const engine::TensorView& dpost,
                              const engine::TensorView& dmix, const engine::TensorView& dX,
                              const engine::TensorView& dXout, const engine::TensorView& X,
                              const engine::TensorView& y, const engine::TensorView& post,
                              const engine::TensorView& mix) override;

    // ---- training ops (train_dense.cu, train_rows.cu, train_loss_optim.cu, attention_backward.cu) ----
    void matmul_weight_grad(const engine::TensorView& dw, const engine::TensorView& dy, const engine::TensorView& x,
                            bool accumulate) override;
    void rmsnorm_backward(const engine::TensorView& dx, const engine::TensorView& dw, const engine::TensorView& dy,
                          const engine::TensorView& x, const engine::TensorView& w, float eps) override;
    void rope_backward(const engine::TensorView& dx, const engine::TensorView& positions,
                       const engine::TensorView& inv_freq, float attn_factor) override;
    void attention_backward(const engine::TensorView& dq, const engine::TensorView& dk, const engine::TensorView& dv,
                            const engine::TensorView& dout, const engine::TensorView& q, const engine::TensorView& k,
                            const engine::TensorView& v, float scale, int64_t q_pos0) override;
    void silu_mul_backward(const engine::TensorView& dgate, const engine::TensorView& dup,
                           const engine::TensorView& dout, const engine::TensorView& gate,
                           const engine::TensorView& up) override;
    void embedding_backward(const engine::TensorView& dtable, const engine::TensorView& dout,
                            const engine::TensorView& ids) override;
    // Reads the loss back: synchronises the stream.
    float cross_entropy(const engine::TensorView& dlogits, const engine::TensorView& logits,
                        const engine::TensorView& targets, int32_t ignore_index, float grad_scale,
                        int64_t* counted) override;
    // moe_train.cu
    void moe_permute(const engine::TensorView& rows, const engine::TensorView& slot, const engine::TensorView& scale,
                     int64_t* offsets, int64_t E, const engine::TensorView& idx,
                     const engine::TensorView& weights) override;
    double moe_seq_aux_loss(const engine::TensorView& dlogits, const engine::TensorView& logits,
                            const engine::TensorView& idx, int64_t B, float alpha,
                            engine::RouterParams::Scoring scoring) override;
    void scatter_add_rows_backward(const engine::TensorView& dsrc, const engine::TensorView& dscale,
                                   const engine::TensorView& dy, const engine::TensorView& src,
                                   const engine::TensorView& rows, const engine::TensorView& scale) override;
    void moe_router_backward(const engine::TensorView& dlogits, const engine::TensorView& dweights,
                             const engine::TensorView& logits, const engine::TensorView& idx,
                             const engine::RouterParams& params) override;
    void adamw_step(const engine::TensorView& param, const engine::TensorView& grad, const engine::TensorView& m,
                    const engine::TensorView& v, float lr, float beta1, float beta2, float eps, float weight_decay,
                    int64_t step) override;
    // Reads the sum back: synchronises the stream.
    double sum_squares(const engine::TensorView& x) override;
    void scale(const engine::TensorView& y, float alpha) override;
    void mul(const engine::TensorView& y, const engine::TensorView& a, const engine::TensorView& b) override;

    cudaStream_t stream() const { return stream_; }

private:
    // Throws kInvalidArgument unless every id of the I32 vector `ids` is in [0, limit): a device-side
    // min/max and a synchronising read-back (ids from data must not address memory unchecked).
    void check_index_range(const engine::TensorView& ids, int64_t limit, const char* op, const char* name);
    // Device scratch of at least `bytes`, reused between calls (grows, never shrinks).
    void* workspace(size_t bytes);

    // moe_decode's per-layer expert pointer tables on the device, keyed by the caller's routed-expert
    // array (ModelWeights builds it once) and checked entry by entry on every use.
    struct ExpertTable {
        const engine::SwigluExpert* key = nullptr;
        std::vector<ExpertPtrs> host;
        engine::Tensor device;  // [E] ExpertPtrs
        engine::DType dtype = engine::DType::F32;
        int64_t I = 0, D = 0;
        bool vec = false;  // every row 16-byte aligned: the kernels load 16-byte vectors
    };
    const ExpertTable& expert_table(const engine::SwigluExpert* routed, int64_t E, int64_t D);

    int device_ = 0;
    int sm_count_ = 1;  // streaming multiprocessors, read once at construction
    int shared_optin_ = 48 * 1024;  // the most shared memory a block may opt in to (bytes), ditto
    // LATENT_CUDA_ATTENTION=reference at construction: attention() always runs the reference kernel
    // (attention.cu), so that tests can compare the flash / split-KV kernels with it on the device.
    bool attention_reference_ = false;
    // LATENT_CUDA_ATTENTION=tf32 at construction: decode attention over the latent cache and the flash
    // attention (prefill, training forward and backward) run on TF32 tensor cores where they can
    // (attention_decode_tc.cu, attention_flash_tc.cu, attention_flash_backward_tc.cu); opt-in until
    // measured on a GPU.
    bool attention_tf32_ = false;
    // Whether the flash kernels take their TF32 tensor-core forms: with LATENT_CUDA_ATTENTION=tf32, and
    // while set_matmul_precision asks for TF32 / bf16 GEMMs (training's default: its products are rounded
    // to 8 bits already, so 10-bit attention inputs cost no further accuracy that matters and save the
    // fp32 SIMT attention that would otherwise outlast the GEMMs several times).
    bool flash_tensor_cores() const {
        return attention_tf32_ || precision_ != engine::MatmulPrecision::kExact;
    }
    std::string name_;
    cudaStream_t stream_ = nullptr;
    cublasHandle_t cublas_ = nullptr;
    void* workspace_ = nullptr;
    size_t workspace_bytes_ = 0;
    static constexpr size_t kCublasWorkspaceBytes = size_t(32) << 20;
    void* cublas_workspace_ = nullptr;  // given to cuBLAS (cublasSetWorkspace) for the backend's lifetime
    std::vector<std::unique_ptr<ExpertTable>> expert_tables_;

    // The GEMMs `probs` (A in ab_type, B in ab_type, C f32) in one cublasGemmGroupedBatchedEx, or one
    // cublasGemmEx each when moe_loop_; ptr_space: device room for 3·probs.size() pointers.
    void grouped_gemm(const std::vector<GemmProblem>& probs, cudaDataType_t ab_type, void* ptr_space);
    static bool moe_loop_by_env();  // LATENT_CUDA_MOE=loop
    bool moe_loop_ = false;         // set by the env, or after cuBLAS refused the grouped call

    // Decode-sized products (gemv.cu): matmul() with an [out, in] weight and at most kGemvMaxM rows of x
    // takes our GEMV kernel instead of cuBLAS, unless LATENT_CUDA_GEMV=cublas was set at construction.
    static bool gemv_by_env();
    void gemv_setup();  // at construction: the kernels' shared-memory opt-in
    bool gemv_applies(const engine::TensorView& x, bool w_transposed) const;
    void gemv(const engine::TensorView& y, const engine::TensorView& x, const engine::TensorView& w, bool accumulate);
    bool gemv_enabled_ = true;

    // The cuBLAS compute type of a GEMM whose A/B are `ab`: fp32 operands follow precision_.
    cublasComputeType_t compute_type(cudaDataType_t ab) const {
        if (ab != CUDA_R_32F || precision_ == engine::MatmulPrecision::kExact) return CUBLAS_COMPUTE_32F;
        return precision_ == engine::MatmulPrecision::kTf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F_FAST_16BF;
    }
    engine::MatmulPrecision precision_ = engine::MatmulPrecision::kExact;

    // Step capture (step_graph.cu).
    struct StepGraph {
        const void* key;
        cudaGraphExec_t exec;
    };
    // Throws kUnsupported naming `what` while a capture runs (allocation, host copies, read-backs).
    void refuse_while_capturing(const char* what) const;
    void destroy_graphs();
    static bool graphs_enabled_by_env();  // LATENT_CUDA_GRAPHS=0: never capture
    bool graphs_enabled_ = true;
    bool capturing_ = false;
    const void* capture_key_ = nullptr;
    int aborts_in_a_row_ = 0;
    std::vector<StepGraph> graphs_;
    CaptureStats stats_;
};

}  // namespace cuda_backend

// The entry point the engine dlopen()s. Returns nullptr and writes a message into `error` on failure
// (no exception crosses the dlopen boundary).
extern "C" __attribute__((visibility("default"))) engine::Backend* latent_create_cuda_backend(
    int device, char* error, unsigned long error_size);
