// stop_strings.cpp — see stop_strings.h.
#include "gen/stop_strings.h"

#include <algorithm>

namespace engine {

StopStringMatcher::StopStringMatcher(std::vector<std::string> stops) {
    for (auto& s : stops)
        if (!s.empty()) stops_.push_back(std::move(s));  // an empty stop string would match everywhere
}

std::string StopStringMatcher::push(std::string_view piece) {
    if (stopped_) return {};
    held_.append(piece);
    // Earliest stop string occurrence in the held text (emitted text never holds the start of one).
    size_t first = std::string::npos;
    for (const auto& s : stops_) first = std::min(first, held_.find(s));
    if (first != std::string::npos) {
        stopped_ = true;
        std::string out = held_.substr(0, first);
        held_.clear();
        return out;
    }
    // Longest tail of held_ that is a proper prefix of a stop string: keep it back.
    size_t hold = 0;
    for (const auto& s : stops_) {
        for (size_t len = std::min(s.size() - 1, held_.size()); len > hold; --len) {
            if (held_.compare(held_.size() - len, len, s, 0, len) == 0) {
                hold = len;
                break;
            }
        }
    }
    std::string out = held_.substr(0, held_.size() - hold);
    held_.erase(0, held_.size() - hold);
    return out;
}

std::string StopStringMatcher::flush() {
    std::string out;
    out.swap(held_);
    return out;
}

}  // namespace engine
