// tokenizer_fuzz.cpp — libFuzzer target for the tokenizer: the tokenizer.json/tokenizer_config.json
// loader, and encode/decode/stream-decode of arbitrary bytes.
//
// Input layout: first byte selects the mode.
//   even: the rest is encoded with a fixed byte-level tokenizer (DeepSeek-V3 pre-tokenizer, NFC, a few
//         merges, added tokens with lstrip/rstrip); decode(encode(x)) must equal x with invalid UTF-8
//         replaced, and the stream decoder must give the same text in whole characters.
//   odd:  the rest is "tokenizer.json \x00 tokenizer_config.json"; loading may throw engine::Error only;
//         a loaded tokenizer then encodes and decodes a fixed text.
// Any other exception, a crash, or a sanitizer report is a finding.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "engine/error.h"
#include "engine/tokenizer.h"
#include "text/utf8.h"

namespace {

const char* kFixedTokenizer = R"JSON({
 "version": "1.0",
 "added_tokens": [
  {"id": 300, "content": "<|end|>", "special": true, "normalized": false},
  {"id": 301, "content": "<mask>", "special": true, "lstrip": true, "rstrip": true, "normalized": false},
  {"id": 302, "content": "word", "special": false, "normalized": true, "single_word": true}
 ],
 "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}]},
 "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
  {"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}"}, "behavior": "Isolated", "invert": false},
  {"type": "Split", "pattern": {"Regex": "[一-龥぀-ゟ゠-ヿ]+"}, "behavior": "Isolated", "invert": false},
  {"type": "Split", "pattern": {"Regex": "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false},
  {"type": "Digits", "individual_digits": false},
  {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]},
 "decoder": {"type": "ByteLevel"},
 "model": {"type": "BPE", "vocab": {VOCAB}, "merges": [MERGES]}
})JSON";

std::string fixed_tokenizer_json() {
    engine::text::ByteAlphabet alpha;
    std::string vocab, merges;
    auto quote = [](const std::string& s) {
        std::string q = "\"";
        for (char c : s) {
            if (c == '"' || c == '\\') q += '\\';
            q += c;
        }
        return q + "\"";
    };
    int id = 0;
    for (int b = 0; b < 256; ++b) vocab += (b ? "," : "") + quote(alpha.encode_byte(uint8_t(b))) + ":" + std::to_string(id++);
    const char* pairs[][2] = {{"a", "b"}, {"ab", "c"}, {"Ġ", "t"}, {"Ġt", "h"}, {"Ġth", "e"}, {"e", "r"}, {"a", "a"}, {"aa", "aa"}};
    for (auto& p : pairs) {
        vocab += "," + quote(std::string(p[0]) + p[1]) + ":" + std::to_string(id++);
        merges += (merges.empty() ? "" : ",") + quote(std::string(p[0]) + " " + p[1]);
    }
    std::string j = kFixedTokenizer;
    j.replace(j.find("{VOCAB}"), 7, "{" + vocab + "}");
    j.replace(j.find("[MERGES]"), 8, "[" + merges + "]");
    return j;
}

const engine::Tokenizer& fixed() {
    static const auto tok = engine::Tokenizer::from_json_text(fixed_tokenizer_json(), R"({"eos_token": "<|end|>"})", "fuzz");
    return *tok;
}

void check_roundtrip(const engine::Tokenizer& tok, std::string_view text) {
    const auto ids = tok.encode(text, true);
    const std::string back = tok.decode(ids);
    if (!engine::text::utf8_is_valid(back)) {
        std::fprintf(stderr, "decode produced invalid UTF-8\n");
        std::abort();
    }
    engine::StreamDecoder stream(tok);
    std::string streamed;
    for (int32_t id : ids) {
        const std::string piece = stream.push(id);
        if (!engine::text::utf8_is_valid(piece)) {
            std::fprintf(stderr, "stream decoder emitted half a character\n");
            std::abort();
        }
        streamed += piece;
    }
    streamed += stream.flush();
    if (streamed != back) {
        std::fprintf(stderr, "stream decode differs from decode\n");
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    if ((data[0] & 1) == 0) {
        const engine::Tokenizer& tok = fixed();
        check_roundtrip(tok, rest);
        // Without NFC changes (ASCII-only input) byte-level BPE must give the input back exactly, unless
        // the text holds "<mask>", whose lstrip/rstrip drop the spaces around it by design.
        bool ascii = rest.find("<mask>") == std::string_view::npos;
        for (char c : rest) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
        if (ascii && tok.decode(tok.encode(rest)) != rest) {
            std::fprintf(stderr, "ASCII round trip failed\n");
            std::abort();
        }
        return 0;
    }
    const size_t cut = rest.find('\0');
    const std::string json(rest.substr(0, cut));
    const std::string cfg = cut == std::string_view::npos ? "" : std::string(rest.substr(cut + 1));
    try {
        auto tok = engine::Tokenizer::from_json_text(json, cfg, "fuzz/tokenizer.json");
        check_roundtrip(*tok, "Hello, world! 123 中文 😀 <|end|> \xFF");
    } catch (const engine::Error&) {
        // expected for malformed input
    }
    return 0;
}
