// error.h — the engine's one error type.
//
// The engine never calls exit() or abort() on bad input: every failure is an engine::Error thrown with
// a category, the place it was detected (file:line of our code) and a message written for the user:
// what is wrong (naming the file, tensor, field or line of *their* input) and what to do about it.
// Callers at the boundary (CLI main, the Qt worker) catch it and show what().
#pragma once

#include <stdexcept>
#include <string>

namespace engine {

enum class ErrorKind {
    kInvalidArgument,  // a caller passed something inconsistent (a bug in our code or a bad option)
    kBadFile,          // a model / tokenizer / dataset / config file is malformed
    kUnsupported,      // well-formed but not something we run (unknown architecture, dtype, ...)
    kIo,               // open / read / write / fsync failed
    kOutOfMemory,      // host or device allocation failed
    kContextFull,      // the session's context window is full
    kCancelled,        // a callback asked to stop
    kBackend,          // the compute backend reported a failure (e.g. CUDA)
    kTemplate,         // a chat template failed to parse or render, or hit a sandbox cap
    kInternal,         // an invariant of ours broke: a bug
};

const char* error_kind_name(ErrorKind kind);

class Error : public std::runtime_error {
public:
    Error(ErrorKind kind, std::string message, const char* file = nullptr, int line = 0);
    ErrorKind kind() const { return kind_; }
    // The message without the "file:line" suffix, for showing to a user.
    const std::string& message() const { return message_; }

private:
    ErrorKind kind_;
    std::string message_;
};

// Builds "a b c" from streamable parts; used by the macros below.
template <typename... Args>
std::string str_cat(const Args&... args);

}  // namespace engine

#include "engine/detail/str_cat.h"

// ENGINE_THROW(kBadFile, "model.safetensors: tensor '", name, "' has shape ", ...);
#define ENGINE_THROW(KIND, ...) \
    throw ::engine::Error(::engine::ErrorKind::KIND, ::engine::str_cat(__VA_ARGS__), __FILE__, __LINE__)

// ENGINE_CHECK(cond, KIND, message parts...): throws when cond is false.
#define ENGINE_CHECK(COND, KIND, ...)         \
    do {                                      \
        if (!(COND)) ENGINE_THROW(KIND, __VA_ARGS__); \
    } while (0)
