// str_cat.h — implementation detail of error.h: concatenates streamable values into a std::string.
#pragma once

#include <sstream>
#include <string>

namespace engine {

template <typename... Args>
std::string str_cat(const Args&... args) {
    std::ostringstream out;
    (out << ... << args);
    return out.str();
}

}  // namespace engine
