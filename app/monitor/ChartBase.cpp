#include "monitor/ChartBase.h"

#include <QEvent>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QTimer>
#include <QVBoxLayout>
#include <qcustomplot.h>

ChartBase::ChartBase(const QString& title, QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    auto* header = new QHBoxLayout;
    auto* titleLabel = new QLabel(QStringLiteral("<b>%1</b>").arg(title.toHtmlEscaped()), this);
    m_caption = new QLabel(this);
    m_caption->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto* save = new QPushButton(tr("Save PNG…"), this);
    save->setAccessibleName(tr("Save %1 chart as PNG").arg(title));
    header->addWidget(titleLabel);
    header->addWidget(m_caption, 1);
    header->addWidget(save);
    layout->addLayout(header);
    m_plot = new QCustomPlot(this);
    m_plot->setAccessibleName(title);
    m_plot->setMinimumHeight(180);
    m_plot->setNoAntialiasingOnDrag(true);
    layout->addWidget(m_plot, 1);
    connect(save, &QPushButton::clicked, this, &ChartBase::promptSavePng);
    m_timer = new QTimer(this);
    m_timer->setInterval(kFrameIntervalMs);
    connect(m_timer, &QTimer::timeout, this, &ChartBase::onFrame);
    m_timer->start();
    applyPalette();
}

void ChartBase::setCaption(const QString& text) { m_caption->setText(text); }

void ChartBase::onFrame() {
    if (!m_dirty) return;
    m_dirty = false;
    refresh();
    m_plot->replot(QCustomPlot::rpQueuedReplot);
    ++m_replots;
}

bool ChartBase::savePng(const QString& path, int width, int height) {
    refresh();
    return m_plot->savePng(path, width, height);
}

void ChartBase::promptSavePng() {
    const QString path = QFileDialog::getSaveFileName(this, tr("Save chart"), QString(), tr("PNG images (*.png)"));
    if (!path.isEmpty()) savePng(path);
}

void ChartBase::changeEvent(QEvent* event) {
    if (event->type() == QEvent::PaletteChange) {
        applyPalette();
        markDirty();
    }
    QWidget::changeEvent(event);
}

void ChartBase::applyPalette() {
    const QPalette pal = palette();
    const QColor fg = pal.color(QPalette::WindowText);
    m_plot->setBackground(pal.brush(QPalette::Base));
    const QList<QCPAxisRect*> rects = m_plot->axisRects();
    for (QCPAxisRect* rect : rects) {
        for (QCPAxis* axis : rect->axes()) {
            axis->setBasePen(QPen(fg));
            axis->setTickPen(QPen(fg));
            axis->setSubTickPen(QPen(fg));
            axis->setTickLabelColor(fg);
            axis->setLabelColor(fg);
            axis->grid()->setPen(QPen(pal.color(QPalette::Mid), 0, Qt::DotLine));
        }
    }
    if (m_plot->legend) {
        m_plot->legend->setBrush(pal.brush(QPalette::Base));
        m_plot->legend->setTextColor(fg);
        m_plot->legend->setBorderPen(QPen(pal.color(QPalette::Mid)));
    }
}
