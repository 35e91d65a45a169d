#include "monitor/ThroughputChart.h"

#include <qcustomplot.h>

#include <algorithm>

ThroughputChart::ThroughputChart(QWidget* parent) : ChartBase(tr("Throughput and memory"), parent) {
    QCustomPlot* p = plot();
    m_decodeGraph = p->addGraph();
    m_decodeGraph->setName(tr("decode tokens/s"));
    m_decodeGraph->setPen(QPen(QColor(0x27, 0xae, 0x60), 2));
    m_decodeGraph->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 5));  // a short reply: one sample
    m_prefillGraph = p->addGraph();
    m_prefillGraph->setName(tr("prefill tokens/s"));
    m_prefillGraph->setPen(QPen(QColor(0x8e, 0x44, 0xad), 2));
    m_prefillGraph->setLineStyle(QCPGraph::lsNone);
    m_prefillGraph->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDiamond, 8));
    m_ramGraph = p->addGraph(p->xAxis, p->yAxis2);
    m_ramGraph->setName(tr("process RAM (MiB)"));
    m_ramGraph->setPen(QPen(QColor(0x7f, 0x8c, 0x8d), 1.5, Qt::DashLine));
    p->xAxis->setLabel(tr("time (s)"));
    p->yAxis->setLabel(tr("tokens/s"));
    p->yAxis2->setVisible(true);
    p->yAxis2->setLabel(tr("RAM (MiB)"));
    p->legend->setVisible(true);
    p->legend->setFont(font());
    // Top right: the first samples of a reply sit at the left edge, where the legend would hide them.
    p->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
    applyPalette();
}

void ThroughputChart::addThroughput(double t, double prefillTps, double decodeTps) {
    if (prefillTps > 0) m_prefill.add(t, prefillTps);
    if (decodeTps > 0) m_decode.add(t, decodeTps);
    if (prefillTps > 0) m_lastPrefill = prefillTps;
    if (decodeTps > 0) m_lastDecode = decodeTps;
    setCaption(tr("last prefill %1 tok/s · decode %2 tok/s").arg(m_lastPrefill, 0, 'f', 1).arg(m_lastDecode, 0, 'f', 1));
    markDirty();
}

void ThroughputChart::addMemory(double t, qint64 residentBytes) {
    m_ram.add(t, double(residentBytes) / (1024.0 * 1024.0));
    markDirty();
}

void ThroughputChart::clear() {
    m_prefill.clear();
    m_decode.clear();
    m_ram.clear();
    markDirty();
}

void ThroughputChart::refresh() {
    m_prefillGraph->setData(m_prefill.xs(), m_prefill.ys(), true);
    m_decodeGraph->setData(m_decode.xs(), m_decode.ys(), true);
    m_ramGraph->setData(m_ram.xs(), m_ram.ys(), true);
    QCustomPlot* p = plot();
    const double tEnd = std::max({m_ram.lastX(), m_decode.lastX(), m_prefill.lastX(), 10.0});
    const double tStart = std::min(m_ram.size() ? m_ram.xs().first() : tEnd, m_decode.size() ? m_decode.xs().first() : tEnd);
    p->xAxis->setRange(std::min(tStart, tEnd - 10.0), tEnd);
    p->yAxis->setRange(0, std::max(1.0, std::max(m_decode.maxY(), m_prefill.maxY()) * 1.15));
    p->yAxis2->setRange(0, std::max(1.0, m_ram.maxY() * 1.15));
}
