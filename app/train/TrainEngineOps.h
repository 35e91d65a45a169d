// TrainEngineOps — the wizard's engine work, all blocking (call them from a worker thread):
//   previewDataset  the first records exactly as the model will see them (chat template applied,
//                   trained tokens highlighted), split sizes, or the engine's line-numbered error
//   createPresetModel  a new model folder from a preset (MLA/MoE/mHC switches) sharing an existing
//                   model's tokenizer, for a from-scratch run
//   generateReply   one greedy chat reply of a model folder (the side-by-side compare of a trained model
//                   and its base)
//   exportCheckpointModel  a checkpoint of a run as a model folder (LoRA adapters merged onto the base)
//   probeTraining   memory estimate (weights, gradients, AdamW state, activations) and the time per
//                   step measured over a few real steps, hence the time per epoch
#pragma once

#include <memory>
#include <string>

#include <QString>

struct DataPreview {
    QString error;           // "" when the data loaded; else the engine's message (file:line)
    QString html;            // the first records, trained tokens highlighted
    qint64 records = 0;
    qint64 trainRecords = 0;
    qint64 validationRecords = 0;
    qint64 tokens = 0;
    qint64 trainedTokens = 0;
};

// `format`: auto, text, chat, alpaca, csv.
DataPreview previewDataset(const QString& modelDir, const QString& dataPath, const QString& format,
                           double validationFraction, int maxRecords = 3);

struct PresetChoice {
    QString size = QStringLiteral("tiny");  // tiny | small | base
    bool mla = true;
    bool moe = false;
    QString residual = QStringLiteral("mhc");  // mhc | hc | residual
};
// Writes config.json (vocab sized to the tokenizer) and copies the tokenizer files of `tokenizerModelDir`
// into `outDir`. Returns "" or an error message.
QString createPresetModel(const QString& outDir, const PresetChoice& preset, const QString& tokenizerModelDir);

namespace engine {
class Backend;
}

struct TrainEstimate {
    QString error;
    qint64 parameters = 0;
    qint64 trainable = 0;
    double weightBytes = 0, gradientBytes = 0, optimizerBytes = 0, activationBytes = 0;
    double totalBytes() const { return weightBytes + gradientBytes + optimizerBytes + activationBytes; }
    double secondsPerStep = 0;  // measured (0 when the probe did not run)
    qint64 stepsPerEpoch = 0;
    double secondsPerEpoch() const { return secondsPerStep * double(stepsPerEpoch); }
    int probeSteps = 0;
    QString device;  // the backend that ran the probe, e.g. "CPU (OpenBLAS, 16 threads)" / "NVIDIA H100 80GB HBM3"
};
// The backend a training run asked for (TrainingRunConfig::device: cpu, cuda, auto); throws engine::Error
// saying why when "cuda" cannot start (no driver, no GPU, library missing).
std::unique_ptr<engine::Backend> trainingBackend(const std::string& device, int threads);
// `configJson`: a TrainingRunConfig JSON. Runs `probeSteps` real steps into a temporary folder (deleted
// afterwards) when probeSteps > 0.
TrainEstimate probeTraining(const QString& configJson, int probeSteps, int threads);

struct ReplyResult {
    QString error;
    QString text;
    int tokens = 0;
    double seconds = 0;
};
// Loads `modelDir`, renders `prompt` as one user turn through its chat template, and generates greedily
// (temperature 0) up to `maxTokens`.
ReplyResult generateReply(const QString& modelDir, const QString& prompt, int maxTokens, int threads);

// Writes checkpoint `checkpointDir` of the run in `runFolder` as a model folder `outDir` (engine
// export_checkpoint_model: LoRA adapters merged onto the run's base, atomic). Returns "" or the error.
QString exportCheckpointModel(const QString& runFolder, const QString& checkpointDir, const QString& outDir, int threads);
