// Database: migrations from v0, backup before migrating, refusing a newer schema, recovery from a
// damaged file, FTS5 search, interrupted replies, and the async writer thread (GUI never waits).
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include "StallMeter.h"
#include "storage/ChatStore.h"
#include "storage/Database.h"

namespace {
MessageRow msg(qint64 conv, qint64 parent, const QString& role, const QString& content) {
    MessageRow m;
    m.conversationId = conv;
    m.parentId = parent;
    m.role = role;
    m.content = content;
    return m;
}
}  // namespace

class DatabaseTest : public QObject {
    Q_OBJECT
private slots:
    void migratesFromV0() {
        QTemporaryDir dir;
        ChatStore store;
        const StoreStartup s = store.open(dir.filePath(QStringLiteral("chats.db")));
        QCOMPARE(s.migration.fromVersion, 0);
        QCOMPARE(s.migration.toVersion, Migrations::latestVersion(Migrations::bundledScripts()));
        QVERIFY(s.migration.toVersion >= 1);
        QVERIFY(s.migration.backupPath.isEmpty());
        QVERIFY(s.notice.isEmpty());
        QCOMPARE(store.db().queryInt(QStringLiteral("PRAGMA user_version")), qint64(s.migration.toVersion));
        QCOMPARE(store.db().queryText(QStringLiteral("PRAGMA journal_mode")), QStringLiteral("wal"));
        QCOMPARE(store.db().queryInt(QStringLiteral("PRAGMA foreign_keys")), qint64(1));
        for (const char* table : {"conversations", "messages", "messages_fts", "models", "training_runs"})
            QCOMPARE(store.db().queryInt(QStringLiteral("SELECT count(*) FROM sqlite_schema WHERE name = '%1'")
                                             .arg(QLatin1String(table))), qint64(1));
    }

    void backsUpBeforeMigratingAndStepsAreTransactional() {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("chats.db"));
        const QStringList v1 = Migrations::bundledScripts().mid(0, 1);  // schema v1 only
        qint64 convId = 0;
        {
            ChatStore store;
            store.open(path, v1);
            convId = store.createConversation(QStringLiteral("before v2")).id;
        }
        // A v2 step that adds a column; the v1 database must be copied aside first.
        QStringList v2 = v1;
        v2 << QStringLiteral("ALTER TABLE conversations ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;");
        {
            ChatStore store;
            const StoreStartup s = store.open(path, v2);
            QCOMPARE(s.migration.fromVersion, 1);
            QCOMPARE(s.migration.toVersion, 2);
            QVERIFY(QFile::exists(s.migration.backupPath));
            QCOMPARE(store.db().queryInt(QStringLiteral("SELECT pinned FROM conversations WHERE id = %1").arg(convId)), qint64(0));
            SqliteDb backup;
            backup.open(s.migration.backupPath);
            QCOMPARE(backup.queryInt(QStringLiteral("PRAGMA user_version")), qint64(1));
            QCOMPARE(backup.queryText(QStringLiteral("SELECT title FROM conversations")), QStringLiteral("before v2"));
        }
        // A broken v3 step rolls back completely: version stays 2 and no half-made table remains.
        QStringList v3 = v2;
        v3 << QStringLiteral("CREATE TABLE half_made(x); THIS IS NOT SQL;");
        {
            ChatStore store;
            QVERIFY_THROWS_EXCEPTION(SqliteError, store.open(path, v3));
        }
        SqliteDb db;
        db.open(path);
        QCOMPARE(db.queryInt(QStringLiteral("PRAGMA user_version")), qint64(2));
        QCOMPARE(db.queryInt(QStringLiteral("SELECT count(*) FROM sqlite_schema WHERE name = 'half_made'")), qint64(0));
    }

    void refusesNewerSchema() {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("chats.db"));
        {
            SqliteDb db;
            db.open(path);
            db.exec(QStringLiteral("CREATE TABLE future(x); PRAGMA user_version = 99;"));
        }
        ChatStore store;
        try {
            store.open(path);
            QFAIL("a schema from a newer app must be refused");
        } catch (const SqliteError& e) {
            QVERIFY2(e.message().contains(QStringLiteral("newer")), qPrintable(e.message()));
            QVERIFY(e.message().contains(QStringLiteral("99")));
            QVERIFY(e.message().contains(QStringLiteral("--data-dir")));
        }
        SqliteDb db;
        db.open(path);
        QCOMPARE(db.queryInt(QStringLiteral("PRAGMA user_version")), qint64(99));  // untouched
        QCOMPARE(db.queryInt(QStringLiteral("SELECT count(*) FROM sqlite_schema WHERE name = 'future'")), qint64(1));
    }

    void recoversFromGarbageFile() {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("chats.db"));
        {
            QFile f(path);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(QByteArray(8192, 'x'));
        }
        ChatStore store;
        const StoreStartup s = store.open(path);
        QVERIFY(!s.movedAsidePath.isEmpty());
        QVERIFY(QFile::exists(s.movedAsidePath));
        QVERIFY(s.notice.contains(s.movedAsidePath));
        QCOMPARE(store.db().quickCheck(), QStringLiteral("ok"));
        QVERIFY(store.createConversation(QStringLiteral("fresh")).id > 0);
    }

    void recoversFromDamagedPages() {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("chats.db"));
        {
            ChatStore store;
            store.open(path);
            for (int c = 0; c < 20; ++c) {
                const qint64 conv = store.createConversation(QStringLiteral("conv %1").arg(c)).id;
                qint64 parent = 0;
                for (int i = 0; i < 10; ++i)
                    parent = store.addMessage(msg(conv, parent, i % 2 ? QStringLiteral("assistant") : QStringLiteral("user"),
                                                  QString(300, QChar(u'a' + i)))).id;
            }
            store.db().exec(QStringLiteral("PRAGMA wal_checkpoint(TRUNCATE)"));
        }
        {
            QFile f(path);
            QVERIFY(f.open(QIODevice::ReadWrite));
            QVERIFY(f.size() > 8 * 4096);
            f.seek(3 * 4096);  // overwrite b-tree pages in the middle of the file
            QByteArray junk(4 * 4096, '\0');
            for (int i = 0; i < junk.size(); ++i) junk[i] = char((i * 131 + 17) & 0xff);
            f.write(junk);
        }
        ChatStore store;
        const StoreStartup s = store.open(path);
        QVERIFY2(!s.movedAsidePath.isEmpty(), "a database failing quick_check must be moved aside");
        QVERIFY(!s.notice.isEmpty());
        QCOMPARE(store.conversations().size(), 0);
        QCOMPARE(store.db().integrityCheck(), QStringLiteral("ok"));
    }

    void fullTextSearch() {
        ChatStore store;
        QTemporaryDir dir;
        store.open(dir.filePath(QStringLiteral("chats.db")));
        const qint64 a = store.createConversation(QStringLiteral("Physics")).id;
        const qint64 b = store.createConversation(QStringLiteral("Cooking")).id;
        const qint64 c = store.createConversation(QStringLiteral("Quantum recipes")).id;
        const qint64 ua = store.addMessage(msg(a, 0, QStringLiteral("user"), QStringLiteral("Explain quantum entanglement simply"))).id;
        store.addMessage(msg(a, ua, QStringLiteral("assistant"), QStringLiteral("Two particles share one state.")));
        MessageRow bu = store.addMessage(msg(b, 0, QStringLiteral("user"), QStringLiteral("How long to boil an egg?")));
        store.addMessage(msg(c, 0, QStringLiteral("user"), QStringLiteral("nothing relevant")));

        auto ids = [](const QVector<ConversationRow>& rows) {
            QSet<qint64> s;
            for (const auto& r : rows) s.insert(r.id);
            return s;
        };
        QVector<ConversationRow> hits = store.search(QStringLiteral("entanglement"));
        QCOMPARE(ids(hits), QSet<qint64>({a}));
        QVERIFY2(hits[0].snippet.contains(QStringLiteral("[entanglement]")), qPrintable(hits[0].snippet));
        QCOMPARE(ids(store.search(QStringLiteral("quant"))), QSet<qint64>({a, c}));  // prefix + title
        QCOMPARE(ids(store.search(QStringLiteral("boil egg"))), QSet<qint64>({b}));
        // Query syntax in user text is treated as words, not as FTS5 operators.
        QCOMPARE(store.search(QStringLiteral("\"AND (NEAR")).size(), 0);
        // Edits are reindexed; deletes leave the index.
        bu.content = QStringLiteral("How long to poach an egg?");
        store.updateMessage(bu);
        QCOMPARE(store.search(QStringLiteral("boil")).size(), 0);
        QCOMPARE(ids(store.search(QStringLiteral("poach"))), QSet<qint64>({b}));
        store.deleteConversation(a);
        QCOMPARE(store.search(QStringLiteral("entanglement")).size(), 0);
        QCOMPARE(store.db().queryInt(QStringLiteral("SELECT count(*) FROM messages WHERE conversation_id = %1").arg(a)), qint64(0));
        QCOMPARE(store.db().queryText(QStringLiteral("INSERT INTO messages_fts(messages_fts) VALUES('integrity-check')")), QString());
    }

    void streamingRepliesBecomeInterruptedOnRestart() {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("chats.db"));
        qint64 id = 0;
        {
            ChatStore store;
            store.open(path);
            const qint64 conv = store.createConversation(QStringLiteral("t")).id;
            MessageRow m = msg(conv, 0, QStringLiteral("assistant"), QStringLiteral("half a repl"));
            m.status = QStringLiteral("streaming");
            id = store.addMessage(m).id;
        }
        ChatStore store;
        const StoreStartup s = store.open(path);
        QCOMPARE(s.interruptedMessages, 1);
        QCOMPARE(store.message(id).status, QStringLiteral("interrupted"));
        QCOMPARE(store.message(id).content, QStringLiteral("half a repl"));
    }

    void recentModelsAndConversationSettings() {
        QTemporaryDir dir;
        ChatStore store;
        store.open(dir.filePath(QStringLiteral("chats.db")));
        store.touchModel({QStringLiteral("/m/a"), QStringLiteral("a"), QStringLiteral("X"), 10, 1000});
        store.touchModel({QStringLiteral("/m/b"), QStringLiteral("b"), QStringLiteral("Y"), 20, 2000});
        store.touchModel({QStringLiteral("/m/a"), QStringLiteral("a"), QStringLiteral("X"), 10, 3000});
        const auto models = store.recentModels();
        QCOMPARE(models.size(), 2);
        QCOMPARE(models[0].path, QStringLiteral("/m/a"));
        const qint64 conv = store.createConversation(QStringLiteral("t")).id;
        store.updateConversationSettings(conv, QStringLiteral("Be brief."), QStringLiteral("{\"temperature\":0.2}"));
        store.renameConversation(conv, QStringLiteral("renamed"));
        const ConversationRow row = store.conversation(conv);
        QCOMPARE(row.title, QStringLiteral("renamed"));
        QCOMPARE(row.systemPrompt, QStringLiteral("Be brief."));
        QCOMPARE(row.samplingJson, QStringLiteral("{\"temperature\":0.2}"));
    }

    void asyncWriterKeepsGuiResponsive() {
        QTemporaryDir dir;
        Database db;
        QSignalSpy opened(&db, &Database::opened);
        QSignalSpy failed(&db, &Database::failed);
        db.open(dir.filePath(QStringLiteral("chats.db")));
        QVERIFY(opened.wait(5000));
        QCOMPARE(failed.count(), 0);

        qint64 conv = 0;
        db.call(this, [](ChatStore& s) { return s.createConversation(QStringLiteral("async")).id; },
                [&conv](qint64 id) { conv = id; });
        QTRY_VERIFY(conv > 0);

        StallMeter meter(5);
        meter.start();
        const int n = 400;
        int done = 0;
        QVERIFY(!db.isOnDatabaseThread());
        for (int i = 0; i < n; ++i) {
            db.call(this, [conv, i](ChatStore& s) {
                        MessageRow m = msg(conv, 0, QStringLiteral("user"), QStringLiteral("message %1 ").arg(i).repeated(50));
                        return s.addMessage(m).id;
                    },
                    [&done](qint64) { ++done; });
        }
        QTRY_COMPARE_WITH_TIMEOUT(done, n, 60000);
        meter.stop();
        qInfo("GUI worst stall while the database wrote %d transactions: %.2f ms (%lld heartbeats)", n,
              meter.worstStallMs(), meter.beats());
        QVERIFY(meter.beats() > 0);
        QVERIFY2(meter.worstStallMs() < 50.0, qPrintable(QString::number(meter.worstStallMs())));
        int count = -1;
        db.call(this, [conv](ChatStore& s) { return int(s.messages(conv).size()); }, [&count](int c) { count = c; });
        QTRY_COMPARE(count, n);
        // Errors come back as a signal, not an exception on the GUI thread.
        db.post([](ChatStore& s) { s.db().exec(QStringLiteral("INSERT INTO no_such_table VALUES (1)")); });
        QVERIFY(failed.wait(5000));
        QVERIFY(failed.first().first().toString().contains(QStringLiteral("no_such_table")));
    }
};

QTEST_MAIN(DatabaseTest)
#include "DatabaseTest.moc"
