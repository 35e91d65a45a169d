#include "storage/ChatStore.h"

#include <sqlite3.h>

#include <QDateTime>
#include <QFile>
#include <QFileInfo>
#include <QRegularExpression>

namespace {
qint64 nowMs() { return QDateTime::currentMSecsSinceEpoch(); }

bool isDamage(int code) {
    const int primary = code & 0xff;
    return primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT;
}

const char* kConversationColumns =
    "c.id, c.title, c.system_prompt, c.sampling_json, c.model_path, c.current_leaf_id, c.created_at, c.updated_at";

ConversationRow readConversation(const SqliteStatement& st) {
    ConversationRow row;
    row.id = st.columnInt(0);
    row.title = st.columnText(1);
    row.systemPrompt = st.columnText(2);
    row.samplingJson = st.columnText(3);
    row.modelPath = st.columnText(4);
    row.currentLeafId = st.columnIsNull(5) ? 0 : st.columnInt(5);
    row.createdAt = st.columnInt(6);
    row.updatedAt = st.columnInt(7);
    return row;
}

const char* kMessageColumns =
    "id, conversation_id, parent_id, role, content, status, tokens, seconds, prefill_tps, decode_tps, created_at";

MessageRow readMessage(const SqliteStatement& st) {
    MessageRow row;
    row.id = st.columnInt(0);
    row.conversationId = st.columnInt(1);
    row.parentId = st.columnIsNull(2) ? 0 : st.columnInt(2);
    row.role = st.columnText(3);
    row.content = st.columnText(4);
    row.status = st.columnText(5);
    row.tokens = st.columnInt(6);
    row.seconds = st.columnDouble(7);
    row.prefillTps = st.columnDouble(8);
    row.decodeTps = st.columnDouble(9);
    row.createdAt = st.columnInt(10);
    return row;
}

QVariant nullableId(qint64 id) { return id > 0 ? QVariant(id) : QVariant(); }
}  // namespace

StoreStartup ChatStore::open(const QString& path, const QStringList& scripts) {
    StoreStartup startup;
    QString problem;
    try {
        m_db.open(path);
        const QString check = m_db.quickCheck();
        if (check != QLatin1String("ok")) problem = check;
    } catch (const SqliteError& e) {
        if (!isDamage(e.code())) throw;
        problem = e.message();
    }
    if (!problem.isEmpty()) {
        m_db.close();
        const QString stamp = QDateTime::currentDateTimeUtc().toString(QStringLiteral("yyyyMMdd-HHmmss"));
        startup.movedAsidePath = QStringLiteral("%1.damaged-%2").arg(path, stamp);
        for (const char* suffix : {"", "-wal", "-shm"}) {
            const QString from = path + QLatin1String(suffix);
            if (QFile::exists(from) && !QFile::rename(from, startup.movedAsidePath + QLatin1String(suffix)))
                throw SqliteError(QStringLiteral("The chat database %1 is damaged and could not be moved aside; "
                                                 "move or delete it by hand and restart.").arg(from), SQLITE_CANTOPEN);
        }
        m_db.open(path);
        startup.notice = QStringLiteral("Your chat database was damaged (%1). It was moved to %2 and a new, "
                                        "empty one was started. The old file is kept: the sqlite3 tool's "
                                        "\".recover\" command can often extract conversations from it.")
                             .arg(problem.left(200), startup.movedAsidePath);
    }
    startup.migration = Migrations::apply(m_db, scripts);
    startup.interruptedMessages = markInterrupted();
    return startup;
}

int ChatStore::markInterrupted() {
    SqliteTransaction tx(m_db);
    m_db.exec(QStringLiteral("UPDATE messages SET status = 'interrupted' WHERE status = 'streaming'"));
    const int n = m_db.changes();
    tx.commit();
    return n;
}

ConversationRow ChatStore::createConversation(const QString& title, const QString& systemPrompt,
                                              const QString& samplingJson, const QString& modelPath) {
    SqliteTransaction tx(m_db);
    SqliteStatement st(m_db.handle(), QStringLiteral(
        "INSERT INTO conversations(title, system_prompt, sampling_json, model_path, created_at, updated_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?5)"));
    const qint64 now = nowMs();
    st.bind(1, title).bind(2, systemPrompt).bind(3, samplingJson).bind(4, modelPath).bind(5, now);
    st.step();
    const qint64 id = m_db.lastInsertId();
    tx.commit();
    return conversation(id);
}

QVector<ConversationRow> ChatStore::conversations() {
    QVector<ConversationRow> rows;
    SqliteStatement st(m_db.handle(), QStringLiteral("SELECT %1 FROM conversations c ORDER BY c.updated_at DESC, c.id DESC")
                                          .arg(QLatin1String(kConversationColumns)));
    while (st.step()) rows << readConversation(st);
    return rows;
}

ConversationRow ChatStore::conversation(qint64 id) {
    SqliteStatement st(m_db.handle(), QStringLiteral("SELECT %1 FROM conversations c WHERE c.id = ?1")
                                          .arg(QLatin1String(kConversationColumns)));
    st.bind(1, id);
    if (!st.step()) throw SqliteError(QStringLiteral("conversation %1 does not exist").arg(id), SQLITE_NOTFOUND);
    return readConversation(st);
}

QString ChatStore::ftsQuery(const QString& text) {
    const QStringList words = text.split(QRegularExpression(QStringLiteral("\\s+")), Qt::SkipEmptyParts);
    QStringList quoted;
    for (const QString& w : words) quoted << QLatin1Char('"') + QString(w).replace(QLatin1Char('"'), QStringLiteral("\"\"")) + QLatin1Char('"');
    if (!quoted.isEmpty()) quoted.last() += QLatin1Char('*');
    return quoted.join(QLatin1Char(' '));
}

QVector<ConversationRow> ChatStore::search(const QString& text) {
    const QString query = ftsQuery(text);
    if (query.isEmpty()) return conversations();
    // Best FTS hit per conversation (bm25: lower is better), plus conversations whose title matches.
    SqliteStatement st(m_db.handle(), QStringLiteral(
        "WITH fts AS MATERIALIZED ("
        "  SELECT rowid AS mid, snippet(messages_fts, 0, '[', ']', '…', 8) AS snip, bm25(messages_fts) AS score "
        "  FROM messages_fts WHERE messages_fts MATCH ?1), "
        "hits AS (SELECT m.conversation_id AS cid, fts.snip AS snip, fts.score AS score "
        "         FROM fts JOIN messages m ON m.id = fts.mid), "
        "best AS (SELECT cid, snip, min(score) AS score FROM hits GROUP BY cid) "
        "SELECT %1, coalesce(b.snip, '') FROM conversations c LEFT JOIN best b ON b.cid = c.id "
        "WHERE b.cid IS NOT NULL OR c.title LIKE ?2 ESCAPE '\\' "
        "ORDER BY coalesce(b.score, 0), c.updated_at DESC").arg(QLatin1String(kConversationColumns)));
    QString like = text.trimmed();
    like.replace(QLatin1Char('\\'), QStringLiteral("\\\\")).replace(QLatin1Char('%'), QStringLiteral("\\%"))
        .replace(QLatin1Char('_'), QStringLiteral("\\_"));
    st.bind(1, query).bind(2, QStringLiteral("%%1%").arg(like));
    QVector<ConversationRow> rows;
    while (st.step()) {
        ConversationRow row = readConversation(st);
        row.snippet = st.columnText(8);
        rows << row;
    }
    return rows;
}

void ChatStore::renameConversation(qint64 id, const QString& title) {
    SqliteTransaction tx(m_db);
    SqliteStatement st(m_db.handle(), QStringLiteral("UPDATE conversations SET title = ?1, updated_at = ?2 WHERE id = ?3"));
    st.bind(1, title).bind(2, nowMs()).bind(3, id);
    st.step();
    tx.commit();
}

void ChatStore::deleteConversation(qint64 id) {
    SqliteTransaction tx(m_db);
    SqliteStatement st(m_db.handle(), QStringLiteral("DELETE FROM conversations WHERE id = ?1"));
    st.bind(1, id);
    st.step();
    tx.commit();
}

void ChatStore::updateConversationSettings(qint64 id, const QString& systemPrompt, const QString& samplingJson) {
    SqliteTransaction tx(m_db);
    SqliteStatement st(m_db.handle(), QStringLiteral(
        "UPDATE conversations SET system_prompt = ?1, sampling_json = ?2, updated_at = ?3 WHERE id = ?4"));
    st.bind(1, systemPrompt).bind(2, samplingJson).bind(3, nowMs()).bind(4, id);
    st.step();
    tx.commit();
}

void ChatStore::setCurrentLeaf(qint64 conversationId, qint64 messageId) {
    SqliteTransaction tx(m_db);
    SqliteStatement st(m_db.handle(), QStringLiteral("UPDATE conversations SET current_leaf_id = ?1 WHERE id = ?2"));
    st.bind(1, nullableId(messageId)).bind(2, conversationId);
    st.step();
    tx.commit();
}

QVector<MessageRow> ChatStore::messages(qint64 conversationId) {
    SqliteStatement st(m_db.handle(), QStringLiteral("SELECT %1 FROM messages WHERE conversation_id = ?1 ORDER BY id")
                                          .arg(QLatin1String(kMessageColumns)));
    st.bind(1, conversationId);
    QVector<MessageRow> rows;
    while (st.step()) rows << readMessage(st);
    return rows;
}

MessageRow ChatStore::message(qint64 id) {
    SqliteStatement st(m_db.handle(), QStringLiteral("SELECT %1 FROM messages WHERE id = ?1").arg(QLatin1String(kMessageColumns)));
    st.bind(1, id);
    if (!st.step()) throw SqliteError(QStringLiteral("message %1 does not exist").arg(id), SQLITE_NOTFOUND);
    return readMessage(st);
}

MessageRow ChatStore::addMessage(MessageRow row) {
    SqliteTransaction tx(m_db);
    if (row.createdAt == 0) row.createdAt = nowMs();
    SqliteStatement st(m_db.handle(), QStringLiteral(
        "INSERT INTO messages(conversation_id, parent_id, role, content, status, tokens, seconds, prefill_tps, "
        "decode_tps, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"));
    st.bind(1, row.conversationId).bind(2, nullableId(row.parentId)).bind(3, row.role).bind(4, row.content)
        .bind(5, row.status).bind(6, row.tokens).bind(7, row.seconds).bind(8, row.prefillTps)
        .bind(9, row.decodeTps).bind(10, row.createdAt);
    st.step();
    row.id = m_db.lastInsertId();
    SqliteStatement up(m_db.handle(), QStringLiteral(
        "UPDATE conversations SET current_leaf_id = ?1, updated_at = ?2 WHERE id = ?3"));
    up.bind(1, row.id).bind(2, row.createdAt).bind(3, row.conversationId);
    up.step();
    tx.commit();
    return row;
}

void ChatStore::updateMessage(const MessageRow& row) {
    SqliteTransaction tx(m_db);
    SqliteStatement st(m_db.handle(), QStringLiteral(
        "UPDATE messages SET content = ?1, status = ?2, tokens = ?3, seconds = ?4, prefill_tps = ?5, "
        "decode_tps = ?6 WHERE id = ?7"));
    st.bind(1, row.content).bind(2, row.status).bind(3, row.tokens).bind(4, row.seconds).bind(5, row.prefillTps)
        .bind(6, row.decodeTps).bind(7, row.id);
    st.step();
    tx.commit();
}

void ChatStore::touchModel(const RecentModel& model) {
    SqliteTransaction tx(m_db);
    SqliteStatement st(m_db.handle(), QStringLiteral(
        "INSERT INTO models(path, name, architecture, params, last_opened) VALUES (?1, ?2, ?3, ?4, ?5) "
        "ON CONFLICT(path) DO UPDATE SET name = excluded.name, architecture = excluded.architecture, "
        "params = excluded.params, last_opened = excluded.last_opened"));
    st.bind(1, model.path).bind(2, model.name).bind(3, model.architecture).bind(4, model.params)
        .bind(5, model.lastOpened > 0 ? model.lastOpened : nowMs());
    st.step();
    tx.commit();
}

QVector<RecentModel> ChatStore::recentModels(int limit) {
    SqliteStatement st(m_db.handle(), QStringLiteral(
        "SELECT path, name, architecture, params, last_opened FROM models ORDER BY last_opened DESC LIMIT ?1"));
    st.bind(1, limit);
    QVector<RecentModel> rows;
    while (st.step())
        rows << RecentModel{st.columnText(0), st.columnText(1), st.columnText(2), st.columnInt(3), st.columnInt(4)};
    return rows;
}

QVector<TrainingRunRow> ChatStore::trainingRuns() {
    SqliteStatement st(m_db.handle(), QStringLiteral(
        "SELECT id, name, model_path, status, steps, final_loss, output_path, created_at, finished_at "
        "FROM training_runs ORDER BY created_at DESC"));
    QVector<TrainingRunRow> rows;
    while (st.step()) {
        TrainingRunRow r;
        r.id = st.columnInt(0);
        r.name = st.columnText(1);
        r.modelPath = st.columnText(2);
        r.status = st.columnText(3);
        r.steps = st.columnInt(4);
        r.hasFinalLoss = !st.columnIsNull(5);
        r.finalLoss = st.columnDouble(5);
        r.outputPath = st.columnText(6);
        r.createdAt = st.columnInt(7);
        r.finishedAt = st.columnIsNull(8) ? 0 : st.columnInt(8);
        rows << r;
    }
    return rows;
}
