// weights.h — safetensors checkpoints: read (memory-mapped, validated like the reference parser) and
// write (crash-safe: temp + fsync + rename + directory fsync).
//
// A WeightStore opens a model folder (model.safetensors or a sharded model.safetensors.index.json) or a
// single .safetensors file, and hands out TensorViews by name. F32/F16/BF16 tensors are views into the
// mapping (no copy); F8_E4M3 tensors with a sibling `<name>_scale_inv` (128x128 block scales) are
// dequantized on open to BF16 buffers owned by the store, and the `_scale_inv` tensors are hidden.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tensor.h"

namespace engine {

struct TensorInfo {
    std::string name;
    DType dtype;                  // after dequantization (BF16 for F8 weights)
    std::vector<int64_t> shape;
    std::filesystem::path file;   // the shard it came from
};

class WeightStore {
public:
    virtual ~WeightStore() = default;
    // `path`: a model folder, a model.safetensors.index.json, or a .safetensors file.
    static std::unique_ptr<WeightStore> open(const std::filesystem::path& path);

    virtual bool has(std::string_view name) const = 0;
    // Throws Error(kBadFile) "<file>: tensor '<name>' is missing" when absent.
    virtual TensorView get(std::string_view name) const = 0;
    // As get(), and checks the shape: "tensor 'x' has shape [a, b], expected [c, d]".
    virtual TensorView get(std::string_view name, std::initializer_list<int64_t> expected_shape) const = 0;
    virtual std::vector<TensorInfo> tensors() const = 0;  // sorted by name
    virtual const std::map<std::string, std::string>& metadata() const = 0;  // "__metadata__"
    virtual std::filesystem::path root() const = 0;
};

// Write tensors (any dtype, host memory) to one .safetensors file, atomically.
// Tensors are written sorted by (alignment desc, name) like the reference writer; the header is padded
// with spaces to a multiple of 8.
void save_safetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, TensorView>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Atomic file write helpers shared by every writer in the engine (checkpoints, configs, exports).
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);
void fsync_directory(const std::filesystem::path& dir);

}  // namespace engine
