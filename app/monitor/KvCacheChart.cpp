#include "monitor/KvCacheChart.h"

#include <qcustomplot.h>

#include <algorithm>

namespace {
constexpr double kMiB = 1024.0 * 1024.0;
QString humanBytes(double b) {
    if (b >= 1024.0 * kMiB) return QStringLiteral("%1 GiB").arg(b / (1024.0 * kMiB), 0, 'f', 2);
    if (b >= kMiB) return QStringLiteral("%1 MiB").arg(b / kMiB, 0, 'f', 1);
    return QStringLiteral("%1 KiB").arg(b / 1024.0, 0, 'f', 1);
}
}  // namespace

KvCacheChart::KvCacheChart(QWidget* parent) : ChartBase(tr("KV cache memory"), parent) {
    QCustomPlot* p = plot();
    m_mlaGraph = p->addGraph();
    m_mlaGraph->setName(tr("MLA (used)"));
    m_mlaGraph->setPen(QPen(QColor(0x2e, 0x86, 0xde), 2));
    m_mlaGraph->setBrush(QColor(0x2e, 0x86, 0xde, 40));
    m_mhaGraph = p->addGraph();
    m_mhaGraph->setName(tr("MHA equivalent"));
    m_mhaGraph->setPen(QPen(QColor(0xe6, 0x7e, 0x22), 2, Qt::DashLine));
    p->xAxis->setLabel(tr("tokens in context"));
    p->yAxis->setLabel(tr("MiB"));
    p->legend->setVisible(true);
    p->legend->setFont(font());
    p->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);

    m_layerRect = new QCPAxisRect(p);
    p->plotLayout()->addElement(0, 1, m_layerRect);
    p->plotLayout()->setColumnStretchFactors({2.0, 1.0});
    m_layerBars = new QCPBars(m_layerRect->axis(QCPAxis::atBottom), m_layerRect->axis(QCPAxis::atLeft));
    m_layerBars->setBrush(QColor(0x2e, 0x86, 0xde, 160));
    m_layerBars->setPen(Qt::NoPen);
    m_layerBars->removeFromLegend();
    m_layerRect->axis(QCPAxis::atBottom)->setLabel(tr("layer"));
    QSharedPointer<QCPAxisTickerFixed> layerTicks(new QCPAxisTickerFixed);
    layerTicks->setTickStep(1.0);
    layerTicks->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
    m_layerRect->axis(QCPAxis::atBottom)->setTicker(layerTicks);
    m_layerRect->axis(QCPAxis::atLeft)->setLabel(tr("KiB per layer"));
    applyPalette();
    setCaption(tr("waiting for a reply…"));
}

qint64 KvCacheChart::tokensThatFit(qint64 freeBytes, qint64 bytesPerToken) {
    return bytesPerToken > 0 && freeBytes > 0 ? freeBytes / bytesPerToken : 0;
}

void KvCacheChart::addSample(const TelemetrySnapshot& s, qint64 freeBytes) {
    if (m_mla.size() == 0 && s.kvTokens > 0) {
        // Both curves start at the origin (an empty cache holds no bytes), so a short reply, whose first
        // sample may be its last, still draws a line instead of one invisible point.
        m_mla.add(0.0, 0.0);
        m_mha.add(0.0, 0.0);
    }
    m_mla.add(double(s.kvTokens), double(s.kvBytesUsed) / kMiB);
    m_mha.add(double(s.kvTokens), double(s.kvTokens * s.mhaBytesPerToken) / kMiB);
    m_perLayer = s.kvBytesPerLayer;
    const qint64 fitMla = tokensThatFit(freeBytes + s.kvBytesUsed, s.kvBytesPerToken);
    const qint64 fitMha = tokensThatFit(freeBytes + s.kvBytesUsed, s.mhaBytesPerToken);
    const double ratio = s.kvBytesPerToken > 0 ? double(s.mhaBytesPerToken) / double(s.kvBytesPerToken) : 0;
    setCaption(tr("%1 tokens · MLA %2 vs MHA %3 (%4× smaller, %7 cache) · fits in free memory: %5 tokens MLA, "
                  "%6 MHA")
                   .arg(s.kvTokens)
                   .arg(humanBytes(double(s.kvBytesUsed)), humanBytes(double(s.kvTokens * s.mhaBytesPerToken)))
                   .arg(ratio, 0, 'f', 1)
                   .arg(QLocale().toString(fitMla), QLocale().toString(fitMha))
                   .arg(s.kvCacheType.isEmpty() ? QStringLiteral("fp32") : s.kvCacheType));
    markDirty();
}

void KvCacheChart::clear() {
    m_mla.clear();
    m_mha.clear();
    m_perLayer.clear();
    markDirty();
}

void KvCacheChart::refresh() {
    m_mlaGraph->setData(m_mla.xs(), m_mla.ys(), true);
    m_mhaGraph->setData(m_mha.xs(), m_mha.ys(), true);
    QCustomPlot* p = plot();
    p->xAxis->setRange(0, std::max(16.0, m_mla.lastX() * 1.05));
    p->yAxis->setRange(0, std::max(0.01, std::max(m_mla.maxY(), m_mha.maxY()) * 1.1));
    QVector<double> keys, values;
    double top = 0;
    for (int l = 0; l < m_perLayer.size(); ++l) {
        keys << l;
        values << double(m_perLayer[l]) / 1024.0;
        top = std::max(top, values.last());
    }
    m_layerBars->setData(keys, values, true);
    m_layerRect->axis(QCPAxis::atBottom)->setRange(-0.5, std::max(1.0, double(m_perLayer.size()) - 0.5));
    m_layerRect->axis(QCPAxis::atLeft)->setRange(0, std::max(1.0, top * 1.1));
}
