#include "train/TrainRunsPanel.h"

#include <QComboBox>
#include <QDateTime>
#include <QJsonDocument>
#include <QJsonObject>
#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMessageBox>
#include <QPushButton>
#include <QScrollArea>
#include <QSplitter>
#include <QStandardPaths>
#include <QTableWidget>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include "storage/Database.h"
#include "train/TrainCompareDialog.h"
#include "train/TrainController.h"
#include "train/TrainDashboard.h"
#include "train/TrainEngineOps.h"
#include "train/TrainScalarCharts.h"
#include "train/TrainWizard.h"

namespace {

QString copyFolder(const QString& from, const QString& to) {
    const QDir src(from);
    if (!src.exists()) return QObject::tr("%1 does not exist").arg(from);
    if (!QDir().mkpath(to)) return QObject::tr("Cannot create %1").arg(to);
    QDirIterator it(from, QDir::Files | QDir::NoDotAndDotDot, QDirIterator::Subdirectories);
    while (it.hasNext()) {
        const QString file = it.next();
        const QString dst = QDir(to).filePath(src.relativeFilePath(file));
        QDir().mkpath(QFileInfo(dst).absolutePath());
        QFile::remove(dst);
        if (!QFile::copy(file, dst)) return QObject::tr("Cannot copy %1 to %2").arg(file, dst);
    }
    return {};
}

}  // namespace

TrainRunsPanel::TrainRunsPanel(Database* db, QWidget* parent) : QWidget(parent), m_db(db) {
    m_runsRoot = QDir(QStandardPaths::writableLocation(QStandardPaths::AppDataLocation)).filePath(QStringLiteral("runs"));
    m_controller = new TrainController(db, this);
    auto* layout = new QVBoxLayout(this);
    auto* splitter = new QSplitter(Qt::Horizontal, this);

    auto* left = new QWidget(splitter);
    auto* lv = new QVBoxLayout(left);
    lv->setContentsMargins(0, 0, 0, 0);
    lv->addWidget(new QLabel(tr("<b>Training runs</b>"), left));
    m_table = new QTableWidget(0, 5, left);
    m_table->setHorizontalHeaderLabels({tr("Name"), tr("Status"), tr("Steps"), tr("Loss"), tr("Val")});
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_table->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
    m_table->verticalHeader()->setVisible(false);
    m_table->setObjectName(QStringLiteral("runTable"));
    m_table->setAccessibleName(tr("Training runs"));
    m_table->setToolTip(tr("Select a run to see its charts; select several to overlay their loss curves"));
    m_empty = new QLabel(tr("No training runs yet. “New run…” fine-tunes the loaded (or bundled default) model on "
                            "the bundled demo data in a few clicks."), left);
    m_empty->setWordWrap(true);
    m_new = new QPushButton(tr("New run…"), left);
    m_resume = new QPushButton(tr("Resume"), left);
    m_pause = new QPushButton(tr("Pause"), left);
    m_stop = new QPushButton(tr("Stop"), left);
    m_delete = new QPushButton(tr("Delete"), left);
    m_export = new QPushButton(tr("Export model…"), left);
    m_chat = new QPushButton(tr("Chat with this model"), left);
    m_compare = new QPushButton(tr("Compare with base…"), left);
    m_new->setObjectName(QStringLiteral("newRunButton"));
    m_resume->setObjectName(QStringLiteral("resumeButton"));
    m_pause->setObjectName(QStringLiteral("pauseButton"));
    m_stop->setObjectName(QStringLiteral("stopButton"));
    m_delete->setObjectName(QStringLiteral("deleteButton"));
    m_export->setObjectName(QStringLiteral("exportButton"));
    m_chat->setObjectName(QStringLiteral("chatButton"));
    m_compare->setObjectName(QStringLiteral("compareButton"));
    m_compare->setToolTip(tr("Ask the trained model and its base the same question, side by side"));
    m_resume->setToolTip(tr("Continue from the run's newest checkpoint (also after the app was closed)"));
    m_pause->setToolTip(tr("Stop after writing a checkpoint; Resume continues exactly from there"));
    m_stop->setToolTip(tr("End the run after writing a checkpoint"));
    m_delete->setToolTip(tr("Delete the run's records, checkpoints and model files"));
    m_export->setToolTip(tr("Copy the trained model (LoRA merged) to a folder the Library can open"));
    m_chat->setToolTip(tr("Open the trained model in the Library and chat with it"));
    auto* row1 = new QHBoxLayout;
    row1->addWidget(m_new);
    row1->addWidget(m_resume);
    row1->addWidget(m_pause);
    row1->addWidget(m_stop);
    auto* row2 = new QHBoxLayout;
    row2->addWidget(m_delete);
    row2->addWidget(m_export);
    row2->addWidget(m_chat);
    auto* row3 = new QHBoxLayout;
    m_modelBox = new QComboBox(left);
    m_modelBox->setObjectName(QStringLiteral("modelChoice"));
    m_modelBox->setAccessibleName(tr("Model of this run to use"));
    m_modelBox->setToolTip(tr("The final model or any kept checkpoint, for Chat, Compare and Export (a LoRA checkpoint "
                              "is merged onto the base the first time it is used)"));
    row3->addWidget(m_modelBox, 1);
    row3->addWidget(m_compare);
    m_message = new QLabel(left);
    m_message->setWordWrap(true);
    m_message->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_message->setAccessibleName(tr("Run message"));
    lv->addWidget(m_empty);
    lv->addWidget(m_table, 1);
    lv->addLayout(row1);
    lv->addLayout(row2);
    lv->addLayout(row3);
    lv->addWidget(m_message);

    auto* scroll = new QScrollArea(splitter);
    scroll->setWidgetResizable(true);
    m_dashboard = new TrainDashboard(scroll);
    m_dashboard->setMinimumHeight(1050);
    scroll->setWidget(m_dashboard);
    splitter->addWidget(left);
    splitter->addWidget(scroll);
    splitter->setStretchFactor(0, 1);
    splitter->setStretchFactor(1, 3);
    splitter->setSizes({380, 1000});
    layout->addWidget(splitter);

    connect(m_new, &QPushButton::clicked, this, &TrainRunsPanel::newRun);
    connect(m_resume, &QPushButton::clicked, this, &TrainRunsPanel::resumeSelected);
    connect(m_pause, &QPushButton::clicked, this, &TrainRunsPanel::pauseRun);
    connect(m_stop, &QPushButton::clicked, this, &TrainRunsPanel::stopRun);
    connect(m_delete, &QPushButton::clicked, this, &TrainRunsPanel::deleteSelected);
    connect(m_export, &QPushButton::clicked, this, &TrainRunsPanel::exportSelected);
    connect(m_chat, &QPushButton::clicked, this, &TrainRunsPanel::chatWithSelected);
    connect(m_compare, &QPushButton::clicked, this, &TrainRunsPanel::compareSelected);
    connect(m_modelBox, &QComboBox::activated, this, &TrainRunsPanel::setModelChoice);
    connect(m_table, &QTableWidget::itemSelectionChanged, this, [this] {
        const auto rows = m_table->selectionModel()->selectedRows();
        const qint64 current = m_table->currentRow() >= 0 && m_table->item(m_table->currentRow(), 0)
                                   ? m_table->item(m_table->currentRow(), 0)->data(Qt::UserRole).toLongLong() : 0;
        if (current && current != m_selected) {
            m_selected = current;
            loadSelected();
        }
        // Overlays: the other selected runs' loss curves.
        m_dashboard->loss()->clearOverlays();
        for (const QModelIndex& idx : rows) {
            const qint64 id = m_table->item(idx.row(), 0)->data(Qt::UserRole).toLongLong();
            if (id == m_selected) continue;
            const QString name = m_table->item(idx.row(), 0)->text();
            m_db->call(this, [id](ChatStore& s) { return TrainStore(s.db()).metrics(id); },
                       [this, id, name](QVector<TrainMetricRow> rows) {
                           QVector<TrainPoint> pts;
                           pts.reserve(rows.size());
                           for (const TrainMetricRow& r : rows) pts << TrainPoint::fromRow(r);
                           m_dashboard->loss()->setOverlay(id, name, pts);
                       });
        }
        updateButtons();
    });

    connect(m_controller, &TrainController::started, this, [this](qint64 id) {
        m_message->setText(tr("Training…"));
        if (id != m_selected) {
            m_selected = id;
            m_dashboard->clear();
        }
        refresh();
        // A resumed run: show the metrics recorded before the newest checkpoint.
        if (id == m_selected) loadSelected();
    });
    connect(m_controller, &TrainController::progress, this, [this](qint64 id, const QVector<TrainPoint>& pts) {
        if (id == m_selected) {
            m_dashboard->addPoints(pts);
            if (m_loadPending) m_liveBuffer += pts;
        }
        for (int r = 0; r < m_table->rowCount(); ++r) {
            if (m_table->item(r, 0)->data(Qt::UserRole).toLongLong() != id) continue;
            const TrainPoint& last = pts.last();
            m_table->item(r, 1)->setText(tr("running"));
            m_table->item(r, 2)->setText(QStringLiteral("%1/%2").arg(last.step).arg(last.totalSteps));
            m_table->item(r, 3)->setText(QString::number(last.loss, 'f', 4));
            if (last.valLoss) m_table->item(r, 4)->setText(QString::number(*last.valLoss, 'f', 4));
        }
    });
    connect(m_controller, &TrainController::finished, this, [this](qint64, const QString& st, const QString& finalModel) {
        m_message->setText(st == QLatin1String("finished") ? tr("Finished: the model is in %1.").arg(finalModel)
                           : st == QLatin1String("paused") ? tr("Paused after a checkpoint. Resume continues from it.")
                                                           : tr("Stopped after a checkpoint."));
        emit status(m_message->text());
        refresh();
    });
    connect(m_controller, &TrainController::failed, this, [this](qint64, const QString& message) {
        m_message->setText(QStringLiteral("<span style=\"color:#c0392b\">%1</span>").arg(message.toHtmlEscaped()));
        emit status(message);
        refresh();
    });
    connect(m_db, &Database::opened, this, &TrainRunsPanel::refresh);
    connect(&m_mergeWatcher, &QFutureWatcher<QString>::finished, this, [this] {
        const QString err = m_mergeWatcher.result();
        m_merging = false;
        auto use = std::move(m_afterMerge);
        m_afterMerge = nullptr;
        updateButtons();
        if (!err.isEmpty()) {
            m_message->setText(QStringLiteral("<span style=\"color:#c0392b\">%1</span>").arg(err.toHtmlEscaped()));
            emit status(err);
            return;
        }
        const QString folder = m_mergeWatcher.property("target").toString();
        m_message->setText(tr("Merged the checkpoint into %1.").arg(folder));
        if (const int i = int(m_modelChoices.indexOf(folder)); i >= 0)
            m_modelBox->setItemText(i, m_modelBox->itemText(i).replace(tr("LoRA: merged on first use"), tr("merged")));
        emit modelPrepared(folder);
        if (use && chosenModel() == folder) use(folder);
    });
    updateButtons();
}

TrainRunsPanel::~TrainRunsPanel() {
    m_mergeWatcher.waitForFinished();  // the merge writes into a run folder the caller may delete next
}

void TrainRunsPanel::refresh() {
    const bool reconcile = !m_reconciled;
    m_reconciled = true;
    const QString root = m_runsRoot;
    m_db->call(this, [reconcile, root](ChatStore& s) {
        TrainStore store(s.db());
        if (reconcile) store.reconcile(root);  // start-up: DB vs run folders
        return store.runs();
    }, [this](QVector<TrainRunRecord> runs) {
        m_runs = std::move(runs);
        showRuns();
        loadModelChoices();
        emit runsRefreshed();
    });
}

void TrainRunsPanel::showRuns() {
    const QSignalBlocker block(m_table);
    m_table->setRowCount(int(m_runs.size()));
    int selectedRow = -1;
    for (int r = 0; r < m_runs.size(); ++r) {
        const TrainRunRecord& run = m_runs[r];
        const bool live = m_controller->isRunning() && m_controller->currentRun() == run.id;
        const QStringList cells{run.name, live ? tr("running") : run.status,
                                QStringLiteral("%1/%2").arg(run.steps).arg(run.totalSteps),
                                run.finalLoss ? QString::number(*run.finalLoss, 'f', 4) : QStringLiteral("–"),
                                run.valLoss ? QString::number(*run.valLoss, 'f', 4) : QStringLiteral("–")};
        for (int c = 0; c < cells.size(); ++c) {
            auto* item = new QTableWidgetItem(cells[c]);
            item->setData(Qt::UserRole, run.id);
            if (c == 0) item->setToolTip(QStringLiteral("%1\n%2\ncreated %3").arg(run.folder, run.message,
                                         QDateTime::fromMSecsSinceEpoch(run.createdAt).toString(Qt::ISODate)));
            m_table->setItem(r, c, item);
        }
        if (run.id == m_selected) selectedRow = r;
    }
    if (selectedRow >= 0) m_table->selectRow(selectedRow);
    m_empty->setVisible(m_runs.isEmpty());
    if (selectedRow < 0 && m_selected && !record(m_selected)) {
        m_selected = 0;
        m_dashboard->clear();
    }
    if (auto r = record(m_selected); r && !m_controller->isRunning() && !r->message.isEmpty()) m_message->setText(r->message);
    updateButtons();
}

std::optional<TrainRunRecord> TrainRunsPanel::record(qint64 id) const {
    for (const TrainRunRecord& r : m_runs)
        if (r.id == id) return r;
    return std::nullopt;
}

void TrainRunsPanel::selectRun(qint64 id) {
    m_selected = id;
    showRuns();
    loadSelected();
}

void TrainRunsPanel::loadSelected() {
    const qint64 id = m_selected;
    m_dashboard->clear();
    m_liveBuffer.clear();
    m_loadPending = id != 0;
    loadModelChoices();
    if (!id) return;
    m_db->call(this, [id](ChatStore& s) { return TrainStore(s.db()).metrics(id); }, [this, id](QVector<TrainMetricRow> rows) {
        if (id != m_selected) return;
        QVector<TrainPoint> pts;
        pts.reserve(rows.size());
        for (const TrainMetricRow& r : rows) pts << TrainPoint::fromRow(r);
        const qint64 lastStored = pts.isEmpty() ? 0 : pts.last().step;
        for (const TrainPoint& p : std::as_const(m_liveBuffer))
            if (p.step > lastStored) pts << p;
        m_liveBuffer.clear();
        m_loadPending = false;
        m_dashboard->clear();
        m_dashboard->addPoints(pts);
    });
    updateButtons();
}

void TrainRunsPanel::updateButtons() {
    const bool running = m_controller->isRunning();
    const auto r = record(m_selected);
    m_new->setEnabled(!running);
    m_resume->setEnabled(!running && r && r->resumable());
    m_pause->setEnabled(running);
    m_stop->setEnabled(running);
    m_delete->setEnabled(r && !(running && m_controller->currentRun() == r->id));
    const bool haveModel = !chosenModel().isEmpty() && !m_merging && !(running && r && m_controller->currentRun() == r->id);
    m_export->setEnabled(haveModel);
    m_chat->setEnabled(haveModel);
    m_compare->setEnabled(haveModel && r && QFileInfo::exists(QDir(r->modelPath).filePath(QStringLiteral("model.safetensors"))));
    m_modelBox->setEnabled(!m_modelChoices.isEmpty() && !m_merging);
}

void TrainRunsPanel::newRun() {
    auto* wizard = new TrainWizard(m_baseModel, m_runsRoot, this);
    wizard->setAttribute(Qt::WA_DeleteOnClose);
    connect(wizard, &QWizard::accepted, this, [this, wizard] { startFromWizard(*wizard); });
    wizard->open();
}

void TrainRunsPanel::startFromWizard(const TrainWizard& wizard) {
    QDir().mkpath(m_runsRoot);
    if (wizard.fromPreset()) {
        const QString err = createPresetModel(wizard.baseModelPath(), wizard.presetChoice(), wizard.modelFolderField());
        if (!err.isEmpty()) {
            m_message->setText(err);
            return;
        }
    }
    m_controller->start(wizard.runName(), wizard.baseModelPath(), wizard.configJson(), wizard.runFolder());
}

void TrainRunsPanel::resumeSelected() {
    if (m_selected) m_controller->resume(m_selected);
}

void TrainRunsPanel::pauseRun() {
    m_controller->pause();
    m_message->setText(tr("Pausing after the current step's checkpoint…"));
}

void TrainRunsPanel::stopRun() {
    m_controller->stop();
    m_message->setText(tr("Stopping after the current step's checkpoint…"));
}

void TrainRunsPanel::deleteSelected() {
    const auto r = record(m_selected);
    if (!r) return;
    auto* box = new QMessageBox(QMessageBox::Question, tr("Delete run"),
                                tr("Delete the run “%1” with its checkpoints and model files in %2?").arg(r->name, r->folder),
                                QMessageBox::Yes | QMessageBox::Cancel, this);
    box->setAttribute(Qt::WA_DeleteOnClose);
    const qint64 id = r->id;
    connect(box, &QMessageBox::accepted, this, [this, id] {
        m_db->call(this, [id](ChatStore& s) { return TrainStore(s.db()).deleteRun(id); }, [this](bool ok) {
            if (!ok) m_message->setText(tr("The run's records were deleted, but some of its files could not be removed."));
            refresh();
        });
    });
    box->open();
}

QString TrainRunsPanel::exportRun(qint64 id, const QString& dir) {
    const auto r = record(id);
    const QString from = id == m_selected ? chosenModel() : (r ? r->outputPath : QString());
    if (!r || from.isEmpty()) return tr("This run has no final model yet.");
    if (id == m_selected && !chosenModelReady()) return tr("This LoRA checkpoint is not merged yet (Export merges it first).");
    if (!QFileInfo::exists(QDir(from).filePath(QStringLiteral("model.safetensors")))) return copyFolder(from, dir);
    // A checkpoint folder also holds optimizer state and trainer state: copy only the model files.
    const QString err = copyFolder(from, dir);
    if (err.isEmpty()) {
        QFile::remove(QDir(dir).filePath(QStringLiteral("optimizer.safetensors")));
        QFile::remove(QDir(dir).filePath(QStringLiteral("state.json")));
    }
    return err;
}

void TrainRunsPanel::loadModelChoices() {
    m_modelChoices.clear();
    m_choiceCheckpoint.clear();
    m_choiceRunFolder.clear();
    m_modelBox->clear();
    const auto r = record(m_selected);
    if (!r) {
        updateButtons();
        return;
    }
    m_choiceRunFolder = r->folder;
    if (r->status == QLatin1String("finished") && !r->outputPath.isEmpty()) {
        m_modelChoices << r->outputPath;
        m_choiceCheckpoint << QString();
        m_modelBox->addItem(tr("final model"));
    }
    const bool lora = QJsonDocument::fromJson(r->configJson.toUtf8()).object().value(QStringLiteral("lora_rank")).toInteger() > 0;
    const qint64 id = r->id;
    m_db->call(this, [id](ChatStore& s) { return TrainStore(s.db()).checkpoints(id); }, [this, id, lora](QVector<TrainCheckpointRow> rows) {
        if (id != m_selected) return;
        for (auto it = rows.rbegin(); it != rows.rend(); ++it) {
            const QDir dir(it->path);
            if (!dir.exists(QStringLiteral("model.safetensors"))) continue;
            if (lora) {  // adapters only: usable once merged onto the base
                const QString merged = dir.filePath(QStringLiteral("merged"));
                const bool ready = QFileInfo::exists(QDir(merged).filePath(QStringLiteral("model.safetensors")));
                m_modelChoices << merged;
                m_choiceCheckpoint << it->path;
                m_modelBox->addItem(ready ? tr("checkpoint at step %1 (merged)").arg(it->step)
                                          : tr("checkpoint at step %1 (LoRA: merged on first use)").arg(it->step));
                continue;
            }
            if (!dir.exists(QStringLiteral("config.json"))) continue;
            m_modelChoices << it->path;
            m_choiceCheckpoint << QString();
            m_modelBox->addItem(tr("checkpoint at step %1").arg(it->step));
        }
        updateButtons();
    });
    updateButtons();
}

void TrainRunsPanel::setModelChoice(int index) {
    if (index >= 0 && index < m_modelChoices.size() && m_modelBox->currentIndex() != index) m_modelBox->setCurrentIndex(index);
    updateButtons();
}

QString TrainRunsPanel::chosenModel() const {
    const int i = m_modelBox->currentIndex();
    return i >= 0 && i < m_modelChoices.size() ? m_modelChoices[i] : QString();
}

bool TrainRunsPanel::chosenModelReady() const {
    const int i = m_modelBox->currentIndex();
    if (i < 0 || i >= m_modelChoices.size()) return false;
    return m_choiceCheckpoint[i].isEmpty() || QFileInfo::exists(QDir(m_modelChoices[i]).filePath(QStringLiteral("model.safetensors")));
}

void TrainRunsPanel::prepareChosenModel(std::function<void(const QString&)> use) {
    const QString model = chosenModel();
    if (model.isEmpty() || m_merging) return;
    if (chosenModelReady()) {
        use(model);
        return;
    }
    const QString checkpoint = m_choiceCheckpoint[m_modelBox->currentIndex()];
    const QString runFolder = m_choiceRunFolder;
    const int threads = m_controller->threads();
    m_merging = true;
    m_afterMerge = std::move(use);
    m_mergeWatcher.setProperty("target", model);
    m_message->setText(tr("Merging the LoRA checkpoint onto the base model…"));
    updateButtons();
    m_mergeWatcher.setFuture(QtConcurrent::run([runFolder, checkpoint, model, threads] {
        return exportCheckpointModel(runFolder, checkpoint, model, threads);
    }));
}

void TrainRunsPanel::exportSelected() {
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Export the trained model to"));
    if (dir.isEmpty()) return;
    const auto r = record(m_selected);
    const QString target = r ? QDir(dir).filePath(r->name) : dir;
    const qint64 id = m_selected;
    prepareChosenModel([this, id, target](const QString&) {
        const QString err = exportRun(id, target);
        m_message->setText(err.isEmpty() ? tr("Exported to %1 (open it in the Library).").arg(target) : err);
    });
}

void TrainRunsPanel::chatWithSelected() {
    prepareChosenModel([this](const QString& model) { emit openModelRequested(model); });
}

void TrainRunsPanel::compareSelected() {
    const auto r = record(m_selected);
    if (!r || chosenModel().isEmpty()) return;
    const QString base = r->modelPath;
    prepareChosenModel([this, base](const QString& model) {
        auto* dialog = new TrainCompareDialog(base, model, this);
        dialog->setAttribute(Qt::WA_DeleteOnClose);
        dialog->open();
    });
}
