// safetensors_writer.cpp — save_safetensors: header like the reference writer, data streamed atomically.
#include <algorithm>
#include <array>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/weights.h"
#include "io/atomic_file.h"

namespace engine {

namespace {

constexpr size_t kChunk = 1u << 20;  // bytes buffered before each write()

// Streams the elements of a (possibly strided) host view in row-major order.
class ChunkedWriter {
public:
    explicit ChunkedWriter(AtomicFileWriter& out) : out_(out) { buf_.reserve(kChunk); }
    void put(const void* p, size_t n) {
        if (buf_.size() + n > kChunk) flush();
        if (n >= kChunk) {
            out_.write(p, n);
            return;
        }
        const char* c = static_cast<const char*>(p);
        buf_.insert(buf_.end(), c, c + n);
    }
    void flush() {
        if (!buf_.empty()) out_.write(buf_.data(), buf_.size());
        buf_.clear();
    }

private:
    AtomicFileWriter& out_;
    std::vector<char> buf_;
};

void write_view(ChunkedWriter& w, const TensorView& v) {
    const size_t es = dtype_size(v.dtype);
    if (v.numel() == 0) return;
    if (v.is_contiguous()) {
        w.put(v.data, v.nbytes());
        return;
    }
    // Non-contiguous: walk the outer indices (up to 3) and copy one innermost run at a time.
    std::array<int64_t, kMaxDims> idx{};
    const int nd = v.ndim;
    const int64_t inner = v.shape[nd - 1];
    const int64_t inner_stride = v.stride[nd - 1];
    const char* base = static_cast<const char*>(v.data);
    for (;;) {
        int64_t off = 0;
        for (int d = 0; d < nd - 1; ++d) off += idx[size_t(d)] * v.stride[size_t(d)];
        if (inner_stride == 1) {
            w.put(base + size_t(off) * es, size_t(inner) * es);
        } else {
            for (int64_t i = 0; i < inner; ++i) w.put(base + size_t(off + i * inner_stride) * es, es);
        }
        int d = nd - 2;
        for (; d >= 0; --d) {
            if (++idx[size_t(d)] < v.shape[size_t(d)]) break;
            idx[size_t(d)] = 0;
        }
        if (d < 0) break;
    }
}

}  // namespace

void save_safetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, TensorView>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
    const std::string file = path.string();
    std::vector<const std::pair<std::string, TensorView>*> order;
    std::set<std::string_view> names;
    for (const auto& t : tensors) {
        const TensorView& v = t.second;
        ENGINE_CHECK(!t.first.empty() && t.first.find('\0') == std::string::npos && t.first != "__metadata__",
                     kInvalidArgument, file, ": tensor name '", t.first, "' is empty, reserved or contains NUL");
        ENGINE_CHECK(names.insert(t.first).second, kInvalidArgument, file, ": tensor '", t.first,
                     "' is given twice");
        ENGINE_CHECK(v.device == Device::CPU, kInvalidArgument, file, ": tensor '", t.first,
                     "' is not in host memory; copy it to the CPU before saving");
        ENGINE_CHECK(v.ndim >= 0 && v.ndim <= kMaxDims, kInvalidArgument, file, ": tensor '", t.first,
                     "' has rank ", v.ndim);
        ENGINE_CHECK(dtype_size(v.dtype) > 0, kInvalidArgument, file, ": tensor '", t.first, "' has an unknown dtype");
        ENGINE_CHECK(v.data != nullptr || v.numel() == 0, kInvalidArgument, file, ": tensor '", t.first,
                     "' has no data");
        order.push_back(&t);
    }
    // Reference writer order: alignment (= dtype size) descending, then name.
    std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
        size_t sa = dtype_size(a->second.dtype), sb = dtype_size(b->second.dtype);
        return sa != sb ? sa > sb : a->first < b->first;
    });

    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    uint64_t offset = 0;
    for (const auto* t : order) {
        const TensorView& v = t->second;
        std::vector<int64_t> shape(v.shape.begin(), v.shape.begin() + v.ndim);
        const uint64_t n = v.nbytes();
        header[t->first] = {{"dtype", dtype_name(v.dtype)}, {"shape", shape}, {"data_offsets", {offset, offset + n}}};
        offset += n;
    }
    std::string text;
    try {
        text = header.dump();  // escapes control characters; throws on invalid UTF-8
    } catch (const nlohmann::json::exception& e) {
        ENGINE_THROW(kInvalidArgument, file, ": a tensor name or metadata entry is not valid UTF-8 (", e.what(), ")");
    }
    text.append((8 - text.size() % 8) % 8, ' ');
    unsigned char len[8];
    uint64_t n = text.size();
    for (int i = 0; i < 8; ++i) len[i] = (unsigned char)(n >> (8 * i));

    AtomicFileWriter out(path);
    out.write(len, 8);
    out.write(text);
    ChunkedWriter w(out);
    for (const auto* t : order) write_view(w, t->second);
    w.flush();
    out.commit();
}

}  // namespace engine
