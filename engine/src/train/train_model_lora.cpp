// train_model_lora.cpp — TrainModel's LoRA side: adapter init, merged save (W' = W + (alpha/r)·B·A under
// the base tensor names, so the folder loads like the base model), peft-format adapter export, and the
// checkpoint subset (adapters only) with the dropout stream position.
#include <cmath>
#include <deque>
#include <random>

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/train/train_model.h"
#include "train/train_model_impl.h"

namespace engine {

namespace {

const std::string kA = ".lora_A.weight", kB = ".lora_B.weight";

bool ends_with(const std::string& s, const std::string& suf) {
    return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

}  // namespace

std::vector<std::string> default_lora_targets() {
    return {"q_proj", "q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "k_proj", "v_proj", "o_proj"};
}

void TrainModel::init_lora() {
    ENGINE_CHECK(lora_.enabled(), kInvalidArgument, "init_lora: LoRA is off for this model (rank 0)");
    // peft's init_lora_weights="gaussian": A ~ N(0, 1/r) (std), B = 0 so the adapted model starts as the base.
    std::mt19937_64 rng(lora_.seed ^ 0x4C6F5241ull);
    std::normal_distribution<float> normal(0.0f, 1.0f / float(lora_.rank));
    for (TrainParam& p : params_) {
        if (!p.adapter) continue;
        const TensorView& v = p.value.view();
        const int64_t n = v.numel();
        const bool is_a = ends_with(p.name, kA);
        std::vector<float> w(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) w[size_t(i)] = is_a ? normal(rng) : 0.0f;
        be_.copy(v, TensorView::contiguous(w.data(), DType::F32, v.shape.data(), v.ndim));
    }
}

void TrainModel::load_matching(const WeightStore& store, const std::vector<std::string>& names) {
    for (const std::string& name : names) {
        TrainParam* p = find(name);
        ENGINE_CHECK(p, kInvalidArgument, "load_matching: this model has no parameter '", name, "'");
        const TensorView& dst = p->value.view();
        TensorView src = store.get(name);
        bool same = src.ndim == dst.ndim;
        for (int i = 0; same && i < dst.ndim; ++i) same = src.shape[i] == dst.shape[i];
        ENGINE_CHECK(same, kBadFile, store.root().string(), ": tensor '", name, "' has shape ", src.shape_str(),
                     ", expected ", dst.shape_str(), " (LoRA rank or targets changed?)");
        be_.copy(dst, src);
    }
}

TensorView TrainModel::host_view(const TensorView& v, std::deque<Tensor>& keep) const {
    if (v.device == Device::CPU) return v;
    keep.push_back(Tensor::cpu(v.dtype, v.shape.data(), v.ndim));
    be_.copy(keep.back().view(), v);
    return keep.back().view();
}

std::vector<std::string> TrainModel::checkpoint_names() const {
    std::vector<std::string> out;
    for (const TrainParam& p : params_)
        if (!lora_.enabled() || p.adapter || ends_with(p.name, "e_score_correction_bias")) out.push_back(p.name);
    return out;
}

uint64_t TrainModel::dropout_calls() const { return impl_->dropout_calls; }
void TrainModel::set_dropout_calls(uint64_t n) { impl_->dropout_calls = n; }

void TrainModel::save(const std::filesystem::path& dir) const {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    ENGINE_CHECK(!ec, kIo, "cannot create the model folder '", dir.string(), "': ", ec.message());
    std::vector<std::pair<std::string, TensorView>> tensors;
    std::deque<std::vector<float>> merged;  // storage of merged weights (deque: stable addresses)
    std::deque<Tensor> staged;               // host copies of device parameters
    auto cpu = make_cpu_backend(1);          // the merge GEMM runs on the host copies
    for (const TrainParam& p : params_) {
        if (p.adapter) continue;
        const TensorView w = host_view(p.value.view(), staged);
        auto it = index_.end();
        if (lora_.enabled() && ends_with(p.name, ".weight"))
            it = index_.find(p.name.substr(0, p.name.size() - 7) + kA);
        if (it == index_.end()) {
            tensors.emplace_back(p.name, w);
            continue;
        }
        // W' [out, in] = W + (alpha/r)·B [out, r]·A [r, in]
        const TensorView A = host_view(params_[it->second].value.view(), staged);
        const TensorView B = host_view(params_[index_.at(p.name.substr(0, p.name.size() - 7) + kB)].value.view(), staged);
        const int64_t out = w.shape[0], in = w.shape[1], r = A.shape[0];
        std::vector<float> bs(B.as<float>(), B.as<float>() + out * r);
        for (float& x : bs) x *= lora_.alpha / float(lora_.rank);
        merged.emplace_back(w.as<float>(), w.as<float>() + out * in);
        TensorView mv = TensorView::contiguous(merged.back().data(), DType::F32, {out, in});
        cpu->matmul(mv, TensorView::contiguous(bs.data(), DType::F32, {out, r}), A, /*w_transposed=*/false,
                    /*accumulate=*/true);
        tensors.emplace_back(p.name, mv);
    }
    save_safetensors(dir / "model.safetensors", tensors, {{"format", "pt"}});
    write_file_atomic(dir / "config.json", cfg_.to_json_text());
}

void TrainModel::save_adapters(const std::filesystem::path& dir, const std::string& base_model_name) const {
    ENGINE_CHECK(lora_.enabled(), kInvalidArgument, "save_adapters: LoRA is off for this model (rank 0)");
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    ENGINE_CHECK(!ec, kIo, "cannot create the adapter folder '", dir.string(), "': ", ec.message());
    std::vector<std::pair<std::string, TensorView>> tensors;
    std::deque<Tensor> staged;
    for (const TrainParam& p : params_)
        if (p.adapter) tensors.emplace_back("base_model.model." + p.name, host_view(p.value.view(), staged));
    save_safetensors(dir / "adapter_model.safetensors", tensors, {{"format", "pt"}});
    nlohmann::json j = {{"peft_type", "LORA"},
                        {"task_type", "CAUSAL_LM"},
                        {"r", lora_.rank},
                        {"lora_alpha", lora_.alpha},
                        {"lora_dropout", std::round(double(lora_.dropout) * 1e6) / 1e6},  // no float noise
                        {"target_modules", lora_.targets},
                        {"bias", "none"},
                        {"fan_in_fan_out", false},
                        {"inference_mode", true},
                        {"init_lora_weights", "gaussian"},
                        {"modules_to_save", nullptr},
                        {"base_model_name_or_path", base_model_name}};
    write_file_atomic(dir / "adapter_config.json", j.dump(2));
}

}  // namespace engine
