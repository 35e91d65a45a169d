// safetensors_header.h — parse and validate a safetensors file's header (internal to latent_io).
//
// Checks, in the reference parser's order (reliability.md §1, deepseek-arch.md §5): file >= 8 bytes,
// header length N <= 100,000,000, 8+N <= file size, UTF-8 JSON object, no duplicate keys (at any level),
// known dtype, shape of non-negative integers (rank <= 4), overflow-checked prod(shape)·dtype_size,
// data_offsets = 2 non-negative integers with end-begin == nbytes, offsets tiling the buffer from 0 with
// no gap/overlap, no trailing bytes, no NUL in names, "__metadata__" str -> str.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/dtype.h"

namespace engine {

constexpr uint64_t kSafetensorsMaxHeader = 100'000'000;

struct SafetensorsEntry {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    uint64_t begin = 0;  // relative to the data buffer (file offset 8 + N)
    uint64_t end = 0;
};

struct SafetensorsHeader {
    std::vector<SafetensorsEntry> tensors;  // sorted by begin (file order)
    std::map<std::string, std::string> metadata;
    uint64_t data_start = 0;                // 8 + N
};

// nlohmann::json::parse that also rejects duplicate keys in any object (nlohmann keeps the last one
// silently; the reference safetensors parser rejects the file) and nesting deeper than 16. `what` names
// the document in errors, e.g. "safetensors header". Throws Error(kBadFile).
nlohmann::json parse_json_strict(const char* first, const char* last, const std::string& file, const char* what);

// `file` names the file in error messages. Throws Error(kBadFile) (kUnsupported for rank > 4).
SafetensorsHeader parse_safetensors_header(const uint8_t* bytes, size_t size, const std::string& file);

}  // namespace engine
