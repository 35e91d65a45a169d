// TrainStore (schema v2): migration from v1 keeps old runs, metrics in one transaction per batch (a
// failing row rolls the whole batch back), resume replaces re-run steps, checkpoints, delete removes
// rows and the folder, start-up reconciliation (running → paused, missing folders, checkpoint rows vs
// folders, orphan run folders imported); TrainPoint ↔ row round trip; bounded chart memory at 100k points.
#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <limits>

#include "storage/ChatStore.h"
#include "storage/TrainStore.h"
#include "train/TrainScalarCharts.h"
#include "train/TrainStructureCharts.h"
#include "train/TrainTypes.h"

namespace {
void touchDir(const QString& path) { QVERIFY(QDir().mkpath(path)); }
void writeFile(const QString& path, const QByteArray& text) {
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(text);
}
TrainMetricRow metric(qint64 step, double loss) {
    TrainMetricRow r;
    r.step = step;
    r.loss = loss;
    r.lr = 1e-3;
    r.gradNorm = 0.5;
    return r;
}
}  // namespace

class TrainStoreTest : public QObject {
    Q_OBJECT

private slots:
    void migratesFromV1KeepingRuns() {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("chats.db"));
        {
            ChatStore store;
            store.open(path, Migrations::bundledScripts().mid(0, 1));
            store.db().exec(QStringLiteral("INSERT INTO training_runs (name, status, steps, created_at) VALUES ('old', 'finished', 5, 1)"));
        }
        ChatStore store;
        const StoreStartup s = store.open(path);
        QCOMPARE(s.migration.fromVersion, 1);
        QVERIFY(s.migration.toVersion >= 2);
        TrainStore train(store.db());
        const auto runs = train.runs();
        QCOMPARE(runs.size(), 1);
        QCOMPARE(runs[0].name, QStringLiteral("old"));
        QCOMPARE(runs[0].configJson, QStringLiteral("{}"));
        QCOMPARE(store.trainingRuns().size(), 1);  // the v1 reader still works
    }

    void metricsInBatchesAndResumeReplaces() {
        QTemporaryDir dir;
        ChatStore store;
        store.open(dir.filePath(QStringLiteral("chats.db")));
        TrainStore train(store.db());
        const TrainRunRecord run = train.createRun(QStringLiteral("r"), QStringLiteral("/m"), QStringLiteral("{\"lr\":0.001}"),
                                                   dir.filePath(QStringLiteral("r")), 10);
        QCOMPARE(run.status, QStringLiteral("created"));
        QVector<TrainMetricRow> batch;
        for (int s = 1; s <= 6; ++s) batch << metric(s, 3.0 - 0.1 * s);
        batch[2].valLoss = 2.5;
        train.appendMetrics(run.id, batch);
        QCOMPARE(train.metricCount(run.id), qint64(6));
        // A skipped step's non-finite loss is stored as NULL and read back as NaN.
        TrainMetricRow skipped = metric(7, std::numeric_limits<double>::infinity());
        skipped.skipped = true;
        train.appendMetrics(run.id, {skipped});
        QVERIFY(std::isnan(train.metrics(run.id).last().loss));
        QVERIFY(train.metrics(run.id).last().skipped);
        // A batch for a run that does not exist violates the foreign key: nothing is written.
        QVERIFY_THROWS_EXCEPTION(SqliteError, train.appendMetrics(run.id + 100, {metric(1, 1.0), metric(2, 1.0)}));
        QCOMPARE(store.db().queryInt(QStringLiteral("SELECT count(*) FROM train_metrics")), qint64(7));
        // Resume from step 4: later steps are re-run and replace theirs.
        train.truncateMetrics(run.id, 5);
        QCOMPARE(train.metricCount(run.id), qint64(4));
        train.appendMetrics(run.id, {metric(5, 0.9), metric(6, 0.8)});
        const auto rows = train.metrics(run.id);
        QCOMPARE(rows.size(), 6);
        QCOMPARE(rows[5].loss, 0.8);
        QVERIFY(rows[2].valLoss.has_value());
        QCOMPARE(*rows[2].valLoss, 2.5);
        train.updateProgress(run.id, 6, 10, 0.8, std::nullopt);
        train.finish(run.id, QStringLiteral("finished"), QStringLiteral("/out"));
        const auto done = train.run(run.id);
        QCOMPARE(done->steps, qint64(6));
        QCOMPARE(*done->finalLoss, 0.8);
        QCOMPARE(done->status, QStringLiteral("finished"));
        QVERIFY(done->finishedAt > 0);
        QVERIFY(!done->resumable());
    }

    void deleteRemovesRowsAndFolder() {
        QTemporaryDir dir;
        ChatStore store;
        store.open(dir.filePath(QStringLiteral("chats.db")));
        TrainStore train(store.db());
        const QString folder = dir.filePath(QStringLiteral("runs/a"));
        touchDir(folder + QStringLiteral("/checkpoints/checkpoint-00000002"));
        writeFile(folder + QStringLiteral("/checkpoints/checkpoint-00000002/state.json"), "{}");
        const TrainRunRecord run = train.createRun(QStringLiteral("a"), {}, QStringLiteral("{}"), folder, 4);
        train.appendMetrics(run.id, {metric(1, 2.0)});
        train.addCheckpoint(run.id, 2, folder + QStringLiteral("/checkpoints/checkpoint-00000002"));
        QVERIFY(train.deleteRun(run.id));
        QVERIFY(!QFileInfo::exists(folder));
        QVERIFY(!train.run(run.id));
        QCOMPARE(store.db().queryInt(QStringLiteral("SELECT count(*) FROM train_metrics")), qint64(0));
        QCOMPARE(store.db().queryInt(QStringLiteral("SELECT count(*) FROM train_checkpoints")), qint64(0));
    }

    void reconcilesDatabaseWithFolders() {
        QTemporaryDir dir;
        ChatStore store;
        store.open(dir.filePath(QStringLiteral("chats.db")));
        TrainStore train(store.db());
        const QString root = dir.filePath(QStringLiteral("runs"));
        // A run that was training when the app died, with one checkpoint rotated away and one unknown.
        const QString live = root + QStringLiteral("/live");
        touchDir(live + QStringLiteral("/checkpoints/checkpoint-00000004"));
        touchDir(live + QStringLiteral("/checkpoints/.checkpoint-00000006.tmp"));
        const TrainRunRecord a = train.createRun(QStringLiteral("live"), {}, QStringLiteral("{}"), live, 10);
        train.setStatus(a.id, QStringLiteral("running"));
        train.addCheckpoint(a.id, 2, live + QStringLiteral("/checkpoints/checkpoint-00000002"));
        // A run whose folder was deleted by hand.
        const TrainRunRecord b = train.createRun(QStringLiteral("gone"), {}, QStringLiteral("{}"), root + QStringLiteral("/gone"), 10);
        // A run folder nobody recorded (e.g. `latent train` into the runs folder), finished.
        const QString orphan = root + QStringLiteral("/cli");
        touchDir(orphan + QStringLiteral("/final"));
        touchDir(orphan + QStringLiteral("/checkpoints/checkpoint-00000008"));
        writeFile(orphan + QStringLiteral("/run.json"), R"({"base_model": "/models/x", "max_steps": 8})");
        writeFile(orphan + QStringLiteral("/final/config.json"), "{}");

        const ReconcileReport r = train.reconcile(root);
        QCOMPARE(r.interrupted, 1);
        QCOMPARE(r.missing, 1);
        QCOMPARE(r.checkpointsRemoved, 1);
        QCOMPARE(r.checkpointsAdded, 2);  // live's step 4 and the orphan's step 8
        QCOMPARE(r.imported, 1);
        QCOMPARE(train.run(a.id)->status, QStringLiteral("paused"));
        QVERIFY(train.run(a.id)->resumable());
        QCOMPARE(train.run(b.id)->status, QStringLiteral("missing"));
        const auto ckpts = train.checkpoints(a.id);
        QCOMPARE(ckpts.size(), 1);
        QCOMPARE(ckpts[0].step, qint64(4));
        bool found = false;
        for (const TrainRunRecord& run : train.runs()) {
            if (run.name != QLatin1String("cli")) continue;
            found = true;
            QCOMPARE(run.status, QStringLiteral("finished"));
            QCOMPARE(run.modelPath, QStringLiteral("/models/x"));
            QCOMPARE(run.totalSteps, qint64(8));
            QCOMPARE(train.checkpoints(run.id).size(), 1);
        }
        QVERIFY(found);
        // Idempotent: a second pass changes nothing.
        const ReconcileReport again = train.reconcile(root);
        QCOMPARE(again.interrupted + again.missing + again.checkpointsAdded + again.checkpointsRemoved + again.imported, 0);
    }

    void pointRoundTripsThroughRow() {
        TrainPoint p;
        p.step = 7;
        p.totalSteps = 20;
        p.loss = 1.25;
        p.valLoss = 1.5;
        p.skipped = true;
        p.blockGradNorm = {0.1, 0.2, 0.3};
        p.expertLoad = {{}, {0.25, 0.75}};
        p.hcForwardGain = {1.0, 1.1};
        p.hcBackwardGain = {1.0, 0.9};
        p.hcMix = {{1, 0, 0, 1}};
        p.checkpoint = QStringLiteral("/r/checkpoints/checkpoint-00000007");
        const TrainPoint q = TrainPoint::fromRow(p.toRow());
        QCOMPARE(q.step, p.step);
        QCOMPARE(q.totalSteps, p.totalSteps);
        QCOMPARE(*q.valLoss, 1.5);
        QVERIFY(q.skipped);
        QCOMPARE(q.blockGradNorm, p.blockGradNorm);
        QCOMPARE(q.expertLoad, p.expertLoad);
        QCOMPARE(q.hcForwardGain, p.hcForwardGain);
        QCOMPARE(q.hcMix, p.hcMix);
        QCOMPARE(q.checkpoint, p.checkpoint);
    }

    void chartsStayBoundedAt100kPoints() {
        TrainLossChart loss;
        TrainLrGradChart lrGrad;
        TrainExpertChart experts;
        QVector<TrainPoint> batch;
        for (int s = 1; s <= 100000; ++s) {
            TrainPoint p;
            p.step = s;
            p.loss = 3.0 / std::sqrt(double(s));
            p.lr = 1e-3;
            p.gradNorm = 1.0;
            p.skipped = s % 10000 == 0;
            if (s % 1000 == 0) p.valLoss = p.loss * 1.1;
            p.expertLoad = {{}, {0.5, 0.25, 0.25}};
            batch << p;
            if (batch.size() == 1000) {
                loss.addPoints(batch);
                lrGrad.addPoints(batch);
                experts.addPoints(batch);
                batch.clear();
            }
        }
        QVERIFY(loss.trainSeries().size() <= loss.trainSeries().capacity());
        QCOMPARE(loss.trainSeries().lastX(), 99999.0);  // newest point exact; step 100000 was skipped (not plotted)
        QCOMPARE(loss.validationSeries().size(), 100);
        QVERIFY(lrGrad.gradSeries().size() <= lrGrad.gradSeries().capacity());
        QCOMPARE(lrGrad.skippedCount(), 10);
        QVERIFY(experts.columnCount() <= TrainExpertChart::kMaxColumns);
        QCOMPARE(experts.moeLayerCount(), 1);
        loss.setLogScale(true);
        loss.setOverlay(1, QStringLiteral("other"), batch);
        QCOMPARE(loss.overlayCount(), 1);
        QVERIFY(loss.savePng(QDir::temp().filePath(QStringLiteral("latent-train-loss-test.png")), 400, 300));
        QFile::remove(QDir::temp().filePath(QStringLiteral("latent-train-loss-test.png")));
    }

    void mhcChartShowsGainsAndMixing() {
        TrainMhcChart mhc;
        mhc.clear();
        QVERIFY(!mhc.hasData());
        TrainPoint p;
        p.step = 3;
        p.hcForwardGain = {1.0, 1.02, 1.05, 1.1};
        p.hcBackwardGain = {1.0, 0.99, 0.97, 0.95};
        p.hcMix = {{0.7, 0.1, 0.1, 0.1, 0.1, 0.7, 0.1, 0.1, 0.1, 0.1, 0.7, 0.1, 0.1, 0.1, 0.1, 0.7}};
        mhc.addPoints({p});
        QVERIFY(mhc.hasData());
        mhc.setSublayer(0);
        const QString png = QDir::temp().filePath(QStringLiteral("latent-train-mhc-test.png"));
        QVERIFY(mhc.savePng(png, 500, 300));
        QFile::remove(png);
    }
};

QTEST_MAIN(TrainStoreTest)
#include "TrainStoreTest.moc"
