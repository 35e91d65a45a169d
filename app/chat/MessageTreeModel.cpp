#include "chat/MessageTreeModel.h"

#include <algorithm>

int MessageTreeModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : int(m_path.size()); }

QVariant MessageTreeModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= m_path.size()) return {};
    const MessageRow& m = m_messages[m_path[index.row()]];
    switch (role) {
    case Qt::DisplayRole:
    case ContentRole: return m.content;
    case Qt::AccessibleTextRole: return tr("%1 message: %2").arg(m.role, m.content.left(200));
    case IdRole: return m.id;
    case RoleRole: return m.role;
    case StatusRole: return m.status;
    case ParentIdRole: return m.parentId;
    case SiblingIndexRole: return int(siblingsOf(m.id).indexOf(m.id));
    case SiblingCountRole: return int(siblingsOf(m.id).size());
    case TokensRole: return m.tokens;
    case SecondsRole: return m.seconds;
    case TokensPerSecondRole: return m.tokensPerSecond();
    default: return {};
    }
}

QHash<int, QByteArray> MessageTreeModel::roleNames() const {
    auto names = QAbstractListModel::roleNames();
    names[IdRole] = "messageId";
    names[RoleRole] = "role";
    names[ContentRole] = "content";
    names[StatusRole] = "status";
    names[SiblingIndexRole] = "siblingIndex";
    names[SiblingCountRole] = "siblingCount";
    return names;
}

void MessageTreeModel::clear() { setMessages(0, {}, 0); }

void MessageTreeModel::setMessages(qint64 conversationId, const QVector<MessageRow>& messages, qint64 leafId) {
    beginResetModel();
    m_conversationId = conversationId;
    m_messages.clear();
    m_children.clear();
    for (const MessageRow& m : messages) m_messages.insert(m.id, m);
    for (const MessageRow& m : messages) {
        // A parent that is missing (should not happen: ON DELETE CASCADE) makes the message a root.
        const qint64 parent = m_messages.contains(m.parentId) ? m.parentId : 0;
        m_children[parent].append(m.id);
    }
    for (auto& kids : m_children) std::sort(kids.begin(), kids.end());
    if (!m_messages.contains(leafId)) leafId = newestLeafBelow(0);
    m_path.clear();
    for (qint64 id = leafId; id != 0; id = m_messages[id].parentId) {
        m_path.prepend(id);
        if (!m_messages.contains(m_messages[id].parentId)) break;
    }
    endResetModel();
}

QVector<qint64> MessageTreeModel::childrenOf(qint64 parentId) const { return m_children.value(parentId); }

QVector<qint64> MessageTreeModel::siblingsOf(qint64 id) const {
    const auto it = m_messages.constFind(id);
    if (it == m_messages.constEnd()) return {};
    const qint64 parent = m_messages.contains(it->parentId) ? it->parentId : 0;
    return childrenOf(parent);
}

qint64 MessageTreeModel::newestLeafBelow(qint64 id) const {
    for (;;) {
        const QVector<qint64> kids = childrenOf(id);
        if (kids.isEmpty()) return id;
        id = kids.last();
    }
}

const MessageRow* MessageTreeModel::message(qint64 id) const {
    const auto it = m_messages.constFind(id);
    return it == m_messages.constEnd() ? nullptr : &*it;
}

void MessageTreeModel::rebuildPath(qint64 leafId) {
    QVector<qint64> path;
    for (qint64 id = leafId; id != 0 && m_messages.contains(id); id = m_messages[id].parentId) path.prepend(id);
    // Rows before the first difference stay; the rest are replaced.
    int common = 0;
    while (common < path.size() && common < m_path.size() && path[common] == m_path[common]) ++common;
    if (common < m_path.size()) {
        beginRemoveRows({}, common, int(m_path.size()) - 1);
        m_path.resize(common);
        endRemoveRows();
    }
    if (common < path.size()) {
        beginInsertRows({}, common, int(path.size()) - 1);
        m_path = path;
        endInsertRows();
    }
    if (common > 0) emit dataChanged(index(common - 1), index(common - 1));  // sibling counts may change
    emit branchChanged(leafId);
}

void MessageTreeModel::addMessage(const MessageRow& row) {
    m_messages.insert(row.id, row);
    const qint64 parent = m_messages.contains(row.parentId) ? row.parentId : 0;
    auto& kids = m_children[parent];
    kids.append(row.id);
    std::sort(kids.begin(), kids.end());
    const bool extendsPath = (parent == 0 && m_path.isEmpty()) || (!m_path.isEmpty() && m_path.last() == parent);
    if (extendsPath) {
        beginInsertRows({}, int(m_path.size()), int(m_path.size()));
        m_path.append(row.id);
        endInsertRows();
        emit branchChanged(row.id);
    } else {
        rebuildPath(row.id);
        const int r = int(m_path.indexOf(row.id));
        if (r >= 0) emit dataChanged(index(r), index(r));
    }
}

void MessageTreeModel::updateMessage(const MessageRow& row) {
    auto it = m_messages.find(row.id);
    if (it == m_messages.end()) return;
    *it = row;
    const int r = int(m_path.indexOf(row.id));
    if (r >= 0) emit dataChanged(index(r), index(r));
}

bool MessageTreeModel::selectSibling(int row, int delta) {
    if (row < 0 || row >= m_path.size()) return false;
    const QVector<qint64> sibs = siblingsOf(m_path[row]);
    const int pos = int(sibs.indexOf(m_path[row])) + delta;
    if (pos < 0 || pos >= sibs.size()) return false;
    rebuildPath(newestLeafBelow(sibs[pos]));
    return true;
}

QVector<MessageRow> MessageTreeModel::history(qint64 id) const {
    QVector<MessageRow> out;
    for (qint64 cur = id; cur != 0 && m_messages.contains(cur); cur = m_messages[cur].parentId) out.prepend(m_messages[cur]);
    return out;
}
