// utf8.cpp — UTF-8 validation/repair and the GPT-2 byte-level alphabet.
#include "text/utf8.h"

namespace engine::text {

size_t utf8_valid_len(std::string_view s, size_t i) {
    const size_t n = s.size();
    const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
    const uint8_t c = b(i);
    if (c < 0x80) return 1;
    if (c < 0xC2) return 0;
    if (c < 0xE0) return (i + 1 < n && (b(i + 1) & 0xC0) == 0x80) ? 2 : 0;
    if (c < 0xF0) {
        if (i + 2 >= n) return 0;
        const uint8_t c1 = b(i + 1);
        const uint8_t lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        if (c1 < lo || c1 > hi || (b(i + 2) & 0xC0) != 0x80) return 0;
        return 3;
    }
    if (c < 0xF5) {
        if (i + 3 >= n) return 0;
        const uint8_t c1 = b(i + 1);
        const uint8_t lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        if (c1 < lo || c1 > hi || (b(i + 2) & 0xC0) != 0x80 || (b(i + 3) & 0xC0) != 0x80) return 0;
        return 4;
    }
    return 0;
}

bool utf8_is_valid(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        const size_t len = utf8_valid_len(s, i);
        if (len == 0) return false;
        i += len;
    }
    return true;
}

// Length of the longest prefix at s[i] that could start a valid sequence (the "maximal subpart"
// Unicode §3.9 says to replace with one U+FFFD); at least 1.
static size_t invalid_subpart_len(std::string_view s, size_t i) {
    const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
    const uint8_t c = b(i);
    size_t need = 0;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c < 0xE0) need = 1;
    else if (c >= 0xE0 && c < 0xF0) { need = 2; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
    else if (c >= 0xF0 && c < 0xF5) { need = 3; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
    else return 1;
    size_t k = 1;
    for (; k <= need && i + k < s.size(); ++k) {
        const uint8_t d = b(i + k);
        if (k == 1 ? (d < lo || d > hi) : (d & 0xC0) != 0x80) break;
    }
    return k;
}

size_t utf8_incomplete_tail(std::string_view s) {
    const size_t n = s.size();
    for (size_t back = 1; back <= 3 && back <= n; ++back) {
        const size_t i = n - back;
        const auto c = static_cast<uint8_t>(s[i]);
        if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead byte
        if (c < 0xC2 || c >= 0xF5) return 0;
        const size_t need = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        return (back < need && invalid_subpart_len(s, i) == back) ? back : 0;
    }
    return 0;
}

std::string utf8_lossy(std::string_view s) {
    if (utf8_is_valid(s)) return std::string(s);
    std::string out;
    out.reserve(s.size() + 8);
    for (size_t i = 0; i < s.size();) {
        const size_t len = utf8_valid_len(s, i);
        if (len) {
            out.append(s.substr(i, len));
            i += len;
        } else {
            out.append("\xEF\xBF\xBD");
            i += invalid_subpart_len(s, i);
        }
    }
    return out;
}

void utf8_append(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

uint32_t utf8_next(std::string_view s, size_t& i) {
    const auto b = [&](size_t k) { return static_cast<uint32_t>(static_cast<uint8_t>(s[k])); };
    const uint32_t c = b(i);
    if (c < 0x80) { i += 1; return c; }
    if (c < 0xE0) { const uint32_t cp = ((c & 0x1F) << 6) | (b(i + 1) & 0x3F); i += 2; return cp; }
    if (c < 0xF0) {
        const uint32_t cp = ((c & 0x0F) << 12) | ((b(i + 1) & 0x3F) << 6) | (b(i + 2) & 0x3F);
        i += 3;
        return cp;
    }
    const uint32_t cp = ((c & 0x07) << 18) | ((b(i + 1) & 0x3F) << 12) | ((b(i + 2) & 0x3F) << 6) | (b(i + 3) & 0x3F);
    i += 4;
    return cp;
}

ByteAlphabet::ByteAlphabet() {
    cp_to_byte_.fill(-1);
    int extra = 0;
    for (int byte = 0; byte < 256; ++byte) {
        const bool printable = (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) || (byte >= 0xAE);
        const uint32_t cp = printable ? static_cast<uint32_t>(byte) : 256u + static_cast<uint32_t>(extra++);
        utf8_append(byte_to_text_[byte], cp);
        cp_to_byte_[cp] = static_cast<int16_t>(byte);
    }
}

std::string ByteAlphabet::encode(std::string_view bytes) const {
    std::string out;
    out.reserve(bytes.size() * 2);
    for (char c : bytes) out += byte_to_text_[static_cast<uint8_t>(c)];
    return out;
}

bool ByteAlphabet::decode(std::string_view token, std::string& out) const {
    const size_t start = out.size();
    for (size_t i = 0; i < token.size();) {
        if (utf8_valid_len(token, i) == 0) { out.resize(start); return false; }
        const uint32_t cp = utf8_next(token, i);
        if (cp >= cp_to_byte_.size() || cp_to_byte_[cp] < 0) { out.resize(start); return false; }
        out.push_back(static_cast<char>(cp_to_byte_[cp]));
    }
    return true;
}

}  // namespace engine::text
