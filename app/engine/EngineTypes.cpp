#include "engine/EngineTypes.h"

#include <nlohmann/json.hpp>

QString SamplingSettings::toJson() const {
    const nlohmann::json j = {{"temperature", temperature}, {"top_k", topK}, {"top_p", topP}, {"min_p", minP},
                              {"repetition_penalty", repetitionPenalty}, {"max_tokens", maxTokens}, {"seed", seed}};
    return QString::fromStdString(j.dump());
}

SamplingSettings SamplingSettings::fromJson(const QString& text) {
    SamplingSettings s;
    const nlohmann::json j = nlohmann::json::parse(text.toStdString(), nullptr, false);
    if (!j.is_object()) return s;
    auto get = [&j](const char* key, auto& field) {
        const auto it = j.find(key);
        if (it != j.end() && it->is_number()) field = it->get<std::decay_t<decltype(field)>>();
    };
    get("temperature", s.temperature);
    get("top_k", s.topK);
    get("top_p", s.topP);
    get("min_p", s.minP);
    get("repetition_penalty", s.repetitionPenalty);
    get("max_tokens", s.maxTokens);
    get("seed", s.seed);
    return s;
}
