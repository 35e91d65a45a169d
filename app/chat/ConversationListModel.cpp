#include "chat/ConversationListModel.h"

#include <QDateTime>

int ConversationListModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : int(m_rows.size()); }

QVariant ConversationListModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= m_rows.size()) return {};
    const ConversationRow& row = m_rows[index.row()];
    switch (role) {
    case Qt::DisplayRole:
        return row.snippet.isEmpty() ? row.title : row.title + QLatin1Char('\n') + row.snippet;
    case Qt::ToolTipRole:
    case Qt::AccessibleTextRole:
        return tr("%1, last changed %2").arg(row.title, QDateTime::fromMSecsSinceEpoch(row.updatedAt).toString(Qt::TextDate));
    case IdRole: return row.id;
    case TitleRole: return row.title;
    case SnippetRole: return row.snippet;
    case UpdatedAtRole: return row.updatedAt;
    default: return {};
    }
}

QHash<int, QByteArray> ConversationListModel::roleNames() const {
    auto names = QAbstractListModel::roleNames();
    names[IdRole] = "conversationId";
    names[TitleRole] = "title";
    names[SnippetRole] = "snippet";
    names[UpdatedAtRole] = "updatedAt";
    return names;
}

void ConversationListModel::setConversations(const QVector<ConversationRow>& rows) {
    beginResetModel();
    m_rows = rows;
    endResetModel();
}

int ConversationListModel::rowOf(qint64 id) const {
    for (int i = 0; i < m_rows.size(); ++i)
        if (m_rows[i].id == id) return i;
    return -1;
}

const ConversationRow* ConversationListModel::find(qint64 id) const {
    const int r = rowOf(id);
    return r < 0 ? nullptr : &m_rows[r];
}

void ConversationListModel::upsert(const ConversationRow& row) {
    const int existing = rowOf(row.id);
    if (existing == 0) {
        m_rows[0] = row;
        emit dataChanged(index(0), index(0));
        return;
    }
    if (existing > 0) {
        beginMoveRows({}, existing, existing, {}, 0);
        m_rows.move(existing, 0);
        endMoveRows();
        m_rows[0] = row;
        emit dataChanged(index(0), index(0));
        return;
    }
    beginInsertRows({}, 0, 0);
    m_rows.prepend(row);
    endInsertRows();
}

void ConversationListModel::remove(qint64 id) {
    const int r = rowOf(id);
    if (r < 0) return;
    beginRemoveRows({}, r, r);
    m_rows.removeAt(r);
    endRemoveRows();
}

void ConversationListModel::rename(qint64 id, const QString& title) {
    const int r = rowOf(id);
    if (r < 0) return;
    m_rows[r].title = title;
    emit dataChanged(index(r), index(r));
}
