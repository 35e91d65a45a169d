// ChatExport — a conversation to Markdown (the active branch, readable) or JSON (every message with
// its parent_id, so branches survive a round trip).
#pragma once

#include <QByteArray>
#include <QString>
#include <QVector>

#include "storage/ChatTypes.h"

namespace ChatExport {
QString toMarkdown(const ConversationRow& conversation, const QVector<MessageRow>& activeBranch);
QByteArray toJson(const ConversationRow& conversation, const QVector<MessageRow>& allMessages);
}  // namespace ChatExport
