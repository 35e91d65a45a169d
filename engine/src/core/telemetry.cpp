// telemetry.cpp — ExpertLoad bookkeeping.
#include "engine/telemetry.h"

#include "engine/error.h"

namespace engine {

void ExpertLoad::reset(int64_t layers, int64_t experts) {
    n_layers = layers;
    n_experts = experts;
    last_step.assign(size_t(layers), std::vector<int64_t>(size_t(experts), 0));
    cumulative.assign(size_t(layers), std::vector<int64_t>(size_t(experts), 0));
}

void ExpertLoad::begin_step() {
    for (auto& row : last_step) std::fill(row.begin(), row.end(), 0);
}

void ExpertLoad::add(int64_t layer, int64_t expert, int64_t count) {
    ENGINE_CHECK(layer >= 0 && layer < n_layers && expert >= 0 && expert < n_experts, kInternal,
                 "expert load index (", layer, ", ", expert, ") outside ", n_layers, "x", n_experts);
    last_step[size_t(layer)][size_t(expert)] += count;
    cumulative[size_t(layer)][size_t(expert)] += count;
}

}  // namespace engine
