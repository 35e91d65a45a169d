// EngineTypes — Qt-side value types exchanged with the EngineWorker (copied out of engine structs).
#pragma once

#include <QMetaType>
#include <QString>

struct ModelSummary {
    QString path;
    QString name;               // folder name
    QString architecture;       // e.g. "DeepseekV2ForCausalLM"
    QString modelType;
    QString dtype;              // most common stored dtype, e.g. "BF16"
    qint64 totalParams = 0;
    qint64 activeParams = 0;    // per token
    qint64 weightBytes = 0;
    qint64 kvBytesPerToken = 0;     // MLA latent cache
    qint64 mhaKvBytesPerToken = 0;  // the same model with plain MHA
    qint64 maxContext = 0;          // max_position_embeddings
    qint64 contextTokens = 0;       // the context a loaded model's sessions use
    QString kvCacheType = QStringLiteral("f32");  // their KV cache's element type: "f32" | "bf16"
    int layers = 0;
    int routedExperts = 0;
    int expertsPerToken = 0;
    int sharedExperts = 0;
    QString attention;          // "MLA (kv_lora_rank 512)" / "MHA"
    QString residual;           // "residual" / "mHC ×4" / "HC ×4"
    QString backendName;        // the backend the model runs on ("CPU (OpenBLAS, 16 threads)", a GPU name)
    QString backendNote;        // why that backend (e.g. "Using the CPU: no NVIDIA driver found")
    bool onGpu = false;
    qint64 deviceFreeBytes = 0;   // GPU memory free / total when onGpu
    qint64 deviceTotalBytes = 0;
    bool hasTokenizer = false;
    bool hasChatTemplate = false;
};

struct SamplingSettings {
    double temperature = 0.7;
    int topK = 40;
    double topP = 0.95;
    double minP = 0.05;
    double repetitionPenalty = 1.0;
    int maxTokens = 512;
    quint64 seed = 0;           // 0 = a new random seed per reply
    QString toJson() const;
    static SamplingSettings fromJson(const QString& json);  // missing/invalid fields keep defaults
};

struct GenerationRequest {
    qint64 requestId = 0;
    qint64 conversationId = 0;
    QString messagesJson;       // [{"role": ..., "content": ...}, ...] including the system prompt
    SamplingSettings sampling;
};

struct ReplyStats {
    qint64 promptTokens = 0;
    qint64 tokens = 0;          // generated
    double seconds = 0;         // prefill + decode
    double prefillTps = 0;
    double decodeTps = 0;
    QString stopReason;         // eos | stop_string | max_tokens | context_full | cancelled
    qint64 contextUsed = 0;
    qint64 contextCapacity = 0;
};

Q_DECLARE_METATYPE(ModelSummary)
Q_DECLARE_METATYPE(GenerationRequest)
Q_DECLARE_METATYPE(ReplyStats)
