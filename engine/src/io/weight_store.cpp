// weight_store.cpp — WeightStore over memory-mapped safetensors (single file or sharded index).
//
// Sharding policy (model.safetensors.index.json = {"metadata": {...}, "weight_map": {name: shard}}):
// - every shard named in weight_map must exist, be a plain relative path inside the folder (no "..",
//   not absolute) and contain each tensor the index assigns to it;
// - the check is lexical: symlinks are followed, because the Hugging Face hub cache stores every file of
//   snapshots/<rev>/ as a symlink into ../../blobs/;
// - a tensor found in two shards is an error (which copy is right is unknowable);
// - a tensor present in a shard but absent from weight_map is ignored and not exposed: loaders that follow
//   the index (transformers) never read it either, so exposing it would make us disagree with them.
// metadata() is the union of the shards' "__metadata__" (a key in several shards: the first shard in
// sorted file order wins); the index's own "metadata" object (e.g. total_size) is not exposed.
#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "engine/error.h"
#include "engine/weights.h"
#include "engine/detail/fp8_dequant.h"
#include "io/mapped_file.h"
#include "io/safetensors_header.h"

namespace engine {

namespace {

namespace fs = std::filesystem;

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";
constexpr const char* kScaleSuffix = "_scale_inv";
constexpr uintmax_t kMaxIndexBytes = 256u << 20;

std::string shape_string(const std::vector<int64_t>& s) {
    std::ostringstream o;
    o << '[';
    for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
    o << ']';
    return o.str();
}

struct Shard {
    fs::path file;
    std::unique_ptr<MappedFile> map;
    SafetensorsHeader header;
};

// One tensor found in a shard, before views are built.
struct Found {
    const Shard* shard;
    const SafetensorsEntry* entry;
};

class SafetensorsStore final : public WeightStore {
public:
    SafetensorsStore(fs::path root, std::string source, Fp8Load fp8)
        : root_(std::move(root)), source_(std::move(source)), fp8_(fp8) {}

    void add_shard(const fs::path& file) {
        auto s = std::make_unique<Shard>();
        s->file = file;
        s->map = std::make_unique<MappedFile>(file);
        s->header = parse_safetensors_header(s->map->data(), s->map->size(), file.string());
        shards_.push_back(std::move(s));
    }

    // Builds the views. `index` (sharded only): name -> shard file it must come from.
    void build(const std::map<std::string, fs::path>* index) {
        std::map<std::string, Found> found;
        for (const auto& s : shards_) {
            for (const auto& e : s->header.tensors) {
                auto [it, inserted] = found.emplace(e.name, Found{s.get(), &e});
                ENGINE_CHECK(inserted, kBadFile, source_, ": tensor '", e.name, "' is in both '",
                             it->second.shard->file.string(), "' and '", s->file.string(),
                             "'; each tensor must be stored once");
            }
            for (const auto& [k, v] : s->header.metadata) metadata_.emplace(k, v);
        }
        if (index) {
            for (const auto& [name, file] : *index) {
                auto it = found.find(name);
                ENGINE_CHECK(it != found.end() && it->second.shard->file == file, kBadFile, source_,
                             ": the index lists tensor '", name, "' in '", file.string(),
                             "' but that shard does not contain it",
                             it == found.end() ? std::string() : "; it is in '" + it->second.shard->file.string() + "'");
            }
            for (auto it = found.begin(); it != found.end();)  // not in the index: ignored (see top)
                it = index->count(it->first) ? std::next(it) : found.erase(it);
        }
        for (const auto& [name, f] : found) add_view(name, f);
        resolve_fp8();
    }

    bool has(std::string_view name) const override { return entries_.find(name) != entries_.end(); }

    TensorView get(std::string_view name) const override {
        auto it = entries_.find(name);
        ENGINE_CHECK(it != entries_.end(), kBadFile, source_, ": tensor '", name,
                     "' is missing; the checkpoint does not match the model config");
        return it->second.view;
    }

    TensorView get(std::string_view name, std::initializer_list<int64_t> expected) const override {
        TensorView v = get(name);
        bool ok = size_t(v.ndim) == expected.size() && std::equal(expected.begin(), expected.end(), v.shape.begin());
        if (!ok) {
            std::vector<int64_t> want(expected);
            ENGINE_THROW(kBadFile, entries_.find(name)->second.info.file.string(), ": tensor '", name,
                         "' has shape ", v.shape_str(), ", expected ", shape_string(want),
                         " from the model config");
        }
        return v;
    }

    std::vector<TensorInfo> tensors() const override {
        std::vector<TensorInfo> out;
        out.reserve(entries_.size());
        for (const auto& [_, e] : entries_) out.push_back(e.info);
        return out;
    }

    const std::map<std::string, std::string>& metadata() const override { return metadata_; }
    fs::path root() const override { return root_; }

    TensorView fp8_scale(std::string_view name) const override {
        auto it = scales_.find(name);
        return it == scales_.end() ? TensorView{} : it->second;
    }

private:
    struct Entry {
        TensorInfo info;
        TensorView view;
    };

    void add_view(const std::string& name, const Found& f) {
        const auto& e = *f.entry;
        const uint8_t* ptr = f.shard->map->data() + f.shard->header.data_start + e.begin;
        TensorView v = TensorView::contiguous(const_cast<uint8_t*>(ptr), e.dtype, e.shape.data(), int(e.shape.size()));
        if (reinterpret_cast<uintptr_t>(ptr) % dtype_size(e.dtype) != 0) {
            // The writer did not sort by alignment: a view would be a misaligned access (UB). Copy it.
            Tensor t = Tensor::cpu(e.dtype, e.shape.data(), int(e.shape.size()));
            if (v.nbytes()) std::memcpy(t.data(), ptr, v.nbytes());
            v = t.view();
            owned_.push_back(std::move(t));
        }
        Entry en;
        en.info = TensorInfo{name, e.dtype, e.shape, f.shard->file};
        en.view = v;
        entries_.emplace(name, std::move(en));
    }

    // Every F8_E4M3 weight needs an F32 "<name>_scale_inv" of 128x128 block scales; the scales are then
    // hidden from has/get/tensors. Fp8Load::kDequantize: the weights become owned BF16 here (all of them in
    // one multi-threaded pass); Fp8Load::kKeep: they stay F8_E4M3 views and fp8_scale() hands out the scales.
    void resolve_fp8() {
        std::vector<Fp8DequantJob> jobs;
        std::vector<std::string> hide;
        for (auto& [name, e] : entries_) {
            if (e.info.dtype != DType::F8_E4M3) continue;
            const std::string file = e.info.file.string();
            const std::string scale_name = name + kScaleSuffix;
            auto s = entries_.find(scale_name);
            ENGINE_CHECK(s != entries_.end(), kBadFile, file, ": F8_E4M3 tensor '", name, "' has no '",
                         scale_name, "' (F32 128x128 block scales); cannot dequantize it");
            ENGINE_CHECK(e.view.ndim == 2, kBadFile, file, ": F8_E4M3 tensor '", name, "' has shape ",
                         e.view.shape_str(), "; block-scaled FP8 weights must be 2-D [out, in]");
            const int64_t rows = e.view.shape[0], cols = e.view.shape[1];
            const std::vector<int64_t> want = {fp8_scale_blocks(rows), fp8_scale_blocks(cols)};
            const TensorView& sv = s->second.view;
            ENGINE_CHECK(sv.dtype == DType::F32, kBadFile, s->second.info.file.string(), ": scale tensor '",
                         scale_name, "' is ", dtype_name(sv.dtype), "; expected F32");
            ENGINE_CHECK(s->second.info.shape == want, kBadFile, s->second.info.file.string(), ": scale tensor '",
                         scale_name, "' has shape ", sv.shape_str(), ", expected ", shape_string(want),
                         " = [ceil(", rows, "/128), ceil(", cols, "/128)] for '", name, "'");
            hide.push_back(scale_name);
            if (fp8_ == Fp8Load::kKeep) {
                scales_.emplace(name, sv);
                continue;
            }
            Tensor out = Tensor::cpu(DType::BF16, {rows, cols});
            jobs.push_back({e.view.as<const uint8_t>(), sv.as<const float>(), out.as<uint16_t>(), rows, cols});
            e.view = out.view();
            e.info.dtype = DType::BF16;
            owned_.push_back(std::move(out));
        }
        dequantize_fp8_jobs(jobs);
        for (const auto& h : hide) entries_.erase(h);
    }

    fs::path root_;
    std::string source_;  // what error messages name: the file, or the index
    std::vector<std::unique_ptr<Shard>> shards_;
    Fp8Load fp8_;
    std::map<std::string, Entry, std::less<>> entries_;
    std::map<std::string, TensorView, std::less<>> scales_;  // Fp8Load::kKeep: weight name -> its scales
    std::vector<Tensor> owned_;
    std::map<std::string, std::string> metadata_;
};

std::string read_small_file(const fs::path& p) {
    std::error_code ec;
    auto size = fs::file_size(p, ec);
    ENGINE_CHECK(!ec, kIo, "cannot read '", p.string(), "': ", ec.message());
    ENGINE_CHECK(size <= kMaxIndexBytes, kBadFile, p.string(), ": ", size, " bytes is too large for an index file");
    std::ifstream in(p, std::ios::binary);
    ENGINE_CHECK(in.good(), kIo, "cannot open '", p.string(), "'");
    std::string s(size_t(size), '\0');
    in.read(s.data(), std::streamsize(size));
    ENGINE_CHECK(in.gcount() == std::streamsize(size), kIo, "short read of '", p.string(), "'");
    return s;
}

// A shard file name from the index: relative, no "..", no NUL, stays inside the folder.
fs::path checked_shard_path(const fs::path& dir, const std::string& shard, const std::string& index,
                            const std::string& tensor) {
    ENGINE_CHECK(!shard.empty() && shard.find('\0') == std::string::npos, kBadFile, index, ": tensor '", tensor,
                 "' maps to an empty or NUL-containing shard name; expected a file name such as "
                 "model-00001-of-00002.safetensors");
    fs::path rel = fs::path(shard).lexically_normal();
    bool escapes = rel.is_absolute() || rel.has_root_name() || rel.has_root_directory();
    for (const auto& part : rel) escapes = escapes || part == "..";
    ENGINE_CHECK(!escapes, kBadFile, index, ": tensor '", tensor, "' maps to shard '", shard,
                 "', which is outside the model folder; shard names must be relative paths without '..'");
    return dir / rel;
}

std::unique_ptr<WeightStore> open_index(const fs::path& index_path, Fp8Load fp8) {
    const std::string index = index_path.string();
    const fs::path dir = index_path.parent_path().empty() ? fs::path(".") : index_path.parent_path();
    const std::string text = read_small_file(index_path);
    nlohmann::json j = parse_json_strict(text.data(), text.data() + text.size(), index, "index");
    ENGINE_CHECK(j.is_object(), kBadFile, index, ": expected a JSON object {\"metadata\": {...}, \"weight_map\": {...}}");
    if (auto m = j.find("metadata"); m != j.end())
        ENGINE_CHECK(m->is_object() || m->is_null(), kBadFile, index, ": \"metadata\" is ", m->type_name(),
                     "; expected an object");
    auto wm = j.find("weight_map");
    ENGINE_CHECK(wm != j.end() && wm->is_object(), kBadFile, index,
                 ": missing \"weight_map\" object {tensor name: shard file}");
    std::map<std::string, fs::path> map;
    std::set<fs::path> files;
    for (auto it = wm->begin(); it != wm->end(); ++it) {
        ENGINE_CHECK(it.value().is_string(), kBadFile, index, ": \"weight_map\" entry '", it.key(), "' is ",
                     it.value().type_name(), "; expected a shard file name");
        fs::path p = checked_shard_path(dir, it.value().get<std::string>(), index, it.key());
        ENGINE_CHECK(fs::is_regular_file(p), kBadFile, index, ": shard '", p.string(), "' (for tensor '", it.key(),
                     "') does not exist; the download is incomplete");
        map.emplace(it.key(), p);
        files.insert(p);
    }
    auto store = std::make_unique<SafetensorsStore>(dir, index, fp8);
    for (const auto& f : files) store->add_shard(f);
    store->build(&map);
    return store;
}

std::unique_ptr<WeightStore> open_single(const fs::path& file, Fp8Load fp8) {
    auto store = std::make_unique<SafetensorsStore>(file.parent_path().empty() ? fs::path(".") : file.parent_path(),
                                                    file.string(), fp8);
    store->add_shard(file);
    store->build(nullptr);
    return store;
}

}  // namespace

std::unique_ptr<WeightStore> WeightStore::open(const fs::path& path, Fp8Load fp8) {
    std::error_code ec;
    auto st = fs::status(path, ec);
    ENGINE_CHECK(fs::exists(st), kIo, "cannot open '", path.string(), "': no such file or folder");
    if (fs::is_directory(st)) {
        if (fs::is_regular_file(path / kSingleFile)) return open_single(path / kSingleFile, fp8);
        if (fs::is_regular_file(path / kIndexFile)) return open_index(path / kIndexFile, fp8);
        ENGINE_THROW(kBadFile, path.string(), ": folder has neither ", kSingleFile, " nor ", kIndexFile,
                     "; point at a Hugging Face model folder or a .safetensors file");
    }
    if (path.extension() == ".json") return open_index(path, fp8);
    return open_single(path, fp8);
}

}  // namespace engine
