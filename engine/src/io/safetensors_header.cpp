// safetensors_header.cpp — the validating header parser (see safetensors_header.h for the rule list).
#include "io/safetensors_header.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "engine/error.h"

namespace engine {

using nlohmann::json;

namespace {

constexpr int kMaxJsonDepth = 16;  // a valid header nests 3 deep; this bounds pathological inputs

struct DuplicateKey {
    std::string key;
};
struct TooDeep {};

}  // namespace

// Parses with nlohmann, rejecting duplicate keys in any object: nlohmann silently keeps the last value,
// the reference parser (serde) rejects the file, so we track the keys of each open object ourselves.
json parse_json_strict(const char* first, const char* last, const std::string& file, const char* what) {
    std::vector<std::set<std::string>> open_objects;
    auto callback = [&](int depth, json::parse_event_t event, json& parsed) -> bool {
        switch (event) {
            case json::parse_event_t::object_start:
                if (depth > kMaxJsonDepth) throw TooDeep{};
                open_objects.emplace_back();
                break;
            case json::parse_event_t::array_start:
                if (depth > kMaxJsonDepth) throw TooDeep{};
                break;
            case json::parse_event_t::object_end:
                if (!open_objects.empty()) open_objects.pop_back();
                break;
            case json::parse_event_t::key:
                if (!open_objects.empty() && parsed.is_string() &&
                    !open_objects.back().insert(parsed.get_ref<const std::string&>()).second)
                    throw DuplicateKey{parsed.get<std::string>()};
                break;
            default:
                break;
        }
        return true;
    };
    try {
        return json::parse(first, last, callback, /*allow_exceptions=*/true, /*ignore_comments=*/false);
    } catch (const DuplicateKey& d) {
        ENGINE_THROW(kBadFile, file, ": ", what, " has the key '", d.key,
                     "' twice; each tensor name (and field) must appear once");
    } catch (const TooDeep&) {
        ENGINE_THROW(kBadFile, file, ": ", what, " nests deeper than ", kMaxJsonDepth, " levels");
    } catch (const json::exception& e) {
        ENGINE_THROW(kBadFile, file, ": ", what, " is not valid UTF-8 JSON (", e.what(), "); the file is corrupt");
    }
}

namespace {

std::string printable(const std::string& name) {
    std::string out;
    for (char c : name) {
        if (c == '\0') out += "\\0";
        else out += c;
    }
    return out;
}

// A JSON value that is a non-negative integer fitting int64 (not a float, not a string).
bool as_nonneg_int(const json& v, uint64_t& out) {
    if (v.is_number_unsigned()) {
        out = v.get<uint64_t>();
        return true;
    }
    if (v.is_number_integer()) {
        int64_t i = v.get<int64_t>();
        if (i < 0) return false;
        out = uint64_t(i);
        return true;
    }
    return false;
}

SafetensorsEntry parse_entry(const std::string& file, const std::string& name, const json& info) {
    SafetensorsEntry e;
    e.name = name;
    const std::string where = file + ": tensor '" + printable(name) + "'";
    ENGINE_CHECK(name.find('\0') == std::string::npos, kBadFile, where, " has a NUL byte in its name");
    ENGINE_CHECK(info.is_object(), kBadFile, where, " is ", info.type_name(),
                 "; expected an object {\"dtype\", \"shape\", \"data_offsets\"}");

    auto dt = info.find("dtype");
    ENGINE_CHECK(dt != info.end() && dt->is_string(), kBadFile, where,
                 " has no string \"dtype\"; expected e.g. \"BF16\"");
    auto dtype = dtype_from_name(dt->get_ref<const std::string&>());
    ENGINE_CHECK(dtype.has_value(), kBadFile, where, " has unknown dtype '", dt->get<std::string>(),
                 "'; expected one of F64 F32 F16 BF16 F8_E4M3 F8_E5M2 I64 I32 I16 I8 U64 U32 U16 U8 BOOL");
    e.dtype = *dtype;

    auto sh = info.find("shape");
    ENGINE_CHECK(sh != info.end() && sh->is_array(), kBadFile, where,
                 " has no \"shape\" array; expected e.g. [2048, 512]");
    uint64_t numel = 1;
    int64_t nonzero_product = 1;  // strides are int64: even an empty tensor's other dims must multiply safely
    for (const auto& d : *sh) {
        uint64_t v = 0;
        ENGINE_CHECK(as_nonneg_int(d, v) && v <= uint64_t(std::numeric_limits<int64_t>::max()), kBadFile,
                     where, " has shape entry ", d.dump(), "; expected non-negative integers");
        ENGINE_CHECK(!__builtin_mul_overflow(numel, v, &numel) &&
                         (v == 0 || !__builtin_mul_overflow(nonzero_product, int64_t(v), &nonzero_product)),
                     kBadFile, where, " has shape ", sh->dump(), " whose element count overflows 64 bits");
        e.shape.push_back(int64_t(v));
    }
    uint64_t nbytes = 0;
    ENGINE_CHECK(!__builtin_mul_overflow(numel, uint64_t(dtype_size(e.dtype)), &nbytes), kBadFile, where,
                 " has shape ", sh->dump(), " whose byte size overflows 64 bits");
    ENGINE_CHECK(e.shape.size() <= 4, kUnsupported, where, " has rank ", e.shape.size(),
                 "; tensors of rank > 4 are not supported");

    auto off = info.find("data_offsets");
    ENGINE_CHECK(off != info.end() && off->is_array() && off->size() == 2 && as_nonneg_int((*off)[0], e.begin) &&
                     as_nonneg_int((*off)[1], e.end),
                 kBadFile, where, " has data_offsets ", off == info.end() ? std::string("(missing)") : off->dump(),
                 "; expected [begin, end], two non-negative integers");
    ENGINE_CHECK(e.end >= e.begin, kBadFile, where, " has data_offsets [", e.begin, ", ", e.end,
                 "] with end < begin");
    ENGINE_CHECK(e.end - e.begin == nbytes, kBadFile, where, " has data_offsets [", e.begin, ", ", e.end,
                 "] (", e.end - e.begin, " bytes) but ", dtype_name(e.dtype), " ", sh->dump(), " needs ", nbytes,
                 " bytes");
    return e;
}

}  // namespace

SafetensorsHeader parse_safetensors_header(const uint8_t* bytes, size_t size, const std::string& file) {
    ENGINE_CHECK(size >= 8, kBadFile, file, ": file is ", size,
                 " bytes; a safetensors file starts with an 8-byte header length");
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];  // little-endian u64
    ENGINE_CHECK(n <= kSafetensorsMaxHeader, kBadFile, file, ": header length ", n, " exceeds the ",
                 kSafetensorsMaxHeader, "-byte limit; the file is corrupt or not a safetensors file");
    ENGINE_CHECK(n <= uint64_t(size) - 8, kBadFile, file, ": header length ", n, " runs past the end of the ",
                 size, "-byte file; the file is truncated");

    SafetensorsHeader h;
    h.data_start = 8 + n;
    const char* text = reinterpret_cast<const char*>(bytes + 8);
    json root = parse_json_strict(text, text + n, file, "safetensors header");
    ENGINE_CHECK(root.is_object(), kBadFile, file, ": safetensors header is a JSON ", root.type_name(),
                 "; expected an object {tensor name: {dtype, shape, data_offsets}}");

    for (auto it = root.begin(); it != root.end(); ++it) {
        if (it.key() == "__metadata__") {
            const json& m = it.value();
            if (m.is_null()) continue;
            ENGINE_CHECK(m.is_object(), kBadFile, file, ": \"__metadata__\" is ", m.type_name(),
                         "; expected an object of string -> string");
            for (auto mi = m.begin(); mi != m.end(); ++mi) {
                ENGINE_CHECK(mi.value().is_string(), kBadFile, file, ": \"__metadata__\" entry '", mi.key(),
                             "' is ", mi.value().type_name(), "; expected a string");
                h.metadata[mi.key()] = mi.value().get<std::string>();
            }
            continue;
        }
        h.tensors.push_back(parse_entry(file, it.key(), it.value()));
    }

    std::sort(h.tensors.begin(), h.tensors.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    uint64_t expected = 0;
    for (const auto& e : h.tensors) {
        ENGINE_CHECK(e.begin == expected, kBadFile, file, ": tensor '", printable(e.name), "' starts at byte ",
                     e.begin, " of the data buffer but the previous tensor ends at ", expected,
                     e.begin > expected ? " (gap)" : " (overlap)", "; tensors must tile the buffer exactly");
        expected = e.end;
    }
    const uint64_t buffer = uint64_t(size) - h.data_start;
    ENGINE_CHECK(expected == buffer, kBadFile, file, ": tensors cover ", expected, " bytes of a ", buffer,
                 "-byte data buffer", expected < buffer ? " (trailing bytes after the last tensor)" : " (truncated)",
                 "; the file is corrupt");
    return h;
}

}  // namespace engine
