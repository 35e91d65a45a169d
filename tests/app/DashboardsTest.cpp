// Dashboards and small pieces: bounded series, ≤30 fps redraw, PNG save, expert imbalance score,
// memory plan verdicts, /proc parsing, settings-file recovery.
#include <QFile>
#include <QImage>
#include <QSettings>
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>

#include "SettingsStore.h"
#include "library/MemoryPlan.h"
#include "monitor/BoundedSeries.h"
#include "monitor/ExpertHeatmap.h"
#include "monitor/KvCacheChart.h"
#include "monitor/ProcessStats.h"
#include "monitor/ThroughputChart.h"

namespace {
TelemetrySnapshot snapshot(qint64 tokens, int layers, int experts) {
    TelemetrySnapshot s;
    s.kvTokens = tokens;
    s.kvCapacity = 4096;
    s.kvBytesPerToken = 2 * 576 * 4;
    s.mhaBytesPerToken = 2 * 2 * 16 * 128 * 4;
    s.kvBytesUsed = tokens * s.kvBytesPerToken;
    s.kvBytesPerLayer = {tokens * 576 * 4, tokens * 576 * 4};
    s.layers = layers;
    s.experts = experts;
    s.moeLayer = QVector<bool>(layers, true);
    s.moeLayer[0] = false;  // dense first layer
    s.expertReply = QVector<qint64>(layers * experts, 0);
    for (int l = 1; l < layers; ++l)
        for (int e = 0; e < experts; ++e) s.expertReply[l * experts + e] = e == experts - 1 ? 0 : (e == 0 ? 40 : 5) + tokens % 3;
    s.expertConversation = s.expertReply;
    return s;
}
bool imageHasContent(const QString& path) {
    QImage img(path);
    if (img.isNull() || img.width() < 100) return false;
    const QRgb first = img.pixel(0, 0);
    int differing = 0;
    for (int y = 0; y < img.height(); y += 7)
        for (int x = 0; x < img.width(); x += 7) differing += img.pixel(x, y) != first;
    return differing > 50;
}
}  // namespace

class DashboardsTest : public QObject {
    Q_OBJECT
private slots:
    void boundedSeriesStaysBoundedAndKeepsEnds() {
        BoundedSeries s(100);
        for (int i = 0; i < 100000; ++i) {
            s.add(i, std::sin(i * 0.01));
            QVERIFY(s.size() <= 100);
        }
        QCOMPARE(s.xs().first(), 0.0);       // start of history kept
        QCOMPARE(s.xs().last(), 99999.0);    // newest point exact
        for (int i = 1; i < s.size(); ++i) QVERIFY(s.xs()[i] > s.xs()[i - 1]);  // still ordered
        // The mean of the averaged values stays close to the mean of a constant signal.
        BoundedSeries c(64);
        for (int i = 0; i < 5000; ++i) c.add(i, 3.0);
        for (double y : c.ys()) QCOMPARE(y, 3.0);
    }

    void kvChartBoundedAndSavesPng() {
        KvCacheChart chart;
        chart.resize(900, 320);
        for (int t = 1; t <= 5000; ++t) chart.addSample(snapshot(t, 2, 8), 8ll << 30);
        QVERIFY(chart.mlaSeries().size() <= chart.mlaSeries().capacity());
        QVERIFY(chart.mhaSeries().size() <= chart.mhaSeries().capacity());
        QCOMPARE(chart.mlaSeries().xs().last(), 5000.0);
        // MHA needs (2·16·128)/576 ≈ 7.1× the MLA bytes per token here.
        QVERIFY(std::abs(chart.mhaSeries().ys().last() / chart.mlaSeries().ys().last() - 4096.0 / 576.0) < 1e-9);
        // One sample (a short reply) still draws a line: both curves start at the origin.
        KvCacheChart one;
        one.addSample(snapshot(28, 2, 8), 8ll << 30);
        QCOMPARE(one.mlaSeries().size(), 2);
        QCOMPARE(one.mlaSeries().xs().first(), 0.0);
        QCOMPARE(one.mlaSeries().ys().first(), 0.0);
        QCOMPARE(one.mhaSeries().xs().last(), 28.0);
        QCOMPARE(KvCacheChart::tokensThatFit(1000, 10), qint64(100));
        QCOMPARE(KvCacheChart::tokensThatFit(1000, 0), qint64(0));
        QTemporaryDir dir;
        const QString png = dir.filePath(QStringLiteral("kv.png"));
        QVERIFY(chart.savePng(png, 900, 320));
        QVERIFY(imageHasContent(png));
    }

    void redrawIsThrottledTo30Fps() {
        ThroughputChart chart;
        chart.resize(600, 300);
        chart.show();
        QElapsedTimer clock;
        clock.start();
        int updates = 0;
        // A fixed number of updates, ~1 ms apart, lasting at least 0.5 s (a loaded machine stretches it,
        // which must not fail the test: the throttle is checked against the time it really took).
        while (updates < 200 || clock.elapsed() < 500) {
            chart.addThroughput(clock.elapsed() / 1000.0, 100, 20 + updates % 5);
            chart.addMemory(clock.elapsed() / 1000.0, 1 << 30);
            ++updates;
            QTest::qWait(1);
        }
        const double seconds = clock.elapsed() / 1000.0;
        QVERIFY2(chart.replotCount() <= int(seconds * 30) + 2,
                 qPrintable(QStringLiteral("%1 replots in %2 s").arg(chart.replotCount()).arg(seconds)));
        QVERIFY(chart.replotCount() >= 3);
        QVERIFY(chart.decodeSeries().size() <= chart.decodeSeries().capacity());
        QTemporaryDir dir;
        QVERIFY(chart.savePng(dir.filePath(QStringLiteral("tps.png")), 600, 300));
        QVERIFY(imageHasContent(dir.filePath(QStringLiteral("tps.png"))));
    }

    void expertImbalanceScore() {
        const qint64 counts[6] = {10, 10, 10, 10, 0, 30};
        const LayerBalance b = ExpertHeatmap::balance(counts, 6);
        // Reference: mean = 70/6, max/mean = 30/(70/6), CV = pop. std / mean.
        const double mean = 70.0 / 6.0;
        double var = 0;
        for (qint64 c : counts) var += (c - mean) * (c - mean);
        QVERIFY(std::abs(b.maxOverMean - 30.0 / mean) < 1e-12);
        QVERIFY(std::abs(b.cv - std::sqrt(var / 6) / mean) < 1e-12);
        QCOMPARE(b.hot, QVector<int>({5}));
        QCOMPARE(b.dead, QVector<int>({4}));
        const qint64 even[4] = {5, 5, 5, 5};
        QCOMPARE(ExpertHeatmap::balance(even, 4).maxOverMean, 1.0);
        QCOMPARE(ExpertHeatmap::balance(even, 4).cv, 0.0);
        const qint64 none[3] = {0, 0, 0};
        QCOMPARE(ExpertHeatmap::balance(none, 3).dead.size(), 0);  // a layer that saw no tokens is not "dead"
    }

    void heatmapMarksAndSaves() {
        ExpertHeatmap map;
        map.resize(900, 360);
        map.setSnapshot(snapshot(7, 4, 16));
        QTemporaryDir dir;
        const QString png = dir.filePath(QStringLiteral("experts.png"));
        QVERIFY(map.savePng(png, 900, 360));  // savePng refreshes first
        QVERIFY(imageHasContent(png));
        const auto& bal = map.balances();
        QCOMPARE(bal.size(), 4);
        QCOMPARE(bal[0].maxOverMean, 0.0);  // dense layer: no score
        QCOMPARE(bal[1].hot, QVector<int>({0}));
        QCOMPARE(bal[1].dead, QVector<int>({15}));
        map.setScope(ExpertHeatmap::Scope::Conversation);
        QCOMPARE(map.scope(), ExpertHeatmap::Scope::Conversation);
    }

    void memoryPlanVerdicts() {
        MemoryPlanInput in;
        in.weightBytes = 4'000'000'000;
        in.kvBytesPerToken = 100'000;
        in.contextTokens = 32768;
        in.maxContextTokens = 163840;
        in.overheadBytes = 0;
        in.freeBytes = 10'000'000'000;
        MemoryPlan p = MemoryPlanner::plan(in);
        QCOMPARE(p.verdict, MemoryPlan::Verdict::Fits);
        QCOMPARE(p.neededBytes, qint64(4'000'000'000) + 32768ll * 100'000);
        QCOMPARE(p.maxFittingContext, qint64(60000));
        QVERIFY(p.summary.startsWith(QStringLiteral("fits")));

        in.freeBytes = 6'000'000'000;  // 2 GB left for KV → 20000 tokens
        p = MemoryPlanner::plan(in);
        QCOMPARE(p.verdict, MemoryPlan::Verdict::FitsWithSmallerContext);
        QCOMPARE(p.maxFittingContext, qint64(20000));
        QVERIFY2(p.summary.startsWith(QStringLiteral("fits with 19 K context")), qPrintable(p.summary));

        in.freeBytes = 3'000'000'000;
        p = MemoryPlanner::plan(in);
        QCOMPARE(p.verdict, MemoryPlan::Verdict::DoesNotFit);
        QCOMPARE(p.summary, QStringLiteral("does not fit: needs 7.3 GB, has 3.0 GB"));
    }

    void procParsing() {
        const QByteArray meminfo = "MemTotal:       24576000 kB\nMemFree:         1000 kB\nMemAvailable:   12288000 kB\n";
        QCOMPARE(ProcessStats::meminfoField(meminfo, "MemAvailable"), 12288000ll * 1024);
        QCOMPARE(ProcessStats::meminfoField(meminfo, "MemTotal"), 24576000ll * 1024);
        QCOMPARE(ProcessStats::meminfoField(meminfo, "Missing"), 0ll);
        QVERIFY(ProcessStats::residentBytes() > 1 << 20);
        QVERIFY(ProcessStats::availableMemoryBytes() > 0);
    }

    void settingsRecovery() {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("settings.ini"));
        {
            SettingsStore s(path);
            QVERIFY(s.notice().isEmpty());
            s.settings().setValue(QStringLiteral("window/geometry"), QByteArray("abc"));
        }
        {
            SettingsStore s(path);
            QCOMPARE(s.settings().value(QStringLiteral("window/geometry")).toByteArray(), QByteArray("abc"));
        }
        {
            QFile f(path);  // an INI file with a broken section header and binary garbage
            QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
            f.write("[window\n\xff\xfe\x00garbage=\"unterminated\n");
        }
        SettingsStore s(path);
        QVERIFY2(!s.notice().isEmpty(), "a damaged settings file must be reported");
        QCOMPARE(s.settings().status(), QSettings::NoError);
        QVERIFY(!s.settings().contains(QStringLiteral("window/geometry")));
        s.settings().setValue(QStringLiteral("k"), 1);
        s.settings().sync();
        QCOMPARE(s.settings().status(), QSettings::NoError);
    }
};

QTEST_MAIN(DashboardsTest)
#include "DashboardsTest.moc"
