// ThroughputChart — tokens/s over time (prefill per reply, decode as it streams) and process RAM.
#pragma once

#include "monitor/BoundedSeries.h"
#include "monitor/ChartBase.h"

class QCPGraph;

class ThroughputChart : public ChartBase {
    Q_OBJECT
public:
    explicit ThroughputChart(QWidget* parent = nullptr);
    // `t`: seconds since the app started.
    void addThroughput(double t, double prefillTps, double decodeTps);
    void addMemory(double t, qint64 residentBytes);
    void clear();
    const BoundedSeries& decodeSeries() const { return m_decode; }
    const BoundedSeries& memorySeries() const { return m_ram; }

protected:
    void refresh() override;

private:
    BoundedSeries m_prefill{500}, m_decode{2000}, m_ram{2000};
    double m_lastPrefill = 0, m_lastDecode = 0;
    QCPGraph* m_prefillGraph;
    QCPGraph* m_decodeGraph;
    QCPGraph* m_ramGraph;
};
