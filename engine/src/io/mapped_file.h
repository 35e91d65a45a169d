// mapped_file.h — a read-only, private memory mapping of a whole file (RAII: unmapped on destruction).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>

namespace engine {

class MappedFile {
public:
    // Throws Error(kIo) naming the path when it cannot be opened, stat'ed or mapped.
    explicit MappedFile(const std::filesystem::path& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
    const uint8_t* data_ = nullptr;  // nullptr for an empty file
    size_t size_ = 0;
};

}  // namespace engine
