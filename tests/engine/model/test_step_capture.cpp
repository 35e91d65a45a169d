// test_step_capture.cpp — the model's side of decode-step capture (Backend::begin_capture; CUDA Graphs on
// the GPU), checked on every machine: a recording backend wraps the CPU backend and, while capturing,
// queues every op as a closure instead of running it (as stream capture does), refuses to allocate (as
// the CUDA backend does), and runs the queue at end_capture. A one-token step must then give exactly the
// logits of the same step run op by op; the first decode step grows scratch inside the capture, so it
// must abort and run op by op, and the later ones must be captured. The CUDA backend's own capture is
// tested against the GPU in tests/kernels (DecodeStepsAsGraphsMatchOpByOp).
#include <gtest/gtest.h>

#include <functional>
#include <ostream>
#include <memory>
#include <vector>

#include "engine/backend.h"
#include "engine/error.h"
#include "engine/model.h"
#include "tiny_checkpoint.h"

namespace {

using namespace engine;

class RecordingBackend final : public Backend {
public:
    RecordingBackend() : cpu_(make_cpu_backend(1)) {}

    Device device() const override { return cpu_->device(); }
    std::string name() const override { return "recording " + cpu_->name(); }
    DeviceMemoryInfo memory_info() const override { return cpu_->memory_info(); }
    Tensor alloc(DType dtype, const int64_t* shape, int ndim) override {
        ENGINE_CHECK(!capturing_, kUnsupported, "alloc while capturing");
        return cpu_->alloc(dtype, shape, ndim);
    }
    Tensor upload_weight(const TensorView& host) override { return cpu_->upload_weight(host); }
    void synchronize() override { ENGINE_CHECK(!capturing_, kUnsupported, "synchronize while capturing"); }

    // Ops: run now, or queue while capturing (views and parameters by value, like kernel arguments).
    void copy(const TensorView& d, const TensorView& s) override { op([=, this] { cpu_->copy(d, s); }); }
    void fill(const TensorView& d, float v) override { op([=, this] { cpu_->fill(d, v); }); }
    void dequantize_fp8(const TensorView& d, const TensorView& s, const TensorView& sc) override {
        op([=, this] { cpu_->dequantize_fp8(d, s, sc); });
    }
    void matmul(const TensorView& y, const TensorView& x, const TensorView& w, bool t, bool acc) override {
        op([=, this] { cpu_->matmul(y, x, w, t, acc); });
    }
    void rmsnorm(const TensorView& y, const TensorView& x, const TensorView& w, float eps) override {
        op([=, this] { cpu_->rmsnorm(y, x, w, eps); });
    }
    void rope(const TensorView& x, const TensorView& p, const TensorView& f, float a) override {
        op([=, this] { cpu_->rope(x, p, f, a); });
    }
    void attention(const TensorView& o, const TensorView& q, const TensorView& k, const TensorView& v, float s,
                   int64_t p0) override {
        op([=, this] { cpu_->attention(o, q, k, v, s, p0); });
    }
    void silu_mul(const TensorView& o, const TensorView& g, const TensorView& u) override {
        op([=, this] { cpu_->silu_mul(o, g, u); });
    }
    void add(const TensorView& y, const TensorView& a, const TensorView& b) override {
        op([=, this] { cpu_->add(y, a, b); });
    }
    void axpy(const TensorView& y, const TensorView& x, float a) override { op([=, this] { cpu_->axpy(y, x, a); }); }
    void embedding(const TensorView& o, const TensorView& t, const TensorView& ids) override {
        op([=, this] { cpu_->embedding(o, t, ids); });
    }
    void moe_route(const TensorView& idx, const TensorView& w, const TensorView& l, const TensorView& b,
                   const RouterParams& p) override {
        op([=, this] { cpu_->moe_route(idx, w, l, b, p); });
    }
    void gather_rows(const TensorView& d, const TensorView& s, const TensorView& r) override {
        op([=, this] { cpu_->gather_rows(d, s, r); });
    }
    void scatter_add_rows(const TensorView& d, const TensorView& s, const TensorView& r, const TensorView& c) override {
        op([=, this] { cpu_->scatter_add_rows(d, s, r, c); });
    }
    // The routing is read on the "device" when the queue runs (moe_decode's contract), not at capture.
    void moe_decode(const TensorView& y, const TensorView& x, const TensorView& idx, const TensorView& wts,
                    const SwigluExpert* routed, int64_t E, const SwigluExpert* shared, int64_t ns,
                    const TensorView& work) override {
        op([=, this] { cpu_->moe_decode(y, x, idx, wts, routed, E, shared, ns, work); });
    }
    void hc_logits(const TensorView& m, const TensorView& rho, const TensorView& X, const TensorView& fn,
                   float eps) override {
        op([=, this] { cpu_->hc_logits(m, rho, X, fn, eps); });
    }
    void hc_coeffs(const TensorView& pre, const TensorView& post, const TensorView& mix, const TensorView& m,
                   const TensorView& base, const TensorView& scale, const HcParams& p) override {
        op([=, this] { cpu_->hc_coeffs(pre, post, mix, m, base, scale, p); });
    }
    void hc_pre(const TensorView& u, const TensorView& X, const TensorView& pre) override {
        op([=, this] { cpu_->hc_pre(u, X, pre); });
    }
    void hc_post_res(const TensorView& Xo, const TensorView& X, const TensorView& y, const TensorView& post,
                     const TensorView& mix) override {
        op([=, this] { cpu_->hc_post_res(Xo, X, y, post, mix); });
    }

    bool begin_capture(const void*) override {
        capturing_ = true;
        queue_.clear();
        return true;
    }
    void end_capture() override {
        capturing_ = false;
        for (auto& f : queue_) f();
        queue_.clear();
        ++stats_.launched;
    }
    void abort_capture() override {
        capturing_ = false;
        queue_.clear();
        ++stats_.aborted;
    }
    bool capturing() const override { return capturing_; }
    CaptureStats capture_stats() const override { return stats_; }

private:
    void op(std::function<void()> f) {
        if (capturing_)
            queue_.push_back(std::move(f));
        else
            f();
    }
    std::unique_ptr<Backend> cpu_;
    bool capturing_ = false;
    std::vector<std::function<void()>> queue_;
    CaptureStats stats_;
};

struct Family {
    const char* name;
    ModelConfig (*config)();
};
void PrintTo(const Family& f, std::ostream* os) { *os << f.name; }  // readable test names, no pointer bytes
class StepCapture : public ::testing::TestWithParam<Family> {};

ModelConfig latent_mhc() { return tiny::latent_config(ResidualKind::kMHC); }

TEST_P(StepCapture, CapturedDecodeStepsMatchOpByOpAndTheFirstFallsBack) {
    const ModelConfig c = GetParam().config();
    const tiny::TensorMap weights = tiny::random_weights(c, 31);
    RecordingBackend be;
    auto model = Model::from_store(c, std::make_unique<tiny::MemoryStore>(weights), be);
    auto eager_cache = model->new_cache(32), graph_cache = model->new_cache(32);
    const std::vector<int32_t> prompt = {3, 14, 15, 9, 26, 5};
    ForwardOptions eager, graph;
    eager.capture_decode = false;
    std::vector<float> want, got;
    model->forward(*eager_cache, prompt, eager, want);
    model->forward(*graph_cache, prompt, graph, got);
    EXPECT_EQ(be.capture_stats().launched + be.capture_stats().aborted, 0) << "prefill is never captured";
    ExpertLoad load;
    graph.expert_load = &load;
    const int steps = 5;
    for (int i = 0; i < steps; ++i) {
        const std::vector<int32_t> one = {int32_t((5 * i + 1) % c.vocab_size)};
        model->forward(*eager_cache, one, eager, want);
        model->forward(*graph_cache, one, graph, got);
        ASSERT_EQ(got, want) << "step " << i;
        if (i == 0) {
            EXPECT_EQ(be.capture_stats().aborted, 1) << "the first decode step grows scratch: op by op";
            EXPECT_EQ(be.capture_stats().launched, 0);
        }
    }
    EXPECT_EQ(be.capture_stats().launched, steps - 1);
    EXPECT_EQ(be.capture_stats().aborted, 1);
    EXPECT_EQ(graph_cache->size(), int64_t(prompt.size()) + steps);
    if (c.n_routed_experts > 0) {  // the step's routing read back once, after the (captured) step ran
        int64_t counted = 0;
        for (const auto& row : load.cumulative)
            for (int64_t n : row) counted += n;
        const int64_t moe_layers = c.num_hidden_layers - c.first_k_dense_replace;
        EXPECT_EQ(counted, int64_t(steps) * moe_layers * c.num_experts_per_tok);
    }
}

INSTANTIATE_TEST_SUITE_P(Models, StepCapture,
                         ::testing::Values(Family{"v3_moe", tiny::v3_config}, Family{"latent_mhc", latent_mhc}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
