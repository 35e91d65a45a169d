// latent-train-screenshots OUT_DIR [STEPS] — the Train view for the README, under Xvfb: the wizard's data
// page with the preview of the bundled demo data (trained tokens highlighted), then a LoRA fine-tune of
// the bundled default model in progress (live charts), grabbed after STEPS/2 steps; then it pauses the
// run and quits. Run: xvfb-run -a -s "-screen 0 1400x900x24" build/tests/app/latent-train-screenshots docs/screenshots
#include <QApplication>
#include <QDir>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMainWindow>
#include <QTemporaryDir>
#include <QTimer>
#include <QtTest>

#include "storage/Database.h"
#include "train/TrainController.h"
#include "train/TrainDashboard.h"
#include "train/TrainRunsPanel.h"
#include "train/TrainTypes.h"
#include "train/TrainWizard.h"

int main(int argc, char** argv) {
    qputenv("OMP_WAIT_POLICY", "passive");
    QApplication app(argc, argv);
    if (argc < 2) {
        qCritical("usage: latent-train-screenshots OUT_DIR [STEPS]");
        return 2;
    }
    const QString out = QString::fromLocal8Bit(argv[1]);
    const int steps = argc > 2 ? std::max(4, atoi(argv[2])) : 60;
    QDir().mkpath(out);
    qputenv("LATENT_RESOURCES", LATENT_SOURCE_DIR "/resources");
    const QString model = TrainResources::defaultModel();
    QTemporaryDir tmp;
    Database db;
    QEventLoop opened;
    QObject::connect(&db, &Database::opened, &opened, &QEventLoop::quit);
    db.open(tmp.filePath(QStringLiteral("chats.db")));
    opened.exec();

    QMainWindow window;
    window.setWindowTitle(QStringLiteral("Latent Studio — Train"));
    auto* panel = new TrainRunsPanel(&db, &window);
    panel->setRunsRoot(tmp.filePath(QStringLiteral("runs")));
    panel->setBaseModel(model);
    window.setCentralWidget(panel);
    window.resize(1400, 900);
    window.show();
    panel->refresh();

    // 1. The wizard on its data page.
    TrainWizard wizard(model, panel->runsRoot(), &window);
    wizard.show();
    wizard.next();
    QEventLoop previewed;
    QObject::connect(&wizard, &TrainWizard::previewFinished, &previewed, &QEventLoop::quit);
    wizard.setDataFile(TrainResources::demoTrainData());
    previewed.exec();
    QTest::qWait(300);
    wizard.grab().save(QDir(out).filePath(QStringLiteral("train-wizard.png")));
    wizard.hide();

    // 2. A run in progress.
    QJsonObject o = QJsonDocument::fromJson(wizard.configJson().toUtf8()).object();
    o[QStringLiteral("max_steps")] = steps;
    o[QStringLiteral("seq_len")] = 64;
    o[QStringLiteral("batch_size")] = 4;
    o[QStringLiteral("eval_every")] = std::max(2, steps / 10);
    o[QStringLiteral("eval_batches")] = 2;
    o[QStringLiteral("checkpoint_every")] = std::max(2, steps / 4);
    o[QStringLiteral("warmup_steps")] = std::max(1, steps / 10);
    o[QStringLiteral("validation_fraction")] = 0.05;
    o[QStringLiteral("lora_rank")] = 8;  // LoRA: the bundled model is already trained on this data
    o[QStringLiteral("lora_alpha")] = 16.0;
    const QString folder = QDir(panel->runsRoot()).filePath(QStringLiteral("demo-lora"));
    bool grabbed = false;
    QObject::connect(panel->controller(), &TrainController::progress, &window, [&](qint64, const QVector<TrainPoint>& pts) {
        if (grabbed || pts.last().step < steps / 2) return;
        grabbed = true;
        QTimer::singleShot(400, &window, [&] {
            window.grab().save(QDir(out).filePath(QStringLiteral("train-run.png")));
            panel->dashboard()->saveAll(QDir(out).filePath(QStringLiteral("train-charts")));
            panel->controller()->pause();
        });
    });
    QObject::connect(panel->controller(), &TrainController::finished, &app, &QApplication::quit);
    QObject::connect(panel->controller(), &TrainController::failed, &app, [&](qint64, const QString& m) {
        qCritical("training failed: %s", qPrintable(m));
        app.exit(1);
    });
    panel->controller()->start(QStringLiteral("demo-lora"), model, QString::fromUtf8(QJsonDocument(o).toJson()), folder);
    const int rc = app.exec();
    qInfo("screenshots in %s", qPrintable(out));
    return rc;
}
