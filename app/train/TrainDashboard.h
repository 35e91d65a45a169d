// TrainDashboard — the live charts of one run (loss, LR/grad norm, throughput+ETA, expert load, mHC)
// in a scrollable grid, fed with TrainPoint batches from TrainController or from the database.
#pragma once

#include <QWidget>

#include "train/TrainTypes.h"

class TrainLossChart;
class TrainLrGradChart;
class TrainSpeedChart;
class TrainExpertChart;
class TrainMhcChart;

class TrainDashboard : public QWidget {
    Q_OBJECT
public:
    explicit TrainDashboard(QWidget* parent = nullptr);
    void addPoints(const QVector<TrainPoint>& points);
    void clear();
    TrainLossChart* loss() const { return m_loss; }
    TrainLrGradChart* lrGrad() const { return m_lrGrad; }
    TrainSpeedChart* speed() const { return m_speed; }
    TrainExpertChart* experts() const { return m_experts; }
    TrainMhcChart* mhc() const { return m_mhc; }
    bool saveAll(const QString& dir);  // one PNG per chart

private:
    TrainLossChart* m_loss;
    TrainLrGradChart* m_lrGrad;
    TrainSpeedChart* m_speed;
    TrainExpertChart* m_experts;
    TrainMhcChart* m_mhc;
};
