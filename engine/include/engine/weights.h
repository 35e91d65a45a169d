// weights.h — safetensors checkpoints: read (memory-mapped, validated like the reference parser) and
// write (crash-safe: temp + fsync + rename + directory fsync).
//
// A WeightStore opens a model folder (model.safetensors or a sharded model.safetensors.index.json) or a
// single .safetensors file, and hands out TensorViews by name. F32/F16/BF16 tensors are views into the
// mapping (no copy). F8_E4M3 tensors need a sibling `<name>_scale_inv` (F32 128x128 block scales), which
// is then hidden; by default they are dequantized on open to BF16 buffers owned by the store. A model
// loader opens with Fp8Load::kKeep instead: the weights stay F8_E4M3 views of the mapping, fp8_scale()
// gives their scales, and Backend::dequantize_fp8 makes the BF16 copy where it will live (on a GPU:
// half the bytes over PCIe, no BF16 copy of the model in host memory).
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
    DType dtype;                  // after dequantization (BF16 for F8 weights, unless opened with Fp8Load::kKeep)
    std::vector<int64_t> shape;
    std::filesystem::path file;   // the shard it came from
};

enum class Fp8Load {
    kDequantize,  // F8_E4M3 weights become BF16 on open (what get() returns to every reader)
    kKeep,        // they stay F8_E4M3; fp8_scale(name) returns the block scales
};

// Bytes per element of a stored dtype once loaded for inference (F8_E4M3 weights become BF16).
inline int64_t loaded_dtype_size(DType t) { return t == DType::F8_E4M3 ? 2 : int64_t(dtype_size(t)); }

class WeightStore {
public:
    virtual ~WeightStore() = default;
    // `path`: a model folder, a model.safetensors.index.json, or a .safetensors file.
    static std::unique_ptr<WeightStore> open(const std::filesystem::path& path, Fp8Load fp8 = Fp8Load::kDequantize);

    virtual bool has(std::string_view name) const = 0;
    // Throws Error(kBadFile) "<file>: tensor '<name>' is missing" when absent.
    virtual TensorView get(std::string_view name) const = 0;
    // As get(), and checks the shape: "tensor 'x' has shape [a, b], expected [c, d]".
    virtual TensorView get(std::string_view name, std::initializer_list<int64_t> expected_shape) const = 0;
    virtual std::vector<TensorInfo> tensors() const = 0;  // sorted by name
    virtual const std::map<std::string, std::string>& metadata() const = 0;  // "__metadata__"
    virtual std::filesystem::path root() const = 0;
    // The F32 [ceil(rows/128), ceil(cols/128)] block scales of the F8_E4M3 weight `name` (Fp8Load::kKeep),
    // already checked against its shape; an empty view (data == nullptr) for any other tensor.
    virtual TensorView fp8_scale(std::string_view name) const {
        (void)name;
        return {};
    }
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
