// Item models: conversation list and the message tree (branches from edit/regenerate, sibling
// navigation), checked with QAbstractItemModelTester; Markdown/JSON export; code-block scan.
#include <QAbstractItemModelTester>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSignalSpy>
#include <QtTest>

#include "chat/ChatExport.h"
#include "chat/ConversationListModel.h"
#include "chat/MarkdownBlocks.h"
#include "chat/MessageTreeModel.h"

namespace {
MessageRow m(qint64 id, qint64 parent, const char* role, const QString& content) {
    MessageRow r;
    r.id = id;
    r.conversationId = 1;
    r.parentId = parent;
    r.role = QString::fromLatin1(role);
    r.content = content;
    return r;
}
ConversationRow conv(qint64 id, const QString& title, qint64 updated) {
    ConversationRow c;
    c.id = id;
    c.title = title;
    c.updatedAt = updated;
    return c;
}
QVector<qint64> ids(const MessageTreeModel& model) {
    QVector<qint64> out;
    for (int r = 0; r < model.rowCount(); ++r) out << model.data(model.index(r), MessageTreeModel::IdRole).toLongLong();
    return out;
}
}  // namespace

class ModelsTest : public QObject {
    Q_OBJECT
private slots:
    void conversationList() {
        ConversationListModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setConversations({conv(1, QStringLiteral("one"), 30), conv(2, QStringLiteral("two"), 20),
                                conv(3, QStringLiteral("three"), 10)});
        QCOMPARE(model.rowCount(), 3);
        // An update to an older conversation moves it to the top.
        model.upsert(conv(3, QStringLiteral("three*"), 40));
        QCOMPARE(model.data(model.index(0), ConversationListModel::IdRole).toLongLong(), 3);
        QCOMPARE(model.data(model.index(0), ConversationListModel::TitleRole).toString(), QStringLiteral("three*"));
        QCOMPARE(model.data(model.index(1), ConversationListModel::IdRole).toLongLong(), 1);
        model.upsert(conv(4, QStringLiteral("new"), 50));
        QCOMPARE(model.rowCount(), 4);
        QCOMPARE(model.rowOf(4), 0);
        model.rename(2, QStringLiteral("renamed"));
        QCOMPARE(model.data(model.index(model.rowOf(2)), Qt::DisplayRole).toString(), QStringLiteral("renamed"));
        model.remove(1);
        QCOMPARE(model.rowCount(), 3);
        QCOMPARE(model.rowOf(1), -1);
        QVERIFY(!model.data(model.index(0), Qt::AccessibleTextRole).toString().isEmpty());
        // Search results show their snippet under the title.
        ConversationRow hit = conv(9, QStringLiteral("hit"), 1);
        hit.snippet = QStringLiteral("…the [word]…");
        model.setConversations({hit});
        QCOMPARE(model.data(model.index(0), Qt::DisplayRole).toString(), QStringLiteral("hit\n…the [word]…"));
    }

    void messageTreeBranches() {
        MessageTreeModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        // 1 user → 2 assistant → 3 user → 4 assistant; 5 = regenerated sibling of 4; 6 = edit of 3 (sibling) → 7
        model.setMessages(1, {m(1, 0, "user", "hi"), m(2, 1, "assistant", "hello"), m(3, 2, "user", "q"),
                              m(4, 3, "assistant", "a1"), m(5, 3, "assistant", "a2"), m(6, 2, "user", "q edited"),
                              m(7, 6, "assistant", "a3")},
                          5);
        QCOMPARE(ids(model), (QVector<qint64>{1, 2, 3, 5}));
        QCOMPARE(model.data(model.index(3), MessageTreeModel::SiblingIndexRole).toInt(), 1);
        QCOMPARE(model.data(model.index(3), MessageTreeModel::SiblingCountRole).toInt(), 2);
        QCOMPARE(model.data(model.index(2), MessageTreeModel::SiblingCountRole).toInt(), 2);
        QCOMPARE(model.data(model.index(0), MessageTreeModel::SiblingCountRole).toInt(), 1);

        QSignalSpy branch(&model, &MessageTreeModel::branchChanged);
        QVERIFY(model.selectSibling(3, -1));  // < : back to the first answer
        QCOMPARE(ids(model), (QVector<qint64>{1, 2, 3, 4}));
        QVERIFY(!model.selectSibling(3, -1));  // already the first
        QVERIFY(model.selectSibling(2, +1));  // > on the user message: the edited branch, newest leaf
        QCOMPARE(ids(model), (QVector<qint64>{1, 2, 6, 7}));
        QCOMPARE(branch.count(), 2);
        QCOMPARE(model.leafId(), qint64(7));
        QVERIFY(!model.selectSibling(2, +1));

        // History for a reply to message 6 is the path up to it.
        QVector<qint64> hist;
        for (const auto& r : model.history(6)) hist << r.id;
        QCOMPARE(hist, (QVector<qint64>{1, 2, 6}));

        // Regenerate: a new sibling of 7 becomes the leaf; the old branch stays reachable.
        model.addMessage(m(8, 6, "assistant", "a4"));
        QCOMPARE(ids(model), (QVector<qint64>{1, 2, 6, 8}));
        QCOMPARE(model.data(model.index(3), MessageTreeModel::SiblingCountRole).toInt(), 2);
        QVERIFY(model.selectSibling(3, -1));
        QCOMPARE(ids(model), (QVector<qint64>{1, 2, 6, 7}));
        // Appending under the leaf extends the path.
        model.addMessage(m(9, 7, "user", "more"));
        QCOMPARE(ids(model), (QVector<qint64>{1, 2, 6, 7, 9}));
        // Streaming updates change data in place.
        MessageRow upd = *model.message(9);
        upd.content = QStringLiteral("more, edited by stream");
        upd.tokens = 10;
        upd.seconds = 2;
        model.updateMessage(upd);
        QCOMPARE(model.data(model.index(4), MessageTreeModel::ContentRole).toString(), upd.content);
        QCOMPARE(model.data(model.index(4), MessageTreeModel::TokensPerSecondRole).toDouble(), 5.0);
    }

    void unknownLeafFallsBackToNewestBranch() {
        MessageTreeModel model;
        model.setMessages(1, {m(1, 0, "user", "a"), m(2, 1, "assistant", "b"), m(3, 1, "assistant", "c")}, 0);
        QCOMPARE(ids(model), (QVector<qint64>{1, 3}));
        model.clear();
        QCOMPARE(model.rowCount(), 0);
        model.addMessage(m(10, 0, "user", "first"));
        QCOMPARE(ids(model), (QVector<qint64>{10}));
    }

    void exportMarkdownAndJson() {
        ConversationRow c = conv(1, QStringLiteral("Branchy"), 5);
        c.systemPrompt = QStringLiteral("You are terse.");
        c.samplingJson = QStringLiteral("{\"temperature\":0.3}");
        MessageRow a = m(2, 1, "assistant", QStringLiteral("```cpp\nint x;\n```"));
        a.tokens = 12;
        a.seconds = 3;
        const QVector<MessageRow> branch{m(1, 0, "user", "hi"), a};
        const QString md = ChatExport::toMarkdown(c, branch);
        QVERIFY(md.startsWith(QStringLiteral("# Branchy\n")));
        QVERIFY(md.contains(QStringLiteral("## System\n\nYou are terse.")));
        QVERIFY(md.indexOf(QStringLiteral("## User\n\nhi")) < md.indexOf(QStringLiteral("## Assistant\n\n```cpp")));
        QVERIFY(md.contains(QStringLiteral("12 tokens · 3.00 s · 4.0 tokens/s")));

        const QVector<MessageRow> all{m(1, 0, "user", "hi"), a, m(3, 1, "assistant", "other branch")};
        const QJsonObject doc = QJsonDocument::fromJson(ChatExport::toJson(c, all)).object();
        QCOMPARE(doc.value(QStringLiteral("title")).toString(), QStringLiteral("Branchy"));
        QCOMPARE(doc.value(QStringLiteral("sampling")).toObject().value(QStringLiteral("temperature")).toDouble(), 0.3);
        const QJsonArray msgs = doc.value(QStringLiteral("messages")).toArray();
        QCOMPARE(msgs.size(), 3);
        QVERIFY(msgs[0].toObject().value(QStringLiteral("parent_id")).isNull());
        QCOMPARE(msgs[2].toObject().value(QStringLiteral("parent_id")).toInteger(), 1);
        QCOMPARE(msgs[1].toObject().value(QStringLiteral("content")).toString(), a.content);
    }

    void codeBlocks() {
        const auto blocks = MarkdownBlocks::codeBlocks(QStringLiteral(
            "Text\n```python title\nprint(1)\nprint(2)\n```\nmid\n~~~\nraw ``` inside\n~~~\n```js\nstill streaming"));
        QCOMPARE(blocks.size(), 3);
        QCOMPARE(blocks[0].language, QStringLiteral("python"));
        QCOMPARE(blocks[0].code, QStringLiteral("print(1)\nprint(2)"));
        QCOMPARE(blocks[1].language, QString());
        QCOMPARE(blocks[1].code, QStringLiteral("raw ``` inside"));
        QCOMPARE(blocks[2].code, QStringLiteral("still streaming"));
        QVERIFY(MarkdownBlocks::codeBlocks(QStringLiteral("no code")).isEmpty());
    }
};

QTEST_MAIN(ModelsTest)
#include "ModelsTest.moc"
