// ConversationListModel — the conversation list (most recently updated first); search results carry
// a snippet shown under the title.
#pragma once

#include <QAbstractListModel>
#include <QVector>

#include "storage/ChatTypes.h"

class ConversationListModel : public QAbstractListModel {
    Q_OBJECT
public:
    enum Roles { IdRole = Qt::UserRole + 1, TitleRole, SnippetRole, UpdatedAtRole };

    using QAbstractListModel::QAbstractListModel;
    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QHash<int, QByteArray> roleNames() const override;

    void setConversations(const QVector<ConversationRow>& rows);
    void upsert(const ConversationRow& row);  // new or changed: moves it to the top
    void remove(qint64 id);
    void rename(qint64 id, const QString& title);
    int rowOf(qint64 id) const;  // -1 when absent
    const ConversationRow* find(qint64 id) const;
    const ConversationRow& at(int row) const { return m_rows[row]; }

private:
    QVector<ConversationRow> m_rows;
};
