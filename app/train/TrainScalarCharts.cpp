#include "train/TrainScalarCharts.h"

#include <QCheckBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QSlider>
#include <QVBoxLayout>
#include <qcustomplot.h>

#include <algorithm>
#include <cmath>

namespace {

QPair<double, double> yRange(const QVector<double>& ys, bool log) {
    double lo = INFINITY, hi = -INFINITY;
    for (double y : ys) {
        if (!std::isfinite(y) || (log && y <= 0)) continue;
        lo = std::min(lo, y);
        hi = std::max(hi, y);
    }
    if (!std::isfinite(lo)) return {log ? 0.1 : 0.0, 1.0};
    if (log) return {lo / 1.3, hi * 1.3};
    const double pad = std::max(1e-6, (hi - lo) * 0.08);
    return {std::max(0.0, lo - pad), hi + pad};
}

void addControlsRow(ChartBase* chart, QWidget* row) {
    if (auto* layout = qobject_cast<QVBoxLayout*>(chart->layout())) layout->insertWidget(1, row);
}

}  // namespace

TrainLossChart::TrainLossChart(QWidget* parent) : ChartBase(tr("Loss"), parent) {
    QCustomPlot* p = plot();
    m_rawGraph = p->addGraph();
    m_rawGraph->setName(tr("train (raw)"));
    m_rawGraph->setPen(QPen(QColor(0x29, 0x80, 0xb9, 90), 1));
    m_smoothGraph = p->addGraph();
    m_smoothGraph->setName(tr("train (smoothed)"));
    m_smoothGraph->setPen(QPen(QColor(0x29, 0x80, 0xb9), 2));
    m_valGraph = p->addGraph();
    m_valGraph->setName(tr("validation"));
    m_valGraph->setPen(QPen(QColor(0xe6, 0x7e, 0x22), 2));
    m_valGraph->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 6));
    p->xAxis->setLabel(tr("step"));
    p->yAxis->setLabel(tr("cross-entropy"));
    p->legend->setVisible(true);
    p->legend->setFont(font());
    p->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);

    auto* row = new QWidget(this);
    auto* h = new QHBoxLayout(row);
    h->setContentsMargins(0, 0, 0, 0);
    m_logBox = new QCheckBox(tr("Log scale"), row);
    m_logBox->setToolTip(tr("Show the loss on a logarithmic axis (late improvements stay visible)"));
    m_smoothSlider = new QSlider(Qt::Horizontal, row);
    m_smoothSlider->setRange(0, 99);
    m_smoothSlider->setValue(int(m_alpha * 100));
    m_smoothSlider->setMaximumWidth(160);
    m_smoothSlider->setAccessibleName(tr("Loss smoothing"));
    m_smoothSlider->setToolTip(tr("Exponential moving average of the training loss (0 = off, 0.99 = heavy)"));
    auto* smoothLabel = new QLabel(tr("Smoothing %1").arg(m_alpha, 0, 'f', 2), row);
    h->addWidget(m_logBox);
    h->addSpacing(12);
    h->addWidget(smoothLabel);
    h->addWidget(m_smoothSlider);
    h->addStretch(1);
    addControlsRow(this, row);
    connect(m_logBox, &QCheckBox::toggled, this, &TrainLossChart::setLogScale);
    connect(m_smoothSlider, &QSlider::valueChanged, this, [this, smoothLabel](int v) {
        smoothLabel->setText(tr("Smoothing %1").arg(v / 100.0, 0, 'f', 2));
        setSmoothing(v / 100.0);
    });
    applyPalette();
}

void TrainLossChart::addPoints(const QVector<TrainPoint>& points) {
    for (const TrainPoint& pt : points) {
        if (!pt.skipped && std::isfinite(pt.loss)) m_train.add(double(pt.step), pt.loss);
        if (pt.valLoss) m_val.add(double(pt.step), *pt.valLoss);
    }
    if (!points.isEmpty()) {
        const TrainPoint& last = points.last();
        setCaption(tr("step %1 · loss %2%3").arg(last.step).arg(last.loss, 0, 'f', 4)
                       .arg(m_val.size() ? tr(" · val %1").arg(m_val.ys().last(), 0, 'f', 4) : QString()));
    }
    markDirty();
}

void TrainLossChart::clear() {
    m_train.clear();
    m_val.clear();
    setCaption({});
    markDirty();
}

void TrainLossChart::setLogScale(bool on) {
    m_log = on;
    if (m_logBox->isChecked() != on) m_logBox->setChecked(on);
    QCustomPlot* p = plot();
    p->yAxis->setScaleType(on ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
    if (on) p->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    else p->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    markDirty();
}

void TrainLossChart::setSmoothing(double alpha) {
    m_alpha = std::clamp(alpha, 0.0, 0.99);
    markDirty();
}

void TrainLossChart::setOverlay(qint64 runId, const QString& name, const QVector<TrainPoint>& points) {
    Overlay* o = m_overlays.value(runId);
    if (!o) {
        static const QColor palette[] = {QColor(0x8e, 0x44, 0xad), QColor(0x27, 0xae, 0x60), QColor(0xc0, 0x39, 0x2b),
                                         QColor(0x16, 0xa0, 0x85), QColor(0x7f, 0x8c, 0x8d)};
        o = new Overlay;
        o->graph = plot()->addGraph();
        o->graph->setPen(QPen(palette[m_overlays.size() % 5], 1.5, Qt::DashLine));
        m_overlays.insert(runId, o);
    }
    o->name = name;
    o->graph->setName(name);
    o->series.clear();
    for (const TrainPoint& pt : points)
        if (!pt.skipped && std::isfinite(pt.loss)) o->series.add(double(pt.step), pt.loss);
    markDirty();
}

void TrainLossChart::clearOverlays() {
    for (Overlay* o : std::as_const(m_overlays)) {
        plot()->removeGraph(o->graph);
        delete o;
    }
    m_overlays.clear();
    markDirty();
}

void TrainLossChart::rebuildSmoothed() {
    m_smoothX = m_train.xs();
    m_smoothY.resize(m_train.size());
    double ema = 0;
    for (int i = 0; i < m_train.size(); ++i) {
        const double y = m_train.ys()[i];
        ema = i == 0 ? y : m_alpha * ema + (1 - m_alpha) * y;
        m_smoothY[i] = ema;
    }
}

void TrainLossChart::refresh() {
    rebuildSmoothed();
    m_rawGraph->setData(m_train.xs(), m_train.ys(), true);
    m_smoothGraph->setData(m_smoothX, m_smoothY, true);
    m_valGraph->setData(m_val.xs(), m_val.ys(), true);
    double xEnd = std::max(10.0, m_train.lastX());
    QVector<double> all = m_train.ys();
    all += m_val.ys();
    for (Overlay* o : std::as_const(m_overlays)) {
        o->graph->setData(o->series.xs(), o->series.ys(), true);
        xEnd = std::max(xEnd, o->series.lastX());
        all += o->series.ys();
    }
    plot()->xAxis->setRange(0, xEnd);
    const auto [lo, hi] = yRange(all, m_log);
    plot()->yAxis->setRange(lo, hi);
}

TrainLrGradChart::TrainLrGradChart(QWidget* parent) : ChartBase(tr("Learning rate and gradient norm"), parent) {
    QCustomPlot* p = plot();
    m_gradGraph = p->addGraph();
    m_gradGraph->setName(tr("grad norm (before clipping)"));
    m_gradGraph->setPen(QPen(QColor(0x16, 0xa0, 0x85), 1.5));
    m_skipGraph = p->addGraph();
    m_skipGraph->setName(tr("skipped step (non-finite)"));
    m_skipGraph->setLineStyle(QCPGraph::lsNone);
    m_skipGraph->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCross, QPen(QColor(0xe7, 0x4c, 0x3c), 2), Qt::NoBrush, 10));
    m_lrGraph = p->addGraph(p->xAxis, p->yAxis2);
    m_lrGraph->setName(tr("learning rate"));
    m_lrGraph->setPen(QPen(QColor(0x7f, 0x8c, 0x8d), 1.5, Qt::DashLine));
    p->xAxis->setLabel(tr("step"));
    p->yAxis->setLabel(tr("grad norm"));
    p->yAxis2->setVisible(true);
    p->yAxis2->setLabel(tr("learning rate"));
    p->legend->setVisible(true);
    p->legend->setFont(font());
    p->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
    applyPalette();
}

void TrainLrGradChart::addPoints(const QVector<TrainPoint>& points) {
    for (const TrainPoint& pt : points) {
        m_lr.add(double(pt.step), pt.lr);
        if (std::isfinite(pt.gradNorm)) m_grad.add(double(pt.step), pt.gradNorm);
        if (pt.skipped) m_skipped.add(double(pt.step), 0);
    }
    if (!points.isEmpty())
        setCaption(tr("lr %1 · |g| %2 · %n skipped", nullptr, int(m_skipped.size()))
                       .arg(points.last().lr, 0, 'e', 2).arg(points.last().gradNorm, 0, 'f', 3));
    markDirty();
}

void TrainLrGradChart::clear() {
    m_lr.clear();
    m_grad.clear();
    m_skipped.clear();
    setCaption({});
    markDirty();
}

void TrainLrGradChart::refresh() {
    m_lrGraph->setData(m_lr.xs(), m_lr.ys(), true);
    m_gradGraph->setData(m_grad.xs(), m_grad.ys(), true);
    // Skipped steps sit on the grad-norm axis just above zero.
    QVector<double> skipY(m_skipped.size(), std::max(1e-3, m_grad.maxY() * 0.03));
    m_skipGraph->setData(m_skipped.xs(), skipY, true);
    plot()->xAxis->setRange(0, std::max(10.0, m_lr.lastX()));
    plot()->yAxis->setRange(0, std::max(1e-3, m_grad.maxY() * 1.15));
    plot()->yAxis2->setRange(0, std::max(1e-9, m_lr.maxY() * 1.15));
}

TrainSpeedChart::TrainSpeedChart(QWidget* parent) : ChartBase(tr("Throughput"), parent) {
    QCustomPlot* p = plot();
    m_graph = p->addGraph();
    m_graph->setName(tr("trained tokens/s"));
    m_graph->setPen(QPen(QColor(0x27, 0xae, 0x60), 2));
    p->xAxis->setLabel(tr("step"));
    p->yAxis->setLabel(tr("tokens/s"));
    applyPalette();
}

QString TrainSpeedChart::formatDuration(double s) {
    if (!std::isfinite(s) || s < 0) return QStringLiteral("?");
    const qint64 t = qint64(s + 0.5);
    if (t >= 3600) return QStringLiteral("%1 h %2 min").arg(t / 3600).arg(t / 60 % 60, 2, 10, QLatin1Char('0'));
    if (t >= 60) return QStringLiteral("%1 min %2 s").arg(t / 60).arg(t % 60, 2, 10, QLatin1Char('0'));
    return QStringLiteral("%1 s").arg(t);
}

void TrainSpeedChart::addPoints(const QVector<TrainPoint>& points) {
    for (const TrainPoint& pt : points)
        if (pt.tokensPerSecond > 0) m_tps.add(double(pt.step), pt.tokensPerSecond);
    if (!points.isEmpty()) {
        const TrainPoint& last = points.last();
        setCaption(tr("%1 tok/s · step %2 of %3 · ETA %4").arg(last.tokensPerSecond, 0, 'f', 0).arg(last.step)
                       .arg(last.totalSteps).arg(formatDuration(last.etaSeconds)));
    }
    markDirty();
}

void TrainSpeedChart::clear() {
    m_tps.clear();
    setCaption({});
    markDirty();
}

void TrainSpeedChart::refresh() {
    m_graph->setData(m_tps.xs(), m_tps.ys(), true);
    plot()->xAxis->setRange(0, std::max(10.0, m_tps.lastX()));
    plot()->yAxis->setRange(0, std::max(1.0, m_tps.maxY() * 1.15));
}
