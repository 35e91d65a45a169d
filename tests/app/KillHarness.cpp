// latent-db-kill-harness DB_PATH SEED — writes chat messages the way the app does (through the same
// Database writer thread: user message, assistant reply inserted as 'streaming' and updated as it
// grows, then marked 'done'), and prints one line per write the database has acknowledged:
//   U|D|S <message id> <content length> <sha1 hex>
// test_app_killwrite SIGKILLs it at random moments and checks every acknowledged write survived.
#include <QCoreApplication>
#include <QCryptographicHash>
#include <QTimer>
#include <cstdio>
#include <memory>

#include "storage/Database.h"

namespace {
QString replyText(quint32 seed, int words) {
    QString s;
    for (int i = 0; i < words; ++i) s += QStringLiteral("w%1_%2 ").arg(seed).arg(i * 7919 % 1000);
    return s;
}
void report(char kind, qint64 id, const QString& content) {
    const QByteArray utf8 = content.toUtf8();
    std::printf("%c %lld %lld %s\n", kind, static_cast<long long>(id), static_cast<long long>(utf8.size()),
                QCryptographicHash::hash(utf8, QCryptographicHash::Sha1).toHex().constData());
    std::fflush(stdout);
}
}  // namespace

int main(int argc, char** argv) {
    QCoreApplication app(argc, argv);
    if (argc < 3) {
        std::fprintf(stderr, "usage: latent-db-kill-harness DB_PATH SEED\n");
        return 2;
    }
    const quint32 seed = QByteArray(argv[2]).toUInt();
    Database db;
    QObject::connect(&db, &Database::failed, [](const QString& m) {
        std::fprintf(stderr, "database error: %s\n", qPrintable(m));
        QCoreApplication::exit(1);
    });
    struct State {
        qint64 conversation = 0;
        qint64 parent = 0;
        qint64 reply = 0;
        int words = 0;
        int turn = 0;
    };
    auto st = std::make_shared<State>();
    std::function<void()> nextTurn;
    std::function<void()> grow;

    grow = [&, st]() {
        st->words += 3;
        MessageRow row;
        row.id = st->reply;
        row.content = replyText(seed + st->turn, st->words);
        const bool last = st->words >= 60;
        row.status = last ? QStringLiteral("done") : QStringLiteral("streaming");
        row.tokens = st->words;
        row.seconds = st->words * 0.01;
        db.call(&app, [row](ChatStore& s) { s.updateMessage(row); return row; },
                [&, st, last](MessageRow r) {
                    report(last ? 'D' : 'S', r.id, r.content);
                    if (last) {
                        st->parent = r.id;
                        QTimer::singleShot(0, &app, nextTurn);
                    } else {
                        QTimer::singleShot(1, &app, grow);
                    }
                });
    };
    nextTurn = [&, st]() {
        ++st->turn;
        st->words = 0;
        MessageRow user;
        user.conversationId = st->conversation;
        user.parentId = st->parent;
        user.role = QStringLiteral("user");
        user.content = QStringLiteral("question %1 from run %2").arg(st->turn).arg(seed);
        db.call(&app, [user](ChatStore& s) {
                    const MessageRow u = s.addMessage(user);
                    MessageRow a;
                    a.conversationId = u.conversationId;
                    a.parentId = u.id;
                    a.role = QStringLiteral("assistant");
                    a.content = QString();
                    a.status = QStringLiteral("streaming");
                    return qMakePair(u, s.addMessage(a));
                },
                [&, st](QPair<MessageRow, MessageRow> ua) {
                    report('U', ua.first.id, ua.first.content);
                    st->reply = ua.second.id;
                    grow();
                });
    };
    QObject::connect(&db, &Database::opened, &app, [&, st](const QString& notice) {
        if (!notice.isEmpty()) std::fprintf(stderr, "notice: %s\n", qPrintable(notice));
        db.call(&app, [seed](ChatStore& s) { return s.createConversation(QStringLiteral("kill run %1").arg(seed)).id; },
                [&, st](qint64 id) {
                    st->conversation = id;
                    nextTurn();
                });
    });
    db.open(QString::fromLocal8Bit(argv[1]));
    return app.exec();
}
