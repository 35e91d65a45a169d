// backend_select.cpp — run-time choice between the CPU backend and the dlopen()ed CUDA backend.
#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/error.h"

namespace engine {

namespace {

using CreateFn = Backend* (*)(int, char*, unsigned long);

std::filesystem::path executable_dir() {
    char buf[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n <= 0) return {};
    buf[n] = '\0';
    return std::filesystem::path(buf).parent_path();
}

// Loads liblatent_cuda.so once per call site; the handle is never closed (the library must outlive
// every backend object it created, and unloading GPU runtimes is fragile).
CreateFn load_cuda_library(std::string& why) {
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("LATENT_CUDA_BACKEND")) candidates.emplace_back(env);
    const auto dir = executable_dir();
    if (!dir.empty()) {
        candidates.push_back((dir / "liblatent_cuda.so").string());
        candidates.push_back((dir / "../kernels/liblatent_cuda.so").string());
        candidates.push_back((dir / "../lib/latent-studio/liblatent_cuda.so").string());
        candidates.push_back((dir / "../lib/x86_64-linux-gnu/latent-studio/liblatent_cuda.so").string());
    }
    candidates.emplace_back("liblatent_cuda.so");
    std::string errors;
    for (const auto& path : candidates) {
        if (path.find('/') != std::string::npos && !std::filesystem::exists(path)) continue;
        void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (handle == nullptr) {
            const char* e = ::dlerror();
            errors += std::string(errors.empty() ? "" : "; ") + (e ? e : path);
            continue;
        }
        auto fn = reinterpret_cast<CreateFn>(::dlsym(handle, "latent_create_cuda_backend"));
        if (fn != nullptr) return fn;
        errors += "; " + path + " has no latent_create_cuda_backend";
    }
    why = errors.empty() ? "the CUDA backend library (liblatent_cuda.so) is not installed" : errors;
    return nullptr;
}

}  // namespace

BackendChoice::Kind backend_kind_from_name(const std::string& name) {
    if (name == "auto") return BackendChoice::Kind::kAuto;
    if (name == "cpu") return BackendChoice::Kind::kCpu;
    if (name == "cuda" || name == "gpu") return BackendChoice::Kind::kCuda;
    ENGINE_THROW(kInvalidArgument, "unknown backend '", name, "'; expected auto, cpu or cuda");
}

const char* matmul_precision_name(MatmulPrecision p) {
    switch (p) {
        case MatmulPrecision::kExact: return "exact";
        case MatmulPrecision::kTf32: return "tf32";
        case MatmulPrecision::kBf16: return "bf16";
    }
    return "?";
}

MatmulPrecision matmul_precision_from_name(const std::string& name) {
    if (name == "exact" || name == "fp32") return MatmulPrecision::kExact;
    if (name == "tf32") return MatmulPrecision::kTf32;
    if (name == "bf16") return MatmulPrecision::kBf16;
    ENGINE_THROW(kInvalidArgument, "unknown matmul precision '", name, "'; expected exact, tf32 or bf16");
}

std::unique_ptr<Backend> make_cuda_backend(int device) {
    std::string why;
    CreateFn create = load_cuda_library(why);
    ENGINE_CHECK(create != nullptr, kUnsupported, "the GPU backend is not available: ", why);
    char error[1024] = {0};
    Backend* backend = create(device, error, sizeof(error));
    ENGINE_CHECK(backend != nullptr, kUnsupported, "the GPU backend could not start: ", error);
    return std::unique_ptr<Backend>(backend);
}

std::unique_ptr<Backend> make_backend(const BackendChoice& choice, std::string* note) {
    if (choice.kind == BackendChoice::Kind::kCpu) return make_cpu_backend(choice.cpu_threads);
    if (choice.kind == BackendChoice::Kind::kCuda) return make_cuda_backend(choice.cuda_device);
    try {
        auto b = make_cuda_backend(choice.cuda_device);
        if (note) *note = "Using the GPU: " + b->name();
        return b;
    } catch (const Error& e) {
        if (note) *note = "Using the CPU (" + e.message() + ")";
        return make_cpu_backend(choice.cpu_threads);
    }
}

}  // namespace engine
