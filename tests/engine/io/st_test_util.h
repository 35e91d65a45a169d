// st_test_util.h — helpers for the io tests: build safetensors files byte by byte, temp folders.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/error.h"

namespace engine::test {

namespace fs = std::filesystem;

// 8-byte little-endian length + header text (as given, no padding) + buffer.
inline std::string st_bytes(const std::string& header, const std::string& buffer, uint64_t len_override = ~0ull) {
    uint64_t n = len_override == ~0ull ? header.size() : len_override;
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i) out[size_t(i)] = char((n >> (8 * i)) & 0xff);
    return out + header + buffer;
}

inline void write_bytes(const fs::path& p, const std::string& bytes) {
    fs::create_directories(p.parent_path());
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), std::streamsize(bytes.size()));
}

// A fresh empty folder per test: <gtest temp>/latent_io/<suite>.<test>.
inline fs::path test_dir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    fs::path d = fs::path(::testing::TempDir()) / "latent_io" /
                 (std::string(info->test_suite_name()) + "." + info->name());
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

// Runs fn, expects an engine::Error of `kind` whose message contains every `needle`.
template <typename Fn>
void expect_error(Fn&& fn, ErrorKind kind, std::initializer_list<std::string> needles) {
    try {
        fn();
        ADD_FAILURE() << "expected an engine::Error(" << error_kind_name(kind) << ")";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), kind) << e.what();
        for (const auto& n : needles) EXPECT_NE(e.message().find(n), std::string::npos) << "'" << n << "' not in: " << e.message();
    }
}

}  // namespace engine::test
