#include "train/TrainEngineOps.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <algorithm>
#include <chrono>
#include <exception>
#include <span>

#include <nlohmann/json.hpp>

// Qt's `slots` macro would eat AdamW::slots() in the engine headers.
#pragma push_macro("slots")
#undef slots
#include "engine/backend.h"
#include "engine/chat_template.h"
#include "engine/config.h"
#include "engine/generate.h"
#include "engine/model.h"
#include "engine/dataset.h"
#include "engine/error.h"
#include "engine/tokenizer.h"
#include "engine/train/presets.h"
#include "engine/train/train_model.h"
#include "engine/training_run.h"
#pragma pop_macro("slots")

namespace {

QString htmlRun(const engine::Tokenizer& tok, const std::vector<int32_t>& ids, bool trained) {
    QString text = QString::fromStdString(tok.decode(std::span<const int32_t>(ids.data(), ids.size()))).toHtmlEscaped();
    text.replace(QLatin1Char('\n'), QStringLiteral("↵<br>"));
    if (!trained) return QStringLiteral("<span style=\"color:#7f8c8d\">%1</span>").arg(text);
    return QStringLiteral("<span style=\"background-color:#2e7d32;color:#ffffff\">%1</span>").arg(text);
}

}  // namespace

std::unique_ptr<engine::Backend> trainingBackend(const std::string& device, int threads) {
    engine::BackendChoice choice;
    choice.kind = engine::backend_kind_from_name(device);
    choice.cpu_threads = threads;
    return engine::make_backend(choice);  // "cuda" without a usable GPU throws, saying why
}

DataPreview previewDataset(const QString& modelDir, const QString& dataPath, const QString& format,
                           double validationFraction, int maxRecords) {
    DataPreview out;
    try {
        if (dataPath.isEmpty()) throw engine::Error(engine::ErrorKind::kInvalidArgument, "choose a data file");
        auto tok = engine::Tokenizer::from_path(modelDir.toStdString());
        engine::DatasetOptions opts;
        opts.format = engine::dataset_format_from_name(format.toStdString());
        opts.validation_fraction = validationFraction;
        const engine::Dataset data = engine::load_dataset(dataPath.toStdString(), *tok, opts);
        out.records = data.stats.records;
        out.trainRecords = qint64(data.train.size());
        out.validationRecords = qint64(data.validation.size());
        out.tokens = data.stats.tokens;
        out.trainedTokens = data.stats.trained_tokens;
        // Records in file order: the train split is shuffled, so pick the lowest source lines of both splits.
        std::vector<const engine::TrainExample*> all;
        for (const auto& e : data.train) all.push_back(&e);
        for (const auto& e : data.validation) all.push_back(&e);
        auto lineOf = [](const engine::TrainExample* e) {
            const auto colon = e->source.rfind(':');
            try {
                return colon == std::string::npos ? 0L : std::stol(e->source.substr(colon + 1));
            } catch (const std::exception&) {
                return 0L;
            }
        };
        std::stable_sort(all.begin(), all.end(), [&](auto* a, auto* b) { return lineOf(a) < lineOf(b); });
        QString html;
        for (int r = 0; r < int(all.size()) && r < maxRecords; ++r) {
            const engine::TrainExample& ex = *all[r];
            html += QStringLiteral("<p><b>%1</b> · %2 tokens<br><tt>").arg(QString::fromStdString(ex.source).toHtmlEscaped()).arg(ex.tokens.size());
            std::vector<int32_t> run;
            bool runTrained = false;
            for (size_t i = 0; i < ex.tokens.size(); ++i) {
                const bool t = i < ex.trained.size() && ex.trained[i];
                if (!run.empty() && t != runTrained) {
                    html += htmlRun(*tok, run, runTrained);
                    run.clear();
                }
                runTrained = t;
                run.push_back(ex.tokens[i]);
            }
            if (!run.empty()) html += htmlRun(*tok, run, runTrained);
            html += QStringLiteral("</tt></p>");
        }
        out.html = html;
    } catch (const std::exception& e) {
        out.error = QString::fromUtf8(e.what());
    }
    return out;
}

QString createPresetModel(const QString& outDir, const PresetChoice& preset, const QString& tokenizerModelDir) {
    try {
        engine::PresetOptions po;
        po.size = preset.size.toStdString();
        po.attention = preset.mla ? engine::AttentionKind::kMLA : engine::AttentionKind::kMHA;
        po.moe = preset.moe;
        po.residual = preset.residual == QLatin1String("hc")         ? engine::ResidualKind::kHC
                      : preset.residual == QLatin1String("residual") ? engine::ResidualKind::kResidual
                                                                     : engine::ResidualKind::kMHC;
        auto tok = engine::Tokenizer::from_path(tokenizerModelDir.toStdString());
        po.vocab_size = int64_t(tok->vocab_size());
        const engine::ModelConfig config = engine::make_preset(po);
        QDir().mkpath(outDir);
        QFile f(QDir(outDir).filePath(QStringLiteral("config.json")));
        if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate)) return QObject::tr("Cannot write %1").arg(f.fileName());
        f.write(QByteArray::fromStdString(config.to_json_text()));
        f.close();
        for (const char* name : {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja"}) {
            const QString src = QDir(tokenizerModelDir).filePath(QLatin1String(name));
            const QString dst = QDir(outDir).filePath(QLatin1String(name));
            if (!QFile::exists(src)) continue;
            QFile::remove(dst);
            if (!QFile::copy(src, dst)) return QObject::tr("Cannot copy %1 to %2").arg(src, dst);
        }
        return {};
    } catch (const std::exception& e) {
        return QString::fromUtf8(e.what());
    }
}

TrainEstimate probeTraining(const QString& configJson, int probeSteps, int threads) {
    TrainEstimate est;
    try {
        engine::TrainingRunConfig cfg = engine::TrainingRunConfig::from_json(nlohmann::json::parse(configJson.toStdString()), "training settings");
        const engine::ModelConfig mc = engine::ModelConfig::from_file(cfg.base_model / "config.json");
        auto backend = trainingBackend(cfg.device, threads);
        est.device = QString::fromStdString(backend->name());
        {
            engine::LoraOptions lora = cfg.lora;
            lora.seed = cfg.seed;
            engine::TrainModel model(mc, *backend, lora);  // allocation only: counts what training holds
            for (const engine::TrainParam& p : model.params()) {
                const qint64 n = qint64(p.value.view().numel());
                est.parameters += p.adapter ? 0 : n;
                if (p.trainable && (!cfg.lora.enabled() || p.adapter)) est.trainable += n;
            }
        }
        est.weightBytes = 4.0 * double(est.parameters + (cfg.lora.enabled() ? est.trainable : 0));  // fp32 master
        est.gradientBytes = 4.0 * double(est.trainable);
        est.optimizerBytes = 8.0 * double(est.trainable);  // AdamW m and v
        // Activations kept for the backward, per token and layer (approximate): the hidden-state chain,
        // attention scores over T, the FFN intermediate; plus the logits and their gradient.
        const double B = double(cfg.batch_size), T = double(cfg.seq_len);
        const double perTokenLayer = 16.0 * double(mc.hidden_size) * double(std::max<int64_t>(1, mc.hc_mult)) +
                                     2.0 * double(mc.num_attention_heads) * T + 4.0 * double(mc.intermediate_size);
        est.activationBytes = 4.0 * B * T * (double(mc.num_hidden_layers) * perTokenLayer + 2.0 * double(mc.vocab_size));

        auto tok = engine::Tokenizer::from_path(cfg.base_model);
        const engine::Dataset data = engine::load_dataset(cfg.data, *tok, cfg.data_options);
        qint64 trainTokens = 0;
        for (const auto& e : data.train) trainTokens += qint64(e.tokens.size());
        const double perStep = B * T * double(std::max<int64_t>(1, cfg.train.grad_accum_steps));
        est.stepsPerEpoch = std::max<qint64>(1, qint64(std::ceil(double(trainTokens) / perStep)));

        if (probeSteps > 0) {
            QTemporaryDir tmp;
            cfg.output = tmp.filePath(QStringLiteral("probe")).toStdString();
            cfg.max_steps = probeSteps + 1;
            cfg.eval_every = 0;
            cfg.eval_batches = 0;
            cfg.checkpoint_every = 0;
            double seconds = 0;
            int counted = 0;
            engine::run_training(cfg, *backend, [&](const engine::TrainingEvent& ev) {
                if (ev.step.step > 1) {  // the first step warms caches and allocators
                    seconds += ev.step.seconds;
                    ++counted;
                }
                return ev.step.step < probeSteps + 1;
            });
            est.probeSteps = counted;
            est.secondsPerStep = counted ? seconds / counted : 0;
        }
    } catch (const std::exception& e) {
        est.error = QString::fromUtf8(e.what());
    }
    return est;
}

ReplyResult generateReply(const QString& modelDir, const QString& prompt, int maxTokens, int threads) {
    ReplyResult out;
    try {
        auto backend = engine::make_cpu_backend(threads);
        auto tok = engine::Tokenizer::from_path(modelDir.toStdString());
        auto model = engine::Model::load(modelDir.toStdString(), *backend);
        const nlohmann::json messages = nlohmann::json::array({{{"role", "user"}, {"content", prompt.toStdString()}}});
        const std::vector<int32_t> ids = tok->encode(engine::apply_chat_template(*tok, messages, true), false);
        engine::Session session(*model, std::min<int64_t>(4096, int64_t(ids.size()) + maxTokens + 8));
        engine::GenerateOptions opts;
        opts.sampling.temperature = 0;
        opts.max_tokens = maxTokens;
        const auto start = std::chrono::steady_clock::now();
        const engine::GenerateResult r = engine::generate(session, *tok, ids, opts);
        out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        out.text = QString::fromStdString(r.text);
        out.tokens = int(r.tokens.size());
    } catch (const std::exception& e) {
        out.error = QString::fromUtf8(e.what());
    }
    return out;
}

QString exportCheckpointModel(const QString& runFolder, const QString& checkpointDir, const QString& outDir, int threads) {
    try {
        auto backend = engine::make_cpu_backend(threads);
        engine::export_checkpoint_model(runFolder.toStdString(), checkpointDir.toStdString(), outDir.toStdString(), *backend);
        return {};
    } catch (const std::exception& e) {
        return QString::fromUtf8(e.what());
    }
}
