// TelemetrySnapshot — what the EngineWorker reports to the dashboards (copied out of the engine's
// KvCacheStats / ExpertLoad / Throughput so the GUI never touches engine state).
#pragma once

#include <QMetaType>
#include <QVector>

struct TelemetrySnapshot {
    double elapsedS = 0;           // since the reply started
    // KV cache
    qint64 kvTokens = 0;
    qint64 kvCapacity = 0;
    qint64 kvBytesUsed = 0;
    qint64 kvBytesPerToken = 0;    // MLA
    qint64 mhaBytesPerToken = 0;   // the same model with plain multi-head attention
    QString kvCacheType;           // the element type both are counted in: "fp32" | "bf16"
    QVector<qint64> kvBytesPerLayer;
    // Experts: row-major [layer][expert]; dense layers are all-zero rows with moeLayer[l] == false
    int layers = 0;
    int experts = 0;
    QVector<bool> moeLayer;
    QVector<qint64> expertReply;         // tokens routed during this reply
    QVector<qint64> expertConversation;  // since the session started
    // Throughput
    double prefillTps = 0;
    double decodeTps = 0;
    qint64 promptTokens = 0;
    qint64 generatedTokens = 0;
};

Q_DECLARE_METATYPE(TelemetrySnapshot)
