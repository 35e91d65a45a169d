// strings.h — Python str methods over UTF-8 (indices count code points).
#pragma once

#include <string>
#include <string_view>

#include "template/value.h"

namespace engine::tmpl {

using StrMethod = Value (*)(Interpreter&, const Value& self, CallArgs&);
// The read-only str method `name`, or nullptr.
StrMethod string_method(const std::string& name);

// str.strip/lstrip/rstrip: `chars` null strips whitespace.
std::string py_strip(std::string_view s, const std::string* chars, bool left, bool right);
std::string py_upper(std::string_view s);       // str.upper()
std::string py_lower(std::string_view s);       // str.lower()
std::string py_capitalize(std::string_view s);  // str.capitalize()
std::string py_title(std::string_view s);       // str.title()
std::string jinja_title(std::string_view s);    // the |title filter: capitalise after [-\s({[<]
std::string py_replace(std::string_view s, std::string_view old, std::string_view repl, int64_t count);

}  // namespace engine::tmpl
