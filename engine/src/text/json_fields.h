// json_fields.h — typed access to tokenizer.json / tokenizer_config.json fields with errors that name
// the file and the field path ("tokenizer.json: field 'model.merges[3]' ...").
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "engine/error.h"

namespace engine::text {

using Json = nlohmann::json;

struct JsonPath {
    std::string file;   // "tokenizer.json" (or the caller's source name)
    std::string field;  // "model.merges[3]"
    JsonPath at(const std::string& key) const { return {file, field.empty() ? key : field + "." + key}; }
    JsonPath index(size_t i) const { return {file, field + "[" + std::to_string(i) + "]"}; }
    std::string where() const { return file + ": field '" + field + "'"; }
};

inline const char* json_type_name(const Json& j) { return j.type_name(); }

inline const Json& json_require(const Json& obj, const std::string& key, const JsonPath& path) {
    if (!obj.is_object())
        ENGINE_THROW(kBadFile, path.where(), " should be an object, found ", json_type_name(obj));
    auto it = obj.find(key);
    if (it == obj.end())
        ENGINE_THROW(kBadFile, path.at(key).where(), " is missing (required by the Hugging Face tokenizer format)");
    return *it;
}

inline const Json* json_optional(const Json& obj, const std::string& key) {
    if (!obj.is_object()) return nullptr;
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
}

inline std::string json_string(const Json& j, const JsonPath& path) {
    if (!j.is_string()) ENGINE_THROW(kBadFile, path.where(), " should be a string, found ", json_type_name(j));
    return j.get<std::string>();
}

inline bool json_bool_or(const Json& obj, const std::string& key, bool fallback, const JsonPath& path) {
    const Json* v = json_optional(obj, key);
    if (!v) return fallback;
    if (!v->is_boolean())
        ENGINE_THROW(kBadFile, path.at(key).where(), " should be true or false, found ", json_type_name(*v));
    return v->get<bool>();
}

inline std::string json_string_or(const Json& obj, const std::string& key, const std::string& fallback,
                                  const JsonPath& path) {
    const Json* v = json_optional(obj, key);
    return v ? json_string(*v, path.at(key)) : fallback;
}

inline int64_t json_int(const Json& j, const JsonPath& path) {
    if (!j.is_number_integer())
        ENGINE_THROW(kBadFile, path.where(), " should be an integer, found ", json_type_name(j));
    return j.get<int64_t>();
}

inline const Json& json_array(const Json& j, const JsonPath& path) {
    if (!j.is_array()) ENGINE_THROW(kBadFile, path.where(), " should be an array, found ", json_type_name(j));
    return j;
}

}  // namespace engine::text
