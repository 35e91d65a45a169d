// KvCacheChart — KV-cache memory as the conversation grows: MLA bytes actually used vs what plain
// multi-head attention would need for the same model (left), bytes per layer now (right), and the
// context that fits in free memory for each.
#pragma once

#include "monitor/BoundedSeries.h"
#include "monitor/ChartBase.h"
#include "monitor/TelemetrySnapshot.h"

class QCPGraph;
class QCPBars;
class QCPAxisRect;

class KvCacheChart : public ChartBase {
    Q_OBJECT
public:
    explicit KvCacheChart(QWidget* parent = nullptr);
    void addSample(const TelemetrySnapshot& s, qint64 freeBytes);
    void clear();
    const BoundedSeries& mlaSeries() const { return m_mla; }
    const BoundedSeries& mhaSeries() const { return m_mha; }
    // Tokens of context that fit in `freeBytes` at `bytesPerToken` (0 when unknown).
    static qint64 tokensThatFit(qint64 freeBytes, qint64 bytesPerToken);

protected:
    void refresh() override;

private:
    BoundedSeries m_mla{1500}, m_mha{1500};
    QVector<qint64> m_perLayer;
    QCPGraph* m_mlaGraph;
    QCPGraph* m_mhaGraph;
    QCPBars* m_layerBars;
    QCPAxisRect* m_layerRect;
};
