#include "chat/ChatExport.h"

#include <QDateTime>

#include <nlohmann/json.hpp>

namespace ChatExport {

QString toMarkdown(const ConversationRow& conversation, const QVector<MessageRow>& activeBranch) {
    QString md = QStringLiteral("# %1\n\n").arg(conversation.title);
    md += QStringLiteral("_Exported from Latent Studio on %1%2_\n\n")
              .arg(QDateTime::currentDateTime().toString(Qt::ISODate),
                   conversation.modelPath.isEmpty() ? QString() : QStringLiteral(" · model `%1`").arg(conversation.modelPath));
    if (!conversation.systemPrompt.isEmpty())
        md += QStringLiteral("## System\n\n%1\n\n").arg(conversation.systemPrompt);
    for (const MessageRow& m : activeBranch) {
        const QString who = m.role == QLatin1String("user") ? QStringLiteral("User")
                            : m.role == QLatin1String("assistant") ? QStringLiteral("Assistant")
                                                                    : QStringLiteral("System");
        md += QStringLiteral("## %1\n\n%2\n\n").arg(who, m.content);
        if (m.role == QLatin1String("assistant") && m.tokens > 0)
            md += QStringLiteral("_%1 tokens · %2 s · %3 tokens/s_\n\n")
                      .arg(m.tokens).arg(m.seconds, 0, 'f', 2).arg(m.tokensPerSecond(), 0, 'f', 1);
    }
    return md;
}

QByteArray toJson(const ConversationRow& conversation, const QVector<MessageRow>& allMessages) {
    using nlohmann::json;
    json messages = json::array();
    for (const MessageRow& m : allMessages) {
        json j = {{"id", m.id}, {"role", m.role.toStdString()}, {"content", m.content.toStdString()},
                  {"status", m.status.toStdString()}, {"tokens", m.tokens}, {"seconds", m.seconds},
                  {"prefill_tokens_per_second", m.prefillTps}, {"decode_tokens_per_second", m.decodeTps},
                  {"created_at_ms", m.createdAt}};
        j["parent_id"] = m.parentId > 0 ? json(m.parentId) : json(nullptr);
        messages.push_back(std::move(j));
    }
    json sampling = json::parse(conversation.samplingJson.toStdString(), nullptr, false);
    if (sampling.is_discarded()) sampling = json::object();
    const json doc = {{"format", "latent-studio-conversation"},
                      {"version", 1},
                      {"title", conversation.title.toStdString()},
                      {"system_prompt", conversation.systemPrompt.toStdString()},
                      {"model_path", conversation.modelPath.toStdString()},
                      {"sampling", sampling},
                      {"current_leaf_id", conversation.currentLeafId},
                      {"created_at_ms", conversation.createdAt},
                      {"messages", messages}};
    return QByteArray::fromStdString(doc.dump(2));
}

}  // namespace ChatExport
