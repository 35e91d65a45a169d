// The Train view end to end on the bundled default model (4 layers, MLA + MoE + mHC) with a slice of
// the bundled demo data: wizard validation (line-numbered data errors, the preview's trained tokens,
// the measured probe), the run lifecycle through TrainController (start, pause, resume with a new
// controller = after an app restart, stop) and the Train panel's run: metrics reach SQLite and every
// chart's series, export of the final model, any LoRA checkpoint merged on first use for chat and
// export, delete of the run with its folder.
#include <QDir>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include "storage/Database.h"
#include "storage/TrainStore.h"
#include "train/TrainCompareDialog.h"
#include "train/TrainController.h"
#include "train/TrainDashboard.h"
#include "train/TrainRunsPanel.h"
#include "train/TrainScalarCharts.h"
#include "train/TrainStructureCharts.h"
#include "train/TrainWizard.h"

namespace {

const QString kModel = QStringLiteral(LATENT_SOURCE_DIR "/resources/models/default");
constexpr int kSteps = 6;
constexpr int kLifeSteps = 12;  // long enough that a pause lands before the end

template <typename T>
T dbGet(Database& db, std::function<T(TrainStore&)> work) {
    QObject context;
    std::optional<T> out;
    db.call(&context, [work](ChatStore& s) { TrainStore t(s.db()); return work(t); }, [&out](T v) { out = std::move(v); });
    if (!QTest::qWaitFor([&] { return out.has_value(); }, 10000)) qFatal("database call timed out");
    return *out;
}

}  // namespace

class TrainFlowTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;
    QString m_data;
    std::unique_ptr<Database> m_db;

    QString config(const QString& folder, int steps) const {
        QJsonObject o;
        o[QStringLiteral("base_model")] = kModel;
        o[QStringLiteral("data")] = m_data;
        o[QStringLiteral("output")] = folder;
        o[QStringLiteral("validation_fraction")] = 0.1;
        o[QStringLiteral("max_steps")] = steps;
        o[QStringLiteral("seq_len")] = 32;
        o[QStringLiteral("batch_size")] = 2;
        o[QStringLiteral("lr")] = 1e-3;
        o[QStringLiteral("warmup_steps")] = 1;
        o[QStringLiteral("eval_every")] = 3;
        o[QStringLiteral("eval_batches")] = 1;
        o[QStringLiteral("checkpoint_every")] = 2;
        o[QStringLiteral("lora_rank")] = 4;
        return QString::fromUtf8(QJsonDocument(o).toJson(QJsonDocument::Compact));
    }

private slots:
    void initTestCase() {
        qputenv("OMP_WAIT_POLICY", "passive");
        QVERIFY(QFileInfo::exists(kModel + QStringLiteral("/config.json")));
        // 40 demo conversations keep tokenizing and validation quick.
        QFile in(QStringLiteral(LATENT_SOURCE_DIR "/resources/demo/train.jsonl"));
        QVERIFY(in.open(QIODevice::ReadOnly));
        m_data = m_dir.filePath(QStringLiteral("demo40.jsonl"));
        QFile out(m_data);
        QVERIFY(out.open(QIODevice::WriteOnly));
        for (int i = 0; i < 40 && !in.atEnd(); ++i) out.write(in.readLine());
        out.close();
        m_db = std::make_unique<Database>();
        QSignalSpy opened(m_db.get(), &Database::opened);
        m_db->open(m_dir.filePath(QStringLiteral("chats.db")));
        QVERIFY(opened.wait(10000));
    }

    void wizardRejectsBadDataWithLineNumbers() {
        const QString bad = m_dir.filePath(QStringLiteral("bad.jsonl"));
        QFile f(bad);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(R"({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]})" "\n");
        f.write(R"({"messages": [{"role": "user", "content": "oops"})" "\n");  // line 2: cut off
        f.close();
        TrainWizard w(kModel, m_dir.filePath(QStringLiteral("runs")));
        w.applyConfig(config(QString(), kSteps), QString());  // validation split 0.1 (the demo default may be 0)
        w.restart();
        w.next();  // to the data page (the base folder is valid)
        QCOMPARE(w.currentId(), 1);
        QSignalSpy done(&w, &TrainWizard::previewFinished);
        w.setDataFile(bad);
        QVERIFY(done.wait(20000));
        QVERIFY2(w.dataError().contains(QStringLiteral("bad.jsonl:2")), qPrintable(w.dataError()));
        QVERIFY(!w.dataValid());
        w.next();
        QCOMPARE(w.currentId(), 1);  // refused

        w.setDataFile(m_data);
        QVERIFY(done.wait(20000));
        QVERIFY2(w.dataError().isEmpty(), qPrintable(w.dataError()));
        QVERIFY(w.dataValid());
        QVERIFY2(w.preview().trainRecords > 0 && w.preview().validationRecords > 0,
                 qPrintable(QStringLiteral("%1 train, %2 validation").arg(w.preview().trainRecords).arg(w.preview().validationRecords)));
        QVERIFY(w.preview().trainedTokens > 0 && w.preview().trainedTokens < w.preview().tokens);
        QVERIFY(w.preview().html.contains(QStringLiteral("background-color:#2e7d32")));  // trained tokens
        QVERIFY(w.preview().html.contains(QStringLiteral("demo40.jsonl:1")));
        w.next();
        QCOMPARE(w.currentId(), 2);
    }

    void wizardResolvesInstalledDemoPaths() {
        // Installed layout: share/latent-studio/{models/default,demo/} with finetune.json's paths still
        // written as "resources/...".
        const QString share = m_dir.filePath(QStringLiteral("share/latent-studio"));
        QVERIFY(QDir().mkpath(share + QStringLiteral("/models")));
        QVERIFY(QDir().mkpath(share + QStringLiteral("/demo")));
        QVERIFY(QFile::link(kModel, share + QStringLiteral("/models/default")));
        QVERIFY(QFile::copy(m_data, share + QStringLiteral("/demo/train.jsonl")));
        qputenv("LATENT_RESOURCES", share.toUtf8());
        TrainWizard w(QString(), m_dir.filePath(QStringLiteral("runs")));
        w.applyConfig(QStringLiteral(R"({"base_model": "resources/models/default", "data": "resources/demo/train.jsonl",
                                         "max_steps": 7, "lora_rank": 0})"), share + QStringLiteral("/demo"));
        qunsetenv("LATENT_RESOURCES");
        const QJsonObject cfg = QJsonDocument::fromJson(w.configJson().toUtf8()).object();
        QCOMPARE(cfg.value(QStringLiteral("base_model")).toString(), share + QStringLiteral("/models/default"));
        QCOMPARE(cfg.value(QStringLiteral("data")).toString(), share + QStringLiteral("/demo/train.jsonl"));
        QCOMPARE(cfg.value(QStringLiteral("max_steps")).toInt(), 7);
        QCOMPARE(cfg.value(QStringLiteral("lora_rank")).toInt(), 0);  // full fine-tune as the file says
    }

    void wizardProbeMeasuresStepsAndMemory() {
        TrainWizard w(kModel, m_dir.filePath(QStringLiteral("runs")));
        w.applyConfig(config(m_dir.filePath(QStringLiteral("unused")), kSteps), QString());
        QSignalSpy done(&w, &TrainWizard::probeFinished);
        w.startProbe();
        QVERIFY(done.wait(60000));
        const TrainEstimate& e = w.estimate();
        QVERIFY2(e.error.isEmpty(), qPrintable(e.error));
        QVERIFY(e.parameters > 1000000);  // the default model: ~5M
        QVERIFY(e.trainable > 0 && e.trainable < e.parameters / 10);  // LoRA rank 4
        QVERIFY(e.optimizerBytes == 2 * e.gradientBytes);
        QVERIFY(e.activationBytes > 0);
        QVERIFY(e.probeSteps > 0 && e.secondsPerStep > 0);
        QVERIFY(e.stepsPerEpoch > 0);
        const QJsonObject cfg = QJsonDocument::fromJson(w.configJson().toUtf8()).object();
        QCOMPARE(cfg.value(QStringLiteral("lora_rank")).toInt(), 4);
        QCOMPARE(cfg.value(QStringLiteral("max_steps")).toInt(), kSteps);
    }

    void presetModelTrainsFromScratch() {
        // A new tiny MHA + MoE model with plain residuals, sharing the default model's tokenizer.
        const QString base = m_dir.filePath(QStringLiteral("preset-base"));
        PresetChoice p;
        p.size = QStringLiteral("tiny");
        p.mla = false;
        p.moe = true;
        p.residual = QStringLiteral("residual");
        QCOMPARE(createPresetModel(base, p, kModel), QString());
        QVERIFY(QFileInfo::exists(base + QStringLiteral("/config.json")));
        QVERIFY(QFileInfo::exists(base + QStringLiteral("/tokenizer.json")));
        QJsonObject o = QJsonDocument::fromJson(config(QString(), 2).toUtf8()).object();
        o[QStringLiteral("base_model")] = base;
        o[QStringLiteral("from_scratch")] = true;
        o[QStringLiteral("lora_rank")] = 0;
        const TrainEstimate e = probeTraining(QString::fromUtf8(QJsonDocument(o).toJson()), 1, 1);
        QVERIFY2(e.error.isEmpty(), qPrintable(e.error));
        QVERIFY(e.trainable > e.parameters * 9 / 10 && e.trainable <= e.parameters);  // full training (router biases are not AdamW-trained)
        QCOMPARE(e.optimizerBytes, 8.0 * double(e.trainable));
        QVERIFY(e.secondsPerStep > 0);
        QCOMPARE(createPresetModel(m_dir.filePath(QStringLiteral("preset-bad")), PresetChoice{QStringLiteral("huge")}, kModel).isEmpty(), false);
    }

    void pauseResumeAfterRestartAndStop() {
        const QString folder = m_dir.filePath(QStringLiteral("runs/life"));
        qint64 id = 0;
        {
            TrainController c(m_db.get());
            c.setThreads(1);
            QSignalSpy started(&c, &TrainController::started);
            QSignalSpy progress(&c, &TrainController::progress);
            QSignalSpy finished(&c, &TrainController::finished);
            QSignalSpy failed(&c, &TrainController::failed);
            c.start(QStringLiteral("life"), kModel, config(folder, kLifeSteps), folder);
            QVERIFY(started.wait(10000) || !failed.isEmpty());
            QVERIFY2(failed.isEmpty(), failed.isEmpty() ? "" : qPrintable(failed.first().at(1).toString()));
            id = started.first().first().toLongLong();
            QVERIFY(progress.wait(60000));
            c.pause();
            QVERIFY(finished.wait(60000));
            QCOMPARE(finished.first().at(1).toString(), QStringLiteral("paused"));
        }
        auto run = dbGet<std::optional<TrainRunRecord>>(*m_db, [id](TrainStore& s) { return s.run(id); });
        QVERIFY(run);
        QCOMPARE(run->status, QStringLiteral("paused"));
        QVERIFY(run->resumable());
        QVERIFY(run->steps >= 1 && run->steps < kLifeSteps);
        const qint64 pausedAt = run->steps;
        const auto ckpts = dbGet<QVector<TrainCheckpointRow>>(*m_db, [id](TrainStore& s) { return s.checkpoints(id); });
        QVERIFY(!ckpts.isEmpty());
        QCOMPARE(ckpts.last().step, pausedAt);  // pausing writes a checkpoint at the step it stopped

        {  // "Restart": a new controller resumes from the database record alone.
            TrainController c(m_db.get());
            c.setThreads(1);
            QSignalSpy finished(&c, &TrainController::finished);
            QSignalSpy failed(&c, &TrainController::failed);
            c.resume(id);
            QVERIFY(finished.wait(60000) || !failed.isEmpty());
            QVERIFY2(failed.isEmpty(), failed.isEmpty() ? "" : qPrintable(failed.first().at(1).toString()));
            QCOMPARE(finished.first().at(1).toString(), QStringLiteral("finished"));
        }
        run = dbGet<std::optional<TrainRunRecord>>(*m_db, [id](TrainStore& s) { return s.run(id); });
        QCOMPARE(run->status, QStringLiteral("finished"));
        QCOMPARE(run->steps, qint64(kLifeSteps));
        QVERIFY(run->valLoss.has_value());
        QVERIFY(QFileInfo::exists(run->outputPath + QStringLiteral("/config.json")));
        const auto rows = dbGet<QVector<TrainMetricRow>>(*m_db, [id](TrainStore& s) { return s.metrics(id); });
        QCOMPARE(rows.size(), kLifeSteps);  // each step once, resumed ones not doubled
        for (int i = 0; i < rows.size(); ++i) QCOMPARE(rows[i].step, qint64(i + 1));

        // Stop: ends after a checkpoint, recorded as stopped (and still resumable).
        const QString folder2 = m_dir.filePath(QStringLiteral("runs/stopme"));
        TrainController c(m_db.get());
        c.setThreads(1);
        QSignalSpy started(&c, &TrainController::started);
        QSignalSpy progress(&c, &TrainController::progress);
        QSignalSpy finished(&c, &TrainController::finished);
        c.start(QStringLiteral("stopme"), kModel, config(folder2, 200), folder2);
        QVERIFY(started.wait(10000));
        QVERIFY(progress.wait(60000));
        c.stop();
        QVERIFY(finished.wait(60000));
        QCOMPARE(finished.first().at(1).toString(), QStringLiteral("stopped"));
        const qint64 id2 = started.first().first().toLongLong();
        run = dbGet<std::optional<TrainRunRecord>>(*m_db, [id2](TrainStore& s) { return s.run(id2); });
        QCOMPARE(run->status, QStringLiteral("stopped"));
        QVERIFY(run->steps < 200);

        // A bad setting is a plain message, not a crash.
        QSignalSpy failed(&c, &TrainController::failed);
        QJsonObject bad = QJsonDocument::fromJson(config(m_dir.filePath(QStringLiteral("runs/bad")), 5).toUtf8()).object();
        bad[QStringLiteral("lr")] = 5.0;
        c.start(QStringLiteral("bad"), kModel, QString::fromUtf8(QJsonDocument(bad).toJson()), m_dir.filePath(QStringLiteral("runs/bad")));
        QCOMPARE(failed.size(), 1);
        QVERIFY(failed.first().at(1).toString().contains(QStringLiteral("lr")));
    }

    void panelRunReachesDatabaseAndCharts() {
        const QString root = m_dir.filePath(QStringLiteral("panel-runs"));
        TrainRunsPanel panel(m_db.get());
        panel.setRunsRoot(root);
        panel.controller()->setThreads(1);
        QSignalSpy refreshed(&panel, &TrainRunsPanel::runsRefreshed);
        panel.refresh();
        QVERIFY(refreshed.wait(10000));

        TrainWizard w(kModel, root);
        w.applyConfig(config(QString(), kSteps), QString());
        QSignalSpy finished(panel.controller(), &TrainController::finished);
        QSignalSpy failed(panel.controller(), &TrainController::failed);
        panel.startFromWizard(w);
        QVERIFY(finished.wait(60000) || !failed.isEmpty());
        QVERIFY2(failed.isEmpty(), failed.isEmpty() ? "" : qPrintable(failed.first().at(1).toString()));
        const qint64 id = finished.first().first().toLongLong();
        QCOMPARE(panel.selectedRun(), id);
        auto runOf = [&panel](qint64 id) -> std::optional<TrainRunRecord> {
            for (const TrainRunRecord& r : panel.runs())
                if (r.id == id) return r;
            return std::nullopt;
        };
        QVERIFY(QTest::qWaitFor([&] { return runOf(id) && runOf(id)->status == QLatin1String("finished"); }, 10000));

        // Metrics in SQLite and in every chart series.
        QCOMPARE(dbGet<qint64>(*m_db, [id](TrainStore& s) { return s.metricCount(id); }), qint64(kSteps));
        TrainDashboard* d = panel.dashboard();
        QCOMPARE(d->loss()->trainSeries().size(), kSteps);
        QCOMPARE(d->loss()->validationSeries().size(), 2);  // steps 3 and 6
        QCOMPARE(d->lrGrad()->gradSeries().size(), kSteps);
        QCOMPARE(d->speed()->speedSeries().size(), kSteps);
        QVERIFY(d->experts()->moeLayerCount() >= 1);  // the default model's MoE layers
        QVERIFY(d->mhc()->hasData());                 // and its mHC

        // Export the final (merged) model; the copy is a model folder.
        const QString exported = m_dir.filePath(QStringLiteral("exported"));
        QCOMPARE(panel.exportRun(id, exported), QString());
        QVERIFY(QFileInfo::exists(exported + QStringLiteral("/config.json")));
        QVERIFY(QFileInfo::exists(exported + QStringLiteral("/model.safetensors")));
        QVERIFY(QFileInfo::exists(exported + QStringLiteral("/tokenizer.json")));
        // The trained model beside its base: same prompt, two replies.
        TrainCompareDialog compare(kModel, exported);
        QSignalSpy answered(&compare, &TrainCompareDialog::answered);
        compare.ask(QStringLiteral("What warranty does the Ember kettle have?"));
        QVERIFY(answered.wait(60000));
        QVERIFY2(!compare.baseReply().isEmpty() && !compare.baseReply().contains(QStringLiteral("Generating")), qPrintable(compare.baseReply()));
        QVERIFY2(compare.trainedReply().contains(QStringLiteral("tokens in")), qPrintable(compare.trainedReply()));
        QSignalSpy chat(&panel, &TrainRunsPanel::openModelRequested);
        panel.chatWithSelected();
        QCOMPARE(chat.size(), 1);

        // Every kept LoRA checkpoint is offered too (steps 6, 4, 2); the step-2 one is merged onto the base
        // on first use (worker thread) into <checkpoint>/merged/, which then loads, chats and exports.
        QVERIFY(QTest::qWaitFor([&] { return panel.modelChoices().size() == 4; }, 10000));
        QVERIFY(panel.modelChoices()[3].endsWith(QStringLiteral("checkpoint-00000002/merged")));
        panel.setModelChoice(3);
        QVERIFY(!panel.chosenModelReady());
        QCOMPARE(panel.exportRun(id, m_dir.filePath(QStringLiteral("too-early"))).contains(QStringLiteral("not merged")), true);
        QSignalSpy prepared(&panel, &TrainRunsPanel::modelPrepared);
        chat.clear();
        panel.chatWithSelected();
        QVERIFY(panel.preparingModel());
        QVERIFY(prepared.wait(30000));
        QCOMPARE(chat.size(), 1);
        QCOMPARE(chat.first().first().toString(), panel.modelChoices()[3]);
        QVERIFY(panel.chosenModelReady());
        const ReplyResult early = generateReply(panel.chosenModel(), QStringLiteral("Hello"), 4, 1);
        QVERIFY2(early.error.isEmpty(), qPrintable(early.error));
        QVERIFY(early.tokens > 0);
        const QString earlyExport = m_dir.filePath(QStringLiteral("exported-lora-ckpt"));
        QCOMPARE(panel.exportRun(id, earlyExport), QString());
        QVERIFY(QFileInfo::exists(earlyExport + QStringLiteral("/model.safetensors")));
        QVERIFY(QFileInfo::exists(earlyExport + QStringLiteral("/tokenizer.json")));

        // A full fine-tune: every kept checkpoint is a model too (chat, compare, export).
        QJsonObject full = QJsonDocument::fromJson(config(m_dir.filePath(QStringLiteral("panel-runs/full")), 2).toUtf8()).object();
        full[QStringLiteral("lora_rank")] = 0;
        full[QStringLiteral("checkpoint_every")] = 1;
        finished.clear();
        panel.controller()->start(QStringLiteral("full"), kModel, QString::fromUtf8(QJsonDocument(full).toJson()),
                                  m_dir.filePath(QStringLiteral("panel-runs/full")));
        QVERIFY(finished.wait(60000));
        const qint64 fullId = finished.first().first().toLongLong();
        QVERIFY(QTest::qWaitFor([&] { return panel.selectedRun() == fullId && panel.modelChoices().size() == 3; }, 10000));
        QVERIFY(panel.modelChoices()[2].endsWith(QStringLiteral("checkpoint-00000001")));
        panel.setModelChoice(2);
        QCOMPARE(panel.chosenModel(), panel.modelChoices()[2]);
        const ReplyResult reply = generateReply(panel.chosenModel(), QStringLiteral("Hello"), 4, 1);
        QVERIFY2(reply.error.isEmpty(), qPrintable(reply.error));
        QVERIFY(reply.tokens > 0);
        const QString ckptExport = m_dir.filePath(QStringLiteral("exported-ckpt"));
        QCOMPARE(panel.exportRun(fullId, ckptExport), QString());
        QVERIFY(QFileInfo::exists(ckptExport + QStringLiteral("/config.json")));
        QVERIFY(!QFileInfo::exists(ckptExport + QStringLiteral("/optimizer.safetensors")));

        // Delete: rows and folder.
        const QString folder = runOf(id)->folder;
        QVERIFY(QFileInfo::exists(folder));
        QVERIFY(dbGet<bool>(*m_db, [id](TrainStore& s) { return s.deleteRun(id); }));
        QVERIFY(!QFileInfo::exists(folder));
        QCOMPARE(dbGet<qint64>(*m_db, [id](TrainStore& s) { return s.metricCount(id); }), qint64(0));
    }
};

QTEST_MAIN(TrainFlowTest)
#include "TrainFlowTest.moc"
