// stop_strings.h — finds stop strings in streamed text, across token boundaries.
//
// Text arrives in pieces (one per token). A piece is released only once no stop string can start in
// it: the longest tail that is a proper prefix of some stop string is held back until the next piece
// decides. When a stop string appears, everything before it is released and nothing after.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace engine {

class StopStringMatcher {
public:
    explicit StopStringMatcher(std::vector<std::string> stops);

    // Adds `piece`; returns the text that is now safe to emit. `stopped()` turns true when a stop
    // string was found (the returned text then ends just before it).
    std::string push(std::string_view piece);
    // Releases whatever is held back (end of generation without a stop string).
    std::string flush();
    bool stopped() const { return stopped_; }
    const std::string& held() const { return held_; }

private:
    std::vector<std::string> stops_;
    std::string held_;
    bool stopped_ = false;
};

}  // namespace engine
