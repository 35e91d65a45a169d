// error.cpp — engine::Error.
#include "engine/error.h"

namespace engine {

const char* error_kind_name(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::kInvalidArgument: return "invalid argument";
        case ErrorKind::kBadFile: return "bad file";
        case ErrorKind::kUnsupported: return "unsupported";
        case ErrorKind::kIo: return "I/O error";
        case ErrorKind::kOutOfMemory: return "out of memory";
        case ErrorKind::kContextFull: return "context full";
        case ErrorKind::kCancelled: return "cancelled";
        case ErrorKind::kBackend: return "backend error";
        case ErrorKind::kTemplate: return "template error";
        case ErrorKind::kInternal: return "internal error";
    }
    return "error";
}

static std::string with_origin(const std::string& message, const char* file, int line) {
    if (file == nullptr) return message;
    return message + " [" + file + ":" + std::to_string(line) + "]";
}

Error::Error(ErrorKind kind, std::string message, const char* file, int line)
    : std::runtime_error(with_origin(message, file, line)), kind_(kind), message_(std::move(message)) {}

}  // namespace engine
