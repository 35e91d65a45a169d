// SIGKILL mid-reply, 30 times: the writer (latent-db-kill-harness, the app's Database code) is killed
// at a random moment while a reply streams into SQLite; afterwards integrity_check must be "ok", the
// database must open without recovery, and every write the harness saw acknowledged must be there:
// user and finished replies byte-for-byte, streaming replies at least as long as acknowledged (the
// reply only grows, so the acknowledged text must be a prefix of what is stored).
#include <QCryptographicHash>
#include <QProcess>
#include <QRandomGenerator>
#include <QTemporaryDir>
#include <QtTest>
#include <csignal>

#include "storage/ChatStore.h"

class KillWriteTest : public QObject {
    Q_OBJECT
private slots:
    void killThirtyTimesMidReply() {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("chats.db"));
        struct Ack {
            char kind;
            qint64 len;
            QByteArray sha;
        };
        QHash<qint64, Ack> acked;  // message id -> last acknowledged state
        QRandomGenerator rng(20261124);
        const int runs = 30;
        int totalAcks = 0, killedMidReply = 0;
        for (int run = 0; run < runs; ++run) {
            QProcess p;
            p.start(QStringLiteral(LATENT_KILL_HARNESS), {path, QString::number(run + 1)});
            QVERIFY2(p.waitForStarted(5000), qPrintable(p.errorString()));
            // Kill at a random moment after the first acknowledged write (start-up time varies).
            QVERIFY2(p.waitForReadyRead(20000), qPrintable(QString::fromUtf8(p.readAllStandardError())));
            QTest::qWait(int(rng.bounded(5, 250)));
            QVERIFY2(p.state() == QProcess::Running, qPrintable(QString::fromUtf8(p.readAllStandardError())));
            ::kill(pid_t(p.processId()), SIGKILL);
            QVERIFY(p.waitForFinished(5000));
            QCOMPARE(p.exitStatus(), QProcess::CrashExit);
            const QList<QByteArray> lines = p.readAllStandardOutput().split('\n');
            char lastKind = 0;
            for (const QByteArray& line : lines) {
                const QList<QByteArray> f = line.split(' ');
                if (f.size() != 4) continue;  // the last line may be cut by the kill
                acked[f[1].toLongLong()] = Ack{f[0][0], f[2].toLongLong(), f[3]};
                lastKind = f[0][0];
                ++totalAcks;
            }
            killedMidReply += (lastKind == 'S' || lastKind == 'U');
        }
        qInfo("%d kills, %d acknowledged writes, %d kills landed while a reply was streaming", runs, totalAcks,
              killedMidReply);
        QVERIFY(totalAcks > runs * 5);
        QVERIFY(killedMidReply >= runs / 2);

        {
            SqliteDb raw;
            raw.open(path);
            QCOMPARE(raw.integrityCheck(), QStringLiteral("ok"));
        }
        ChatStore store;
        const StoreStartup s = store.open(path);
        QVERIFY2(s.movedAsidePath.isEmpty(), qPrintable(s.notice));
        int checked = 0;
        for (auto it = acked.constBegin(); it != acked.constEnd(); ++it) {
            const MessageRow m = store.message(it.key());  // throws (fails) when missing
            const QByteArray utf8 = m.content.toUtf8();
            if (it->kind == 'S') {
                QVERIFY(utf8.size() >= it->len);
                QCOMPARE(QCryptographicHash::hash(utf8.left(it->len), QCryptographicHash::Sha1).toHex(), it->sha);
                QVERIFY(m.status == QLatin1String("interrupted") || m.status == QLatin1String("done"));
            } else {
                QCOMPARE(utf8.size(), it->len);
                QCOMPARE(QCryptographicHash::hash(utf8, QCryptographicHash::Sha1).toHex(), it->sha);
                if (it->kind == 'D') QCOMPARE(m.status, QStringLiteral("done"));
            }
            ++checked;
        }
        QCOMPARE(checked, acked.size());
        QCOMPARE(store.db().queryText(QStringLiteral("INSERT INTO messages_fts(messages_fts) VALUES('integrity-check')")), QString());
    }
};

QTEST_GUILESS_MAIN(KillWriteTest)
#include "KillWriteTest.moc"
