// ExpertHeatmap — tokens routed per (layer, expert) as a colour map, for this reply or the whole
// conversation, with an imbalance score per layer (max/mean and coefficient of variation) and hot
// (> 2× the layer mean) and dead (0 tokens) experts marked.
#pragma once

#include "monitor/ChartBase.h"
#include "monitor/TelemetrySnapshot.h"

class QCPColorMap;
class QCPColorScale;
class QCPBars;
class QCPGraph;
class QCPAxisRect;
class QComboBox;

struct LayerBalance {
    double maxOverMean = 0;  // 1 = perfectly balanced; 0 when the layer saw no tokens
    double cv = 0;           // standard deviation / mean
    QVector<int> hot;        // expert ids with > 2× the mean load
    QVector<int> dead;       // expert ids with no tokens (only when the layer saw tokens)
};

class ExpertHeatmap : public ChartBase {
    Q_OBJECT
public:
    enum class Scope { Reply, Conversation };
    explicit ExpertHeatmap(QWidget* parent = nullptr);
    void setSnapshot(const TelemetrySnapshot& s);
    void setScope(Scope scope);
    Scope scope() const { return m_scope; }
    void clear();
    static LayerBalance balance(const qint64* counts, int experts);
    const QVector<LayerBalance>& balances() const { return m_balance; }

protected:
    void refresh() override;

private:
    TelemetrySnapshot m_snap;
    Scope m_scope = Scope::Reply;
    QVector<LayerBalance> m_balance;
    QComboBox* m_scopeBox;
    QCPColorMap* m_map;
    QCPColorScale* m_scale;
    QCPGraph* m_hot;
    QCPGraph* m_dead;
    QCPAxisRect* m_balanceRect;
    QCPBars* m_balanceBars;
};
