// LibraryPanel — open a checkpoint folder, see what it is and whether it fits before loading, load it
// with progress and cancel; recent models come from the database.
#pragma once

#include <QWidget>

#include "engine/EngineTypes.h"
#include "library/MemoryPlan.h"

class Database;
class EngineWorker;
class QCheckBox;
class QComboBox;
class QLabel;
class QListWidget;
class QProgressBar;
class QPushButton;
class QSpinBox;

class LibraryPanel : public QWidget {
    Q_OBJECT
public:
    LibraryPanel(EngineWorker* worker, Database* db, QWidget* parent = nullptr);
    void openModel(const QString& path);  // inspect, then show the plan
    void loadInspected();                 // load what was inspected at the chosen context
    void setContextTokens(qint64 tokens);
    QString device() const;                 // "auto" | "cuda" | "cpu": where models are loaded
    void setDevice(const QString& device);  // unknown values select "auto"
    QString kvCache() const;                 // "f32" | "bf16": the KV cache's element type
    void setKvCache(const QString& type);    // unknown values select "f32"
    const ModelSummary& loaded() const { return m_loaded; }
    bool isLoaded() const { return !m_loaded.path.isEmpty(); }

public slots:
    void chooseFolder();

signals:
    void modelReady(const ModelSummary& summary);
    void status(const QString& message);
    void deviceChanged(const QString& device);
    void kvCacheChanged(const QString& type);

private:
    void refreshRecent();
    void updatePlan();
    void showError(const QString& message);
    void setBusy(bool busy);

    EngineWorker* m_worker;
    Database* m_db;
    ModelSummary m_inspected;
    ModelSummary m_loaded;
    MemoryPlan m_plan;
    QListWidget* m_recent;
    QLabel* m_details;
    QSpinBox* m_context;
    QComboBox* m_device;
    QComboBox* m_kvCache;
    QLabel* m_planLabel;
    QCheckBox* m_override;
    QPushButton* m_load;
    QPushButton* m_cancel;
    QProgressBar* m_progress;
    QLabel* m_stage;
    QLabel* m_error;
};
