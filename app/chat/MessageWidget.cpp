#include "chat/MessageWidget.h"

#include <QAbstractTextDocumentLayout>
#include <QApplication>
#include <QClipboard>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QTextBrowser>
#include <QTextDocument>
#include <QVBoxLayout>

#include "chat/MarkdownBlocks.h"

MessageWidget::MessageWidget(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(8, 6, 8, 6);
    layout->setSpacing(2);
    auto* header = new QHBoxLayout;
    m_role = new QLabel(this);
    m_stats = new QLabel(this);
    m_stats->setForegroundRole(QPalette::PlaceholderText);
    m_prev = new QPushButton(QStringLiteral("<"), this);
    m_branch = new QLabel(this);
    m_next = new QPushButton(QStringLiteral(">"), this);
    m_prev->setAccessibleName(tr("Previous branch"));
    m_next->setAccessibleName(tr("Next branch"));
    m_edit = new QPushButton(tr("Edit"), this);
    m_edit->setAccessibleName(tr("Edit and resend this message"));
    m_regenerate = new QPushButton(tr("Regenerate"), this);
    m_regenerate->setAccessibleName(tr("Regenerate this reply"));
    m_copy = new QPushButton(QIcon(QStringLiteral(":/icons/copy.svg")), tr("Copy"), this);
    m_copy->setAccessibleName(tr("Copy message text"));
    for (QPushButton* b : {m_prev, m_next, m_edit, m_regenerate, m_copy}) b->setFlat(true);
    m_prev->setFixedWidth(24);
    m_next->setFixedWidth(24);
    header->addWidget(m_role);
    header->addWidget(m_stats);
    header->addStretch(1);
    header->addWidget(m_prev);
    header->addWidget(m_branch);
    header->addWidget(m_next);
    header->addWidget(m_edit);
    header->addWidget(m_regenerate);
    header->addWidget(m_copy);
    layout->addLayout(header);
    m_body = new QTextBrowser(this);
    m_body->setOpenExternalLinks(true);
    m_body->setFrameShape(QFrame::NoFrame);
    m_body->setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    m_body->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    m_body->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
    m_body->viewport()->setAutoFillBackground(false);
    m_body->setAccessibleName(tr("Message text"));
    layout->addWidget(m_body);
    m_codeRow = new QHBoxLayout;
    layout->addLayout(m_codeRow);

    connect(m_prev, &QPushButton::clicked, this, [this] { emit previousSibling(m_id); });
    connect(m_next, &QPushButton::clicked, this, [this] { emit nextSibling(m_id); });
    connect(m_edit, &QPushButton::clicked, this, [this] { emit editRequested(m_id); });
    connect(m_regenerate, &QPushButton::clicked, this, [this] { emit regenerateRequested(m_id); });
    connect(m_copy, &QPushButton::clicked, this, [this] { QApplication::clipboard()->setText(m_content); });
    connect(m_body->document()->documentLayout(), &QAbstractTextDocumentLayout::documentSizeChanged, this,
            [this] { fitHeight(); });
}

void MessageWidget::setMessage(const MessageRow& m, int siblingIndex, int siblingCount) {
    const bool user = m.role == QLatin1String("user");
    m_id = m.id;
    m_role->setText(user ? tr("<b>You</b>") : m.role == QLatin1String("assistant") ? tr("<b>Assistant</b>") : tr("<b>System</b>"));
    QString stats;
    if (m.role == QLatin1String("assistant")) {
        if (m.status == QLatin1String("streaming")) stats = tr("generating… %1 tokens").arg(m.tokens);
        else if (m.tokens > 0)
            stats = tr("%1 tokens · %2 s · %3 tokens/s").arg(m.tokens).arg(m.seconds, 0, 'f', 2).arg(m.tokensPerSecond(), 0, 'f', 1);
        if (m.status == QLatin1String("stopped")) stats += tr(" · stopped");
        if (m.status == QLatin1String("interrupted")) stats += tr(" · interrupted (the app closed while generating)");
        if (m.status == QLatin1String("error")) stats += tr(" · failed");
    }
    m_stats->setText(stats);
    const bool branches = siblingCount > 1;
    m_prev->setVisible(branches);
    m_next->setVisible(branches);
    m_branch->setVisible(branches);
    m_branch->setText(QStringLiteral("%1/%2").arg(siblingIndex + 1).arg(siblingCount));
    m_branch->setAccessibleName(tr("Branch %1 of %2").arg(siblingIndex + 1).arg(siblingCount));
    m_prev->setEnabled(siblingIndex > 0);
    m_next->setEnabled(siblingIndex + 1 < siblingCount);
    m_edit->setVisible(user);
    m_regenerate->setVisible(m.role == QLatin1String("assistant") && m.status != QLatin1String("streaming"));
    setAutoFillBackground(true);
    QPalette pal = palette();
    pal.setColor(QPalette::Window, user ? pal.color(QPalette::AlternateBase) : pal.color(QPalette::Base));
    setPalette(pal);
    if (m.content != m_content || m_codeBlocks < 0) {
        m_content = m.content;
        m_body->setMarkdown(m.content.isEmpty() && m.status == QLatin1String("streaming") ? QStringLiteral("…") : m.content);
        rebuildCodeButtons(m.content);
    }
    fitHeight();
}

void MessageWidget::rebuildCodeButtons(const QString& markdown) {
    const QVector<CodeBlock> blocks = MarkdownBlocks::codeBlocks(markdown);
    if (blocks.size() == m_codeBlocks) {
        // Same buttons; refresh what they copy.
        for (int i = 0; i < blocks.size(); ++i)
            m_codeRow->itemAt(i)->widget()->setProperty("code", blocks[i].code);
        return;
    }
    while (QLayoutItem* item = m_codeRow->takeAt(0)) {
        delete item->widget();
        delete item;
    }
    m_codeBlocks = int(blocks.size());
    for (int i = 0; i < blocks.size(); ++i) {
        auto* b = new QPushButton(QIcon(QStringLiteral(":/icons/copy.svg")),
                                  blocks[i].language.isEmpty() ? tr("Copy code %1").arg(i + 1)
                                                               : tr("Copy %1 code").arg(blocks[i].language),
                                  this);
        b->setAccessibleName(tr("Copy code block %1").arg(i + 1));
        b->setProperty("code", blocks[i].code);
        connect(b, &QPushButton::clicked, b, [b] { QApplication::clipboard()->setText(b->property("code").toString()); });
        m_codeRow->addWidget(b);
    }
    if (!blocks.isEmpty()) m_codeRow->addStretch(1);
}

void MessageWidget::resizeEvent(QResizeEvent* event) {
    QWidget::resizeEvent(event);
    fitHeight();
}

void MessageWidget::fitHeight() {
    m_body->document()->setTextWidth(m_body->viewport()->width());
    const int h = int(m_body->document()->size().height()) + 6;
    if (m_body->height() != h) m_body->setFixedHeight(h);
}
