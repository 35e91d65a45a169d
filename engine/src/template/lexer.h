// lexer.h — splits a Jinja template into data and tag tokens with Jinja2's exact whitespace control
// as transformers configures it: trim_blocks, lstrip_blocks, keep_trailing_newline=False.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace engine::tmpl {

enum class Tok : uint8_t { kData, kVarBegin, kVarEnd, kBlockBegin, kBlockEnd, kName, kString, kInt, kFloat, kOp, kEof };

struct Token {
    Tok type;
    std::string text;  // data text, name, decoded string literal, or operator
    int64_t int_value = 0;
    double float_value = 0.0;
    int line = 1;
};

// Throws Error(kTemplate) "template '<name>' line L: ..." on an unterminated tag, comment or string.
std::vector<Token> lex(std::string_view source, const std::string& name);

// Python str.isspace() over UTF-8: byte length of the whitespace character at `pos` (0 if none), and
// of the whitespace character ending at `end`.
size_t space_at(std::string_view s, size_t pos);
size_t space_before(std::string_view s, size_t end);

}  // namespace engine::tmpl
