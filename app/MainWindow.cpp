#include "MainWindow.h"

#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QKeySequence>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QShortcut>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QThread>
#include <QTimer>

#include "chat/ChatPanel.h"
#include "engine/EngineWorker.h"
#include "library/LibraryPanel.h"
#include "monitor/MonitorPanel.h"
#include "storage/Database.h"
#include "train/TrainRunsPanel.h"

MainWindow::MainWindow(const AppOptions& options, QWidget* parent)
    : QMainWindow(parent),
      m_options(options),
      m_settings(QDir(options.dataDir).filePath(QStringLiteral("settings.ini"))),
      m_db(std::make_unique<Database>()),
      m_worker(std::make_unique<EngineWorker>()) {
    setWindowTitle(tr("Latent Studio"));
    setWindowIcon(QIcon(QStringLiteral(":/icons/latent-studio.svg")));
    m_tabs = new QTabWidget(this);
    m_tabs->setDocumentMode(true);
    m_tabs->setAccessibleName(tr("Views"));
    m_library = new LibraryPanel(m_worker.get(), m_db.get(), m_tabs);
    m_library->setContextTokens(options.contextTokens);
    m_library->setDevice(m_settings.settings().value(QStringLiteral("engine/device"), QStringLiteral("auto")).toString());
    connect(m_library, &LibraryPanel::deviceChanged, this,
            [this](const QString& device) { m_settings.settings().setValue(QStringLiteral("engine/device"), device); });
    m_library->setKvCache(
        m_settings.settings().value(QStringLiteral("engine/kvCache"), QStringLiteral("f32")).toString());
    connect(m_library, &LibraryPanel::kvCacheChanged, this,
            [this](const QString& type) { m_settings.settings().setValue(QStringLiteral("engine/kvCache"), type); });
    m_chat = new ChatPanel(m_worker.get(), m_db.get(), m_tabs);
    m_train = new TrainRunsPanel(m_db.get(), m_tabs);
    m_train->setRunsRoot(QDir(options.dataDir).filePath(QStringLiteral("runs")));
    m_monitor = new MonitorPanel(m_tabs);
    m_tabs->addTab(m_library, QIcon(QStringLiteral(":/icons/library.svg")), tr("&Library"));
    m_tabs->addTab(m_chat, QIcon(QStringLiteral(":/icons/chat.svg")), tr("&Chat"));
    m_tabs->addTab(m_train, QIcon(QStringLiteral(":/icons/train.svg")), tr("&Train"));
    m_tabs->addTab(m_monitor, QIcon(QStringLiteral(":/icons/monitor.svg")), tr("&Monitor"));
    setCentralWidget(m_tabs);

    m_modelLabel = new QLabel(tr("No model loaded"), this);
    m_stallLabel = new QLabel(this);
    m_stallLabel->setToolTip(tr("Longest time the window did not respond since start (a heartbeat timer measures it)"));
    statusBar()->addPermanentWidget(m_modelLabel);
    statusBar()->addPermanentWidget(m_stallLabel);
    m_stall.start();
    auto* stallTick = new QTimer(this);
    stallTick->setObjectName(QStringLiteral("stallTick"));
    connect(stallTick, &QTimer::timeout, this, [this] { m_stallLabel->setText(tr("UI stall max %1 ms").arg(m_stall.worstStallMs(), 0, 'f', 0)); });
    stallTick->start(1000);

    buildMenus();
    auto* sendShortcut = new QShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return), m_chat);
    auto* sendShortcut2 = new QShortcut(QKeySequence(Qt::CTRL | Qt::Key_Enter), m_chat);
    sendShortcut->setContext(Qt::WidgetWithChildrenShortcut);
    sendShortcut2->setContext(Qt::WidgetWithChildrenShortcut);
    connect(sendShortcut, &QShortcut::activated, m_chat, &ChatPanel::send);
    connect(sendShortcut2, &QShortcut::activated, m_chat, &ChatPanel::send);
    auto* stopShortcut = new QShortcut(QKeySequence(Qt::Key_Escape), this);
    connect(stopShortcut, &QShortcut::activated, m_chat, &ChatPanel::stop);
    connect(m_library, &LibraryPanel::status, this, [this](const QString& m) { statusBar()->showMessage(m, 8000); });
    connect(m_chat, &ChatPanel::status, this, [this](const QString& m) { statusBar()->showMessage(m, 8000); });
    connect(m_train, &TrainRunsPanel::status, this, [this](const QString& m) { statusBar()->showMessage(m, 8000); });
    connect(m_train, &TrainRunsPanel::openModelRequested, this, [this](const QString& path) {
        m_tabs->setCurrentWidget(m_library);
        m_library->openModel(path);
    });

    connect(m_worker.get(), &EngineWorker::telemetry, m_monitor, [this](qint64, const TelemetrySnapshot& s) { m_monitor->addTelemetry(s); });
    connect(m_library, &LibraryPanel::modelReady, this, [this](const ModelSummary& s) {
        m_chat->setModel(s);
        m_train->setBaseModel(s.path);
        m_modelLabel->setText(
            tr("%1 · %2 · ctx %3 · %4 KV").arg(s.name, s.backendName).arg(s.contextTokens).arg(s.kvCacheType));
        m_modelReady = true;
        m_tabs->setCurrentWidget(m_chat);
        if (m_dbReady && !m_options.autoPrompt.isEmpty() && !m_autoPromptSent) {
            m_autoPromptSent = true;
            m_chat->sendText(m_options.autoPrompt);
        }
    });
    connect(m_db.get(), &Database::opened, this, [this](const QString& notice, int from, int to, int interrupted) {
        m_dbReady = true;
        if (!notice.isEmpty()) showNotice(tr("Chat database recovered"), notice);
        if (from != to && from > 0) statusBar()->showMessage(tr("Chat database upgraded from schema v%1 to v%2 (a backup was kept).").arg(from).arg(to), 10000);
        if (interrupted > 0) statusBar()->showMessage(tr("%n reply(s) were interrupted when the app last closed; they are kept and marked.", nullptr, interrupted), 10000);
        if (m_modelReady && !m_options.autoPrompt.isEmpty() && !m_autoPromptSent) {
            m_autoPromptSent = true;
            m_chat->sendText(m_options.autoPrompt);
        }
    });
    connect(m_db.get(), &Database::failed, this, [this](const QString& message) {
        if (!m_dbReady) showNotice(tr("Chat database unavailable"), tr("%1\n\nChats will not be saved in this session.").arg(message), true);
        else statusBar()->showMessage(tr("Database: %1").arg(message), 10000);
    });
    if (!m_settings.notice().isEmpty()) QTimer::singleShot(0, this, [this] { showNotice(tr("Settings reset"), m_settings.notice()); });

    QDir().mkpath(m_options.dataDir);
    m_db->open(QDir(m_options.dataDir).filePath(QStringLiteral("chats.db")));
    restoreState_();

    if (!m_options.modelPath.isEmpty()) {
        // --model: inspect, then load as soon as the inspection arrives.
        auto* once = new QObject(this);
        connect(m_worker.get(), &EngineWorker::inspected, once, [this, once](const ModelSummary&) {
            once->deleteLater();
            m_library->loadInspected();
        });
        connect(m_worker.get(), &EngineWorker::inspectFailed, once, [once] { once->deleteLater(); });
        m_library->openModel(m_options.modelPath);
    }
    if (!m_options.screenshotDir.isEmpty()) {
        connect(m_chat, &ChatPanel::replyFinished, this, [this] {
            qInfo("reply finished; worst GUI stall while loading and generating: %.1f ms", m_stall.worstStallMs());
            QTimer::singleShot(800, this, &MainWindow::takeScreenshots);
        });
        connect(m_worker.get(), &EngineWorker::loadFailed, this, [this](const QString& m) {
            qWarning("screenshots: the model failed to load: %s", qPrintable(m));
            QTimer::singleShot(300, this, &MainWindow::takeScreenshots);
        });
    }
}

MainWindow::~MainWindow() {
    delete m_train;  // pauses a running training run (checkpoint) while the database still exists
}

void MainWindow::buildMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("&Open model folder…"), QKeySequence::Open, m_library, &LibraryPanel::chooseFolder);
    file->addAction(tr("&New chat"), QKeySequence::New, this, [this] {
        m_tabs->setCurrentWidget(m_chat);
        m_chat->newConversation();
    });
    file->addAction(tr("Export chat as &Markdown…"), this, [this] { m_chat->exportConversation(QStringLiteral("md")); });
    file->addAction(tr("Export chat as &JSON…"), this, [this] { m_chat->exportConversation(QStringLiteral("json")); });
    file->addSeparator();
    file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
    QMenu* edit = menuBar()->addMenu(tr("&Edit"));
    edit->addAction(tr("&Find in chats"), QKeySequence::Find, this, [this] {
        m_tabs->setCurrentWidget(m_chat);
        m_chat->focusSearch();
    });
    QMenu* view = menuBar()->addMenu(tr("&View"));
    for (int i = 0; i < m_tabs->count(); ++i)
        view->addAction(m_tabs->tabText(i).remove(QLatin1Char('&')), QKeySequence(Qt::ALT | Qt::Key(Qt::Key_1 + i)), this,
                        [this, i] { m_tabs->setCurrentIndex(i); });
    QMenu* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About Latent Studio"), this, [this] {
        QMessageBox::about(this, tr("About Latent Studio"),
                           tr("<b>Latent Studio</b><br>A desktop workbench for DeepSeek-style models (MLA, DeepSeekMoE, mHC).<br>"
                              "Data folder: %1").arg(m_options.dataDir.toHtmlEscaped()));
    });
}

void MainWindow::showNotice(const QString& title, const QString& text, bool critical) {
    // Non-blocking: open() instead of exec(), so nothing waits on the user.
    auto* box = new QMessageBox(critical ? QMessageBox::Critical : QMessageBox::Warning, title, text, QMessageBox::Ok, this);
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();
}

void MainWindow::restoreState_() {
    QSettings& s = m_settings.settings();
    if (!restoreGeometry(s.value(QStringLiteral("window/geometry")).toByteArray())) resize(1280, 820);
    restoreState(s.value(QStringLiteral("window/state")).toByteArray());
    m_chat->splitter()->restoreState(s.value(QStringLiteral("window/chatSplitter")).toByteArray());
    m_monitor->splitter()->restoreState(s.value(QStringLiteral("window/monitorSplitter")).toByteArray());
    m_tabs->setCurrentIndex(s.value(QStringLiteral("window/tab"), 0).toInt());
}

void MainWindow::saveState_() {
    QSettings& s = m_settings.settings();
    s.setValue(QStringLiteral("window/geometry"), saveGeometry());
    s.setValue(QStringLiteral("window/state"), saveState());
    s.setValue(QStringLiteral("window/chatSplitter"), m_chat->splitter()->saveState());
    s.setValue(QStringLiteral("window/monitorSplitter"), m_monitor->splitter()->saveState());
    s.setValue(QStringLiteral("window/tab"), m_tabs->currentIndex());
    s.sync();
}

void MainWindow::showEvent(QShowEvent* event) {
    QMainWindow::showEvent(event);
    // Start-up (first paint, font and icon loading) is not a stall on engine, disk or SQL work:
    // measure from half a second after the window first appears.
    if (!m_shown) QTimer::singleShot(500, this, [this] { m_stall.reset(); });
    m_shown = true;
}

void MainWindow::closeEvent(QCloseEvent* event) {
    if (m_chat->isGenerating()) m_chat->stop();
    saveState_();
    event->accept();
}

void MainWindow::warmUpViews() {
    for (int i = 0; i < m_tabs->count(); ++i) {
        QWidget* page = m_tabs->widget(i);
        page->resize(m_tabs->size());
        (void)page->grab();  // render() polishes, lays out and paints a hidden widget too
    }
}

void MainWindow::takeScreenshots() {
    // Grabbing renders every view synchronously: that is not a stall users see, so stop measuring.
    m_stallLabel->setText(tr("UI stall max %1 ms").arg(m_stall.worstStallMs(), 0, 'f', 0));
    m_stall.stop();
    if (auto* tick = findChild<QTimer*>(QStringLiteral("stallTick"))) tick->stop();
    const QDir dir(m_options.screenshotDir);
    QDir().mkpath(dir.path());
    const char* names[] = {"library", "chat", "train", "monitor"};
    for (int i = 0; i < m_tabs->count() && i < 4; ++i) {
        m_tabs->setCurrentIndex(i);
        for (int k = 0; k < 10; ++k) QApplication::processEvents();  // let charts replot
        grab().save(dir.filePath(QStringLiteral("%1.png").arg(QLatin1String(names[i]))));
    }
    m_monitor->saveAll(dir.filePath(QStringLiteral("charts")));
    qInfo("screenshots saved to %s", qPrintable(dir.absolutePath()));
    close();
}
