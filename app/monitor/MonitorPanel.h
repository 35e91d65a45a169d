// MonitorPanel — the live dashboards: KV cache, expert load, throughput and process RAM.
#pragma once

#include <QElapsedTimer>
#include <QWidget>

#include "monitor/TelemetrySnapshot.h"

class KvCacheChart;
class ExpertHeatmap;
class ThroughputChart;
class QSplitter;

class MonitorPanel : public QWidget {
    Q_OBJECT
public:
    explicit MonitorPanel(QWidget* parent = nullptr);
    void addTelemetry(const TelemetrySnapshot& s);
    KvCacheChart* kvChart() const { return m_kv; }
    ExpertHeatmap* expertHeatmap() const { return m_experts; }
    ThroughputChart* throughputChart() const { return m_throughput; }
    QSplitter* splitter() const { return m_splitter; }
    bool saveAll(const QString& dir);  // kv-cache.png, experts.png, throughput.png

private:
    QElapsedTimer m_clock;
    QSplitter* m_splitter;
    KvCacheChart* m_kv;
    ExpertHeatmap* m_experts;
    ThroughputChart* m_throughput;
};
