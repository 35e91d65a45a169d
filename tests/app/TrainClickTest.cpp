// What a user does without a terminal, by clicks alone: the Train view's "New run…" button opens the
// wizard, the data file and tiny settings are typed into its pages, Next on each page (the data
// preview and the estimate page's measured probe finish first), "Start training" — and the run trains,
// shows up finished in the run list with its final model, and "Chat with this model" hands that model
// to the Library; the run's LoRA checkpoint, picked from the model list, is merged on first use and
// opened too. Default bundled model, 40 demo conversations, a 4-step LoRA run.
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QDir>
#include <QFile>
#include <QLineEdit>
#include <QPointer>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QtTest>

#include "storage/Database.h"
#include "train/TrainController.h"
#include "train/TrainRunsPanel.h"
#include "train/TrainWizard.h"

namespace {

const QString kModel = QStringLiteral(LATENT_SOURCE_DIR "/resources/models/default");

template <typename W>
W* child(QObject* parent, const char* name) {
    W* w = parent->findChild<W*>(QLatin1String(name));
    if (!w) qFatal("no widget named %s", name);
    return w;
}

}  // namespace

class TrainClickTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;

private slots:
    // The hyper-parameter preset's lr follows the method (a full fine-tune wants a smaller step than LoRA),
    // until the user types an lr of their own.
    void presetLearningRateFollowsTheMethod() {
        TrainWizard wizard(kModel, m_dir.filePath(QStringLiteral("runs-lr")));
        auto* method = child<QComboBox>(&wizard, "method");
        auto* preset = child<QComboBox>(&wizard, "hyperPreset");
        auto* lr = child<QDoubleSpinBox>(&wizard, "learningRate");
        method->setCurrentIndex(method->findData(QStringLiteral("lora")));
        preset->setCurrentIndex(0);
        emit preset->activated(0);  // what a user's pick emits
        QCOMPARE(lr->value(), 1e-3);
        method->setCurrentIndex(method->findData(QStringLiteral("full")));
        QCOMPARE(lr->value(), 3e-4);
        preset->setCurrentIndex(2);
        emit preset->activated(2);
        QCOMPARE(lr->value(), 2e-4);
        method->setCurrentIndex(method->findData(QStringLiteral("lora")));
        QCOMPARE(lr->value(), 5e-4);
        lr->setValue(2e-3);  // the user's own value stays
        method->setCurrentIndex(method->findData(QStringLiteral("full")));
        QCOMPARE(lr->value(), 2e-3);
    }

    void newRunByClicksThenChat() {
        qputenv("OMP_WAIT_POLICY", "passive");
        QFile in(QStringLiteral(LATENT_SOURCE_DIR "/resources/demo/train.jsonl"));
        QVERIFY(in.open(QIODevice::ReadOnly));
        const QString data = m_dir.filePath(QStringLiteral("demo40.jsonl"));
        QFile out(data);
        QVERIFY(out.open(QIODevice::WriteOnly));
        for (int i = 0; i < 40 && !in.atEnd(); ++i) out.write(in.readLine());
        out.close();

        Database db;
        QSignalSpy opened(&db, &Database::opened);
        db.open(m_dir.filePath(QStringLiteral("chats.db")));
        QVERIFY(opened.wait(10000));
        TrainRunsPanel panel(&db);
        panel.setRunsRoot(m_dir.filePath(QStringLiteral("runs")));
        panel.setBaseModel(kModel);
        panel.controller()->setThreads(1);
        QSignalSpy refreshed(&panel, &TrainRunsPanel::runsRefreshed);
        panel.resize(1200, 800);
        panel.show();
        QVERIFY(QTest::qWaitForWindowExposed(&panel));
        panel.refresh();
        QVERIFY(refreshed.wait(10000));

        // "New run…" opens the wizard.
        QTest::mouseClick(child<QPushButton>(&panel, "newRunButton"), Qt::LeftButton);
        TrainWizard* wizard = nullptr;
        QVERIFY(QTest::qWaitFor([&] { return (wizard = panel.findChild<TrainWizard*>()) && wizard->isVisible(); }, 5000));
        QPointer<TrainWizard> alive(wizard);
        auto next = [&] { QTest::mouseClick(wizard->button(QWizard::NextButton), Qt::LeftButton); };

        // 1 · Base model: the panel's model, LoRA rank 4.
        QCOMPARE(wizard->currentId(), 0);
        QCOMPARE(child<QLineEdit>(wizard, "modelPath")->text(), kModel);
        auto* method = child<QComboBox>(wizard, "method");
        method->setCurrentIndex(method->findData(QStringLiteral("lora")));
        child<QSpinBox>(wizard, "loraRank")->setValue(4);
        next();
        QCOMPARE(wizard->currentId(), 1);

        // 2 · Data: type the file name, Return; Next once its preview is in.
        QSignalSpy previewed(wizard, &TrainWizard::previewFinished);
        auto* path = child<QLineEdit>(wizard, "dataPath");
        path->clear();
        QTest::keyClicks(path, data);
        QTest::keyClick(path, Qt::Key_Return);
        QVERIFY(QTest::qWaitFor([&] { return !wizard->previewPending() && wizard->dataValid(); }, 20000));
        QVERIFY2(wizard->dataError().isEmpty(), qPrintable(wizard->dataError()));
        next();
        QCOMPARE(wizard->currentId(), 2);

        // 3 · Hyper-parameters: tiny.
        child<QLineEdit>(wizard, "runName")->setText(QStringLiteral("clicked"));
        child<QSpinBox>(wizard, "steps")->setValue(4);
        child<QSpinBox>(wizard, "seqLen")->setValue(32);
        child<QSpinBox>(wizard, "batchSize")->setValue(2);
        child<QSpinBox>(wizard, "warmupSteps")->setValue(1);
        child<QSpinBox>(wizard, "evalEvery")->setValue(2);
        child<QSpinBox>(wizard, "checkpointEvery")->setValue(2);
        next();
        QCOMPARE(wizard->currentId(), 3);

        // 4 · Estimate: "Measure" runs the probe on a worker thread.
        QSignalSpy probed(wizard, &TrainWizard::probeFinished);
        QTest::mouseClick(child<QPushButton>(wizard, "measureButton"), Qt::LeftButton);
        QVERIFY(probed.wait(30000));
        QVERIFY2(wizard->estimate().error.isEmpty(), qPrintable(wizard->estimate().error));
        QVERIFY(wizard->estimate().secondsPerStep > 0);

        // "Start training".
        QSignalSpy started(panel.controller(), &TrainController::started);
        QSignalSpy finished(panel.controller(), &TrainController::finished);
        QSignalSpy failed(panel.controller(), &TrainController::failed);
        QTest::mouseClick(wizard->button(QWizard::FinishButton), Qt::LeftButton);
        QVERIFY(QTest::qWaitFor([&] { return alive.isNull() || !alive->isVisible(); }, 5000));
        QVERIFY(finished.wait(30000) || !failed.isEmpty());
        QVERIFY2(failed.isEmpty(), failed.isEmpty() ? "" : qPrintable(failed.first().at(1).toString()));
        QCOMPARE(finished.first().at(1).toString(), QStringLiteral("finished"));
        const qint64 id = finished.first().first().toLongLong();

        // The run list shows it finished, with its final model; Chat is enabled and opens that model.
        auto* table = child<QTableWidget>(&panel, "runTable");
        auto* chat = child<QPushButton>(&panel, "chatButton");
        QVERIFY(QTest::qWaitFor([&] {
            return table->rowCount() == 1 && table->item(0, 1)->text() == QLatin1String("finished") && chat->isEnabled();
        }, 10000));
        QCOMPARE(table->item(0, 0)->text(), QStringLiteral("clicked"));
        QCOMPARE(table->item(0, 2)->text(), QStringLiteral("4/4"));
        QCOMPARE(panel.selectedRun(), id);
        const QString finalModel = QDir(m_dir.filePath(QStringLiteral("runs/clicked"))).filePath(QStringLiteral("final"));
        QVERIFY(QFileInfo::exists(finalModel + QStringLiteral("/model.safetensors")));
        QSignalSpy chatRequested(&panel, &TrainRunsPanel::openModelRequested);
        QTest::mouseClick(chat, Qt::LeftButton);
        QCOMPARE(chatRequested.size(), 1);
        QCOMPARE(QDir(chatRequested.first().first().toString()).canonicalPath(), QDir(finalModel).canonicalPath());

        // The run's LoRA checkpoints (steps 4 and 2) are in the model picker, newest first; choosing step 4
        // and pressing Chat merges it onto the base on a worker thread, then opens the merged folder —
        // which for the last checkpoint is the final model, byte for byte.
        auto* picker = child<QComboBox>(&panel, "modelChoice");
        QVERIFY(QTest::qWaitFor([&] { return picker->count() == 3; }, 10000));
        QVERIFY2(picker->itemText(1).contains(QStringLiteral("step 4")), qPrintable(picker->itemText(1)));
        QVERIFY2(picker->itemText(2).contains(QStringLiteral("step 2")), qPrintable(picker->itemText(2)));
        picker->setFocus();
        QTest::keyClick(picker, Qt::Key_Down);
        QCOMPARE(picker->currentIndex(), 1);
        const QString merged = QDir(m_dir.filePath(QStringLiteral("runs/clicked/checkpoints/checkpoint-00000004")))
                                   .filePath(QStringLiteral("merged"));
        QCOMPARE(panel.chosenModel(), merged);
        QVERIFY(!panel.chosenModelReady());
        chatRequested.clear();
        QTest::mouseClick(chat, Qt::LeftButton);
        QVERIFY(panel.preparingModel());
        QVERIFY(!chat->isEnabled());  // no second merge while this one runs
        QVERIFY(chatRequested.wait(20000));
        QCOMPARE(chatRequested.first().first().toString(), merged);
        QVERIFY(chat->isEnabled());
        auto bytes = [](const QString& f) {
            QFile file(f);
            return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
        };
        const QByteArray finalBytes = bytes(finalModel + QStringLiteral("/model.safetensors"));
        QVERIFY(!finalBytes.isEmpty());
        QVERIFY(bytes(merged + QStringLiteral("/model.safetensors")) == finalBytes);
        QVERIFY(bytes(merged + QStringLiteral("/tokenizer.json")) == bytes(finalModel + QStringLiteral("/tokenizer.json")));
        QVERIFY(picker->itemText(1).contains(QStringLiteral("(merged)")));
        // Used again: no new merge, the folder at once.
        chatRequested.clear();
        QTest::mouseClick(chat, Qt::LeftButton);
        QCOMPARE(chatRequested.size(), 1);
        QVERIFY(!panel.preparingModel());
    }
};

QTEST_MAIN(TrainClickTest)
#include "TrainClickTest.moc"
