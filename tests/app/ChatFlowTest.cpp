// The whole window, end to end on the offscreen platform: load the tiny chat model, send a message,
// stream the reply into SQLite, regenerate (a second branch), switch branches, restart the window on
// the same data dir and find the chat (and its branch) again; the GUI never stalls ≥ 50 ms meanwhile.
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include <QTabWidget>

#include "MainWindow.h"
#include "StallMeter.h"
#include "TinyChatModel.h"
#include "chat/ChatPanel.h"
#include "engine/EngineWorker.h"
#include "library/LibraryPanel.h"
#include "storage/Database.h"

class ChatFlowTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;
    QString m_model;

private slots:
    void initTestCase() {
        m_model = m_dir.filePath(QStringLiteral("tiny"));
        try {
            TinyChatModel::write(m_model);
        } catch (const std::exception& e) {
            QSKIP(qPrintable(QStringLiteral("cannot write the tiny checkpoint with this engine build: %1").arg(e.what())));
        }
    }

    void chatBranchesAndPersists() {
        AppOptions options;
        options.dataDir = m_dir.filePath(QStringLiteral("data"));
        options.contextTokens = 1024;
        qint64 convId = 0;
        {
            MainWindow window(options);
            window.warmUpViews();  // as main() does before show()
            window.show();
            QVERIFY(QTest::qWaitForWindowExposed(&window));
            // The first switch to each view is measured too: warmUpViews() must have taken its cost.
            StallMeter meter(5);
            meter.start();
            for (int i = window.tabs()->count() - 1; i >= 0; --i) {
                window.tabs()->setCurrentIndex(i);
                QTest::qWait(100);
            }
            qInfo("GUI worst stall over the first switch to each view: %.2f ms (wall clock %.2f ms)",
                  meter.worstStallMs(), meter.worstWallStallMs());
            QSignalSpy inspected(window.worker(), &EngineWorker::inspected);
            QSignalSpy ready(window.library(), &LibraryPanel::modelReady);
            window.library()->openModel(m_model);
            QVERIFY(inspected.wait(30000));
            window.library()->loadInspected();
            QVERIFY(ready.wait(60000));
            ChatPanel* chat = window.chat();
            QSignalSpy replies(chat, &ChatPanel::replyFinished);
            // Type and press Ctrl+Enter in the input box.
            auto* input = chat->findChild<QPlainTextEdit*>();
            QVERIFY(input);
            input->setFocus();
            QTest::keyClicks(input, QStringLiteral("hello there"));
            QTest::keyClick(input, Qt::Key_Return, Qt::ControlModifier);
            QVERIFY(replies.wait(60000));
            MessageTreeModel* tree = chat->messages();
            QCOMPARE(tree->rowCount(), 2);
            QCOMPARE(tree->at(0).role, QStringLiteral("user"));
            QCOMPARE(tree->at(0).content, QStringLiteral("hello there"));
            QCOMPARE(tree->at(1).role, QStringLiteral("assistant"));
            QCOMPARE(tree->at(1).status, QStringLiteral("done"));
            QVERIFY(tree->at(1).tokens > 0);
            const QString firstReply = tree->at(1).content;
            convId = tree->conversationId();
            QVERIFY(convId > 0);
            // The conversation got its title from the first message.
            QCOMPARE(chat->conversations()->find(convId)->title, QStringLiteral("hello there"));

            // Regenerate: a sibling reply; the first stays reachable with "<".
            const QList<QPushButton*> buttons = chat->findChildren<QPushButton*>();
            QPushButton* regenerate = nullptr;
            for (QPushButton* b : buttons)
                if (b->accessibleName() == QStringLiteral("Regenerate this reply") && b->isVisible()) regenerate = b;
            QVERIFY(regenerate);
            regenerate->click();
            QVERIFY(replies.wait(60000));
            QCOMPARE(tree->rowCount(), 2);
            QCOMPARE(tree->data(tree->index(1), MessageTreeModel::SiblingCountRole).toInt(), 2);
            QCOMPARE(tree->data(tree->index(1), MessageTreeModel::SiblingIndexRole).toInt(), 1);
            QVERIFY(tree->selectSibling(1, -1));
            QCOMPARE(tree->at(1).content, firstReply);
            meter.stop();
            qInfo("GUI worst stall over load + 2 replies in the full window: %.2f ms (wall clock incl. run-queue "
                  "wait: %.2f ms)", meter.worstStallMs(), meter.worstWallStallMs());
            QVERIFY2(meter.worstStallMs() < 50.0, qPrintable(QString::number(meter.worstStallMs())));
            // Let the database thread write the branch choice, then close (which joins both threads).
            bool flushed = false;
            window.database()->call(this, [](ChatStore&) { return true; }, [&flushed](bool) { flushed = true; });
            QTRY_VERIFY(flushed);
        }
        // Restart on the same data dir: the chat, both replies and the chosen branch are back.
        MainWindow window(options);
        ChatPanel* chat = window.chat();
        QTRY_VERIFY_WITH_TIMEOUT(chat->conversations()->rowOf(convId) >= 0, 10000);
        QTRY_COMPARE_WITH_TIMEOUT(chat->messages()->conversationId(), convId, 10000);
        MessageTreeModel* tree = chat->messages();
        QTRY_COMPARE(tree->rowCount(), 2);
        QCOMPARE(tree->data(tree->index(1), MessageTreeModel::SiblingCountRole).toInt(), 2);
        QCOMPARE(tree->data(tree->index(1), MessageTreeModel::SiblingIndexRole).toInt(), 0);  // the branch we chose
    }
};

QTEST_MAIN(ChatFlowTest)
#include "ChatFlowTest.moc"
