// checkpoint.cpp — crash-safe checkpoint folders: temp folder + fsync + rename + parent fsync,
// rotation that keeps the newest healthy checkpoint. See engine/checkpoint.h.
#include "engine/checkpoint.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "engine/error.h"

namespace engine {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPrefix = "checkpoint-";
constexpr const char* kTmpPrefix = ".checkpoint-";

std::string step_name(int64_t step) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%s%08lld", kPrefix, static_cast<long long>(step));
    return buf;
}

bool all_finite(const TensorView& t) {
    const int64_t n = t.numel();
    ENGINE_CHECK(t.is_contiguous(), kInvalidArgument, "checkpoint tensors must be contiguous");
    switch (t.dtype) {
        case DType::F32:
            for (int64_t i = 0; i < n; ++i)
                if (!std::isfinite(t.as<float>()[i])) return false;
            return true;
        case DType::BF16:
            for (int64_t i = 0; i < n; ++i)
                if (!std::isfinite(bf16_to_f32(t.as<uint16_t>()[i]))) return false;
            return true;
        case DType::F16:
            for (int64_t i = 0; i < n; ++i)
                if (!std::isfinite(f16_to_f32(t.as<uint16_t>()[i]))) return false;
            return true;
        default: return true;
    }
}

std::optional<nlohmann::json> read_state(const fs::path& dir) {
    std::ifstream in(dir / "state.json");
    if (!in) return std::nullopt;
    std::stringstream s;
    s << in.rdbuf();
    try {
        nlohmann::json j = nlohmann::json::parse(s.str());
        if (!j.is_object() || !j.contains("step") || !j["step"].is_number_integer()) return std::nullopt;
        return j;
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;
    }
}

}  // namespace

CheckpointInfo write_checkpoint(const fs::path& root, const CheckpointWrite& ckpt) {
    ENGINE_CHECK(ckpt.step >= 0, kInvalidArgument, "checkpoint step ", ckpt.step, " is negative");
    std::error_code ec;
    fs::create_directories(root, ec);
    ENGINE_CHECK(!ec, kIo, root.string(), ": cannot create the checkpoint folder (", ec.message(), ")");

    bool healthy = true;
    for (const auto& [name, t] : ckpt.model) healthy = healthy && all_finite(t);

    const fs::path final_dir = root / step_name(ckpt.step);
    const fs::path tmp_dir = root / (std::string(kTmpPrefix) + step_name(ckpt.step).substr(11) + ".tmp");
    fs::remove_all(tmp_dir, ec);
    fs::create_directory(tmp_dir, ec);
    ENGINE_CHECK(!ec, kIo, tmp_dir.string(), ": cannot create (", ec.message(), ")");
    try {
        save_safetensors(tmp_dir / "model.safetensors", ckpt.model, {{"format", "pt"}});
        save_safetensors(tmp_dir / "optimizer.safetensors", ckpt.optimizer, {{"format", "pt"}});
        nlohmann::json state = ckpt.state;
        state["step"] = ckpt.step;
        state["healthy"] = healthy;
        state["format"] = 1;
        write_file_atomic(tmp_dir / "state.json", state.dump(2));
        for (const auto& [file, contents] : ckpt.extra_files) {
            ENGINE_CHECK(file.find('/') == std::string::npos && file != "state.json" && !file.empty(),
                         kInvalidArgument, "checkpoint extra file name '", file, "' is not a plain file name");
            write_file_atomic(tmp_dir / file, contents);
        }
        fsync_directory(tmp_dir);
        // A checkpoint of the same step (a resumed run re-saving it) is replaced, never half-overwritten.
        const fs::path old_dir = root / (std::string(kTmpPrefix) + step_name(ckpt.step).substr(11) + ".old");
        const bool replacing = fs::exists(final_dir);
        if (replacing) {
            fs::remove_all(old_dir, ec);
            fs::rename(final_dir, old_dir, ec);
            ENGINE_CHECK(!ec, kIo, final_dir.string(), ": cannot move the previous checkpoint aside (", ec.message(), ")");
        }
        fs::rename(tmp_dir, final_dir, ec);
        ENGINE_CHECK(!ec, kIo, final_dir.string(), ": cannot rename the finished checkpoint into place (",
                     ec.message(), ")");
        fsync_directory(root);
        if (replacing) fs::remove_all(old_dir, ec);
    } catch (...) {
        fs::remove_all(tmp_dir, ec);
        throw;
    }
    return {final_dir, ckpt.step, healthy};
}

std::vector<CheckpointInfo> list_checkpoints(const fs::path& root) {
    std::vector<CheckpointInfo> out;
    std::error_code ec;
    if (!fs::is_directory(root, ec)) return out;
    for (const auto& entry : fs::directory_iterator(root, ec)) {
        const std::string name = entry.path().filename().string();
        if (!entry.is_directory() || name.rfind(kPrefix, 0) != 0) continue;
        auto state = read_state(entry.path());
        if (!state || !fs::exists(entry.path() / "model.safetensors")) continue;
        out.push_back({entry.path(), (*state)["step"].get<int64_t>(), state->value("healthy", false)});
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.step < b.step; });
    return out;
}

std::optional<CheckpointInfo> latest_healthy_checkpoint(const fs::path& root) {
    auto all = list_checkpoints(root);
    for (auto it = all.rbegin(); it != all.rend(); ++it)
        if (it->healthy) return *it;
    return std::nullopt;
}

std::vector<fs::path> rotate_checkpoints(const fs::path& root, int keep_last) {
    ENGINE_CHECK(keep_last >= 1, kInvalidArgument, "keep_last must be at least 1, got ", keep_last);
    std::vector<fs::path> removed;
    std::error_code ec;
    if (!fs::is_directory(root, ec)) return removed;
    for (const auto& entry : fs::directory_iterator(root, ec)) {  // leftovers of interrupted writes
        const std::string name = entry.path().filename().string();
        if (entry.is_directory() && name.rfind(kTmpPrefix, 0) == 0) {
            fs::remove_all(entry.path(), ec);
            removed.push_back(entry.path());
        }
    }
    auto all = list_checkpoints(root);
    auto healthy = latest_healthy_checkpoint(root);
    const size_t keep_from = all.size() > size_t(keep_last) ? all.size() - size_t(keep_last) : 0;
    for (size_t i = 0; i < keep_from; ++i) {
        if (healthy && all[i].dir == healthy->dir) continue;
        fs::remove_all(all[i].dir, ec);
        ENGINE_CHECK(!ec, kIo, all[i].dir.string(), ": cannot delete an old checkpoint (", ec.message(), ")");
        removed.push_back(all[i].dir);
    }
    if (!removed.empty()) fsync_directory(root);
    return removed;
}

LoadedCheckpoint read_checkpoint(const fs::path& dir) {
    auto state = read_state(dir);
    ENGINE_CHECK(state.has_value(), kBadFile, (dir / "state.json").string(),
                 ": missing or not a checkpoint state (expected a JSON object with an integer \"step\")");
    LoadedCheckpoint out;
    out.info = {dir, (*state)["step"].get<int64_t>(), state->value("healthy", false)};
    out.state = *state;
    out.model = WeightStore::open(dir / "model.safetensors");
    out.optimizer = WeightStore::open(dir / "optimizer.safetensors");
    return out;
}

}  // namespace engine
