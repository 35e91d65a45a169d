// ModelInspector — what the Library shows before loading: architecture, parameters (total and active
// per token), dtype, context and KV bytes per token, from config.json and the safetensors headers
// (memory-mapped, nothing is read in full). Runs on the engine thread (it touches the disk).
#pragma once

#include <QString>

#include "engine/EngineTypes.h"

namespace engine {
class Error;
}

namespace ModelInspector {
// Throws engine::Error (naming the file/field) for a bad or unsupported folder.
ModelSummary inspect(const QString& path);
// engine::Error → a message for people: what is wrong, then what to do.
QString plainMessage(const engine::Error& error);
}  // namespace ModelInspector
