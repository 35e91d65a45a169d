// train_charts_bench — the Train view's dashboards at 100,000 steps: time to add the points (in the
// batches TrainController sends) and time to render every chart once, as a fraction of the frame budget
// (ChartBase::kFrameIntervalMs) and next to the render time of the same charts empty, measured in the
// same run. Offscreen: QT_QPA_PLATFORM=offscreen latent_train_charts_bench [POINTS]
#include <QApplication>
#include <QElapsedTimer>
#include <QPixmap>
#include <qcustomplot.h>
#include <cmath>
#include <cstdio>

#include "monitor/ChartBase.h"
#include "train/TrainDashboard.h"
#include "train/TrainScalarCharts.h"
#include "train/TrainStructureCharts.h"

namespace {

TrainPoint pointAt(qint64 s) {
    TrainPoint p;
    p.step = s;
    p.totalSteps = 1000000;
    p.loss = 3.0 / std::sqrt(double(s)) + 0.05 * std::sin(double(s));
    p.lr = 1e-3;
    p.gradNorm = 1.0 + 0.1 * std::cos(double(s));
    p.skipped = s % 5000 == 0;
    p.tokensPerSecond = 1000;
    if (s % 500 == 0) p.valLoss = p.loss * 1.1;
    p.expertLoad = {{}, {0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2}, {0.125, 0.125, 0.125, 0.125, 0.125, 0.125, 0.125, 0.125}};
    p.hcForwardGain = {1.0, 1.01, 1.02, 1.03, 1.04, 1.05, 1.06, 1.07};
    p.hcBackwardGain = p.hcForwardGain;
    p.hcMix = QVector<QVector<double>>(8, QVector<double>(16, 0.25));
    return p;
}

// Best of 5: every chart of the dashboard drawn once into a 900×500 pixmap (what a replot costs; the
// series were copied into the plots by one savePng first, which also encodes a PNG and is not timed).
double renderAllMs(TrainDashboard& d) {
    const QList<ChartBase*> charts{d.loss(), d.lrGrad(), d.speed(), d.experts(), d.mhc()};
    for (ChartBase* c : charts) c->savePng(QStringLiteral("/tmp/latent-train-charts-bench.png"), 900, 500);
    double best = 1e30;
    for (int rep = 0; rep < 6; ++rep) {
        QElapsedTimer t;
        t.start();
        for (ChartBase* c : charts) c->plot()->toPixmap(900, 500);
        if (rep > 0) best = std::min(best, t.nsecsElapsed() / 1e6);
    }
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    const qint64 points = argc > 1 ? std::atoll(argv[1]) : 100000;
    TrainDashboard d;
    d.resize(1400, 1050);
    const double emptyMs = renderAllMs(d);
    QElapsedTimer add;
    add.start();
    QVector<TrainPoint> batch;
    for (qint64 s = 1; s <= points; ++s) {
        batch << pointAt(s);
        if (batch.size() == 10) {  // ~ one 100 ms flush of a fast run
            d.addPoints(batch);
            batch.clear();
        }
    }
    d.addPoints(batch);
    const double addMs = add.nsecsElapsed() / 1e6;
    const double fullMs = renderAllMs(d);
    const double budget = ChartBase::kFrameIntervalMs;
    std::printf("points %lld: add %.1f ms in total (%.2f us per point); loss series holds %d of them\n",
                static_cast<long long>(points), addMs, addMs * 1000.0 / double(points), d.loss()->trainSeries().size());
    std::printf("render all 5 charts: empty %.2f ms, with %lld points %.2f ms (%.2fx empty, %.0f%% of the %.0f ms frame budget)\n",
                emptyMs, static_cast<long long>(points), fullMs, fullMs / emptyMs, 100.0 * fullMs / budget, budget);
    return 0;
}
