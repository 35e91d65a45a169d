// Training dashboards of the model's inner structure:
//   TrainExpertChart  expert load of a chosen MoE layer over steps (colour map step × expert, share of the
//                     layer's routed tokens) with the router balance (max/mean per layer) in the caption
//   TrainMhcChart     mHC: composite forward/backward gain vs depth on a log axis, and the H_res mixing
//                     matrix (n×n) of a chosen sublayer as a heatmap
// Memory is bounded: the expert history keeps at most kMaxColumns columns (pairs averaged when full).
#pragma once

#include <QVector>

#include "monitor/ChartBase.h"
#include "train/TrainTypes.h"

class QCPColorMap;
class QCPColorScale;
class QCPGraph;
class QCPAxisRect;
class QComboBox;

class TrainExpertChart : public ChartBase {
    Q_OBJECT
public:
    explicit TrainExpertChart(QWidget* parent = nullptr);
    static constexpr int kMaxColumns = 512;
    void addPoints(const QVector<TrainPoint>& points);
    void clear();
    void setLayer(int layer);
    int columnCount() const { return int(m_steps.size()); }
    int moeLayerCount() const;

protected:
    void refresh() override;

private:
    void decimate();
    QVector<double> m_steps;                    // [column]
    QVector<QVector<QVector<double>>> m_load;   // [column][layer][expert]
    int m_layer = -1;                           // -1: the first MoE layer
    QComboBox* m_layerBox;
    QCPColorMap* m_map;
    QCPColorScale* m_scale;
};

class TrainMhcChart : public ChartBase {
    Q_OBJECT
public:
    explicit TrainMhcChart(QWidget* parent = nullptr);
    void addPoints(const QVector<TrainPoint>& points);  // keeps the newest point's mHC figures
    void clear();
    void setSublayer(int sublayer);
    bool hasData() const { return !m_last.hcForwardGain.isEmpty() || !m_last.hcMix.isEmpty(); }

protected:
    void refresh() override;

private:
    TrainPoint m_last;
    int m_sublayer = 0;
    QComboBox* m_sublayerBox;
    QCPGraph* m_fwd;
    QCPGraph* m_bwd;
    QCPAxisRect* m_mixRect;
    QCPColorMap* m_mix;
    QCPColorScale* m_mixScale;
};
