// TrainRunsPanel — the Train view: run history from SQLite (full configs), the wizard for a new run,
// run control (start, pause, resume — also after an app restart — stop), live dashboards of the selected
// run, overlay of other runs' loss curves (select several), delete (rows + folder), and for the final
// model or any kept checkpoint: export to a folder, "Chat with this model" (hands the folder to the
// Library) and compare with the base. A LoRA checkpoint (adapters only) is merged onto the base once, on a
// worker thread, into <checkpoint>/merged/ the first time it is used.
#pragma once

#include <QFutureWatcher>
#include <QWidget>

#include <functional>

#include "storage/TrainStore.h"
#include "train/TrainTypes.h"

class Database;
class QComboBox;
class QLabel;
class QPushButton;
class QTableWidget;
class TrainController;
class TrainDashboard;
class TrainWizard;

class TrainRunsPanel : public QWidget {
    Q_OBJECT
public:
    explicit TrainRunsPanel(Database* db, QWidget* parent = nullptr);
    ~TrainRunsPanel() override;

    void setRunsRoot(const QString& dir) { m_runsRoot = dir; }
    const QString& runsRoot() const { return m_runsRoot; }
    void setBaseModel(const QString& path) { m_baseModel = path; }  // the loaded model, offered by the wizard
    TrainController* controller() const { return m_controller; }
    TrainDashboard* dashboard() const { return m_dashboard; }
    const QVector<TrainRunRecord>& runs() const { return m_runs; }
    qint64 selectedRun() const { return m_selected; }
    void selectRun(qint64 id);
    // Starts the run a finished wizard describes (creates the preset model first when needed).
    void startFromWizard(const TrainWizard& wizard);
    // Copies the run's final model folder into `dir` (created); returns "" or an error message.
    QString exportRun(qint64 id, const QString& dir);
    // Model folders of the selected run: final/ when finished, then each kept checkpoint, newest first —
    // a full fine-tune's checkpoint folder itself (every weight plus config and tokenizer), a LoRA
    // checkpoint's <checkpoint>/merged/ (written by prepareChosenModel on first use).
    QStringList modelChoices() const { return m_modelChoices; }
    void setModelChoice(int index);
    QString chosenModel() const;
    bool chosenModelReady() const;          // the chosen folder holds a model now
    bool preparingModel() const { return m_merging; }
    // Calls `use` with the chosen model folder: at once when it is ready, else after merging the LoRA
    // checkpoint on a worker thread (the message line shows progress and errors).
    void prepareChosenModel(std::function<void(const QString&)> use);

public slots:
    void refresh();  // re-reads the run list
    void newRun();   // opens the wizard
    void resumeSelected();
    void pauseRun();
    void stopRun();
    void deleteSelected();
    void exportSelected();
    void chatWithSelected();
    void compareSelected();  // the final model beside its base, same prompt, two panes

signals:
    void openModelRequested(const QString& modelFolder);
    void status(const QString& message);
    void runsRefreshed();
    void modelPrepared(const QString& modelFolder);  // a LoRA checkpoint was merged into this folder

private:
    void showRuns();
    void loadSelected();
    void updateButtons();
    void loadModelChoices();
    std::optional<TrainRunRecord> record(qint64 id) const;

    Database* m_db;
    TrainController* m_controller;
    QString m_runsRoot;
    QString m_baseModel;
    QVector<TrainRunRecord> m_runs;
    qint64 m_selected = 0;
    bool m_reconciled = false;
    bool m_loadPending = false;      // metrics of the selected run are being read from the database
    QVector<TrainPoint> m_liveBuffer; // live points that arrived meanwhile (re-added after the read)
    QTableWidget* m_table;
    QLabel* m_empty;
    QLabel* m_message;
    QPushButton* m_new;
    QPushButton* m_resume;
    QPushButton* m_pause;
    QPushButton* m_stop;
    QPushButton* m_delete;
    QPushButton* m_export;
    QPushButton* m_chat;
    QPushButton* m_compare;
    QComboBox* m_modelBox;
    QStringList m_modelChoices;
    QStringList m_choiceCheckpoint;   // per choice: the LoRA checkpoint to merge ("" = usable as is)
    QString m_choiceRunFolder;        // run folder (run.json) of the listed choices
    QFutureWatcher<QString> m_mergeWatcher;
    bool m_merging = false;
    std::function<void(const QString&)> m_afterMerge;
    TrainDashboard* m_dashboard;
};
