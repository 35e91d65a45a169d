// step_graph.cu — CudaBackend::begin_capture / end_capture / abort_capture: a decode step recorded by
// stream capture into a CUDA Graph and launched as one graph (the model calls them around one-token
// steps, deepseek_model.cpp). A decode step of a DeepSeek-V2-Lite-shaped model is ~500 small kernels
// and GEMVs; launched one by one, the launch overhead is of the order of the weights' read time.
//
// Each step is captured again (the KV length, and with it the attention grid and the cache row, change
// every step), and the executable graph kept per key (the KV cache) is updated in place with
// cudaGraphExecUpdate, which is far cheaper than instantiating (llama.cpp's CUDA backend does the same).
// When the update is refused (the graph's shape changed: a different split count) it is instantiated anew.
//
// What cannot be recorded — allocation or workspace growth, copies to or from the host, read-backs —
// throws kUnsupported while capturing (alloc, workspace, copy, check_index_range, expert_table check
// capturing_); the model then aborts the capture and runs the step op by op. After 3 aborted captures in
// a row the backend stops trying (capture_stats().disabled). LATENT_CUDA_GRAPHS=0 turns capture off.
#include <cstdlib>
#include <string>

#include "checks.h"
#include "common.cuh"
#include "cuda_backend.h"

namespace cuda_backend {

namespace {
constexpr int kMaxAbortsInARow = 3;
constexpr size_t kMaxGraphs = 16;  // executable graphs kept (one per KV cache that decodes)
}  // namespace

bool CudaBackend::begin_capture(const void* key) {
    if (!graphs_enabled_ || aborts_in_a_row_ >= kMaxAbortsInARow) return false;
    ENGINE_CHECK(!capturing_, kInternal, "begin_capture: a capture is already running");
    const cudaError_t err = cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal);
    if (err != cudaSuccess) {
        (void)cudaGetLastError();
        graphs_enabled_ = false;  // this driver or stream cannot capture: run op by op from now on
        return false;
    }
    capturing_ = true;
    capture_key_ = key;
    return true;
}

void CudaBackend::end_capture() {
    ENGINE_CHECK(capturing_, kInternal, "end_capture without begin_capture");
    capturing_ = false;
    cudaGraph_t graph = nullptr;
    CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));  // an invalidated capture throws: the caller aborts
    StepGraph* slot = nullptr;
    for (StepGraph& g : graphs_)
        if (g.key == capture_key_) slot = &g;
    if (!slot) {
        if (graphs_.size() >= kMaxGraphs) {
            cudaGraphExecDestroy(graphs_.front().exec);
            graphs_.erase(graphs_.begin());
        }
        graphs_.push_back({capture_key_, nullptr});
        slot = &graphs_.back();
    }
    if (slot->exec) {
        cudaGraphExecUpdateResultInfo info{};
        if (cudaGraphExecUpdate(slot->exec, graph, &info) == cudaSuccess) {
            ++stats_.updated;
        } else {
            (void)cudaGetLastError();  // a refused update is not an error: instantiate below
            cudaGraphExecDestroy(slot->exec);
            slot->exec = nullptr;
        }
    }
    if (!slot->exec) {
        const cudaError_t err = cudaGraphInstantiate(&slot->exec, graph, 0);
        cudaGraphDestroy(graph);
        CUDA_CHECK(err);
        ++stats_.instantiated;
    } else {
        cudaGraphDestroy(graph);
    }
    CUDA_CHECK(cudaGraphLaunch(slot->exec, stream_));
    ++stats_.launched;
    aborts_in_a_row_ = 0;
}

void CudaBackend::abort_capture() {
    if (capturing_) {
        capturing_ = false;
        cudaGraph_t graph = nullptr;
        (void)cudaStreamEndCapture(stream_, &graph);  // invalidated captures return an error: expected
        if (graph) cudaGraphDestroy(graph);
        (void)cudaGetLastError();
    }
    ++stats_.aborted;
    if (++aborts_in_a_row_ >= kMaxAbortsInARow) stats_.disabled = true;
}

void CudaBackend::refuse_while_capturing(const char* what) const {
    ENGINE_CHECK(!capturing_, kUnsupported, what, " cannot be recorded in a step capture (CUDA Graph)");
}

void CudaBackend::destroy_graphs() {
    for (StepGraph& g : graphs_)
        if (g.exec) cudaGraphExecDestroy(g.exec);
    graphs_.clear();
}

bool CudaBackend::graphs_enabled_by_env() {
    const char* v = std::getenv("LATENT_CUDA_GRAPHS");
    return v == nullptr || std::string(v) != "0";
}

}  // namespace cuda_backend
