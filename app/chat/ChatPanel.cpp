#include "chat/ChatPanel.h"

#include <QDateTime>
#include <QKeyEvent>
#include <QFile>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QMenu>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QRegularExpression>
#include <QSaveFile>
#include <QScrollArea>
#include <QScrollBar>
#include <QSplitter>
#include <QTimer>
#include <QVBoxLayout>

#include <nlohmann/json.hpp>

#include "chat/ChatExport.h"
#include "chat/MessageWidget.h"
#include "chat/SamplingDialog.h"
#include "engine/EngineWorker.h"
#include "storage/Database.h"

namespace {
const QString kNewTitle = QStringLiteral("New chat");
constexpr int kPersistIntervalMs = 1000;  // partial replies reach the database at most once a second
}  // namespace

ChatPanel::ChatPanel(EngineWorker* worker, Database* db, QWidget* parent) : QWidget(parent), m_worker(worker), m_db(db) {
    auto* outer = new QHBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);
    m_splitter = new QSplitter(this);
    m_splitter->setObjectName(QStringLiteral("chatSplitter"));
    outer->addWidget(m_splitter);

    // ---- conversation list ----
    auto* side = new QWidget(m_splitter);
    auto* sideLayout = new QVBoxLayout(side);
    auto* newChat = new QPushButton(QIcon(QStringLiteral(":/icons/new-chat.svg")), tr("New chat"), side);
    newChat->setToolTip(tr("New chat (Ctrl+N)"));
    newChat->setAccessibleName(tr("New chat"));
    m_search = new QLineEdit(side);
    m_search->setPlaceholderText(tr("Search all chats (Ctrl+F)"));
    m_search->setClearButtonEnabled(true);
    m_search->setAccessibleName(tr("Search conversations"));
    m_list = new QListView(side);
    m_list->setModel(&m_conversations);
    m_list->setAccessibleName(tr("Conversations"));
    m_list->setWordWrap(true);
    m_list->setContextMenuPolicy(Qt::CustomContextMenu);
    auto* listButtons = new QHBoxLayout;
    auto* rename = new QPushButton(tr("Rename"), side);
    auto* remove = new QPushButton(tr("Delete"), side);
    auto* exportButton = new QPushButton(tr("Export"), side);
    rename->setAccessibleName(tr("Rename conversation"));
    remove->setAccessibleName(tr("Delete conversation"));
    exportButton->setAccessibleName(tr("Export conversation"));
    auto* exportMenu = new QMenu(exportButton);
    exportMenu->addAction(tr("Markdown (.md)…"), this, [this] { exportConversation(QStringLiteral("md")); });
    exportMenu->addAction(tr("JSON with all branches (.json)…"), this, [this] { exportConversation(QStringLiteral("json")); });
    exportButton->setMenu(exportMenu);
    listButtons->addWidget(rename);
    listButtons->addWidget(remove);
    listButtons->addWidget(exportButton);
    sideLayout->addWidget(newChat);
    sideLayout->addWidget(m_search);
    sideLayout->addWidget(m_list, 1);
    sideLayout->addLayout(listButtons);

    // ---- chat ----
    auto* main = new QWidget(m_splitter);
    auto* mainLayout = new QVBoxLayout(main);
    auto* top = new QHBoxLayout;
    m_title = new QLabel(tr("No conversation"), main);
    m_title->setAccessibleName(tr("Conversation title"));
    m_contextBar = new QProgressBar(main);
    m_contextBar->setRange(0, 1);
    m_contextBar->setValue(0);
    m_contextBar->setFormat(tr("context: no model"));
    m_contextBar->setMinimumWidth(240);
    m_contextBar->setMaximumWidth(360);
    m_contextBar->setAccessibleName(tr("Context usage"));
    auto* settings = new QPushButton(tr("System prompt && sampling…"), main);
    settings->setAccessibleName(tr("Conversation settings"));
    top->addWidget(m_title, 1);
    top->addWidget(m_contextBar);
    top->addWidget(settings);
    mainLayout->addLayout(top);
    m_scroll = new QScrollArea(main);
    m_scroll->setWidgetResizable(true);
    m_scroll->setAccessibleName(tr("Messages"));
    m_messagesHost = new QWidget(m_scroll);
    m_messagesLayout = new QVBoxLayout(m_messagesHost);
    m_messagesLayout->setSpacing(6);
    m_messagesLayout->addStretch(1);
    m_scroll->setWidget(m_messagesHost);
    mainLayout->addWidget(m_scroll, 1);
    m_editBanner = new QLabel(tr("Editing a message: sending creates a new branch (the old one is kept). Esc cancels."), main);
    m_editBanner->setVisible(false);
    m_editBanner->setWordWrap(true);
    mainLayout->addWidget(m_editBanner);
    auto* inputRow = new QHBoxLayout;
    m_input = new QPlainTextEdit(main);
    m_input->setPlaceholderText(tr("Message (Ctrl+Enter to send, Esc to stop)"));
    m_input->setAccessibleName(tr("Message input"));
    m_input->setMaximumHeight(110);
    m_send = new QPushButton(QIcon(QStringLiteral(":/icons/send.svg")), tr("Send"), main);
    m_send->setToolTip(tr("Send (Ctrl+Enter)"));
    m_send->setAccessibleName(tr("Send message"));
    m_stop = new QPushButton(QIcon(QStringLiteral(":/icons/stop.svg")), tr("Stop"), main);
    m_stop->setToolTip(tr("Stop generating (Esc)"));
    m_stop->setAccessibleName(tr("Stop generating"));
    m_stop->setEnabled(false);
    inputRow->addWidget(m_input, 1);
    auto* sendCol = new QVBoxLayout;
    sendCol->addWidget(m_send);
    sendCol->addWidget(m_stop);
    inputRow->addLayout(sendCol);
    mainLayout->addLayout(inputRow);
    m_splitter->setStretchFactor(0, 1);
    m_splitter->setStretchFactor(1, 3);
    m_splitter->setSizes({260, 780});

    connect(newChat, &QPushButton::clicked, this, &ChatPanel::newConversation);
    connect(m_send, &QPushButton::clicked, this, &ChatPanel::send);
    connect(m_stop, &QPushButton::clicked, this, &ChatPanel::stop);
    connect(rename, &QPushButton::clicked, this, &ChatPanel::renameCurrent);
    connect(remove, &QPushButton::clicked, this, &ChatPanel::deleteCurrent);
    connect(settings, &QPushButton::clicked, this, &ChatPanel::editSettings);
    connect(m_list->selectionModel(), &QItemSelectionModel::currentChanged, this, [this](const QModelIndex& idx) {
        if (idx.isValid()) openConversation(idx.data(ConversationListModel::IdRole).toLongLong());
    });
    auto* searchDelay = new QTimer(this);
    searchDelay->setSingleShot(true);
    searchDelay->setInterval(200);
    connect(m_search, &QLineEdit::textChanged, searchDelay, qOverload<>(&QTimer::start));
    connect(searchDelay, &QTimer::timeout, this, &ChatPanel::reloadConversations);

    connect(&m_messages, &QAbstractItemModel::modelReset, this, &ChatPanel::rebuildMessageWidgets);
    connect(&m_messages, &QAbstractItemModel::rowsInserted, this, &ChatPanel::rebuildMessageWidgets);
    connect(&m_messages, &QAbstractItemModel::rowsRemoved, this, &ChatPanel::rebuildMessageWidgets);
    connect(&m_messages, &QAbstractItemModel::dataChanged, this, [this](const QModelIndex& a, const QModelIndex& b) {
        for (int r = a.row(); r <= b.row(); ++r) updateMessageWidget(r);
    });
    connect(&m_messages, &MessageTreeModel::branchChanged, this, [this](qint64 leaf) {
        const qint64 conv = m_messages.conversationId();
        if (conv > 0 && leaf > 0) m_db->post([conv, leaf](ChatStore& s) { s.setCurrentLeaf(conv, leaf); });
    });

    connect(m_worker, &EngineWorker::promptReady, this, [this](qint64 req, qint64 promptTokens, qint64 capacity) {
        if (req == m_requestId) updateContextBar(promptTokens, capacity);
    });
    connect(m_worker, &EngineWorker::replyDelta, this, [this](qint64 req, const QString& text) {
        if (req != m_requestId || !m_streamingId) return;
        const MessageRow* cur = m_messages.message(m_streamingId);
        if (!cur) return;
        MessageRow row = *cur;
        row.content += text;
        m_messages.updateMessage(row);
        persistStreaming(false);
        QScrollBar* bar = m_scroll->verticalScrollBar();
        if (bar->value() >= bar->maximum() - 80) QTimer::singleShot(0, this, [bar] { bar->setValue(bar->maximum()); });
    });
    connect(m_worker, &EngineWorker::telemetry, this, [this](qint64 req, const TelemetrySnapshot& s) {
        if (req != m_requestId || !m_streamingId) return;
        if (const MessageRow* cur = m_messages.message(m_streamingId)) {
            MessageRow row = *cur;
            row.tokens = s.generatedTokens;
            row.seconds = s.elapsedS;
            m_messages.updateMessage(row);
        }
        updateContextBar(s.kvTokens, s.kvCapacity);
    });
    connect(m_worker, &EngineWorker::replyFinished, this, [this](qint64 req, const ReplyStats& st) {
        if (req != m_requestId || !m_streamingId) return;
        if (const MessageRow* cur = m_messages.message(m_streamingId)) {
            MessageRow row = *cur;
            row.tokens = st.tokens;
            row.seconds = st.seconds;
            row.prefillTps = st.prefillTps;
            row.decodeTps = st.decodeTps;
            row.status = st.stopReason == QLatin1String("cancelled") ? QStringLiteral("stopped") : QStringLiteral("done");
            m_messages.updateMessage(row);
            m_db->post([row](ChatStore& s) { s.updateMessage(row); });
        }
        updateContextBar(st.contextUsed, st.contextCapacity);
        setGenerating(false);
        emit status(tr("Reply: %1 tokens in %2 s (prefill %3 tok/s, decode %4 tok/s), stopped by %5")
                        .arg(st.tokens).arg(st.seconds, 0, 'f', 2).arg(st.prefillTps, 0, 'f', 1)
                        .arg(st.decodeTps, 0, 'f', 1).arg(st.stopReason));
        emit replyFinished(st);
    });
    connect(m_worker, &EngineWorker::replyFailed, this, [this](qint64 req, const QString& message) {
        if (req != m_requestId || !m_streamingId) return;
        if (const MessageRow* cur = m_messages.message(m_streamingId)) {
            MessageRow row = *cur;
            row.status = QStringLiteral("error");
            if (row.content.isEmpty()) row.content = tr("*The reply failed:* %1").arg(message);
            m_messages.updateMessage(row);
            m_db->post([row](ChatStore& s) { s.updateMessage(row); });
        }
        setGenerating(false);
        emit status(message.section(QLatin1Char('\n'), 0, 0));
    });
    connect(m_db, &Database::opened, this, &ChatPanel::reloadConversations);
    // A write that never happened (database unavailable) must not leave the chat waiting for it.
    connect(m_db, &Database::failed, this, [this] {
        if (m_send && !m_streamingId && m_stop->isEnabled()) setGenerating(false);
    });
    m_input->installEventFilter(this);
    setGenerating(false);
}

bool ChatPanel::eventFilter(QObject* watched, QEvent* event) {
    // Ctrl+Enter sends from the input box (a plain Enter inserts a newline).
    if (watched == m_input && event->type() == QEvent::KeyPress) {
        auto* key = static_cast<QKeyEvent*>(event);
        if ((key->key() == Qt::Key_Return || key->key() == Qt::Key_Enter) && (key->modifiers() & Qt::ControlModifier)) {
            send();
            return true;
        }
    }
    return QWidget::eventFilter(watched, event);
}

void ChatPanel::setModel(const ModelSummary& model) {
    m_model = model;
    updateContextBar(0, model.contextTokens);
    setGenerating(false);
}

ConversationRow* ChatPanel::current() {
    const int r = m_conversations.rowOf(m_currentId);
    return r < 0 ? nullptr : const_cast<ConversationRow*>(m_conversations.find(m_currentId));
}

void ChatPanel::reloadConversations() {
    const QString query = m_search->text().trimmed();
    m_db->call(this, [query](ChatStore& s) { return query.isEmpty() ? s.conversations() : s.search(query); },
               [this](QVector<ConversationRow> rows) {
                   const qint64 keep = m_currentId;
                   m_conversations.setConversations(rows);
                   const int r = m_conversations.rowOf(keep);
                   if (r >= 0) m_list->setCurrentIndex(m_conversations.index(r));
                   else if (keep == 0 && !rows.isEmpty() && m_search->text().isEmpty())
                       m_list->setCurrentIndex(m_conversations.index(0));
               });
}

void ChatPanel::openConversation(qint64 id) {
    if (id == m_currentId && m_messages.conversationId() == id) return;
    if (isGenerating()) stop();
    m_currentId = id;
    m_editParentId = -1;
    m_editBanner->setVisible(false);
    const ConversationRow* conv = m_conversations.find(id);
    m_title->setText(conv ? QStringLiteral("<b>%1</b>").arg(conv->title.toHtmlEscaped()) : QString());
    const qint64 leaf = conv ? conv->currentLeafId : 0;
    m_db->call(this, [id](ChatStore& s) { return s.messages(id); }, [this, id, leaf](QVector<MessageRow> rows) {
        if (id != m_currentId) return;
        m_messages.setMessages(id, rows, leaf);
        updateContextBar(0, m_model.contextTokens);
    });
}

void ChatPanel::newConversation() {
    if (isGenerating()) stop();
    SamplingSettings defaults;
    m_db->call(this, [defaults, path = m_model.path](ChatStore& s) { return s.createConversation(kNewTitle, {}, defaults.toJson(), path); },
               [this](ConversationRow row) {
                   m_search->clear();
                   m_conversations.upsert(row);
                   m_list->setCurrentIndex(m_conversations.index(m_conversations.rowOf(row.id)));
                   m_input->setFocus();
               });
}

void ChatPanel::focusSearch() {
    m_search->setFocus();
    m_search->selectAll();
}

void ChatPanel::send() { sendText(m_input->toPlainText()); }

void ChatPanel::sendText(const QString& rawText) {
    const QString text = rawText.trimmed();
    if (text.isEmpty() || isGenerating()) return;
    if (m_model.path.isEmpty()) {
        emit status(tr("Load a model in the Library tab first."));
        return;
    }
    auto withConversation = [this, text](qint64 convId) {
        const qint64 parent = m_editParentId >= 0 ? m_editParentId : m_messages.leafId();
        m_editParentId = -1;
        m_editBanner->setVisible(false);
        m_input->clear();
        MessageRow user;
        user.conversationId = convId;
        user.parentId = parent;
        user.role = QStringLiteral("user");
        user.content = text;
        const bool retitle = m_conversations.find(convId) && m_conversations.find(convId)->title == kNewTitle;
        const QString title = text.simplified().left(48);
        setGenerating(true);  // blocks a second send while the rows are written
        m_db->call(this, [user, retitle, title](ChatStore& s) {
                       if (retitle) s.renameConversation(user.conversationId, title);
                       return s.addMessage(user);
                   },
                   [this, retitle, title](MessageRow row) {
                       if (row.conversationId != m_currentId) return;
                       if (retitle) {
                           m_conversations.rename(row.conversationId, title);
                           m_title->setText(QStringLiteral("<b>%1</b>").arg(title.toHtmlEscaped()));
                       }
                       m_messages.addMessage(row);
                       startReply(row.id);
                   });
    };
    if (m_currentId > 0) {
        withConversation(m_currentId);
        return;
    }
    SamplingSettings defaults;
    m_db->call(this, [defaults, path = m_model.path](ChatStore& s) { return s.createConversation(kNewTitle, {}, defaults.toJson(), path); },
               [this, withConversation](ConversationRow row) {
                   m_conversations.upsert(row);
                   m_currentId = row.id;
                   m_messages.setMessages(row.id, {}, 0);
                   m_list->setCurrentIndex(m_conversations.index(m_conversations.rowOf(row.id)));
                   withConversation(row.id);
               });
}

void ChatPanel::startReply(qint64 parentId) {
    const ConversationRow* conv = m_conversations.find(m_currentId);
    if (!conv) return;
    nlohmann::json messages = nlohmann::json::array();
    if (!conv->systemPrompt.trimmed().isEmpty())
        messages.push_back({{"role", "system"}, {"content", conv->systemPrompt.toStdString()}});
    for (const MessageRow& m : m_messages.history(parentId))
        if (m.status != QLatin1String("error"))
            messages.push_back({{"role", m.role.toStdString()}, {"content", m.content.toStdString()}});
    GenerationRequest req;
    req.requestId = ++m_requestId;
    req.conversationId = m_currentId;
    req.messagesJson = QString::fromStdString(messages.dump());
    req.sampling = SamplingSettings::fromJson(conv->samplingJson);
    MessageRow reply;
    reply.conversationId = m_currentId;
    reply.parentId = parentId;
    reply.role = QStringLiteral("assistant");
    reply.status = QStringLiteral("streaming");
    setGenerating(true);
    m_db->call(this, [reply](ChatStore& s) { return s.addMessage(reply); }, [this, req](MessageRow row) {
        if (row.conversationId != m_currentId || req.requestId != m_requestId) return;
        m_streamingId = row.id;
        m_messages.addMessage(row);
        m_lastPersist.start();
        m_stop->setEnabled(true);
        m_worker->generate(req);
    });
}

void ChatPanel::persistStreaming(bool force) {
    if (!m_streamingId || (!force && m_lastPersist.isValid() && m_lastPersist.elapsed() < kPersistIntervalMs)) return;
    m_lastPersist.restart();
    if (const MessageRow* cur = m_messages.message(m_streamingId)) {
        const MessageRow row = *cur;
        m_db->post([row](ChatStore& s) { s.updateMessage(row); });
    }
}

void ChatPanel::stop() {
    if (isGenerating()) {
        m_worker->stop();
        emit status(tr("Stopping…"));
    } else if (m_editParentId >= 0) {
        m_editParentId = -1;
        m_editBanner->setVisible(false);
        m_input->clear();
    }
}

void ChatPanel::setGenerating(bool on) {
    if (!on) m_streamingId = 0;
    m_send->setEnabled(!on && !m_model.path.isEmpty());
    m_stop->setEnabled(on);
    for (MessageWidget* w : m_widgets) w->setEnabled(!on || w->messageId() == m_streamingId);
}

void ChatPanel::rebuildMessageWidgets() {
    // Reuse widgets where possible; long chats keep their scroll position.
    while (m_widgets.size() > m_messages.rowCount()) delete m_widgets.takeLast();
    while (m_widgets.size() < m_messages.rowCount()) {
        auto* w = new MessageWidget(m_messagesHost);
        m_messagesLayout->insertWidget(m_messagesLayout->count() - 1, w);
        connect(w, &MessageWidget::previousSibling, this, [this](qint64 id) {
            if (!isGenerating()) m_messages.selectSibling(int(m_messages.path().indexOf(id)), -1);
        });
        connect(w, &MessageWidget::nextSibling, this, [this](qint64 id) {
            if (!isGenerating()) m_messages.selectSibling(int(m_messages.path().indexOf(id)), +1);
        });
        connect(w, &MessageWidget::editRequested, this, [this](qint64 id) {
            const MessageRow* m = m_messages.message(id);
            if (!m || isGenerating()) return;
            m_editParentId = m->parentId;
            m_input->setPlainText(m->content);
            m_editBanner->setVisible(true);
            m_input->setFocus();
        });
        connect(w, &MessageWidget::regenerateRequested, this, [this](qint64 id) {
            const MessageRow* m = m_messages.message(id);
            if (!m || isGenerating() || m_model.path.isEmpty()) return;
            startReply(m->parentId);
        });
        m_widgets << w;
    }
    for (int r = 0; r < m_widgets.size(); ++r) updateMessageWidget(r);
    QTimer::singleShot(0, this, [this] { m_scroll->verticalScrollBar()->setValue(m_scroll->verticalScrollBar()->maximum()); });
}

void ChatPanel::updateMessageWidget(int row) {
    if (row < 0 || row >= m_widgets.size()) return;
    const QModelIndex idx = m_messages.index(row);
    m_widgets[row]->setMessage(m_messages.at(row), idx.data(MessageTreeModel::SiblingIndexRole).toInt(),
                               idx.data(MessageTreeModel::SiblingCountRole).toInt());
}

void ChatPanel::updateContextBar(qint64 used, qint64 capacity) {
    if (capacity <= 0) {
        m_contextBar->setRange(0, 1);
        m_contextBar->setValue(0);
        m_contextBar->setFormat(tr("context: no model"));
        return;
    }
    m_contextBar->setRange(0, int(std::min<qint64>(capacity, INT_MAX)));
    m_contextBar->setValue(int(std::min(used, capacity)));
    m_contextBar->setFormat(tr("%1 / %2 tokens (%p%)").arg(used).arg(capacity));
}

void ChatPanel::renameCurrent() {
    const ConversationRow* conv = m_conversations.find(m_currentId);
    if (!conv) return;
    bool ok = false;
    const QString title = QInputDialog::getText(this, tr("Rename conversation"), tr("Title:"), QLineEdit::Normal, conv->title, &ok).trimmed();
    if (!ok || title.isEmpty()) return;
    const qint64 id = m_currentId;
    m_conversations.rename(id, title);
    m_title->setText(QStringLiteral("<b>%1</b>").arg(title.toHtmlEscaped()));
    m_db->post([id, title](ChatStore& s) { s.renameConversation(id, title); });
}

void ChatPanel::deleteCurrent() {
    const ConversationRow* conv = m_conversations.find(m_currentId);
    if (!conv) return;
    if (QMessageBox::question(this, tr("Delete conversation"),
                              tr("Delete \"%1\" and all its branches? This cannot be undone.").arg(conv->title)) != QMessageBox::Yes)
        return;
    if (isGenerating()) stop();
    const qint64 id = m_currentId;
    m_currentId = 0;
    m_conversations.remove(id);
    m_messages.clear();
    m_title->setText(tr("No conversation"));
    m_worker->forgetConversation(id);
    m_db->post([id](ChatStore& s) { s.deleteConversation(id); });
}

void ChatPanel::editSettings() {
    ConversationRow* conv = current();
    if (!conv) return;
    auto* dialog = new SamplingDialog(conv->systemPrompt, SamplingSettings::fromJson(conv->samplingJson), this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    const qint64 id = conv->id;
    connect(dialog, &QDialog::accepted, this, [this, dialog, id] {
        ConversationRow* c = const_cast<ConversationRow*>(m_conversations.find(id));
        if (!c) return;
        c->systemPrompt = dialog->systemPrompt();
        c->samplingJson = dialog->settings().toJson();
        const QString sp = c->systemPrompt, sj = c->samplingJson;
        m_db->post([id, sp, sj](ChatStore& s) { s.updateConversationSettings(id, sp, sj); });
        emit status(tr("Settings saved for this conversation."));
    });
    dialog->open();
}

void ChatPanel::exportConversation(const QString& format) {
    const ConversationRow* conv = m_conversations.find(m_currentId);
    if (!conv) return;
    const bool md = format == QLatin1String("md");
    QString name = conv->title;
    name.replace(QRegularExpression(QStringLiteral("[^\\w\\- ]")), QStringLiteral("_"));
    const QString path = QFileDialog::getSaveFileName(this, tr("Export conversation"), name + (md ? QStringLiteral(".md") : QStringLiteral(".json")),
                                                      md ? tr("Markdown (*.md)") : tr("JSON (*.json)"));
    if (path.isEmpty()) return;
    const ConversationRow c = *conv;
    QVector<MessageRow> branch;
    for (int r = 0; r < m_messages.rowCount(); ++r) branch << m_messages.at(r);
    // Writing happens on the database thread (disk), with the full tree read there for JSON.
    m_db->call(this, [c, branch, md, path](ChatStore& s) {
                   const QByteArray bytes = md ? ChatExport::toMarkdown(c, branch).toUtf8() : ChatExport::toJson(c, s.messages(c.id));
                   QSaveFile f(path);
                   if (!f.open(QIODevice::WriteOnly) || f.write(bytes) != bytes.size() || !f.commit())
                       return QStringLiteral("Could not write %1: %2").arg(path, f.errorString());
                   return QStringLiteral("Exported to %1").arg(path);
               },
               [this](QString message) { emit status(message); });
}
