// MessageTreeModel — one conversation's messages as a tree (parent_id), shown as the active branch.
//
// Rows are the messages on the path root → current leaf. An edit or a regenerate adds a sibling, so
// old branches are kept; selectSibling() switches the branch at a row ("< 2/3 >") and follows the
// newest child below it down to a leaf.
#pragma once

#include <QAbstractListModel>
#include <QHash>
#include <QVector>

#include "storage/ChatTypes.h"

class MessageTreeModel : public QAbstractListModel {
    Q_OBJECT
public:
    enum Roles {
        IdRole = Qt::UserRole + 1, RoleRole, ContentRole, StatusRole, ParentIdRole,
        SiblingIndexRole,  // 0-based position among the siblings
        SiblingCountRole, TokensRole, SecondsRole, TokensPerSecondRole
    };

    using QAbstractListModel::QAbstractListModel;
    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QHash<int, QByteArray> roleNames() const override;

    void setMessages(qint64 conversationId, const QVector<MessageRow>& messages, qint64 leafId);
    void clear();
    qint64 conversationId() const { return m_conversationId; }

    // Adds a message (its parent must be on the active path or 0) and makes it the leaf.
    void addMessage(const MessageRow& row);
    void updateMessage(const MessageRow& row);  // content/status/stats changed
    const MessageRow* message(qint64 id) const;
    const MessageRow& at(int row) const { return *m_messages.constFind(m_path[row]); }

    QVector<qint64> siblingsOf(qint64 id) const;  // ordered by id (creation)
    // Switch the branch at `row` by `delta` siblings; returns false at either end.
    bool selectSibling(int row, int delta);
    qint64 leafId() const { return m_path.isEmpty() ? 0 : m_path.last(); }
    const QVector<qint64>& path() const { return m_path; }
    // Messages root → `id` inclusive (the history sent to the model for a reply to `id`).
    QVector<MessageRow> history(qint64 id) const;

signals:
    void branchChanged(qint64 leafId);

private:
    QVector<qint64> childrenOf(qint64 parentId) const;
    qint64 newestLeafBelow(qint64 id) const;
    void rebuildPath(qint64 leafId);

    qint64 m_conversationId = 0;
    QHash<qint64, MessageRow> m_messages;
    QHash<qint64, QVector<qint64>> m_children;  // parent id (0 = root) -> children, ascending id
    QVector<qint64> m_path;
};
