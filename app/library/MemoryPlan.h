// MemoryPlan — will this model fit? Weights + KV cache at the chosen context vs free memory, with the
// largest context that would fit. Pure arithmetic (tested); the numbers come from ModelInspector.
#pragma once

#include <QString>

struct MemoryPlanInput {
    qint64 weightBytes = 0;        // sum of tensor sizes in their stored dtype
    qint64 kvBytesPerToken = 0;    // MLA latent cache per token, all layers
    qint64 contextTokens = 0;      // the context the user chose
    qint64 maxContextTokens = 0;   // the model's max_position_embeddings (0 = unknown)
    qint64 freeBytes = 0;          // MemAvailable (or a GPU's free memory)
    qint64 overheadBytes = 256ll << 20;  // activations, logits, tokenizer, app: a fixed allowance
};

struct MemoryPlan {
    enum class Verdict { Fits, FitsWithSmallerContext, DoesNotFit };
    Verdict verdict = Verdict::DoesNotFit;
    qint64 neededBytes = 0;        // weights + KV at contextTokens + overhead
    qint64 kvBytes = 0;
    qint64 maxFittingContext = 0;  // largest context that fits (capped at maxContextTokens)
    QString summary;               // "fits", "fits with 12 K context", "does not fit: needs 9.1 GB, has 6.0 GB"
};

namespace MemoryPlanner {
MemoryPlan plan(const MemoryPlanInput& in);
QString gigabytes(qint64 bytes);  // "9.1 GB", "268 MB" (decimal, like the stores users compare with)
}
