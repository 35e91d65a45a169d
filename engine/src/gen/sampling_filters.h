// sampling_filters.h — the Sampler's top-k / top-p / min-p filters, exposed to the tests.
//
// Each takes the candidates (logit after penalty and temperature, token id) and removes the ones the
// filter drops, in Hugging Face's semantics (sampler.cpp has the details). Order is not preserved.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace engine::sampling {

using Candidate = std::pair<float, int32_t>;  // (logit, token id)

void top_k(std::vector<Candidate>& cand, int k);        // k <= 0: off; ties with the k-th are kept
void top_p(std::vector<Candidate>& cand, double p);     // p >= 1: off; at least one token kept
void min_p(std::vector<Candidate>& cand, double p);     // p <= 0: off

}  // namespace engine::sampling
