#include "monitor/ExpertHeatmap.h"

#include <QComboBox>
#include <QLayout>
#include <qcustomplot.h>

#include <algorithm>
#include <cmath>

ExpertHeatmap::ExpertHeatmap(QWidget* parent) : ChartBase(tr("Expert load (tokens routed per layer × expert)"), parent) {
    m_scopeBox = new QComboBox(this);
    m_scopeBox->addItem(tr("This reply"));
    m_scopeBox->addItem(tr("Whole conversation"));
    m_scopeBox->setAccessibleName(tr("Expert load scope"));
    if (auto* header = qobject_cast<QBoxLayout*>(layout()->itemAt(0)->layout())) header->insertWidget(2, m_scopeBox);
    connect(m_scopeBox, &QComboBox::currentIndexChanged, this,
            [this](int i) { setScope(i == 0 ? Scope::Reply : Scope::Conversation); });

    QCustomPlot* p = plot();
    p->xAxis->setLabel(tr("expert"));
    auto integerTicks = [] {
        QSharedPointer<QCPAxisTickerFixed> t(new QCPAxisTickerFixed);
        t->setTickStep(1.0);
        t->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
        return t;
    };
    p->xAxis->setTicker(integerTicks());
    p->yAxis->setTicker(integerTicks());
    p->yAxis->setLabel(tr("layer"));
    m_map = new QCPColorMap(p->xAxis, p->yAxis);
    m_map->setInterpolate(false);
    m_scale = new QCPColorScale(p);
    p->plotLayout()->addElement(0, 1, m_scale);
    m_scale->setLabel(tr("tokens"));
    m_map->setColorScale(m_scale);
    m_map->setGradient(QCPColorGradient::gpThermal);
    auto* group = new QCPMarginGroup(p);
    p->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, group);
    m_scale->setMarginGroup(QCP::msBottom | QCP::msTop, group);

    m_hot = p->addGraph();
    m_hot->setName(tr("hot (> 2× mean)"));
    m_hot->setLineStyle(QCPGraph::lsNone);
    m_hot->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(QColor(0x00, 0xc8, 0x53), 2.5), Qt::NoBrush, 11));
    m_dead = p->addGraph();
    m_dead->setName(tr("dead (0 tokens)"));
    m_dead->setLineStyle(QCPGraph::lsNone);
    m_dead->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCross, QPen(QColor(0x3d, 0xa5, 0xff), 2), Qt::NoBrush, 8));

    m_balanceRect = new QCPAxisRect(p);
    p->plotLayout()->addElement(0, 2, m_balanceRect);
    p->plotLayout()->setColumnStretchFactors({3.0, 0.2, 1.0});
    m_balanceRect->setMarginGroup(QCP::msBottom | QCP::msTop, group);
    m_balanceBars = new QCPBars(m_balanceRect->axis(QCPAxis::atLeft), m_balanceRect->axis(QCPAxis::atBottom));
    m_balanceRect->axis(QCPAxis::atLeft)->setTicker(integerTicks());
    m_balanceBars->setBrush(QColor(0xc0, 0x39, 0x2b, 170));
    m_balanceBars->setPen(Qt::NoPen);
    m_balanceRect->axis(QCPAxis::atBottom)->setLabel(tr("imbalance (max/mean)"));
    m_balanceRect->axis(QCPAxis::atLeft)->setLabel(tr("layer"));
    p->legend->setVisible(true);
    p->legend->setFont(font());
    // Legend in its own row under the heatmap, so it never covers cells.
    p->axisRect()->insetLayout()->take(p->legend);
    auto* legendRow = new QCPLayoutGrid;
    p->plotLayout()->addElement(1, 0, legendRow);
    legendRow->addElement(0, 0, p->legend);
    legendRow->setMargins(QMargins(4, 0, 4, 2));
    p->legend->setFillOrder(QCPLegend::foColumnsFirst);
    p->plotLayout()->setRowStretchFactor(1, 0.001);
    m_map->removeFromLegend();
    m_balanceBars->removeFromLegend();
    applyPalette();
    setCaption(tr("no MoE activity yet"));
}

LayerBalance ExpertHeatmap::balance(const qint64* counts, int experts) {
    LayerBalance b;
    if (experts <= 0) return b;
    double sum = 0, maxv = 0;
    for (int e = 0; e < experts; ++e) {
        sum += double(counts[e]);
        maxv = std::max(maxv, double(counts[e]));
    }
    if (sum <= 0) return b;
    const double mean = sum / experts;
    double var = 0;
    for (int e = 0; e < experts; ++e) var += (counts[e] - mean) * (counts[e] - mean);
    b.maxOverMean = maxv / mean;
    b.cv = std::sqrt(var / experts) / mean;
    for (int e = 0; e < experts; ++e) {
        if (double(counts[e]) > 2.0 * mean) b.hot << e;
        if (counts[e] == 0) b.dead << e;
    }
    return b;
}

void ExpertHeatmap::setSnapshot(const TelemetrySnapshot& s) {
    m_snap = s;
    markDirty();
}

void ExpertHeatmap::setScope(Scope scope) {
    m_scope = scope;
    m_scopeBox->setCurrentIndex(scope == Scope::Reply ? 0 : 1);
    markDirty();
}

void ExpertHeatmap::clear() {
    m_snap = TelemetrySnapshot{};
    markDirty();
}

void ExpertHeatmap::refresh() {
    const int L = m_snap.layers, E = m_snap.experts;
    const QVector<qint64>& counts = m_scope == Scope::Reply ? m_snap.expertReply : m_snap.expertConversation;
    m_balance.clear();
    QVector<double> hotX, hotY, deadX, deadY, balKeys, balValues;
    if (L > 0 && E > 0 && counts.size() == qsizetype(L) * E) {
        m_map->data()->setSize(E, L);
        m_map->data()->setRange(QCPRange(0, E - 1), QCPRange(0, L - 1));
        qint64 peak = 0;
        double worst = 0;
        int worstLayer = -1;
        for (int l = 0; l < L; ++l) {
            const qint64* row = counts.constData() + qsizetype(l) * E;
            for (int e = 0; e < E; ++e) {
                m_map->data()->setCell(e, l, double(row[e]));
                peak = std::max(peak, row[e]);
            }
            const bool moe = l < m_snap.moeLayer.size() ? m_snap.moeLayer[l] : true;
            LayerBalance b = moe ? balance(row, E) : LayerBalance{};
            for (int e : b.hot) { hotX << e; hotY << l; }
            for (int e : b.dead) { deadX << e; deadY << l; }
            if (moe) {
                balKeys << l;
                balValues << b.maxOverMean;
                if (b.maxOverMean > worst) { worst = b.maxOverMean; worstLayer = l; }
            }
            m_balance << b;
        }
        m_map->setDataRange(QCPRange(0, std::max<qint64>(1, peak)));
        plot()->xAxis->setRange(-0.5, E - 0.5);
        plot()->yAxis->setRange(-0.5, L - 0.5);
        m_balanceRect->axis(QCPAxis::atLeft)->setRange(-0.5, L - 0.5);
        m_balanceRect->axis(QCPAxis::atBottom)->setRange(0, std::max(2.0, worst * 1.1));
        setCaption(worstLayer >= 0
                       ? tr("%1 · most imbalanced: layer %2 (max/mean %3, CV %4) · %5 hot, %6 dead")
                             .arg(m_scope == Scope::Reply ? tr("this reply") : tr("whole conversation"))
                             .arg(worstLayer)
                             .arg(worst, 0, 'f', 2)
                             .arg(m_balance[worstLayer].cv, 0, 'f', 2)
                             .arg(hotX.size())
                             .arg(deadX.size())
                       : tr("no tokens routed yet"));
    }
    m_hot->setData(hotX, hotY);
    m_dead->setData(deadX, deadY);
    m_balanceBars->setData(balKeys, balValues);
}
