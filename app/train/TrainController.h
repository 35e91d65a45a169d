// TrainController — runs engine::run_training on its own thread for one run at a time: start, pause
// (stop after writing a checkpoint; the run stays resumable), resume (from the newest healthy checkpoint,
// also after an app restart: the config and folder are in the database), stop. Steps come back as
// throttled queued `progress` batches (≤ 10 per second, plus every validation and checkpoint step); each
// batch is also written to the database in one transaction. Errors become plain messages (`failed`).
#pragma once

#include <QElapsedTimer>
#include <QObject>
#include <QString>
#include <QVector>
#include <atomic>
#include <mutex>

#include "train/TrainTypes.h"

class Database;
class QThread;

class TrainController : public QObject {
    Q_OBJECT
public:
    explicit TrainController(Database* db, QObject* parent = nullptr);
    ~TrainController() override;  // pauses a running run (checkpoint written) and joins the thread

    void setThreads(int threads) { m_threads = threads; }  // CPU backend threads (0: all cores)
    int threads() const { return m_threads; }
    static constexpr int kFlushIntervalMs = 100;

    // Validates `configJson` (TrainingRunConfig JSON), sets its output to `folder`, records the run and
    // starts it. Emits started(runId) or failed(0, message).
    void start(const QString& name, const QString& modelPath, const QString& configJson, const QString& folder);
    // Continues a recorded run from its folder. Emits started(runId) or failed(runId, message).
    void resume(qint64 runId);
    void pause();  // stop after the current step's checkpoint; status 'paused'
    void stop();   // the same, status 'stopped' (still resumable from the run list)

    bool isRunning() const { return m_thread != nullptr; }
    qint64 currentRun() const { return m_runId; }

signals:
    void started(qint64 runId);
    void progress(qint64 runId, const QVector<TrainPoint>& points);
    // status: finished, paused, stopped; finalModel is the final/ folder when finished.
    void finished(qint64 runId, const QString& status, const QString& finalModel);
    void failed(qint64 runId, const QString& message);

private:
    void launch(qint64 runId, const QString& configJson);
    void onStep(const TrainPoint& p, bool urgent);  // worker thread
    void flush();                                   // GUI thread
    void finishRun();  // GUI thread, after the worker ended: records and reports the outcome

    Database* m_db;
    int m_threads = 0;
    QThread* m_thread = nullptr;
    qint64 m_runId = 0;
    std::atomic<bool> m_stopRequested{false};
    QString m_stopStatus;
    std::mutex m_mutex;             // guards m_pending, m_flushQueued, m_sinceFlush
    QVector<TrainPoint> m_pending;
    bool m_flushQueued = false;
    QElapsedTimer m_sinceFlush;
    bool m_segmentStart = true;     // first batch of a (resumed) segment truncates later metrics
    // The worker's outcome (written by the worker before it ends, read after the join).
    QString m_doneStatus, m_doneFinalModel, m_doneError;
};
