// MessageWidget — one chat message: role, stats (tokens · time · tokens/s), branch navigation
// "< 2/3 >", actions (edit / regenerate / copy), the Markdown body, and a copy button per code block.
#pragma once

#include <QWidget>

#include "storage/ChatTypes.h"

class QHBoxLayout;
class QLabel;
class QPushButton;
class QTextBrowser;

class MessageWidget : public QWidget {
    Q_OBJECT
public:
    explicit MessageWidget(QWidget* parent = nullptr);
    void setMessage(const MessageRow& m, int siblingIndex, int siblingCount);
    qint64 messageId() const { return m_id; }

signals:
    void previousSibling(qint64 id);
    void nextSibling(qint64 id);
    void editRequested(qint64 id);
    void regenerateRequested(qint64 id);

protected:
    void resizeEvent(QResizeEvent* event) override;

private:
    void fitHeight();
    void rebuildCodeButtons(const QString& markdown);

    qint64 m_id = 0;
    QString m_content;
    QLabel* m_role;
    QLabel* m_stats;
    QPushButton* m_prev;
    QLabel* m_branch;
    QPushButton* m_next;
    QPushButton* m_edit;
    QPushButton* m_regenerate;
    QPushButton* m_copy;
    QTextBrowser* m_body;
    QHBoxLayout* m_codeRow;
    int m_codeBlocks = -1;
};
