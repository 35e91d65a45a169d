// Training dashboards over steps (all on BoundedSeries: bounded memory, smooth at ≥ 100k points):
//   TrainLossChart    train loss (raw + EMA smoothing), validation loss, linear/log axis, and the loss
//                     curves of other runs overlaid for comparison
//   TrainLrGradChart  learning rate and global grad norm, skipped (non-finite) steps marked
//   TrainSpeedChart   target tokens/s, with the ETA in the caption
#pragma once

#include <QMap>
#include <QVector>

#include "monitor/BoundedSeries.h"
#include "monitor/ChartBase.h"
#include "train/TrainTypes.h"

class QCPGraph;
class QCheckBox;
class QSlider;

class TrainLossChart : public ChartBase {
    Q_OBJECT
public:
    explicit TrainLossChart(QWidget* parent = nullptr);
    void addPoints(const QVector<TrainPoint>& points);
    void clear();
    void setLogScale(bool on);
    void setSmoothing(double alpha);  // EMA weight of the history, 0 (off) … 0.99
    // Overlay: another run's loss curve (replaces an earlier overlay with the same id); removeOverlay drops it.
    void setOverlay(qint64 runId, const QString& name, const QVector<TrainPoint>& points);
    void clearOverlays();
    const BoundedSeries& trainSeries() const { return m_train; }
    const BoundedSeries& validationSeries() const { return m_val; }
    int overlayCount() const { return int(m_overlays.size()); }

protected:
    void refresh() override;

private:
    void rebuildSmoothed();
    BoundedSeries m_train{4000}, m_val{1000};
    QVector<double> m_smoothX, m_smoothY;  // recomputed from m_train on refresh
    double m_alpha = 0.9;
    bool m_log = false;
    QCPGraph* m_rawGraph;
    QCPGraph* m_smoothGraph;
    QCPGraph* m_valGraph;
    struct Overlay { QString name; BoundedSeries series{4000}; QCPGraph* graph = nullptr; };
    QMap<qint64, Overlay*> m_overlays;
    QCheckBox* m_logBox;
    QSlider* m_smoothSlider;
};

class TrainLrGradChart : public ChartBase {
    Q_OBJECT
public:
    explicit TrainLrGradChart(QWidget* parent = nullptr);
    void addPoints(const QVector<TrainPoint>& points);
    void clear();
    const BoundedSeries& gradSeries() const { return m_grad; }
    int skippedCount() const { return int(m_skipped.size()); }

protected:
    void refresh() override;

private:
    BoundedSeries m_lr{4000}, m_grad{4000}, m_skipped{1000};
    QCPGraph* m_lrGraph;
    QCPGraph* m_gradGraph;
    QCPGraph* m_skipGraph;
};

class TrainSpeedChart : public ChartBase {
    Q_OBJECT
public:
    explicit TrainSpeedChart(QWidget* parent = nullptr);
    void addPoints(const QVector<TrainPoint>& points);
    void clear();
    const BoundedSeries& speedSeries() const { return m_tps; }
    static QString formatDuration(double seconds);

protected:
    void refresh() override;

private:
    BoundedSeries m_tps{4000};
    QCPGraph* m_graph;
};
