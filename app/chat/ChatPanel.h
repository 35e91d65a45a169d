// ChatPanel — conversations (list, FTS search, rename, delete, export) and the chat itself:
// streaming replies, stop, regenerate, edit-and-resend as a new branch, branch navigation,
// per-conversation system prompt and sampling, per-message stats and a context-usage bar.
#pragma once

#include <QElapsedTimer>
#include <QWidget>

#include "chat/ConversationListModel.h"
#include "chat/MessageTreeModel.h"
#include "engine/EngineTypes.h"
#include "monitor/TelemetrySnapshot.h"

class Database;
class EngineWorker;
class MessageWidget;
class QLabel;
class QLineEdit;
class QListView;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QScrollArea;
class QSplitter;
class QVBoxLayout;

class ChatPanel : public QWidget {
    Q_OBJECT
public:
    ChatPanel(EngineWorker* worker, Database* db, QWidget* parent = nullptr);
    void setModel(const ModelSummary& model);
    ConversationListModel* conversations() { return &m_conversations; }
    MessageTreeModel* messages() { return &m_messages; }
    bool isGenerating() const { return m_streamingId != 0; }
    QSplitter* splitter() const { return m_splitter; }

public slots:
    void newConversation();
    void send();                       // Ctrl+Enter
    void stop();                       // Esc (also cancels an edit)
    void focusSearch();                // Ctrl+F
    void sendText(const QString& text);  // for automation (screenshots)
    void exportConversation(const QString& format);  // "md" | "json"

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

signals:
    void replyFinished(const ReplyStats& stats);
    void status(const QString& message);

private:
    void reloadConversations();
    void openConversation(qint64 id);
    void rebuildMessageWidgets();
    void updateMessageWidget(int row);
    void startReply(qint64 parentId);
    void persistStreaming(bool force);
    void renameCurrent();
    void deleteCurrent();
    void editSettings();
    void updateContextBar(qint64 used, qint64 capacity);
    void setGenerating(bool on);
    ConversationRow* current();

    EngineWorker* m_worker;
    Database* m_db;
    ConversationListModel m_conversations;
    MessageTreeModel m_messages;
    ModelSummary m_model;
    qint64 m_currentId = 0;
    qint64 m_editParentId = -1;   // >= 0 while editing: the new message becomes a sibling
    qint64 m_streamingId = 0;     // assistant message being generated
    qint64 m_requestId = 0;
    QElapsedTimer m_lastPersist;

    QSplitter* m_splitter;
    QLineEdit* m_search;
    QListView* m_list;
    QLabel* m_title;
    QProgressBar* m_contextBar;
    QScrollArea* m_scroll;
    QWidget* m_messagesHost;
    QVBoxLayout* m_messagesLayout;
    QList<MessageWidget*> m_widgets;
    QLabel* m_editBanner;
    QPlainTextEdit* m_input;
    QPushButton* m_send;
    QPushButton* m_stop;
};
