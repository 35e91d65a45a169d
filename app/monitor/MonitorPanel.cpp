#include "monitor/MonitorPanel.h"

#include <QDir>
#include <QSplitter>
#include <QTimer>
#include <QVBoxLayout>

#include "monitor/ExpertHeatmap.h"
#include "monitor/KvCacheChart.h"
#include "monitor/ProcessStats.h"
#include "monitor/ThroughputChart.h"

MonitorPanel::MonitorPanel(QWidget* parent) : QWidget(parent) {
    m_clock.start();
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    m_splitter = new QSplitter(Qt::Vertical, this);
    m_splitter->setObjectName(QStringLiteral("monitorSplitter"));
    m_kv = new KvCacheChart(m_splitter);
    m_experts = new ExpertHeatmap(m_splitter);
    m_throughput = new ThroughputChart(m_splitter);
    layout->addWidget(m_splitter);
    // Process RAM once a second (procfs: no disk access).
    auto* ram = new QTimer(this);
    ram->setInterval(1000);
    connect(ram, &QTimer::timeout, this, [this] { m_throughput->addMemory(m_clock.elapsed() / 1000.0, ProcessStats::residentBytes()); });
    ram->start();
    m_throughput->addMemory(0, ProcessStats::residentBytes());
}

void MonitorPanel::addTelemetry(const TelemetrySnapshot& s) {
    m_kv->addSample(s, ProcessStats::availableMemoryBytes());
    m_experts->setSnapshot(s);
    m_throughput->addThroughput(m_clock.elapsed() / 1000.0, s.prefillTps, s.decodeTps);
}

bool MonitorPanel::saveAll(const QString& dir) {
    QDir().mkpath(dir);
    const QDir d(dir);
    return m_kv->savePng(d.filePath(QStringLiteral("kv-cache.png")), 1000, 360) &&
           m_experts->savePng(d.filePath(QStringLiteral("experts.png")), 1000, 400) &&
           m_throughput->savePng(d.filePath(QStringLiteral("throughput.png")), 1000, 320);
}
