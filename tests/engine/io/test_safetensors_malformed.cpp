// test_safetensors_malformed.cpp — one test per malformed-file class of reliability.md §1 / deepseek-arch.md §5.
// Each asserts the error kind AND that the message names the file and the tensor / field at fault.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include "engine/weights.h"
#include "st_test_util.h"

namespace engine::test {
namespace {

// Writes `bytes` to <test dir>/m.safetensors and expects open() to fail with kBadFile naming the file
// and every needle.
void expect_bad(const std::string& bytes, std::initializer_list<std::string> needles,
                ErrorKind kind = ErrorKind::kBadFile) {
    fs::path p = test_dir() / "m.safetensors";
    write_bytes(p, bytes);
    std::vector<std::string> all(needles);
    all.push_back(p.string());
    try {
        WeightStore::open(p);
        ADD_FAILURE() << "expected an error";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), kind) << e.what();
        for (const auto& n : all) EXPECT_NE(e.message().find(n), std::string::npos) << n << " not in: " << e.message();
    }
}

const std::string k8(8, '\x01');  // 8 bytes of data

TEST(SafetensorsMalformed, ValidBaselineOpens) {
    fs::path p = test_dir() / "ok.safetensors";
    write_bytes(p, st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", k8));
    auto s = WeightStore::open(p);
    EXPECT_TRUE(s->has("a"));
    EXPECT_EQ(s->get("a").numel(), 2);
}

TEST(SafetensorsMalformed, FileShorterThan8Bytes) { expect_bad(std::string("\x02\0\0\0", 4), {"4 bytes"}); }

TEST(SafetensorsMalformed, EmptyFile) { expect_bad(std::string(), {"0 bytes"}); }

TEST(SafetensorsMalformed, HeaderTooLarge) {
    expect_bad(st_bytes("{}", "", 100'000'001ull), {"100000001", "limit"});
}

TEST(SafetensorsMalformed, HeaderPastEndOfFile) {
    expect_bad(st_bytes("{}", "", 1000), {"header length 1000", "past the end"});
}

TEST(SafetensorsMalformed, HeaderLengthNearU64MaxIsRejectedWithoutOverflow) {
    expect_bad(st_bytes("{}", "", ~0ull - 3), {"limit"});
}

TEST(SafetensorsMalformed, InvalidUtf8) {
    expect_bad(st_bytes("{\"a\xff\xfe\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", k8),
               {"not valid UTF-8 JSON"});
}

TEST(SafetensorsMalformed, InvalidJson) {
    expect_bad(st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})", k8), {"not valid UTF-8 JSON"});
}

TEST(SafetensorsMalformed, HeaderNotAnObject) { expect_bad(st_bytes("[1,2]", ""), {"expected an object"}); }

TEST(SafetensorsMalformed, DuplicateTensorName) {
    expect_bad(st_bytes(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                        R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                        k8),
               {"'w' twice"});
}

TEST(SafetensorsMalformed, DuplicateFieldInsideTensor) {
    expect_bad(st_bytes(R"({"w":{"dtype":"F32","dtype":"F16","shape":[2],"data_offsets":[0,8]}})", k8),
               {"'dtype' twice"});
}

TEST(SafetensorsMalformed, UnknownDtype) {
    expect_bad(st_bytes(R"({"w":{"dtype":"F7","shape":[2],"data_offsets":[0,8]}})", k8), {"'w'", "unknown dtype 'F7'"});
}

TEST(SafetensorsMalformed, NegativeShape) {
    expect_bad(st_bytes(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", k8), {"'w'", "shape entry -2"});
}

TEST(SafetensorsMalformed, NonIntegerShape) {
    expect_bad(st_bytes(R"({"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", k8), {"'w'", "shape entry"});
    expect_bad(st_bytes(R"({"w":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}})", k8), {"'w'", "shape entry"});
}

TEST(SafetensorsMalformed, ShapeProductOverflow) {
    expect_bad(st_bytes(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,2],"data_offsets":[0,8]}})", k8),
               {"'w'", "overflows"});
    // numel fits, numel x 4 bytes does not
    expect_bad(st_bytes(R"({"w":{"dtype":"F32","shape":[4611686018427387905],"data_offsets":[0,8]}})", k8),
               {"'w'", "byte size overflows"});
}

TEST(SafetensorsMalformed, EmptyTensorWithOverflowingOtherDims) {
    // 0 elements, but the other dims' product (the row stride) does not fit int64.
    expect_bad(st_bytes(R"({"w":{"dtype":"F32","shape":[0,1099511627776,1099511627776],"data_offsets":[0,0]}})", ""),
               {"'w'", "overflows"});
}

TEST(SafetensorsMalformed, RankAboveFourIsUnsupported) {
    expect_bad(st_bytes(R"({"w":{"dtype":"F32","shape":[1,1,1,1,2],"data_offsets":[0,8]}})", k8), {"'w'", "rank 5"},
               ErrorKind::kUnsupported);
}

TEST(SafetensorsMalformed, DataOffsetsNotTwoIntegers) {
    expect_bad(st_bytes(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}})", k8), {"'w'", "data_offsets"});
    expect_bad(st_bytes(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", k8), {"'w'", "data_offsets"});
    expect_bad(st_bytes(R"({"w":{"dtype":"F32","shape":[2]}})", k8), {"'w'", "(missing)"});
}

TEST(SafetensorsMalformed, OffsetsEndBeforeBegin) {
    expect_bad(st_bytes(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", k8), {"'w'", "end < begin"});
}

TEST(SafetensorsMalformed, OffsetsDoNotMatchShape) {
    expect_bad(st_bytes(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", k8), {"'w'", "needs 12 bytes"});
}

TEST(SafetensorsMalformed, GapBetweenTensors) {
    expect_bad(st_bytes(R"({"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2]},)"
                        R"("b":{"dtype":"F16","shape":[1],"data_offsets":[4,6]}})",
                        std::string(6, '\0')),
               {"'b'", "gap"});
}

TEST(SafetensorsMalformed, OverlappingTensors) {
    expect_bad(st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                        k8),
               {"'b'", "overlap"});
}

TEST(SafetensorsMalformed, FirstTensorNotAtZero) {
    expect_bad(st_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", k8), {"'a'", "gap"});
}

TEST(SafetensorsMalformed, TrailingBytesAfterLastTensor) {
    expect_bad(st_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", k8), {"trailing bytes"});
}

TEST(SafetensorsMalformed, BufferTruncated) {
    expect_bad(st_bytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", k8), {"truncated"});
}

TEST(SafetensorsMalformed, NulByteInName) {
    expect_bad(st_bytes(R"({"a\u0000b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", k8),
               {"'a\\0b'", "NUL"});
}

TEST(SafetensorsMalformed, MetadataNotStringToString) {
    expect_bad(st_bytes(R"({"__metadata__":{"format":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", k8),
               {"__metadata__", "'format'", "expected a string"});
    expect_bad(st_bytes(R"({"__metadata__":["pt"],"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", k8),
               {"__metadata__", "expected an object"});
}

TEST(SafetensorsMalformed, TensorInfoNotAnObject) {
    expect_bad(st_bytes(R"({"a":[0,8]})", k8), {"'a'", "expected an object"});
}

TEST(SafetensorsMalformed, DeepNestingIsRejected) {
    std::string deep = "{\"__metadata__\":" + std::string(200, '[') + std::string(200, ']') + "}";
    expect_bad(st_bytes(deep, ""), {"nests deeper"});
}

TEST(SafetensorsMalformed, MissingFileIsIoError) {
    fs::path p = test_dir() / "absent.safetensors";
    expect_error([&] { WeightStore::open(p); }, ErrorKind::kIo, {p.string()});
}

TEST(SafetensorsMalformed, FifoIsRejectedWithoutBlocking) {
    fs::path p = test_dir() / "pipe.safetensors";
    ASSERT_EQ(::mkfifo(p.c_str(), 0600), 0);
    expect_error([&] { WeightStore::open(p); }, ErrorKind::kIo, {p.string(), "not a regular file"});
}

TEST(SafetensorsMalformed, FolderWithoutWeights) {
    fs::path d = test_dir();
    expect_error([&] { WeightStore::open(d); }, ErrorKind::kBadFile, {"model.safetensors", d.string()});
}

}  // namespace
}  // namespace engine::test
