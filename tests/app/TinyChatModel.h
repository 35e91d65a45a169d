// TinyChatModel — writes a small random-weight DeepSeek-V2-style checkpoint folder that the app can
// load and chat with (config.json, model.safetensors, a byte-level tokenizer.json with ChatML special
// tokens, tokenizer_config.json). Replies are gibberish; it exercises loading, streaming and telemetry
// until the trained tiny checkpoint is available.
#pragma once

#include <QString>

namespace TinyChatModel {
// Throws engine::Error / std::exception on failure.
void write(const QString& dir, int hiddenSize = 128, int layers = 4, int routedExperts = 16, unsigned seed = 7);
}
