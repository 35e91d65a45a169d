// test_safetensors_roundtrip.cpp — save_safetensors -> WeightStore::open for every dtype, rank-0 and empty
// tensors, non-contiguous views, writer order/padding, zero-copy views, misaligned data, atomic writes.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "engine/weights.h"
#include "st_test_util.h"

namespace engine::test {
namespace {

std::string read_all(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

// Random bytes for a tensor; float dtypes get finite values so the bytes compare exactly.
std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<uint8_t> v(n);
    for (auto& b : v) b = uint8_t(rng() & 0x3f);  // clear high bits: never NaN patterns, keeps it simple
    return v;
}

TEST(SafetensorsRoundTrip, AllDtypesRank0AndEmpty) {
    const DType all[] = {DType::F32, DType::F16, DType::BF16, DType::F64, DType::F8_E5M2, DType::I8, DType::U8,
                         DType::I16, DType::U16, DType::I32, DType::U32, DType::I64, DType::U64, DType::BOOL};
    std::vector<std::vector<uint8_t>> storage;
    std::vector<std::pair<std::string, TensorView>> tensors;
    std::vector<std::vector<int64_t>> shapes = {{3, 5}, {7}, {}, {0, 4}, {2, 1, 3}, {1, 2, 2, 2}};
    int k = 0;
    for (DType d : all) {
        for (const auto& shape : shapes) {
            int64_t numel = 1;
            for (auto s : shape) numel *= s;
            storage.push_back(random_bytes(size_t(numel) * dtype_size(d) + 1, uint32_t(k)));
            tensors.emplace_back(std::string(dtype_name(d)) + "_" + std::to_string(k++),
                                 TensorView::contiguous(storage.back().data(), d, shape.data(), int(shape.size())));
        }
    }
    fs::path p = test_dir() / "all.safetensors";
    save_safetensors(p, tensors, {{"format", "pt"}, {"note", "round trip"}});

    auto store = WeightStore::open(p);
    EXPECT_EQ(store->metadata().at("format"), "pt");
    EXPECT_EQ(store->metadata().at("note"), "round trip");
    EXPECT_EQ(store->tensors().size(), tensors.size());
    for (const auto& [name, v] : tensors) {
        ASSERT_TRUE(store->has(name)) << name;
        TensorView got = store->get(name);
        EXPECT_EQ(got.dtype, v.dtype) << name;
        ASSERT_EQ(got.ndim, v.ndim) << name;
        for (int i = 0; i < v.ndim; ++i) EXPECT_EQ(got.shape[size_t(i)], v.shape[size_t(i)]) << name;
        ASSERT_EQ(got.nbytes(), v.nbytes()) << name;
        EXPECT_EQ(0, std::memcmp(got.data, v.data, v.nbytes())) << name;
        EXPECT_EQ(reinterpret_cast<uintptr_t>(got.data) % dtype_size(got.dtype), 0u) << name;
    }
    auto infos = store->tensors();
    EXPECT_TRUE(std::is_sorted(infos.begin(), infos.end(), [](auto& a, auto& b) { return a.name < b.name; }));
    EXPECT_EQ(infos[0].file, p);
}

TEST(SafetensorsRoundTrip, HeaderSortedByAlignmentThenNameAndPadded) {
    float f32[2] = {1.5f, -2.0f};
    uint16_t bf[3] = {0x3f80, 0x4000, 0xbf80};
    double f64[1] = {3.25};
    uint8_t u8[3] = {1, 2, 3};
    fs::path p = test_dir() / "order.safetensors";
    save_safetensors(p, {{"z_bf16", TensorView::contiguous(bf, DType::BF16, {3})},
                         {"a_u8", TensorView::contiguous(u8, DType::U8, {3})},
                         {"m_f32", TensorView::contiguous(f32, DType::F32, {2})},
                         {"b_f32", TensorView::contiguous(f32, DType::F32, {1, 2})},
                         {"y_f64", TensorView::contiguous(f64, DType::F64, {})}});
    std::string bytes = read_all(p);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(bytes[size_t(i)]);
    EXPECT_EQ((8 + n) % 8, 0u);
    std::string header = bytes.substr(8, n);
    const std::string pad = header.substr(header.rfind('}') + 1);
    EXPECT_EQ(pad, std::string(pad.size(), ' '));  // padded with spaces only
    auto j = nlohmann::json::parse(header);
    // Expected order: f64 (8), then f32 by name (b, m), then bf16 (2), then u8 (1).
    const std::vector<std::pair<std::string, std::pair<uint64_t, uint64_t>>> want = {
        {"y_f64", {0, 8}}, {"b_f32", {8, 16}}, {"m_f32", {16, 24}}, {"z_bf16", {24, 30}}, {"a_u8", {30, 33}}};
    for (const auto& [name, off] : want) {
        EXPECT_EQ(j[name]["data_offsets"][0].get<uint64_t>(), off.first) << name;
        EXPECT_EQ(j[name]["data_offsets"][1].get<uint64_t>(), off.second) << name;
    }
    EXPECT_EQ(j["y_f64"]["shape"].size(), 0u);
    EXPECT_EQ(bytes.size(), 8 + n + 33);
    EXPECT_FALSE(j.contains("__metadata__"));
}

TEST(SafetensorsRoundTrip, NonContiguousViewsAreWrittenContiguously) {
    // A [4, 6] matrix; save columns 1..4 (slice_last) and a transposed view (stride {1, 6}).
    std::vector<float> m(24);
    for (int i = 0; i < 24; ++i) m[size_t(i)] = float(i) * 0.5f - 3.0f;
    TensorView full = TensorView::contiguous(m.data(), DType::F32, {4, 6});
    TensorView cols = full.slice_last(1, 4);  // [4, 3]
    TensorView tr = full;
    tr.shape = {6, 4, 0, 0};
    tr.stride = {1, 6, 0, 0};
    ASSERT_FALSE(cols.is_contiguous());
    ASSERT_FALSE(tr.is_contiguous());
    fs::path p = test_dir() / "strided.safetensors";
    save_safetensors(p, {{"cols", cols}, {"tr", tr}});
    auto s = WeightStore::open(p);
    TensorView c = s->get("cols", {4, 3});
    TensorView t = s->get("tr", {6, 4});
    for (int r = 0; r < 4; ++r)
        for (int k = 0; k < 3; ++k) EXPECT_EQ(c.as<float>()[r * 3 + k], m[size_t(r * 6 + 1 + k)]);
    for (int r = 0; r < 6; ++r)
        for (int k = 0; k < 4; ++k) EXPECT_EQ(t.as<float>()[r * 4 + k], m[size_t(k * 6 + r)]);
}

TEST(SafetensorsRoundTrip, GetChecksShapeAndNamesMissingTensors) {
    float v[6] = {};
    fs::path p = test_dir() / "shape.safetensors";
    save_safetensors(p, {{"w", TensorView::contiguous(v, DType::F32, {2, 3})}});
    auto s = WeightStore::open(p);
    EXPECT_EQ(s->get("w", {2, 3}).numel(), 6);
    expect_error([&] { s->get("w", {3, 2}); }, ErrorKind::kBadFile, {"'w'", "[2, 3]", "expected [3, 2]", p.string()});
    expect_error([&] { s->get("nope"); }, ErrorKind::kBadFile, {"'nope'", "missing", p.string()});
    EXPECT_FALSE(s->has("nope"));
    EXPECT_EQ(s->root(), p.parent_path());
}

TEST(SafetensorsRoundTrip, ViewsAreZeroCopyIntoTheMapping) {
    std::vector<uint16_t> a(64, 0x3f80), b(32, 0x4000);
    fs::path p = test_dir() / "zc.safetensors";
    save_safetensors(p, {{"a", TensorView::contiguous(a.data(), DType::BF16, {64})},
                         {"b", TensorView::contiguous(b.data(), DType::BF16, {32})}});
    auto s = WeightStore::open(p);
    // Both live in one mapping, adjacent in file order (a then b): b starts where a ends.
    EXPECT_EQ(static_cast<const char*>(s->get("a").data) + 128, static_cast<const char*>(s->get("b").data));
}

TEST(SafetensorsRoundTrip, MisalignedTensorsAreCopiedNotAccessedUnaligned) {
    // Header of odd length and a U8 tensor first: the F32 data starts at an odd file offset.
    float vals[3] = {1.0f, -2.5f, 1e-3f};
    std::string buf(1, '\x07');
    buf.append(reinterpret_cast<const char*>(vals), sizeof(vals));
    std::string header = R"({"u":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                         R"("f":{"dtype":"F32","shape":[3],"data_offsets":[1,13]}})";
    if ((8 + header.size()) % 2 == 1) header += " ";  // make 8+N even so 8+N+1 is odd
    ASSERT_EQ((8 + header.size() + 1) % 4, 1u);        // the F32 data really is misaligned in the file
    fs::path p = test_dir() / "misaligned.safetensors";
    write_bytes(p, st_bytes(header, buf));
    auto s = WeightStore::open(p);
    TensorView f = s->get("f", {3});
    EXPECT_EQ(reinterpret_cast<uintptr_t>(f.data) % 4, 0u);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(f.as<float>()[i], vals[i]);
    EXPECT_EQ(s->get("u").as<uint8_t>()[0], 7);
}

TEST(SafetensorsRoundTrip, EmptyFileWithNoTensors) {
    fs::path p = test_dir() / "empty.safetensors";
    save_safetensors(p, {});
    auto s = WeightStore::open(p);
    EXPECT_TRUE(s->tensors().empty());
    EXPECT_EQ(read_all(p).size() % 8, 0u);
}

TEST(SafetensorsRoundTrip, SaveRejectsDuplicateNames) {
    float v[1] = {};
    fs::path p = test_dir() / "dup.safetensors";
    auto tv = TensorView::contiguous(v, DType::F32, {1});
    expect_error([&] { save_safetensors(p, {{"x", tv}, {"x", tv}}); }, ErrorKind::kInvalidArgument, {"'x'"});
    EXPECT_FALSE(fs::exists(p));
}

TEST(AtomicWrite, ReplacesContentAndLeavesNoTempFiles) {
    fs::path d = test_dir();
    fs::path p = d / "config.json";
    write_file_atomic(p, "first");
    write_file_atomic(p, "second version");
    EXPECT_EQ(read_all(p), "second version");
    int files = 0;
    for (const auto& e : fs::directory_iterator(d)) files += e.is_regular_file();
    EXPECT_EQ(files, 1);
}

TEST(AtomicWrite, MissingFolderIsIoErrorNamingThePath) {
    fs::path p = test_dir() / "no" / "such" / "dir" / "x.bin";
    expect_error([&] { write_file_atomic(p, "x"); }, ErrorKind::kIo, {p.string()});
    expect_error([&] { fsync_directory(p.parent_path()); }, ErrorKind::kIo, {p.parent_path().string()});
}

TEST(AtomicWrite, FailedRenameIsIoErrorAndLeavesNoTempFile) {
    // The destination is a non-empty folder, so rename() fails after the data was written and fsynced.
    fs::path d = test_dir();
    fs::path target = d / "target";
    fs::create_directories(target / "inside");
    expect_error([&] { write_file_atomic(target, "data"); }, ErrorKind::kIo, {target.string(), "renaming"});
    int entries = 0;
    for (const auto& e : fs::directory_iterator(d)) entries += 1 + 0 * int(e.is_regular_file());
    EXPECT_EQ(entries, 1);  // only "target": the temp file was removed
    EXPECT_TRUE(fs::is_directory(target / "inside"));
}

}  // namespace
}  // namespace engine::test
