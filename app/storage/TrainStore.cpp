#include "storage/TrainStore.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QSet>
#include <cmath>
#include <limits>

#include "storage/SqliteDb.h"

namespace {

qint64 nowMs() { return QDateTime::currentMSecsSinceEpoch(); }

QVariant optionalValue(const std::optional<double>& v) { return v && std::isfinite(*v) ? QVariant(*v) : QVariant(); }
QVariant finiteOrNull(double v) { return std::isfinite(v) ? QVariant(v) : QVariant(); }

const char* kRunColumns =
    "id, name, model_path, status, steps, total_steps, final_loss, val_loss, output_path, folder, config_json, "
    "message, created_at, finished_at";

TrainRunRecord readRun(const SqliteStatement& st) {
    TrainRunRecord r;
    r.id = st.columnInt(0);
    r.name = st.columnText(1);
    r.modelPath = st.columnText(2);
    r.status = st.columnText(3);
    r.steps = st.columnInt(4);
    r.totalSteps = st.columnInt(5);
    if (!st.columnIsNull(6)) r.finalLoss = st.columnDouble(6);
    if (!st.columnIsNull(7)) r.valLoss = st.columnDouble(7);
    r.outputPath = st.columnText(8);
    r.folder = st.columnText(9);
    r.configJson = st.columnText(10);
    r.message = st.columnText(11);
    r.createdAt = st.columnInt(12);
    r.finishedAt = st.columnIsNull(13) ? 0 : st.columnInt(13);
    return r;
}

// checkpoints/checkpoint-<step>/ folders of a run (engine/checkpoint.h layout); temp folders skipped.
QVector<QPair<qint64, QString>> checkpointFolders(const QString& runFolder) {
    static const QRegularExpression re(QStringLiteral("^checkpoint-(\\d+)$"));
    QVector<QPair<qint64, QString>> out;
    const QDir dir(QDir(runFolder).filePath(QStringLiteral("checkpoints")));
    const QStringList names = dir.entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name);
    for (const QString& n : names) {
        const auto m = re.match(n);
        if (m.hasMatch()) out.append({m.captured(1).toLongLong(), dir.filePath(n)});
    }
    return out;
}

}  // namespace

TrainRunRecord TrainStore::createRun(const QString& name, const QString& modelPath, const QString& configJson,
                                     const QString& folder, qint64 totalSteps) {
    SqliteTransaction tx(m_db);
    SqliteStatement st(m_db.handle(), QStringLiteral(
        "INSERT INTO training_runs (name, model_path, status, config_json, folder, total_steps, created_at) "
        "VALUES (?1, ?2, 'created', ?3, ?4, ?5, ?6)"));
    st.bind(1, name).bind(2, modelPath).bind(3, configJson).bind(4, folder).bind(5, totalSteps).bind(6, nowMs());
    st.step();
    const qint64 id = m_db.lastInsertId();
    tx.commit();
    return *run(id);
}

QVector<TrainRunRecord> TrainStore::runs() {
    SqliteStatement st(m_db.handle(), QStringLiteral("SELECT %1 FROM training_runs ORDER BY created_at DESC, id DESC")
                                          .arg(QLatin1String(kRunColumns)));
    QVector<TrainRunRecord> rows;
    while (st.step()) rows << readRun(st);
    return rows;
}

std::optional<TrainRunRecord> TrainStore::run(qint64 id) {
    SqliteStatement st(m_db.handle(), QStringLiteral("SELECT %1 FROM training_runs WHERE id = ?1").arg(QLatin1String(kRunColumns)));
    st.bind(1, id);
    if (!st.step()) return std::nullopt;
    return readRun(st);
}

void TrainStore::setStatus(qint64 id, const QString& status, const QString& message) {
    SqliteTransaction tx(m_db);
    SqliteStatement st(m_db.handle(), QStringLiteral("UPDATE training_runs SET status = ?2, message = ?3 WHERE id = ?1"));
    st.bind(1, id).bind(2, status).bind(3, message);
    st.step();
    tx.commit();
}

void TrainStore::updateProgress(qint64 id, qint64 steps, qint64 totalSteps, double loss, std::optional<double> valLoss) {
    SqliteTransaction tx(m_db);
    SqliteStatement st(m_db.handle(), QStringLiteral(
        "UPDATE training_runs SET steps = ?2, total_steps = ?3, final_loss = ?4, "
        "val_loss = coalesce(?5, val_loss) WHERE id = ?1"));
    st.bind(1, id).bind(2, steps).bind(3, totalSteps).bind(4, finiteOrNull(loss)).bind(5, optionalValue(valLoss));
    st.step();
    tx.commit();
}

void TrainStore::finish(qint64 id, const QString& status, const QString& outputPath, const QString& message) {
    SqliteTransaction tx(m_db);
    SqliteStatement st(m_db.handle(), QStringLiteral(
        "UPDATE training_runs SET status = ?2, output_path = ?3, message = ?4, finished_at = ?5 WHERE id = ?1"));
    st.bind(1, id).bind(2, status).bind(3, outputPath).bind(4, message).bind(5, nowMs());
    st.step();
    tx.commit();
}

void TrainStore::appendMetrics(qint64 runId, const QVector<TrainMetricRow>& rows) {
    if (rows.isEmpty()) return;
    SqliteTransaction tx(m_db);
    SqliteStatement st(m_db.handle(), QStringLiteral(
        "INSERT OR REPLACE INTO train_metrics (run_id, step, loss, val_loss, lr, grad_norm, tokens_per_s, eta_s, "
        "skipped, extra_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"));
    for (const TrainMetricRow& r : rows) {
        st.bind(1, runId).bind(2, r.step).bind(3, finiteOrNull(r.loss)).bind(4, optionalValue(r.valLoss)).bind(5, r.lr)
            .bind(6, finiteOrNull(r.gradNorm)).bind(7, std::isfinite(r.tokensPerSecond) ? r.tokensPerSecond : 0.0)
            .bind(8, std::isfinite(r.etaSeconds) ? r.etaSeconds : 0.0).bind(9, r.skipped ? 1 : 0)
            .bind(10, r.extraJson);
        st.step();
        st.reset();
    }
    tx.commit();
}

void TrainStore::truncateMetrics(qint64 runId, qint64 fromStep) {
    SqliteTransaction tx(m_db);
    SqliteStatement st(m_db.handle(), QStringLiteral("DELETE FROM train_metrics WHERE run_id = ?1 AND step >= ?2"));
    st.bind(1, runId).bind(2, fromStep);
    st.step();
    tx.commit();
}

QVector<TrainMetricRow> TrainStore::metrics(qint64 runId) {
    SqliteStatement st(m_db.handle(), QStringLiteral(
        "SELECT step, loss, val_loss, lr, grad_norm, tokens_per_s, eta_s, skipped, extra_json FROM train_metrics "
        "WHERE run_id = ?1 ORDER BY step"));
    st.bind(1, runId);
    QVector<TrainMetricRow> rows;
    while (st.step()) {
        TrainMetricRow r;
        r.step = st.columnInt(0);
        r.loss = st.columnIsNull(1) ? std::numeric_limits<double>::quiet_NaN() : st.columnDouble(1);
        if (!st.columnIsNull(2)) r.valLoss = st.columnDouble(2);
        r.lr = st.columnDouble(3);
        r.gradNorm = st.columnIsNull(4) ? std::numeric_limits<double>::quiet_NaN() : st.columnDouble(4);
        r.tokensPerSecond = st.columnDouble(5);
        r.etaSeconds = st.columnDouble(6);
        r.skipped = st.columnInt(7) != 0;
        r.extraJson = st.columnText(8);
        rows << r;
    }
    return rows;
}

qint64 TrainStore::metricCount(qint64 runId) {
    return m_db.queryInt(QStringLiteral("SELECT count(*) FROM train_metrics WHERE run_id = %1").arg(runId));
}

void TrainStore::addCheckpoint(qint64 runId, qint64 step, const QString& path) {
    SqliteTransaction tx(m_db);
    SqliteStatement st(m_db.handle(), QStringLiteral(
        "INSERT OR IGNORE INTO train_checkpoints (run_id, step, path, created_at) VALUES (?1, ?2, ?3, ?4)"));
    st.bind(1, runId).bind(2, step).bind(3, path).bind(4, nowMs());
    st.step();
    tx.commit();
}

QVector<TrainCheckpointRow> TrainStore::checkpoints(qint64 runId) {
    SqliteStatement st(m_db.handle(), QStringLiteral(
        "SELECT id, run_id, step, path, created_at FROM train_checkpoints WHERE run_id = ?1 ORDER BY step"));
    st.bind(1, runId);
    QVector<TrainCheckpointRow> rows;
    while (st.step()) rows << TrainCheckpointRow{st.columnInt(0), st.columnInt(1), st.columnInt(2), st.columnText(3), st.columnInt(4)};
    return rows;
}

QPair<int, int> TrainStore::syncCheckpoints(qint64 runId) {
    const auto r = run(runId);
    if (!r || r->folder.isEmpty()) return {0, 0};
    int added = 0, removed = 0;
    QSet<QString> onDisk;
    const auto folders = checkpointFolders(r->folder);
    for (const auto& [step, path] : folders) onDisk.insert(path);
    QSet<QString> inDb;
    for (const TrainCheckpointRow& c : checkpoints(runId)) {
        inDb.insert(c.path);
        if (onDisk.contains(c.path)) continue;
        SqliteStatement del(m_db.handle(), QStringLiteral("DELETE FROM train_checkpoints WHERE id = ?1"));
        del.bind(1, c.id);
        del.step();
        ++removed;
    }
    for (const auto& [step, path] : folders) {
        if (inDb.contains(path)) continue;
        addCheckpoint(runId, step, path);
        ++added;
    }
    return {added, removed};
}

bool TrainStore::deleteRun(qint64 id) {
    const auto r = run(id);
    if (!r) return true;
    {
        SqliteTransaction tx(m_db);
        SqliteStatement st(m_db.handle(), QStringLiteral("DELETE FROM training_runs WHERE id = ?1"));
        st.bind(1, id);
        st.step();
        tx.commit();
    }
    if (r->folder.isEmpty() || !QFileInfo::exists(r->folder)) return true;
    return QDir(r->folder).removeRecursively();
}

ReconcileReport TrainStore::reconcile(const QString& runsRoot) {
    ReconcileReport report;
    QSet<QString> known;
    for (const TrainRunRecord& r : runs()) {
        if (!r.folder.isEmpty()) known.insert(QDir::cleanPath(QFileInfo(r.folder).absoluteFilePath()));
        if (r.folder.isEmpty() || !QFileInfo(r.folder).isDir()) {
            if (r.status != QLatin1String("missing")) {
                setStatus(r.id, QStringLiteral("missing"), QStringLiteral("The run folder %1 no longer exists.").arg(r.folder));
                ++report.missing;
            }
            continue;
        }
        if (r.status == QLatin1String("running")) {
            setStatus(r.id, QStringLiteral("paused"),
                      QStringLiteral("The app closed while this run was training; resume continues from its last checkpoint."));
            ++report.interrupted;
        }
        const auto [added, removed] = syncCheckpoints(r.id);
        report.checkpointsAdded += added;
        report.checkpointsRemoved += removed;
    }
    // Run folders (with run.json) under the runs root that the database does not know: import them.
    if (!runsRoot.isEmpty()) {
        const QDir root(runsRoot);
        const QStringList names = root.entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name);
        for (const QString& n : names) {
            const QString folder = QDir::cleanPath(QFileInfo(root.filePath(n)).absoluteFilePath());
            if (known.contains(folder)) continue;
            QFile runJson(QDir(folder).filePath(QStringLiteral("run.json")));
            if (!runJson.open(QIODevice::ReadOnly)) continue;
            const QByteArray text = runJson.readAll();
            const QJsonObject cfg = QJsonDocument::fromJson(text).object();
            if (cfg.isEmpty()) continue;
            const TrainRunRecord r = createRun(n, cfg.value(QStringLiteral("base_model")).toString(), QString::fromUtf8(text), folder,
                                               cfg.value(QStringLiteral("max_steps")).toInteger());
            const QString finalDir = QDir(folder).filePath(QStringLiteral("final"));
            if (QFileInfo::exists(QDir(finalDir).filePath(QStringLiteral("config.json"))))
                finish(r.id, QStringLiteral("finished"), finalDir, QStringLiteral("Imported from its folder."));
            else
                setStatus(r.id, QStringLiteral("paused"), QStringLiteral("Imported from its folder; resume continues from its last checkpoint."));
            report.checkpointsAdded += syncCheckpoints(r.id).first;
            ++report.imported;
        }
    }
    return report;
}
