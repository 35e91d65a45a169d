// TrainTypes — what the training worker reports to the GUI (one TrainPoint per optimizer step), its
// database row form (TrainMetricRow + extra_json) and back, and where the bundled model and demo data are.
#pragma once

#include <QMetaType>
#include <QString>
#include <QVector>
#include <optional>

#include "storage/TrainStore.h"

struct TrainPoint {
    qint64 step = 0;
    qint64 totalSteps = 0;
    double loss = 0;
    std::optional<double> valLoss;
    double lr = 0;
    double gradNorm = 0;
    bool skipped = false;
    double tokensPerSecond = 0;
    double etaSeconds = 0;
    QVector<double> blockGradNorm;          // [0] embedding, [1 + l] layer l, [L + 1] head
    QVector<QVector<double>> expertLoad;    // [layer][expert] share of the layer's routed tokens (dense: empty)
    QVector<double> hcForwardGain;          // per sublayer depth: composite forward Amax gain
    QVector<double> hcBackwardGain;
    QVector<QVector<double>> hcMix;         // per sublayer: n×n token-averaged mixing matrix, row-major
    QString checkpoint;                     // folder written at this step ("" if none)

    TrainMetricRow toRow() const;
    static TrainPoint fromRow(const TrainMetricRow& row);
};
Q_DECLARE_METATYPE(TrainPoint)

namespace TrainResources {
// Folder holding models/default and demo/ (source tree or installed share/latent-studio); "" if none.
// $LATENT_RESOURCES overrides.
QString resourcesDir();
QString defaultModel();   // <resources>/models/default or ""
QString demoTrainData();  // <resources>/demo/train.jsonl or ""
// <resources>/demo/finetune.json when present (a TrainingRunConfig JSON with relative paths) else "".
QString demoFinetuneConfig();
}  // namespace TrainResources
