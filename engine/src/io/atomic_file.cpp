// atomic_file.cpp — temp file + fsync + rename + directory fsync (POSIX).
#include "io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>

#include "engine/error.h"
#include "engine/weights.h"

namespace engine {

namespace {

std::string errno_text(int e) { return std::string(std::strerror(e)); }

std::filesystem::path parent_or_dot(const std::filesystem::path& p) {
    auto parent = p.parent_path();
    return parent.empty() ? std::filesystem::path(".") : parent;
}

// Unique temp name next to `path`: "<name>.tmp.<pid>.<n>" (same directory, so rename() is atomic).
std::filesystem::path temp_name_for(const std::filesystem::path& path) {
    static std::atomic<unsigned> counter{0};  // process-wide uniqueness of temp names only
    auto name = path.filename().string() + ".tmp." + std::to_string(::getpid()) + "." +
                std::to_string(counter.fetch_add(1));
    return parent_or_dot(path) / name;
}

}  // namespace

AtomicFileWriter::AtomicFileWriter(std::filesystem::path path) : path_(std::move(path)) {
    ENGINE_CHECK(!path_.empty() && path_.has_filename(), kInvalidArgument, "cannot write to '", path_.string(),
                 "': not a file path");
    temp_ = temp_name_for(path_);
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0) {
        int e = errno;
        ENGINE_THROW(kIo, "cannot create '", temp_.string(), "' (temp file for '", path_.string(), "'): ",
                     errno_text(e), "; check that the folder exists and is writable");
    }
}

AtomicFileWriter::~AtomicFileWriter() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temp_.c_str());
}

void AtomicFileWriter::write(const void* data, size_t n) {
    ENGINE_CHECK(fd_ >= 0, kInternal, "write to '", path_.string(), "' after commit");
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
        ssize_t w = ::write(fd_, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            ENGINE_THROW(kIo, "writing '", temp_.string(), "' failed: ", errno_text(e),
                         "; '", path_.string(), "' was not changed");
        }
        p += w;
        n -= size_t(w);
    }
}

void AtomicFileWriter::commit() {
    ENGINE_CHECK(fd_ >= 0, kInternal, "commit of '", path_.string(), "' twice");
    if (::fsync(fd_) != 0) {
        int e = errno;  // not retryable (fsyncgate): the data may already be dropped
        ENGINE_THROW(kIo, "fsync of '", temp_.string(), "' failed: ", errno_text(e), "; '", path_.string(),
                     "' was not changed");
    }
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) {
        int e = errno;
        ENGINE_THROW(kIo, "closing '", temp_.string(), "' failed: ", errno_text(e), "; '", path_.string(),
                     "' was not changed");
    }
    if (::rename(temp_.c_str(), path_.c_str()) != 0) {
        int e = errno;
        ENGINE_THROW(kIo, "renaming '", temp_.string(), "' to '", path_.string(), "' failed: ", errno_text(e));
    }
    committed_ = true;
    fsync_directory(parent_or_dot(path_));
}

void write_file_atomic(const std::filesystem::path& path, std::string_view bytes) {
    AtomicFileWriter w(path);
    w.write(bytes);
    w.commit();
}

void fsync_directory(const std::filesystem::path& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        ENGINE_THROW(kIo, "cannot open folder '", dir.string(), "' to fsync it: ", errno_text(e));
    }
    int rc = ::fsync(fd);
    int e = errno;
    ::close(fd);
    // Some file systems do not support fsync on directories (EINVAL); the rename is then as durable as it gets.
    if (rc != 0 && e != EINVAL)
        ENGINE_THROW(kIo, "fsync of folder '", dir.string(), "' failed: ", errno_text(e),
                     "; the last write there may not survive a crash");
}

}  // namespace engine
