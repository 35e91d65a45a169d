// ChatTypes — plain rows passed between the Database thread and the GUI (copyable, no Qt objects).
#pragma once

#include <QMetaType>
#include <QString>
#include <QVector>

struct ConversationRow {
    qint64 id = 0;
    QString title;
    QString systemPrompt;
    QString samplingJson = QStringLiteral("{}");
    QString modelPath;
    qint64 currentLeafId = 0;  // 0 = none
    qint64 createdAt = 0;      // unix ms
    qint64 updatedAt = 0;
    QString snippet;           // search hit context (search results only)
};

struct MessageRow {
    qint64 id = 0;
    qint64 conversationId = 0;
    qint64 parentId = 0;       // 0 = root
    QString role;              // system | user | assistant
    QString content;
    QString status = QStringLiteral("done");  // done | streaming | stopped | interrupted | error
    qint64 tokens = 0;
    double seconds = 0;
    double prefillTps = 0;
    double decodeTps = 0;
    qint64 createdAt = 0;
    double tokensPerSecond() const { return seconds > 0 ? tokens / seconds : 0; }
};

struct RecentModel {
    QString path;
    QString name;
    QString architecture;
    qint64 params = 0;
    qint64 lastOpened = 0;
};

struct TrainingRunRow {
    qint64 id = 0;
    QString name;
    QString modelPath;
    QString status;
    qint64 steps = 0;
    double finalLoss = 0;
    bool hasFinalLoss = false;
    QString outputPath;
    qint64 createdAt = 0;
    qint64 finishedAt = 0;
};

Q_DECLARE_METATYPE(ConversationRow)
Q_DECLARE_METATYPE(MessageRow)
