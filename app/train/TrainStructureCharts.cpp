#include "train/TrainStructureCharts.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QVBoxLayout>
#include <qcustomplot.h>

#include <algorithm>
#include <cmath>

namespace {

void addControlsRow(ChartBase* chart, QWidget* row) {
    if (auto* layout = qobject_cast<QVBoxLayout*>(chart->layout())) layout->insertWidget(1, row);
}

}  // namespace

TrainExpertChart::TrainExpertChart(QWidget* parent) : ChartBase(tr("Expert load over training"), parent) {
    QCustomPlot* p = plot();
    p->xAxis->setLabel(tr("step"));
    p->yAxis->setLabel(tr("expert"));
    m_map = new QCPColorMap(p->xAxis, p->yAxis);
    m_map->setInterpolate(false);
    m_scale = new QCPColorScale(p);
    p->plotLayout()->addElement(0, 1, m_scale);
    m_scale->setLabel(tr("share of routed tokens"));
    m_map->setColorScale(m_scale);
    m_map->setGradient(QCPColorGradient::gpThermal);
    auto* group = new QCPMarginGroup(p);
    p->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, group);
    m_scale->setMarginGroup(QCP::msBottom | QCP::msTop, group);

    auto* row = new QWidget(this);
    auto* h = new QHBoxLayout(row);
    h->setContentsMargins(0, 0, 0, 0);
    h->addWidget(new QLabel(tr("MoE layer"), row));
    m_layerBox = new QComboBox(row);
    m_layerBox->setAccessibleName(tr("MoE layer"));
    m_layerBox->setToolTip(tr("Which MoE layer's experts to show"));
    h->addWidget(m_layerBox);
    h->addStretch(1);
    addControlsRow(this, row);
    connect(m_layerBox, &QComboBox::activated, this, [this](int i) { setLayer(m_layerBox->itemData(i).toInt()); });
    applyPalette();
}

int TrainExpertChart::moeLayerCount() const {
    if (m_load.isEmpty()) return 0;
    return int(std::count_if(m_load.last().begin(), m_load.last().end(), [](const auto& l) { return !l.isEmpty(); }));
}

void TrainExpertChart::addPoints(const QVector<TrainPoint>& points) {
    for (const TrainPoint& pt : points) {
        if (pt.expertLoad.isEmpty()) continue;
        if (m_steps.size() >= kMaxColumns) decimate();
        m_steps << double(pt.step);
        m_load << pt.expertLoad;
    }
    if (m_load.isEmpty()) return;
    // Layer choices: the MoE layers of the newest point.
    const auto& last = m_load.last();
    if (m_layerBox->count() != moeLayerCount()) {
        m_layerBox->clear();
        for (int l = 0; l < last.size(); ++l)
            if (!last[l].isEmpty()) m_layerBox->addItem(tr("layer %1").arg(l), l);
        if (m_layer < 0 && m_layerBox->count()) m_layer = m_layerBox->itemData(0).toInt();
        m_layerBox->setCurrentIndex(std::max(0, m_layerBox->findData(m_layer)));
    }
    // Router balance of the newest step: max/mean share per MoE layer.
    QStringList parts;
    for (int l = 0; l < last.size(); ++l) {
        if (last[l].isEmpty()) continue;
        const double mean = 1.0 / double(last[l].size());
        parts << QStringLiteral("L%1 %2").arg(l).arg(*std::max_element(last[l].begin(), last[l].end()) / mean, 0, 'f', 2);
    }
    setCaption(tr("balance max/mean: %1").arg(parts.join(QStringLiteral(" · "))));
    markDirty();
}

void TrainExpertChart::decimate() {
    QVector<double> steps;
    QVector<QVector<QVector<double>>> load;
    for (int i = 0; i + 1 < m_steps.size(); i += 2) {
        steps << m_steps[i + 1];
        QVector<QVector<double>> merged = m_load[i];
        const auto& b = m_load[i + 1];
        for (int l = 0; l < merged.size() && l < b.size(); ++l)
            for (int e = 0; e < merged[l].size() && e < b[l].size(); ++e) merged[l][e] = (merged[l][e] + b[l][e]) / 2;
        load << merged;
    }
    if (m_steps.size() % 2) {
        steps << m_steps.last();
        load << m_load.last();
    }
    m_steps = std::move(steps);
    m_load = std::move(load);
}

void TrainExpertChart::clear() {
    m_steps.clear();
    m_load.clear();
    m_layer = -1;
    m_layerBox->clear();
    setCaption({});
    markDirty();
}

void TrainExpertChart::setLayer(int layer) {
    m_layer = layer;
    markDirty();
}

void TrainExpertChart::refresh() {
    const int cols = int(m_steps.size());
    int experts = 0;
    if (cols && m_layer >= 0 && m_layer < m_load.last().size()) experts = int(m_load.last()[m_layer].size());
    m_map->setVisible(cols && experts);
    if (!cols || !experts) {
        m_map->data()->clear();
        return;
    }
    m_map->data()->setSize(cols, experts);
    m_map->data()->setRange(QCPRange(m_steps.first(), std::max(m_steps.last(), m_steps.first() + 1)), QCPRange(0, experts - 1));
    for (int c = 0; c < cols; ++c) {
        const auto& layers = m_load[c];
        for (int e = 0; e < experts; ++e) {
            const double v = m_layer < layers.size() && e < layers[m_layer].size() ? layers[m_layer][e] : 0.0;
            m_map->data()->setCell(c, e, v);
        }
    }
    m_map->rescaleDataRange(true);
    plot()->rescaleAxes();
}

TrainMhcChart::TrainMhcChart(QWidget* parent) : ChartBase(tr("mHC: signal gain over depth and H_res"), parent) {
    QCustomPlot* p = plot();
    m_fwd = p->addGraph();
    m_fwd->setName(tr("forward gain"));
    m_fwd->setPen(QPen(QColor(0x29, 0x80, 0xb9), 2));
    m_fwd->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, 5));
    m_bwd = p->addGraph();
    m_bwd->setName(tr("backward gain"));
    m_bwd->setPen(QPen(QColor(0xc0, 0x39, 0x2b), 2));
    m_bwd->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssSquare, 5));
    p->xAxis->setLabel(tr("sublayer depth"));
    p->yAxis->setLabel(tr("composite gain (Amax)"));
    p->yAxis->setScaleType(QCPAxis::stLogarithmic);
    p->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    p->legend->setVisible(true);
    p->legend->setFont(font());

    m_mixRect = new QCPAxisRect(p);
    p->plotLayout()->addElement(0, 1, m_mixRect);
    m_mixRect->axis(QCPAxis::atBottom)->setLabel(tr("from stream"));
    m_mixRect->axis(QCPAxis::atLeft)->setLabel(tr("to stream"));
    m_mix = new QCPColorMap(m_mixRect->axis(QCPAxis::atBottom), m_mixRect->axis(QCPAxis::atLeft));
    m_mix->setInterpolate(false);
    m_mixScale = new QCPColorScale(p);
    p->plotLayout()->addElement(0, 2, m_mixScale);
    m_mixScale->setLabel(tr("H_res weight"));
    m_mix->setColorScale(m_mixScale);
    m_mix->setGradient(QCPColorGradient::gpJet);
    p->plotLayout()->setColumnStretchFactors({2.0, 1.0, 0.15});

    auto* row = new QWidget(this);
    auto* h = new QHBoxLayout(row);
    h->setContentsMargins(0, 0, 0, 0);
    h->addWidget(new QLabel(tr("H_res of sublayer"), row));
    m_sublayerBox = new QComboBox(row);
    m_sublayerBox->setAccessibleName(tr("mHC sublayer"));
    m_sublayerBox->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    m_sublayerBox->setToolTip(tr("Sublayer whose token-averaged residual mixing matrix is shown (2 per layer: attention, FFN)"));
    h->addWidget(m_sublayerBox);
    h->addStretch(1);
    addControlsRow(this, row);
    connect(m_sublayerBox, &QComboBox::activated, this, [this](int i) { setSublayer(i); });
    applyPalette();
}

void TrainMhcChart::addPoints(const QVector<TrainPoint>& points) {
    for (auto it = points.rbegin(); it != points.rend(); ++it) {
        if (it->hcForwardGain.isEmpty() && it->hcMix.isEmpty()) continue;
        m_last = *it;
        if (m_sublayerBox->count() != m_last.hcMix.size()) {
            m_sublayerBox->clear();
            for (int s = 0; s < m_last.hcMix.size(); ++s)
                m_sublayerBox->addItem(tr("%1 (layer %2 %3)").arg(s).arg(s / 2).arg(s % 2 ? tr("FFN") : tr("attention")));
            m_sublayerBox->setCurrentIndex(std::clamp(m_sublayer, 0, std::max(0, int(m_last.hcMix.size()) - 1)));
        }
        if (!m_last.hcForwardGain.isEmpty())
            setCaption(tr("step %1 · end-to-end forward gain %2, backward %3").arg(m_last.step)
                           .arg(m_last.hcForwardGain.last(), 0, 'f', 3).arg(m_last.hcBackwardGain.value(m_last.hcBackwardGain.size() - 1), 0, 'f', 3));
        markDirty();
        break;
    }
}

void TrainMhcChart::clear() {
    m_last = TrainPoint{};
    m_sublayerBox->clear();
    setCaption(tr("no hyper-connections in this model"));
    markDirty();
}

void TrainMhcChart::setSublayer(int sublayer) {
    m_sublayer = sublayer;
    markDirty();
}

void TrainMhcChart::refresh() {
    QVector<double> x, f, b;
    for (int i = 0; i < m_last.hcForwardGain.size(); ++i) {
        x << double(i + 1);
        f << std::max(1e-6, m_last.hcForwardGain[i]);
        b << std::max(1e-6, m_last.hcBackwardGain.value(i, 1.0));
    }
    m_fwd->setData(x, f, true);
    m_bwd->setData(x, b, true);
    double lo = 0.5, hi = 2.0;
    for (double v : f + b) {
        lo = std::min(lo, v / 1.5);
        hi = std::max(hi, v * 1.5);
    }
    plot()->xAxis->setRange(0.5, std::max(2.0, double(x.size()) + 0.5));
    plot()->yAxis->setRange(lo, hi);
    const int s = std::clamp(m_sublayer, 0, std::max(0, int(m_last.hcMix.size()) - 1));
    if (s < m_last.hcMix.size()) {
        const QVector<double>& m = m_last.hcMix[s];
        const int n = int(std::lround(std::sqrt(double(m.size()))));
        if (n > 0 && n * n == m.size()) {
            m_mix->data()->setSize(n, n);
            m_mix->data()->setRange(QCPRange(0, n - 1), QCPRange(0, n - 1));
            for (int a = 0; a < n; ++a)
                for (int bb = 0; bb < n; ++bb) m_mix->data()->setCell(bb, a, m[a * n + bb]);  // row a = output stream
            m_mix->rescaleDataRange(true);
            m_mixRect->axis(QCPAxis::atBottom)->setRange(-0.5, n - 0.5);
            m_mixRect->axis(QCPAxis::atLeft)->setRange(-0.5, n - 0.5);
        }
    } else {
        m_mix->data()->clear();
    }
    m_mix->setVisible(s < m_last.hcMix.size());
}
