// seeded_rng.h — a reproducible shuffle. std::shuffle / std::uniform_int_distribution differ between
// standard libraries; mt19937_64's output sequence does not, so the draw is done here by rejection.
#pragma once

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace engine {

class SeededRng {
public:
    explicit SeededRng(uint64_t seed) : gen_(seed) {}
    uint64_t below(uint64_t n) {  // uniform in [0, n)
        const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
        uint64_t x;
        do x = gen_(); while (x >= limit);
        return x % n;
    }
    template <typename T>
    void shuffle(std::vector<T>& v) {  // Fisher–Yates
        for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[size_t(below(i))]);
    }

private:
    std::mt19937_64 gen_;
};

}  // namespace engine
