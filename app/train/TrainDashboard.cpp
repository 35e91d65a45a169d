#include "train/TrainDashboard.h"

#include <QDir>
#include <QGridLayout>

#include "train/TrainScalarCharts.h"
#include "train/TrainStructureCharts.h"

TrainDashboard::TrainDashboard(QWidget* parent) : QWidget(parent) {
    auto* grid = new QGridLayout(this);
    grid->setContentsMargins(0, 0, 0, 0);
    m_loss = new TrainLossChart(this);
    m_lrGrad = new TrainLrGradChart(this);
    m_speed = new TrainSpeedChart(this);
    m_experts = new TrainExpertChart(this);
    m_mhc = new TrainMhcChart(this);
    grid->addWidget(m_loss, 0, 0);
    grid->addWidget(m_lrGrad, 0, 1);
    grid->addWidget(m_speed, 1, 0);
    grid->addWidget(m_experts, 1, 1);
    grid->addWidget(m_mhc, 2, 0, 1, 2);
    grid->setRowStretch(0, 3);
    grid->setRowStretch(1, 3);
    grid->setRowStretch(2, 3);
}

void TrainDashboard::addPoints(const QVector<TrainPoint>& points) {
    m_loss->addPoints(points);
    m_lrGrad->addPoints(points);
    m_speed->addPoints(points);
    m_experts->addPoints(points);
    m_mhc->addPoints(points);
}

void TrainDashboard::clear() {
    m_loss->clear();
    m_lrGrad->clear();
    m_speed->clear();
    m_experts->clear();
    m_mhc->clear();
}

bool TrainDashboard::saveAll(const QString& dir) {
    QDir().mkpath(dir);
    const QDir d(dir);
    bool ok = m_loss->savePng(d.filePath(QStringLiteral("train-loss.png")), 900, 500);
    ok &= m_lrGrad->savePng(d.filePath(QStringLiteral("train-lr-grad.png")), 900, 500);
    ok &= m_speed->savePng(d.filePath(QStringLiteral("train-speed.png")), 900, 500);
    ok &= m_experts->savePng(d.filePath(QStringLiteral("train-experts.png")), 900, 500);
    ok &= m_mhc->savePng(d.filePath(QStringLiteral("train-mhc.png")), 900, 500);
    return ok;
}
