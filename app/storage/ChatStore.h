// ChatStore — the app's SQLite schema behind a synchronous API. Used only on the Database thread
// (and directly by tests and the kill-test harness). Every write is one BEGIN IMMEDIATE transaction.
#pragma once

#include <QString>
#include <QVector>

#include "storage/ChatTypes.h"
#include "storage/Migrations.h"
#include "storage/SqliteDb.h"

struct StoreStartup {
    MigrationResult migration;
    QString movedAsidePath;  // the damaged file's new name when recovery ran
    QString notice;          // for the user: what happened and what to do ("" when all was well)
    int interruptedMessages = 0;  // replies that were streaming when the app last stopped
};

class ChatStore {
public:
    // Opens `path`, runs quick_check, migrates. A damaged file is renamed aside (with its -wal/-shm)
    // and a fresh database started; a too-new schema throws SqliteError with a clear message.
    StoreStartup open(const QString& path, const QStringList& scripts = Migrations::bundledScripts());
    SqliteDb& db() { return m_db; }

    ConversationRow createConversation(const QString& title, const QString& systemPrompt = {},
                                       const QString& samplingJson = QStringLiteral("{}"),
                                       const QString& modelPath = {});
    QVector<ConversationRow> conversations();
    ConversationRow conversation(qint64 id);
    // Full-text search (FTS5) over message text plus a title match; each row carries a snippet.
    QVector<ConversationRow> search(const QString& text);
    void renameConversation(qint64 id, const QString& title);
    void deleteConversation(qint64 id);
    void updateConversationSettings(qint64 id, const QString& systemPrompt, const QString& samplingJson);
    void setCurrentLeaf(qint64 conversationId, qint64 messageId);

    QVector<MessageRow> messages(qint64 conversationId);
    MessageRow message(qint64 id);
    // Inserts; also makes it the conversation's current leaf. Returns the row with its id.
    MessageRow addMessage(MessageRow row);
    void updateMessage(const MessageRow& row);  // content, status, tokens, timings

    void touchModel(const RecentModel& model);
    QVector<RecentModel> recentModels(int limit = 20);
    QVector<TrainingRunRow> trainingRuns();

    // Quotes each word for FTS5 (so user text is never parsed as query syntax); last word is a prefix.
    static QString ftsQuery(const QString& text);

private:
    int markInterrupted();
    SqliteDb m_db;
};
