// TrainStore — training runs in SQLite (schema v2): the run's full config, folder and status, metrics
// written in batches (one transaction per batch), checkpoints linked to the run, deletion of a run with
// its folder, and the start-up reconciliation of the database with the run folders on disk.
// Stateless over a SqliteDb: used on the Database thread (via ChatStore::db()) and directly by tests.
#pragma once

#include <QPair>
#include <QString>
#include <QVector>
#include <optional>

class SqliteDb;

struct TrainRunRecord {
    qint64 id = 0;
    QString name;
    QString modelPath;
    QString status;       // created, running, paused, stopped, finished, failed, missing
    qint64 steps = 0;     // optimizer steps completed
    qint64 totalSteps = 0;
    std::optional<double> finalLoss;
    std::optional<double> valLoss;
    QString outputPath;   // final model folder (empty until finished)
    QString folder;       // run folder
    QString configJson;   // TrainingRunConfig::to_json
    QString message;
    qint64 createdAt = 0;
    qint64 finishedAt = 0;
    // A run that can continue from its folder (interrupted by pause, stop, a crash or an app restart).
    bool resumable() const {
        return status == QLatin1String("running") || status == QLatin1String("paused") ||
               status == QLatin1String("stopped") || status == QLatin1String("failed");
    }
};

struct TrainMetricRow {
    qint64 step = 0;
    double loss = 0;
    std::optional<double> valLoss;
    double lr = 0;
    double gradNorm = 0;
    double tokensPerSecond = 0;
    double etaSeconds = 0;
    bool skipped = false;
    QString extraJson = QStringLiteral("{}");
};

struct TrainCheckpointRow {
    qint64 id = 0;
    qint64 runId = 0;
    qint64 step = 0;
    QString path;
    qint64 createdAt = 0;
};

struct ReconcileReport {
    int interrupted = 0;        // 'running' runs from a previous session, now 'paused' (resumable)
    int missing = 0;            // runs whose folder is gone, now 'missing'
    int checkpointsRemoved = 0; // rows whose checkpoint folder is gone
    int checkpointsAdded = 0;   // checkpoint folders on disk the database did not know
    int imported = 0;           // run folders (run.json) under the runs root with no row
};

class TrainStore {
public:
    explicit TrainStore(SqliteDb& db) : m_db(db) {}

    TrainRunRecord createRun(const QString& name, const QString& modelPath, const QString& configJson,
                             const QString& folder, qint64 totalSteps);
    QVector<TrainRunRecord> runs();
    std::optional<TrainRunRecord> run(qint64 id);
    void setStatus(qint64 id, const QString& status, const QString& message = {});
    // Progress columns after a batch (steps, last loss, last validation loss).
    void updateProgress(qint64 id, qint64 steps, qint64 totalSteps, double loss, std::optional<double> valLoss);
    void finish(qint64 id, const QString& status, const QString& outputPath, const QString& message = {});

    // One transaction for the whole batch; rows replace earlier rows of the same step (resume).
    void appendMetrics(qint64 runId, const QVector<TrainMetricRow>& rows);
    // Drops metrics from `fromStep` on (a resumed run re-runs them).
    void truncateMetrics(qint64 runId, qint64 fromStep);
    QVector<TrainMetricRow> metrics(qint64 runId);
    qint64 metricCount(qint64 runId);

    void addCheckpoint(qint64 runId, qint64 step, const QString& path);
    QVector<TrainCheckpointRow> checkpoints(qint64 runId);
    // Makes the run's checkpoint rows match its checkpoints/ folder (the engine writes and rotates them).
    // Returns {added, removed}.
    QPair<int, int> syncCheckpoints(qint64 runId);

    // Deletes the rows (metrics and checkpoints cascade) and the run folder. Returns false when the
    // folder could not be removed completely (the rows are deleted anyway).
    bool deleteRun(qint64 id);

    // Start-up: DB vs folders. `runsRoot` is where the app creates run folders (orphans are imported).
    ReconcileReport reconcile(const QString& runsRoot);

private:
    SqliteDb& m_db;
};
