// hf_tokenizer.cpp — loading tokenizer.json + tokenizer_config.json, encode and decode.
#include "text/hf_tokenizer.h"

#include <cctype>
#include <fstream>
#include <limits>
#include <sstream>

#include "text/utf8.h"

namespace engine::text {

namespace {

Json parse_json(const std::string& text, const std::string& where) {
    try {
        return Json::parse(text);
    } catch (const Json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
        ENGINE_THROW(kBadFile, where, ": not valid JSON (", e.what(), ")");
    }
}

// bos_token etc.: "text", {"content": "text", ...} or null.
std::optional<std::string> token_field(const Json& cfg, const std::string& key, const JsonPath& path) {
    const Json* v = json_optional(cfg, key);
    if (!v) return std::nullopt;
    if (v->is_string()) return v->get<std::string>();
    if (v->is_object()) return json_string(json_require(*v, "content", path.at(key)), path.at(key).at("content"));
    ENGINE_THROW(kBadFile, path.at(key).where(), " should be a string or {\"content\": ...}, found ", json_type_name(*v));
}

std::string read_text_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) ENGINE_THROW(kIo, p.string(), ": cannot open for reading");
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) ENGINE_THROW(kIo, p.string(), ": read failed");
    return ss.str();
}

}  // namespace

TokenizerConfig parse_tokenizer_config(const std::string& json_text, const std::string& where) {
    TokenizerConfig c;
    if (json_text.empty()) return c;
    const Json j = parse_json(json_text, where);
    const JsonPath path{where, ""};
    if (!j.is_object()) ENGINE_THROW(kBadFile, where, ": should hold a JSON object, found ", json_type_name(j));
    c.bos_token = token_field(j, "bos_token", path);
    c.eos_token = token_field(j, "eos_token", path);
    c.pad_token = token_field(j, "pad_token", path);
    c.unk_token = token_field(j, "unk_token", path);
    c.add_bos_token = json_bool_or(j, "add_bos_token", false, path);
    c.add_eos_token = json_bool_or(j, "add_eos_token", false, path);
    if (const Json* t = json_optional(j, "chat_template")) {
        const JsonPath tp = path.at("chat_template");
        if (t->is_string()) {
            c.chat_templates.push_back({"default", t->get<std::string>()});
        } else if (t->is_array()) {
            for (size_t i = 0; i < t->size(); ++i) {
                const Json& e = (*t)[i];
                c.chat_templates.push_back({json_string(json_require(e, "name", tp.index(i)), tp.index(i).at("name")),
                                            json_string(json_require(e, "template", tp.index(i)),
                                                        tp.index(i).at("template"))});
            }
        } else {
            ENGINE_THROW(kBadFile, tp.where(), " should be a string or a list of {name, template}, found ",
                         json_type_name(*t));
        }
    }
    if (const Json* m = json_optional(j, "model_max_length")) {
        // Some files store 1e30 for "no limit"; clamp to int64.
        if (!m->is_number()) ENGINE_THROW(kBadFile, path.at("model_max_length").where(), " should be a number");
        const double d = m->get<double>();
        c.model_max_length = m->is_number_integer() ? m->get<int64_t>()
                             : d >= 9.2e18 ? std::numeric_limits<int64_t>::max()
                                           : static_cast<int64_t>(d);
    }
    return c;
}

HfTokenizer::HfTokenizer(const std::string& tokenizer_json, TokenizerConfig config, const std::string& source_name)
    : config_(std::move(config)) {
    const Json j = parse_json(tokenizer_json, source_name);
    const JsonPath root{source_name, ""};
    if (!j.is_object()) ENGINE_THROW(kBadFile, source_name, ": should hold a JSON object, found ", json_type_name(j));

    model_ = std::make_unique<BpeModel>(json_require(j, "model", root), root.at("model"));
    vocab_size_ = model_->id_bound();

    if (const Json* added = json_optional(j, "added_tokens")) {
        const JsonPath ap = root.at("added_tokens");
        json_array(*added, ap);
        for (size_t i = 0; i < added->size(); ++i) {
            const Json& t = (*added)[i];
            const JsonPath tp = ap.index(i);
            AddedToken a;
            const int64_t id = json_int(json_require(t, "id", tp), tp.at("id"));
            if (id < 0 || id >= (int64_t{1} << 31) - 1) ENGINE_THROW(kBadFile, tp.at("id").where(), " is out of range: ", id);
            a.id = static_cast<int32_t>(id);
            a.content = json_string(json_require(t, "content", tp), tp.at("content"));
            if (!utf8_is_valid(a.content)) ENGINE_THROW(kBadFile, tp.at("content").where(), " is not valid UTF-8");
            a.special = json_bool_or(t, "special", false, tp);
            a.lstrip = json_bool_or(t, "lstrip", false, tp);
            a.rstrip = json_bool_or(t, "rstrip", false, tp);
            a.normalized = json_bool_or(t, "normalized", !a.special, tp);
            a.single_word = json_bool_or(t, "single_word", false, tp);
            added_by_id_[a.id] = added_.size();
            added_by_content_[a.content] = a.id;
            vocab_size_ = std::max(vocab_size_, static_cast<size_t>(a.id) + 1);
            added_.push_back(std::move(a));
        }
    }
    raw_matcher_ = std::make_unique<AddedTokenMatcher>(added_, false);
    normalized_matcher_ = std::make_unique<AddedTokenMatcher>(added_, true);

    normalizer_ = make_normalizer(j.value("normalizer", Json()), root.at("normalizer"));
    pre_tokenizer_ = make_pre_tokenizer(j.value("pre_tokenizer", Json()), root.at("pre_tokenizer"), alphabet_);
    load_post_processor(j.value("post_processor", Json()), root.at("post_processor"));
    load_decoder(j.value("decoder", Json()), root.at("decoder"));

    for (const auto* t : {&config_.bos_token, &config_.eos_token})
        if (*t && !token_to_id(**t))
            ENGINE_THROW(kBadFile, source_name, ": tokenizer_config.json names special token '", **t,
                         "', which is neither in model.vocab nor in added_tokens");
}

void HfTokenizer::load_post_processor(const Json& j, const JsonPath& path) {
    if (j.is_null()) return;
    const std::string type = json_string(json_require(j, "type", path), path.at("type"));
    if (type == "Sequence") {
        const Json& items = json_array(json_require(j, "processors", path), path.at("processors"));
        for (size_t i = 0; i < items.size(); ++i) load_post_processor(items[i], path.at("processors").index(i));
        return;
    }
    if (type == "ByteLevel") return;  // only adjusts offsets, which we do not report
    if (type != "TemplateProcessing")
        ENGINE_THROW(kUnsupported, path.at("type").where(), " is '", type,
                     "': supported post-processors are TemplateProcessing, ByteLevel and Sequence");
    const JsonPath sp = path.at("single");
    const Json& single = json_array(json_require(j, "single", path), sp);
    const Json& specials = json_require(j, "special_tokens", path);
    bool after = false;
    for (size_t i = 0; i < single.size(); ++i) {
        const Json& item = single[i];
        if (json_optional(item, "Sequence")) {
            after = true;
        } else if (const Json* st = json_optional(item, "SpecialToken")) {
            const std::string name = json_string(json_require(*st, "id", sp.index(i).at("SpecialToken")),
                                                 sp.index(i).at("SpecialToken").at("id"));
            const JsonPath kp = path.at("special_tokens").at(name);
            const Json& entry = json_require(specials, name, path.at("special_tokens"));
            const Json& ids = json_array(json_require(entry, "ids", kp), kp.at("ids"));
            for (size_t k = 0; k < ids.size(); ++k) {
                const auto id = static_cast<int32_t>(json_int(ids[k], kp.at("ids").index(k)));
                (after ? template_suffix_ : template_prefix_).push_back(id);
            }
        } else {
            ENGINE_THROW(kBadFile, sp.index(i).where(), " should be {\"SpecialToken\": ...} or {\"Sequence\": ...}");
        }
    }
    has_template_ = true;
}

void HfTokenizer::load_decoder(const Json& j, const JsonPath& path) {
    if (j.is_null()) return;
    const std::string type = json_string(json_require(j, "type", path), path.at("type"));
    if (type == "Sequence") {
        const Json& items = json_array(json_require(j, "decoders", path), path.at("decoders"));
        for (size_t i = 0; i < items.size(); ++i) load_decoder(items[i], path.at("decoders").index(i));
    } else if (type == "ByteLevel") {
        decoder_byte_level_ = true;
    } else if (type == "ByteFallback") {
        decoder_byte_fallback_ = true;
    } else if (type != "Fuse") {
        ENGINE_THROW(kUnsupported, path.at("type").where(), " is '", type,
                     "': supported decoders are ByteLevel, ByteFallback, Fuse and Sequence");
    }
}

void HfTokenizer::encode_plain(const std::string& text, RegexScratch& scratch, std::vector<int32_t>& out) const {
    std::vector<Segment> segs;
    if (normalizer_) {
        normalized_matcher_->split(normalizer_->normalize(text), scratch, segs);
    } else {
        normalized_matcher_->split(text, scratch, segs);
    }
    const PieceSink sink = [&](std::string_view p) { model_->encode_word(p, out); };
    for (const Segment& s : segs) {
        if (s.id >= 0) out.push_back(s.id);
        else if (pre_tokenizer_) pre_tokenizer_->split_each(s.text, scratch, sink);
        else sink(s.text);
    }
}

std::vector<int32_t> HfTokenizer::encode(std::string_view raw, bool add_special_tokens) const {
    // Invalid UTF-8 becomes U+FFFD first (one per maximal invalid subsequence), as a Rust/Python caller
    // must do before calling HF tokenizers and as JavaScript's TextDecoder does.
    const std::string text = utf8_lossy(raw);
    std::unique_ptr<RegexScratch> owned;
    {
        std::lock_guard lock(scratch_mutex_);
        if (!scratch_pool_.empty()) {
            owned = std::move(scratch_pool_.back());
            scratch_pool_.pop_back();
        }
    }
    if (!owned) owned = std::make_unique<RegexScratch>();
    struct GiveBack {
        const HfTokenizer& t;
        std::unique_ptr<RegexScratch>& s;
        ~GiveBack() {
            std::lock_guard lock(t.scratch_mutex_);
            t.scratch_pool_.push_back(std::move(s));
        }
    } give_back{*this, owned};
    RegexScratch& scratch = *owned;
    std::vector<int32_t> ids;
    ids.reserve(text.size() / 3 + 4);
    if (add_special_tokens) {
        if (has_template_) ids = template_prefix_;
        else if (config_.add_bos_token && bos_id()) ids.push_back(*bos_id());
    }
    std::vector<Segment> segs;
    raw_matcher_->split(text, scratch, segs);
    for (const Segment& s : segs) {
        if (s.id >= 0) ids.push_back(s.id);
        else encode_plain(s.text, scratch, ids);
    }
    if (add_special_tokens) {
        if (has_template_) ids.insert(ids.end(), template_suffix_.begin(), template_suffix_.end());
        else if (config_.add_eos_token && config_.eos_token) ids.push_back(*token_to_id(*config_.eos_token));
    }
    return ids;
}

std::string HfTokenizer::token_bytes(int32_t id) const {
    if (auto it = added_by_id_.find(id); it != added_by_id_.end()) return added_[it->second].content;
    const std::string* tok = model_->id_to_token(id);
    if (!tok) return {};
    if (decoder_byte_fallback_ && tok->size() == 6 && tok->rfind("<0x", 0) == 0 && (*tok)[5] == '>') {
        const std::string hex = tok->substr(3, 2);
        if (std::isxdigit(static_cast<unsigned char>(hex[0])) && std::isxdigit(static_cast<unsigned char>(hex[1])))
            return std::string(1, static_cast<char>(std::stoi(hex, nullptr, 16)));
    }
    if (decoder_byte_level_) {
        std::string out;
        if (alphabet_.decode(*tok, out)) return out;
    }
    return *tok;
}

std::string HfTokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
    std::string bytes;
    for (int32_t id : ids) {
        if (skip_special_tokens && is_special(id)) continue;
        bytes += token_bytes(id);
    }
    return utf8_lossy(bytes);
}

std::optional<int32_t> HfTokenizer::token_to_id(std::string_view token) const {
    if (auto it = added_by_content_.find(std::string(token)); it != added_by_content_.end()) return it->second;
    return model_->token_to_id(token);
}

std::string HfTokenizer::id_to_token(int32_t id) const {
    if (auto it = added_by_id_.find(id); it != added_by_id_.end()) return added_[it->second].content;
    const std::string* tok = model_->id_to_token(id);
    return tok ? *tok : std::string();
}

bool HfTokenizer::is_special(int32_t id) const {
    auto it = added_by_id_.find(id);
    return it != added_by_id_.end() && added_[it->second].special;
}

std::optional<int32_t> HfTokenizer::bos_id() const {
    return config_.bos_token ? token_to_id(*config_.bos_token) : std::nullopt;
}

std::vector<int32_t> HfTokenizer::eos_ids() const {
    std::vector<int32_t> ids;
    if (config_.eos_token)
        if (auto id = token_to_id(*config_.eos_token)) ids.push_back(*id);
    return ids;
}

}  // namespace engine::text

namespace engine {

std::unique_ptr<Tokenizer> Tokenizer::from_json_text(const std::string& tokenizer_json,
                                                     const std::string& tokenizer_config_json,
                                                     const std::string& source_name) {
    TokenizerConfig cfg = text::parse_tokenizer_config(tokenizer_config_json, source_name + " (tokenizer_config.json)");
    return std::make_unique<text::HfTokenizer>(tokenizer_json, std::move(cfg), source_name);
}

std::unique_ptr<Tokenizer> Tokenizer::from_file(const std::filesystem::path& tokenizer_json) {
    const std::string json = text::read_text_file(tokenizer_json);
    const auto dir = tokenizer_json.parent_path();
    const auto cfg_path = dir / "tokenizer_config.json";
    std::error_code ec;
    const std::string cfg_text = std::filesystem::is_regular_file(cfg_path, ec) ? text::read_text_file(cfg_path) : "";
    TokenizerConfig cfg = text::parse_tokenizer_config(cfg_text, cfg_path.string());
    // chat_template.jinja (newer transformers) replaces the config's default template.
    const auto jinja = dir / "chat_template.jinja";
    if (std::filesystem::is_regular_file(jinja, ec)) {
        std::string src = text::read_text_file(jinja);
        bool replaced = false;
        for (auto& t : cfg.chat_templates)
            if (t.name == "default") { t.source = src; replaced = true; }
        if (!replaced) cfg.chat_templates.insert(cfg.chat_templates.begin(), NamedTemplate{"default", std::move(src)});
    }
    return std::make_unique<text::HfTokenizer>(json, std::move(cfg), tokenizer_json.string());
}

std::unique_ptr<Tokenizer> Tokenizer::from_path(const std::filesystem::path& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        const auto file = path / "tokenizer.json";
        if (!std::filesystem::is_regular_file(file, ec))
            ENGINE_THROW(kIo, path.string(), ": no tokenizer.json in this folder (a Hugging Face model folder "
                         "should contain tokenizer.json and tokenizer_config.json)");
        return from_file(file);
    }
    if (!std::filesystem::exists(path, ec)) ENGINE_THROW(kIo, path.string(), ": no such file or folder");
    return from_file(path);
}

}  // namespace engine
