// MainWindow — Library, Chat, Train and Monitor tabs over one Database (writer thread) and one
// EngineWorker (engine thread). Window state lives in QSettings (recovered when damaged).
#pragma once

#include <QMainWindow>
#include <memory>

#include "SettingsStore.h"
#include "StallMeter.h"

class ChatPanel;
class Database;
class EngineWorker;
class LibraryPanel;
class MonitorPanel;
class QLabel;
class QTabWidget;
class TrainRunsPanel;

struct AppOptions {
    QString dataDir;
    QString modelPath;       // --model: inspect and load at start
    qint64 contextTokens = 4096;
    QString autoPrompt;      // --prompt: send once the model is loaded (screenshots, demos)
    QString screenshotDir;   // --screenshots: after the reply, save each view as PNG and quit
};

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(const AppOptions& options, QWidget* parent = nullptr);
    ~MainWindow() override;

    ChatPanel* chat() const { return m_chat; }
    LibraryPanel* library() const { return m_library; }
    MonitorPanel* monitor() const { return m_monitor; }
    EngineWorker* worker() const { return m_worker.get(); }
    Database* database() const { return m_db.get(); }
    QTabWidget* tabs() const { return m_tabs; }
    // Renders every view once offscreen (fonts, icons, style data load on a view's first paint: about
    // 100 ms for Chat). main() calls it before show(), so a later first switch to a view is not a stall.
    void warmUpViews();
    double worstStallMs() const { return m_stall.worstStallMs(); }

protected:
    void closeEvent(QCloseEvent* event) override;
    void showEvent(QShowEvent* event) override;

private:
    void buildMenus();
    void restoreState_();
    void saveState_();
    void showNotice(const QString& title, const QString& text, bool critical = false);
    void takeScreenshots();

    AppOptions m_options;
    SettingsStore m_settings;
    std::unique_ptr<Database> m_db;
    std::unique_ptr<EngineWorker> m_worker;
    StallMeter m_stall{10};
    QTabWidget* m_tabs;
    LibraryPanel* m_library;
    ChatPanel* m_chat;
    TrainRunsPanel* m_train;
    MonitorPanel* m_monitor;
    QLabel* m_modelLabel;
    QLabel* m_stallLabel;
    bool m_dbReady = false;
    bool m_modelReady = false;
    bool m_autoPromptSent = false;
    bool m_shown = false;
};
