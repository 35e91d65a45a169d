// atomic_file.h — streaming crash-safe file writer (internal to latent_io).
//
// AtomicFileWriter writes to a temp file in the destination's directory; commit() fsyncs it, renames it
// over the destination and fsyncs the directory (reliability.md §5). A failed fsync is a failed write:
// it throws Error(kIo) and the destination is left untouched. Destroying an uncommitted writer removes
// the temp file. write_file_atomic() (weights.h) is the one-shot form.
#pragma once

#include <filesystem>
#include <string_view>

namespace engine {

class AtomicFileWriter {
public:
    explicit AtomicFileWriter(std::filesystem::path path);
    ~AtomicFileWriter();
    AtomicFileWriter(const AtomicFileWriter&) = delete;
    AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

    void write(const void* data, size_t n);
    void write(std::string_view s) { write(s.data(), s.size()); }
    void commit();  // fsync, close, rename, fsync directory

    const std::filesystem::path& temp_path() const { return temp_; }

private:
    std::filesystem::path path_;
    std::filesystem::path temp_;
    int fd_ = -1;
    bool committed_ = false;
};

}  // namespace engine
