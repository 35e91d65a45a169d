// safetensors_fuzz.cpp — libFuzzer target for the safetensors reader (and, on success, the writer).
//
// Every input is parsed in memory by parse_safetensors_header; inputs whose header validates are also
// written to a temp file and opened with WeightStore::open (mmap, views, alignment copies, FP8 dequant),
// every tensor's bytes are read (so ASan sees any out-of-range view), then saved with save_safetensors,
// reopened, and compared (dtype, shape, bytes), like the reference's structured_roundtrip target.
// engine::Error is the expected outcome for bad input; anything else (crash, ASan/UBSan report, another
// exception type, a round-trip mismatch) is a finding.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/error.h"
#include "engine/weights.h"
#include "io/safetensors_header.h"

namespace {

namespace fs = std::filesystem;

fs::path scratch_dir() {
    static const fs::path dir = [] {
        const char* shm = "/dev/shm";
        fs::path base = fs::is_directory(shm) ? fs::path(shm) : fs::temp_directory_path();
        fs::path d = base / ("latent_st_fuzz." + std::to_string(::getpid()));
        fs::create_directories(d);
        return d;
    }();
    return dir;
}

uint64_t checksum(const engine::TensorView& v) {
    uint64_t h = 1469598103934665603ull;
    const auto* p = static_cast<const uint8_t*>(v.data);
    for (size_t i = 0; i < v.nbytes(); ++i) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

[[noreturn]] void finding(const char* what) {
    std::fprintf(stderr, "safetensors_fuzz: %s\n", what);
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        engine::parse_safetensors_header(data, size, "fuzz-input");
    } catch (const engine::Error&) {
        return 0;
    }
    const fs::path in = scratch_dir() / "in.safetensors";
    const fs::path out = scratch_dir() / "out.safetensors";
    {
        std::ofstream f(in, std::ios::binary | std::ios::trunc);
        f.write(reinterpret_cast<const char*>(data), std::streamsize(size));
    }
    try {
        auto store = engine::WeightStore::open(in);
        std::vector<std::pair<std::string, engine::TensorView>> all;
        for (const auto& info : store->tensors()) {
            engine::TensorView v = store->get(info.name);
            (void)checksum(v);
            if (v.dtype != info.dtype || size_t(v.ndim) != info.shape.size()) finding("TensorInfo disagrees with view");
            all.emplace_back(info.name, v);
        }
        engine::save_safetensors(out, all, store->metadata());
        auto again = engine::WeightStore::open(out);
        if (again->tensors().size() != all.size()) finding("round trip changed the tensor count");
        for (const auto& [name, v] : all) {
            engine::TensorView w = again->get(name);
            if (w.dtype != v.dtype || w.shape != v.shape || w.ndim != v.ndim || checksum(w) != checksum(v))
                finding("round trip changed a tensor");
        }
        if (again->metadata() != store->metadata()) finding("round trip changed the metadata");
    } catch (const engine::Error&) {
        // expected for inputs that pass the header but fail later checks (e.g. FP8 without scales)
    }
    return 0;
}
