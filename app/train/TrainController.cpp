#include "train/TrainController.h"

#include <QDir>
#include <QFileInfo>
#include <QThread>
#include <exception>

#include <nlohmann/json.hpp>

// Qt's `slots` macro would eat AdamW::slots() in the engine headers.
#pragma push_macro("slots")
#undef slots
#include "engine/backend.h"
#include "engine/error.h"
#include "engine/training_run.h"
#include "train/TrainEngineOps.h"
#pragma pop_macro("slots")
#include "storage/Database.h"
#include "storage/TrainStore.h"

namespace {

TrainPoint pointFrom(const engine::TrainingEvent& ev) {
    const engine::StepStats& s = ev.step;
    TrainPoint p;
    p.step = s.step;
    p.totalSteps = ev.total_steps;
    p.loss = s.loss;
    p.valLoss = ev.validation_loss;
    p.lr = s.lr;
    p.gradNorm = s.grad_norm;
    p.skipped = s.skipped;
    p.tokensPerSecond = ev.tokens_per_second;
    p.etaSeconds = ev.eta_seconds;
    p.blockGradNorm = QVector<double>(s.block_grad_norm.begin(), s.block_grad_norm.end());
    for (const auto& layer : s.expert_load) {
        QVector<double> shares;
        if (!layer.empty()) {
            double total = 0;
            for (int64_t c : layer) total += double(c);
            for (int64_t c : layer) shares << (total > 0 ? double(c) / total : 0.0);
        }
        p.expertLoad << shares;
    }
    p.hcForwardGain = QVector<double>(s.hc_forward_gain.begin(), s.hc_forward_gain.end());
    p.hcBackwardGain = QVector<double>(s.hc_backward_gain.begin(), s.hc_backward_gain.end());
    for (const auto& m : s.hc_mix) p.hcMix << QVector<double>(m.begin(), m.end());
    p.checkpoint = QString::fromStdString(ev.checkpoint);
    return p;
}

// Parses and validates the config; returns the canonical JSON text with `output` set.
std::string canonicalConfig(const QString& configJson, const QString& folder) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(configJson.toStdString());
    } catch (const nlohmann::json::exception& e) {
        throw engine::Error(engine::ErrorKind::kInvalidArgument, std::string("the training settings are not valid JSON: ") + e.what());
    }
    if (!folder.isEmpty()) j["output"] = QDir(folder).absolutePath().toStdString();
    return engine::TrainingRunConfig::from_json(j, "training settings").to_json().dump(2);
}

}  // namespace

TrainController::TrainController(Database* db, QObject* parent) : QObject(parent), m_db(db) {
    qRegisterMetaType<TrainPoint>();
    qRegisterMetaType<QVector<TrainPoint>>();
}

TrainController::~TrainController() {
    if (m_thread) {
        // The queued flush/finish calls die with this object: join, then record the outcome here.
        m_stopStatus = QStringLiteral("paused");
        m_stopRequested = true;
        finishRun();
    }
}

void TrainController::start(const QString& name, const QString& modelPath, const QString& configJson, const QString& folder) {
    if (m_thread) {
        emit failed(0, tr("A run is already training; pause or stop it first."));
        return;
    }
    std::string canonical;
    try {
        if (folder.isEmpty()) throw engine::Error(engine::ErrorKind::kInvalidArgument, "no run folder was given");
        if (QFileInfo::exists(QDir(folder).filePath(QStringLiteral("run.json"))))
            throw engine::Error(engine::ErrorKind::kInvalidArgument, folder.toStdString() + " already holds a run; choose a new name");
        canonical = canonicalConfig(configJson, folder);
    } catch (const std::exception& e) {
        emit failed(0, QString::fromUtf8(e.what()));
        return;
    }
    const qint64 total = qint64(nlohmann::json::parse(canonical).value("max_steps", int64_t(0)));
    const QString text = QString::fromStdString(canonical);
    const QString absFolder = QDir(folder).absolutePath();
    m_db->call(this, [=](ChatStore& s) { return TrainStore(s.db()).createRun(name, modelPath, text, absFolder, total); },
               [this, text](TrainRunRecord r) {
                   if (m_thread) {
                       emit failed(r.id, tr("A run is already training; pause or stop it first."));
                       return;
                   }
                   launch(r.id, text);
               });
}

void TrainController::resume(qint64 runId) {
    if (m_thread) {
        emit failed(runId, tr("A run is already training; pause or stop it first."));
        return;
    }
    m_db->call(this, [runId](ChatStore& s) { return TrainStore(s.db()).run(runId); },
               [this, runId](std::optional<TrainRunRecord> r) {
                   if (!r) return emit failed(runId, tr("Run %1 is not in the database any more.").arg(runId));
                   if (!QFileInfo(r->folder).isDir())
                       return emit failed(runId, tr("The run folder %1 no longer exists, so the run cannot resume.").arg(r->folder));
                   if (m_thread) return emit failed(runId, tr("A run is already training; pause or stop it first."));
                   launch(runId, r->configJson);
               });
}

void TrainController::pause() {
    if (!m_thread) return;
    m_stopStatus = QStringLiteral("paused");
    m_stopRequested = true;
}

void TrainController::stop() {
    if (!m_thread) return;
    m_stopStatus = QStringLiteral("stopped");
    m_stopRequested = true;
}

void TrainController::launch(qint64 runId, const QString& configJson) {
    m_runId = runId;
    m_stopRequested = false;
    m_stopStatus.clear();
    m_segmentStart = true;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_pending.clear();
        m_flushQueued = false;
        m_sinceFlush.start();
    }
    m_db->post([runId](ChatStore& s) { TrainStore(s.db()).setStatus(runId, QStringLiteral("running")); });
    const std::string config = configJson.toStdString();
    const int threads = m_threads;
    m_thread = QThread::create([this, config, threads] {
        QString status, finalModel, error;
        try {
            const engine::TrainingRunConfig cfg = engine::TrainingRunConfig::from_json(nlohmann::json::parse(config), "run config");
            auto backend = trainingBackend(cfg.device, threads);
            const engine::TrainingSummary summary = engine::run_training(cfg, *backend, [this](const engine::TrainingEvent& ev) {
                onStep(pointFrom(ev), ev.validation_loss.has_value() || !ev.checkpoint.empty());
                return !m_stopRequested.load();
            });
            if (summary.stopped || summary.final_model.empty()) status = QStringLiteral("stopped");
            else {
                status = QStringLiteral("finished");
                finalModel = QString::fromStdString(summary.final_model.string());
            }
        } catch (const std::exception& e) {
            error = QString::fromUtf8(e.what());
        }
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_doneStatus = status;
            m_doneFinalModel = finalModel;
            m_doneError = error;
        }
        QMetaObject::invokeMethod(this, &TrainController::finishRun, Qt::QueuedConnection);
    });
    m_thread->setObjectName(QStringLiteral("latent-train"));
    m_thread->start();
    emit started(runId);
}

void TrainController::onStep(const TrainPoint& p, bool urgent) {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_pending.append(p);
    if (m_flushQueued) return;
    if (!urgent && m_sinceFlush.elapsed() < kFlushIntervalMs) return;
    m_flushQueued = true;
    QMetaObject::invokeMethod(this, &TrainController::flush, Qt::QueuedConnection);
}

void TrainController::flush() {
    QVector<TrainPoint> points;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        points.swap(m_pending);
        m_flushQueued = false;
        m_sinceFlush.restart();
    }
    if (points.isEmpty()) return;
    const qint64 id = m_runId;
    const bool truncate = m_segmentStart;
    m_segmentStart = false;
    QVector<TrainMetricRow> rows;
    rows.reserve(points.size());
    std::optional<double> lastVal;
    for (const TrainPoint& p : points) {
        rows << p.toRow();
        if (p.valLoss) lastVal = p.valLoss;
    }
    const TrainPoint last = points.last();
    const qint64 firstStep = points.first().step;
    m_db->post([=](ChatStore& s) {
        TrainStore store(s.db());
        if (truncate) store.truncateMetrics(id, firstStep);
        store.appendMetrics(id, rows);  // one transaction for the batch
        store.updateProgress(id, last.step, last.totalSteps, last.loss, lastVal);
        store.syncCheckpoints(id);  // the engine writes a checkpoint after reporting its step
    });
    emit progress(id, points);
}

void TrainController::finishRun() {
    if (!m_thread) return;
    m_thread->wait();
    delete m_thread;
    m_thread = nullptr;
    QString status, finalModel, error;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        status = m_doneStatus;
        finalModel = m_doneFinalModel;
        error = m_doneError;
    }
    flush();
    const qint64 id = m_runId;
    if (!error.isEmpty()) {
        m_db->post([id, error](ChatStore& s) {
            TrainStore(s.db()).syncCheckpoints(id);
            TrainStore(s.db()).setStatus(id, QStringLiteral("failed"), error);
        });
        emit failed(id, error);
        return;
    }
    QString finalStatus = status;
    if (status == QLatin1String("stopped") && !m_stopStatus.isEmpty()) finalStatus = m_stopStatus;
    m_db->post([id, finalStatus, finalModel](ChatStore& s) {
        TrainStore store(s.db());
        store.syncCheckpoints(id);
        if (finalStatus == QLatin1String("finished")) store.finish(id, finalStatus, finalModel);
        else store.setStatus(id, finalStatus, finalStatus == QLatin1String("paused")
                                                  ? QStringLiteral("Paused after a checkpoint; resume continues from it.")
                                                  : QStringLiteral("Stopped after a checkpoint."));
    });
    emit finished(id, finalStatus, finalModel);
}
