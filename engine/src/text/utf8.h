// utf8.h — UTF-8 helpers and the GPT-2 byte-level alphabet shared by the tokenizer and the trainer.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace engine::text {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when the bytes there are not valid UTF-8
// (overlong forms, surrogates and code points above U+10FFFF are invalid, as in Rust's str).
size_t utf8_valid_len(std::string_view s, size_t i);

// Replaces every maximal invalid subsequence with U+FFFD, the same as Rust's String::from_utf8_lossy
// and the WHATWG TextDecoder (so the JavaScript reference sees the same text). Valid input is returned
// unchanged.
std::string utf8_lossy(std::string_view s);
bool utf8_is_valid(std::string_view s);

// Length of a trailing sequence that is a valid but unfinished UTF-8 character (0..3): bytes a
// streaming decoder must hold back until the next token.
size_t utf8_incomplete_tail(std::string_view s);

void utf8_append(std::string& out, uint32_t cp);
// Decodes one code point at s[i] (input must be valid); advances i.
uint32_t utf8_next(std::string_view s, size_t& i);

// GPT-2 byte-level alphabet: each byte 0..255 is shown as one printable code point
// (printable Latin-1 bytes map to themselves, the rest to U+0100 + n in byte order).
class ByteAlphabet {
public:
    ByteAlphabet();
    // The UTF-8 text of the code point standing for `byte`.
    const std::string& encode_byte(uint8_t byte) const { return byte_to_text_[byte]; }
    std::string encode(std::string_view bytes) const;
    // Maps a byte-level token string back to raw bytes; returns false if any code point is not part of
    // the alphabet (the caller then uses the token's own bytes, as HF's ByteLevel decoder does).
    bool decode(std::string_view token, std::string& out) const;

private:
    std::array<std::string, 256> byte_to_text_;
    std::array<int16_t, 512> cp_to_byte_;  // code points used are all < 0x144
};

}  // namespace engine::text
