// test_sharded_and_fp8.cpp — sharded folders (model.safetensors.index.json) and FP8 block dequantization.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "engine/weights.h"
#include "st_test_util.h"

namespace engine::test {
namespace {

TensorView f32_view(std::vector<float>& v, std::initializer_list<int64_t> shape) {
    return TensorView::contiguous(v.data(), DType::F32, shape);
}

// Two shards: a.safetensors {x, y}, b.safetensors {z}.
struct ShardedFolder {
    fs::path dir;
    std::vector<float> x{1, 2, 3, 4}, y{5, 6}, z{7, 8, 9};
    explicit ShardedFolder(fs::path d) : dir(std::move(d)) {
        fs::create_directories(dir);
        save_safetensors(dir / "a.safetensors", {{"x", f32_view(x, {2, 2})}, {"y", f32_view(y, {2})}},
                         {{"format", "pt"}});
        save_safetensors(dir / "b.safetensors", {{"z", f32_view(z, {3})}});
    }
    void index(const std::string& weight_map, const std::string& metadata = "{}") const {
        write_file_atomic(dir / "model.safetensors.index.json",
                          "{\"metadata\": " + metadata + ", \"weight_map\": " + weight_map + "}");
    }
};

TEST(Sharded, FolderIndexOpensAllShards) {
    ShardedFolder f(test_dir());
    f.index(R"({"x": "a.safetensors", "y": "a.safetensors", "z": "b.safetensors"})", R"({"total_size": 36})");
    for (const fs::path& p : {f.dir, f.dir / "model.safetensors.index.json"}) {
        auto s = WeightStore::open(p);
        EXPECT_EQ(s->tensors().size(), 3u);
        EXPECT_EQ(s->get("x", {2, 2}).as<float>()[3], 4.0f);
        EXPECT_EQ(s->get("z", {3}).as<float>()[2], 9.0f);
        EXPECT_EQ(s->tensors()[2].file, f.dir / "b.safetensors");
        EXPECT_EQ(s->metadata().at("format"), "pt");
        EXPECT_EQ(s->root(), f.dir);
    }
}

TEST(Sharded, SingleFilePreferredInFolder) {
    fs::path d = test_dir();
    std::vector<float> w{1, 2};
    save_safetensors(d / "model.safetensors", {{"w", f32_view(w, {2})}});
    auto s = WeightStore::open(d);
    EXPECT_TRUE(s->has("w"));
}

TEST(Sharded, MissingShard) {
    ShardedFolder f(test_dir());
    f.index(R"({"x": "a.safetensors", "z": "c.safetensors"})");
    expect_error([&] { WeightStore::open(f.dir); }, ErrorKind::kBadFile, {"c.safetensors", "'z'", "does not exist"});
}

TEST(Sharded, TensorListedButAbsentFromShard) {
    ShardedFolder f(test_dir());
    f.index(R"({"x": "a.safetensors", "y": "a.safetensors", "z": "b.safetensors", "q": "b.safetensors"})");
    expect_error([&] { WeightStore::open(f.dir); }, ErrorKind::kBadFile,
                 {"model.safetensors.index.json", "'q'", "b.safetensors", "does not contain"});
}

TEST(Sharded, TensorListedInWrongShard) {
    ShardedFolder f(test_dir());
    f.index(R"({"x": "b.safetensors", "y": "a.safetensors", "z": "b.safetensors"})");
    expect_error([&] { WeightStore::open(f.dir); }, ErrorKind::kBadFile, {"'x'", "does not contain", "a.safetensors"});
}

TEST(Sharded, TensorInShardButNotInIndexIsIgnored) {
    ShardedFolder f(test_dir());
    f.index(R"({"x": "a.safetensors", "z": "b.safetensors"})");  // y is in a.safetensors but not listed
    auto s = WeightStore::open(f.dir);
    EXPECT_TRUE(s->has("x"));
    EXPECT_FALSE(s->has("y"));
    EXPECT_EQ(s->tensors().size(), 2u);
}

TEST(Sharded, SameTensorInTwoShards) {
    ShardedFolder f(test_dir());
    std::vector<float> z2{0, 0, 0};
    save_safetensors(f.dir / "c.safetensors", {{"z", f32_view(z2, {3})}});
    f.index(R"({"x": "a.safetensors", "z": "b.safetensors", "w": "c.safetensors"})");
    // c.safetensors is referenced (for "w", which it lacks, and it holds a second "z")
    expect_error([&] { WeightStore::open(f.dir); }, ErrorKind::kBadFile, {"'z'", "b.safetensors", "c.safetensors"});
}

TEST(Sharded, ShardPathEscapingTheFolder) {
    fs::path root = test_dir();
    ShardedFolder f(root / "model");
    std::vector<float> o{1};
    save_safetensors(root / "outside.safetensors", {{"o", f32_view(o, {1})}});
    f.index(R"({"x": "a.safetensors", "o": "../outside.safetensors"})");
    expect_error([&] { WeightStore::open(f.dir); }, ErrorKind::kBadFile, {"'o'", "../outside.safetensors", "outside"});
    f.index(R"({"x": "a.safetensors", "o": ")" + (root / "outside.safetensors").string() + "\"}");
    expect_error([&] { WeightStore::open(f.dir); }, ErrorKind::kBadFile, {"'o'", "outside the model folder"});
    f.index(R"({"x": "a.safetensors", "o": "sub/../../outside.safetensors"})");
    expect_error([&] { WeightStore::open(f.dir); }, ErrorKind::kBadFile, {"'o'", "outside the model folder"});
}

TEST(Sharded, SymlinkedShardsLikeTheHubCache) {
    // snapshots/<rev>/{index, shards} are symlinks into ../../blobs/ in the Hugging Face cache.
    fs::path root = test_dir();
    ShardedFolder blobs(root / "blobs");
    blobs.index(R"({"x": "a.safetensors", "z": "b.safetensors"})");
    fs::path snap = root / "snapshots" / "abc";
    fs::create_directories(snap);
    for (const char* f : {"a.safetensors", "b.safetensors", "model.safetensors.index.json"})
        fs::create_symlink(fs::path("../../blobs") / f, snap / f);
    auto s = WeightStore::open(snap);
    EXPECT_EQ(s->get("z", {3}).as<float>()[0], 7.0f);
    EXPECT_EQ(s->root(), snap);
}

TEST(Sharded, MalformedIndex) {
    ShardedFolder f(test_dir());
    f.index(R"({"x": 3})");
    expect_error([&] { WeightStore::open(f.dir); }, ErrorKind::kBadFile, {"'x'", "expected a shard file name"});
    f.index(R"({"x": "a.safetensors", "x": "b.safetensors"})");
    expect_error([&] { WeightStore::open(f.dir); }, ErrorKind::kBadFile, {"'x' twice"});
    write_file_atomic(f.dir / "model.safetensors.index.json", R"({"metadata": {}})");
    expect_error([&] { WeightStore::open(f.dir); }, ErrorKind::kBadFile, {"weight_map"});
    write_file_atomic(f.dir / "model.safetensors.index.json", "{\"weight_map\": ");
    expect_error([&] { WeightStore::open(f.dir); }, ErrorKind::kBadFile, {"not valid UTF-8 JSON"});
}

TEST(Sharded, MalformedShardNamesTheShard) {
    ShardedFolder f(test_dir());
    write_bytes(f.dir / "b.safetensors", std::string("\x03\0\0", 3));
    f.index(R"({"x": "a.safetensors", "z": "b.safetensors"})");
    expect_error([&] { WeightStore::open(f.dir); }, ErrorKind::kBadFile, {(f.dir / "b.safetensors").string()});
}

// ---------------------------------------------------------------- FP8

// Scalar reference written out here (independent of the library's table): OCP E4M3FN.
float e4m3_reference(uint8_t v) {
    const int sign = v >> 7, exp = (v >> 3) & 0xf, man = v & 7;
    if (exp == 15 && man == 7) return NAN;
    float mag = exp == 0 ? std::ldexp(float(man) / 8.0f, -6) : std::ldexp(1.0f + float(man) / 8.0f, exp - 7);
    return sign ? -mag : mag;
}

struct Fp8Weight {
    int64_t out, in;
    std::vector<uint8_t> w;
    std::vector<float> scale;
    Fp8Weight(int64_t o, int64_t i, uint32_t seed) : out(o), in(i), w(size_t(o * i)) {
        std::mt19937 rng(seed);
        for (auto& b : w) {
            b = uint8_t(rng());
            if ((b & 0x7f) == 0x7f) b = 0x3c;  // avoid NaN codes
        }
        const int64_t so = (o + 127) / 128, si = (i + 127) / 128;
        scale.resize(size_t(so * si));
        for (size_t k = 0; k < scale.size(); ++k) scale[k] = 0.25f * float(k + 1) + 0.001f * float(seed);
    }
    TensorView wv() { return TensorView::contiguous(w.data(), DType::F8_E4M3, {out, in}); }
    TensorView sv() { return TensorView::contiguous(scale.data(), DType::F32, {(out + 127) / 128, (in + 127) / 128}); }
};

TEST(Fp8, DequantizesBlocksIncludingEdgeBlocks) {
    Fp8Weight a(300, 200, 1), b(128, 129, 2), c(1, 5, 3);  // edges: 300 = 2·128+44, 200 = 128+72, 129, tiny
    std::vector<uint16_t> norm(8, 0x3f80);
    fs::path p = test_dir() / "fp8.safetensors";
    save_safetensors(p, {{"l.a.weight", a.wv()}, {"l.a.weight_scale_inv", a.sv()},
                         {"l.b.weight", b.wv()}, {"l.b.weight_scale_inv", b.sv()},
                         {"l.c.weight", c.wv()}, {"l.c.weight_scale_inv", c.sv()},
                         {"norm.weight", TensorView::contiguous(norm.data(), DType::BF16, {8})}});
    auto s = WeightStore::open(p);
    EXPECT_EQ(s->tensors().size(), 4u);  // scales hidden
    EXPECT_FALSE(s->has("l.a.weight_scale_inv"));
    for (auto* wt : {&a, &b, &c}) {
        const std::string name = wt == &a ? "l.a.weight" : wt == &b ? "l.b.weight" : "l.c.weight";
        TensorView v = s->get(name, {wt->out, wt->in});
        ASSERT_EQ(v.dtype, DType::BF16);
        const int64_t si = (wt->in + 127) / 128;
        int mismatches = 0;
        for (int64_t i = 0; i < wt->out; ++i)
            for (int64_t j = 0; j < wt->in; ++j) {
                float ref = e4m3_reference(wt->w[size_t(i * wt->in + j)]) * wt->scale[size_t((i / 128) * si + j / 128)];
                mismatches += v.as<uint16_t>()[i * wt->in + j] != f32_to_bf16(ref);
            }
        EXPECT_EQ(mismatches, 0) << name;
    }
    for (const auto& info : s->tensors())
        if (info.name != "norm.weight") {
            EXPECT_EQ(info.dtype, DType::BF16) << info.name;
        }
    // Spot value: block (2, 1) of a uses scale index 2·2+1.
    float ref = e4m3_reference(a.w[size_t(299 * 200 + 199)]) * a.scale[5];
    EXPECT_EQ(bf16_to_f32(s->get("l.a.weight").as<uint16_t>()[299 * 200 + 199]), bf16_to_f32(f32_to_bf16(ref)));
}

TEST(Fp8, EmptyWeightDequantizesToEmptyBf16) {
    std::vector<float> scale;  // [0, 1]
    fs::path p = test_dir() / "empty_fp8.safetensors";
    save_safetensors(p, {{"e", TensorView::contiguous(nullptr, DType::F8_E4M3, {0, 5})},
                         {"e_scale_inv", TensorView::contiguous(nullptr, DType::F32, {0, 1})}});
    auto s = WeightStore::open(p);
    TensorView v = s->get("e", {0, 5});
    EXPECT_EQ(v.dtype, DType::BF16);
    EXPECT_FALSE(s->has("e_scale_inv"));
}

TEST(Fp8, WeightWithoutScale) {
    Fp8Weight a(4, 4, 1);
    fs::path p = test_dir() / "noscale.safetensors";
    save_safetensors(p, {{"q.weight", a.wv()}});
    expect_error([&] { WeightStore::open(p); }, ErrorKind::kBadFile, {"'q.weight'", "q.weight_scale_inv", p.string()});
}

TEST(Fp8, ScaleWithWrongShape) {
    Fp8Weight a(130, 4, 1);
    std::vector<float> bad(1, 1.0f);  // needs [2, 1]
    fs::path p = test_dir() / "badscale.safetensors";
    save_safetensors(p, {{"q.weight", a.wv()}, {"q.weight_scale_inv", TensorView::contiguous(bad.data(), DType::F32, {1, 1})}});
    expect_error([&] { WeightStore::open(p); }, ErrorKind::kBadFile, {"'q.weight_scale_inv'", "[1, 1]", "expected [2, 1]"});
}

TEST(Fp8, ScaleWithWrongDtype) {
    Fp8Weight a(4, 4, 1);
    std::vector<uint16_t> bad(1, 0x3f80);
    fs::path p = test_dir() / "bf16scale.safetensors";
    save_safetensors(p, {{"q.weight", a.wv()}, {"q.weight_scale_inv", TensorView::contiguous(bad.data(), DType::BF16, {1, 1})}});
    expect_error([&] { WeightStore::open(p); }, ErrorKind::kBadFile, {"'q.weight_scale_inv'", "expected F32"});
}

TEST(Fp8, ShardedWeightAndScaleInDifferentShards) {
    fs::path d = test_dir();
    Fp8Weight a(129, 130, 7);
    save_safetensors(d / "m1.safetensors", {{"w", a.wv()}});
    save_safetensors(d / "m2.safetensors", {{"w_scale_inv", a.sv()}});
    write_file_atomic(d / "model.safetensors.index.json",
                      R"({"metadata": {}, "weight_map": {"w": "m1.safetensors", "w_scale_inv": "m2.safetensors"}})");
    auto s = WeightStore::open(d);
    TensorView v = s->get("w", {129, 130});
    float ref = e4m3_reference(a.w[size_t(128 * 130 + 129)]) * a.scale[3];
    EXPECT_EQ(v.as<uint16_t>()[128 * 130 + 129], f32_to_bf16(ref));
    EXPECT_FALSE(s->has("w_scale_inv"));
}

// Fp8Load::kKeep (what the model loader uses): F8 views of the mapping, scales via fp8_scale, still
// hidden from has/tensors, and the same checks at open.
TEST(Fp8, KeepLeavesWeightsFp8AndHandsOutTheirScales) {
    Fp8Weight a(300, 200, 1);
    std::vector<uint16_t> norm(8, 0x3f80);
    fs::path p = test_dir() / "keep.safetensors";
    save_safetensors(p, {{"l.a.weight", a.wv()}, {"l.a.weight_scale_inv", a.sv()},
                         {"norm.weight", TensorView::contiguous(norm.data(), DType::BF16, {8})}});
    auto s = WeightStore::open(p, Fp8Load::kKeep);
    EXPECT_EQ(s->tensors().size(), 2u);
    EXPECT_FALSE(s->has("l.a.weight_scale_inv"));
    TensorView v = s->get("l.a.weight", {300, 200});
    ASSERT_EQ(v.dtype, DType::F8_E4M3);
    EXPECT_EQ(std::memcmp(v.data, a.w.data(), a.w.size()), 0);
    for (const auto& info : s->tensors()) {
        EXPECT_EQ(info.dtype, info.name == "norm.weight" ? DType::BF16 : DType::F8_E4M3) << info.name;
    }
    TensorView sc = s->fp8_scale("l.a.weight");
    ASSERT_NE(sc.data, nullptr);
    EXPECT_EQ(sc.dtype, DType::F32);
    EXPECT_EQ(sc.shape_str(), "[3, 2]");
    EXPECT_EQ(std::memcmp(sc.data, a.scale.data(), a.scale.size() * 4), 0);
    EXPECT_EQ(s->fp8_scale("norm.weight").data, nullptr);
    EXPECT_EQ(s->fp8_scale("absent").data, nullptr);
    EXPECT_EQ(loaded_dtype_size(v.dtype), 2);  // what it costs once loaded (BF16)

    const fs::path bad = test_dir() / "keep_noscale.safetensors";
    save_safetensors(bad, {{"q.weight", a.wv()}});
    expect_error([&] { WeightStore::open(bad, Fp8Load::kKeep); }, ErrorKind::kBadFile, {"'q.weight'", "q.weight_scale_inv"});
}

}  // namespace
}  // namespace engine::test
