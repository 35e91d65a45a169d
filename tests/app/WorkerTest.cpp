// EngineWorker on its own thread: inspect (pre-load numbers agree with the loaded model's stats),
// plain-language errors, streaming with ≤ 1 signal per 50 ms, telemetry, stop, destructor joins —
// and the GUI thread's worst stall while loading and while generating (target < 50 ms).
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include "StallMeter.h"
#include "TinyChatModel.h"
#include "engine/EngineWorker.h"

namespace {
GenerationRequest request(qint64 id, int maxTokens) {
    GenerationRequest r;
    r.requestId = id;
    r.conversationId = 1;
    r.messagesJson = QStringLiteral(R"([{"role":"system","content":"Be brief."},{"role":"user","content":"Tell me about latent attention."}])");
    r.sampling.temperature = 0.8;
    r.sampling.seed = 42;
    r.sampling.maxTokens = maxTokens;
    return r;
}
}  // namespace

class WorkerTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;
    QString m_model;

private slots:
    void initTestCase() {
        m_model = m_dir.filePath(QStringLiteral("tiny"));
        try {
            TinyChatModel::write(m_model, 256, 6, 32);
        } catch (const std::exception& e) {
            QSKIP(qPrintable(QStringLiteral("cannot write the tiny checkpoint with this engine build: %1").arg(e.what())));
        }
    }

    void inspectAgreesWithLoadedModel() {
        EngineWorker worker;
        QSignalSpy inspected(&worker, &EngineWorker::inspected);
        QSignalSpy loaded(&worker, &EngineWorker::modelLoaded);
        QSignalSpy failed(&worker, &EngineWorker::loadFailed);
        worker.inspect(m_model);
        QVERIFY(inspected.wait(30000));
        const ModelSummary pre = inspected.first().first().value<ModelSummary>();
        QCOMPARE(pre.architecture, QStringLiteral("DeepseekV2ForCausalLM"));
        QCOMPARE(pre.layers, 6);
        QCOMPARE(pre.routedExperts, 32);
        QVERIFY(pre.activeParams < pre.totalParams);
        QVERIFY(pre.mhaKvBytesPerToken > pre.kvBytesPerToken);
        worker.loadModel(m_model, 1024);
        QVERIFY2(loaded.wait(60000), failed.isEmpty() ? "timeout" : qPrintable(failed.first().first().toString()));
        const ModelSummary post = loaded.first().first().value<ModelSummary>();
        // The Library's numbers (from headers + config, before loading) match the engine's own stats.
        QCOMPARE(pre.totalParams, post.totalParams);
        QCOMPARE(pre.activeParams, post.activeParams);
        QCOMPARE(pre.weightBytes, post.weightBytes);
        QCOMPARE(pre.kvBytesPerToken, post.kvBytesPerToken);
        QCOMPARE(pre.mhaKvBytesPerToken, post.mhaKvBytesPerToken);
        QCOMPARE(post.contextTokens, qint64(1024));
    }

    // The Library's "KV cache" choice reaches the sessions: bf16 reports (and the telemetry measures) half
    // the bytes per token of the fp32 cache, and a chat still streams; an unknown type fails saying the choices.
    void kvCacheChoiceIsHonoured() {
        EngineWorker worker;
        QSignalSpy inspected(&worker, &EngineWorker::inspected);
        QSignalSpy loaded(&worker, &EngineWorker::modelLoaded);
        QSignalSpy failed(&worker, &EngineWorker::loadFailed);
        worker.inspect(m_model, QStringLiteral("cpu"));
        QVERIFY(inspected.wait(30000));
        const ModelSummary pre = inspected.first().first().value<ModelSummary>();
        worker.loadModel(m_model, 1024, 1, QStringLiteral("cpu"), QStringLiteral("bf16"));
        QVERIFY2(loaded.wait(60000), failed.isEmpty() ? "timeout" : qPrintable(failed.first().first().toString()));
        const ModelSummary post = loaded.first().first().value<ModelSummary>();
        QCOMPARE(post.kvCacheType, QStringLiteral("bf16"));
        QCOMPARE(post.kvBytesPerToken * 2, pre.kvBytesPerToken);
        QCOMPARE(post.mhaKvBytesPerToken * 2, pre.mhaKvBytesPerToken);

        QSignalSpy telemetry(&worker, &EngineWorker::telemetry);
        QSignalSpy finished(&worker, &EngineWorker::replyFinished);
        QSignalSpy replyFailed(&worker, &EngineWorker::replyFailed);
        worker.generate(request(7, 8));
        QVERIFY2(finished.wait(120000),
                 replyFailed.isEmpty() ? "timeout" : qPrintable(replyFailed.first().at(1).toString()));
        QVERIFY(finished.first().at(1).value<ReplyStats>().tokens > 0);
        QVERIFY(!telemetry.isEmpty());
        const TelemetrySnapshot last = telemetry.last().at(1).value<TelemetrySnapshot>();
        QCOMPARE(last.kvBytesPerToken, post.kvBytesPerToken);  // measured from the session's cache
        QCOMPARE(last.kvCacheType, QStringLiteral("bf16"));
        QCOMPARE(last.kvBytesUsed, last.kvTokens * last.kvBytesPerToken);

        worker.loadModel(m_model, 1024, 1, QStringLiteral("cpu"), QStringLiteral("q4_0"));
        QVERIFY(failed.wait(30000));
        const QString why = failed.last().first().toString();
        QVERIFY2(why.contains(QStringLiteral("q4_0")) && why.contains(QStringLiteral("bf16")), qPrintable(why));
    }

    // The Library's "Run on" choice reaches the engine: "cpu" loads on the CPU even where a GPU is usable;
    // "cuda" either loads on the GPU or (no usable GPU, as on CI) fails saying why, after which "cpu"
    // loads again in the same worker; a device change while a model is loaded describes the other
    // device without unloading the model.
    void deviceChoiceIsHonoured() {
        EngineWorker worker;
        QSignalSpy inspected(&worker, &EngineWorker::inspected);
        QSignalSpy inspectFailed(&worker, &EngineWorker::inspectFailed);
        QSignalSpy loaded(&worker, &EngineWorker::modelLoaded);
        QSignalSpy failed(&worker, &EngineWorker::loadFailed);
        worker.loadModel(m_model, 1024, 1, QStringLiteral("cpu"));
        QVERIFY2(loaded.wait(60000), failed.isEmpty() ? "timeout" : qPrintable(failed.first().first().toString()));
        const ModelSummary cpu = loaded.takeFirst().first().value<ModelSummary>();
        QVERIFY(!cpu.onGpu);
        QVERIFY2(cpu.backendName.startsWith(QStringLiteral("CPU")), qPrintable(cpu.backendName));

        // With the CPU model loaded, inspecting for "cuda" must not unload it (generation still works).
        worker.inspect(m_model, QStringLiteral("cuda"));
        QVERIFY(inspected.wait(30000) || !inspectFailed.isEmpty() || inspectFailed.wait(30000));
        QSignalSpy finished(&worker, &EngineWorker::replyFinished);
        QSignalSpy replyFailed(&worker, &EngineWorker::replyFailed);
        worker.generate(request(7, 4));
        QVERIFY2(finished.wait(60000), replyFailed.isEmpty() ? "timeout" : qPrintable(replyFailed.first().at(1).toString()));

        worker.loadModel(m_model, 1024, 1, QStringLiteral("cuda"));
        QTRY_VERIFY_WITH_TIMEOUT(!loaded.isEmpty() || !failed.isEmpty(), 60000);
        if (!loaded.isEmpty()) {
            QVERIFY(loaded.first().first().value<ModelSummary>().onGpu);
        } else {
            const QString why = failed.first().first().toString();
            QVERIFY2(why.contains(QStringLiteral("GPU")) || why.contains(QStringLiteral("CUDA")), qPrintable(why));
            loaded.clear();
            worker.loadModel(m_model, 1024, 1, QStringLiteral("cpu"));
            QVERIFY(loaded.wait(60000));
            QVERIFY(!loaded.first().first().value<ModelSummary>().onGpu);
        }
    }

    void badFolderGivesPlainMessage() {
        EngineWorker worker;
        QSignalSpy failed(&worker, &EngineWorker::inspectFailed);
        QTemporaryDir empty;
        worker.inspect(empty.path());
        QVERIFY(failed.wait(10000));
        const QString msg = failed.first().at(1).toString();
        QVERIFY2(msg.contains(QStringLiteral("config.json")), qPrintable(msg));
        QVERIFY(msg.contains(QStringLiteral("What to do")));
        QSignalSpy loadFailed(&worker, &EngineWorker::loadFailed);
        worker.loadModel(empty.path(), 1024);
        QVERIFY(loadFailed.wait(10000));
    }

    void loadAndGenerateWithoutGuiStalls() {
        EngineWorker worker;
        StallMeter meter(5);
        QSignalSpy loaded(&worker, &EngineWorker::modelLoaded);
        meter.start();
        worker.loadModel(m_model, 1024);
        QVERIFY(loaded.wait(60000));
        const double loadStall = meter.worstStallMs();
        const double loadWall = meter.worstWallStallMs();
        const ModelSummary model = loaded.first().first().value<ModelSummary>();

        QSignalSpy deltas(&worker, &EngineWorker::replyDelta);
        QSignalSpy telemetry(&worker, &EngineWorker::telemetry);
        QSignalSpy finished(&worker, &EngineWorker::replyFinished);
        QSignalSpy failed(&worker, &EngineWorker::replyFailed);
        meter.reset();
        QElapsedTimer clock;
        clock.start();
        worker.generate(request(1, 300));
        QVERIFY2(finished.wait(120000), failed.isEmpty() ? "timeout" : qPrintable(failed.first().at(1).toString()));
        const double genSeconds = clock.elapsed() / 1000.0;
        const double genStall = meter.worstStallMs();
        // The asserted figure excludes run-queue wait (StallMeter.h); the wall figure is printed beside it.
        qInfo("GUI worst stall: %.2f ms while loading, %.2f ms while generating (%.2f s, %lld heartbeats); "
              "wall clock incl. run-queue wait: %.2f / %.2f ms (run-queue wait %s)",
              loadStall, genStall, genSeconds, meter.beats(), loadWall, meter.worstWallStallMs(),
              meter.excludesRunQueueWait() ? "excluded" : "not measurable here");
        QVERIFY2(loadStall < 50.0, qPrintable(QString::number(loadStall)));
        QVERIFY2(genStall < 50.0, qPrintable(QString::number(genStall)));

        const ReplyStats st = finished.first().at(1).value<ReplyStats>();
        QVERIFY(st.tokens > 0);
        QVERIFY(st.promptTokens > 10);
        QVERIFY(st.decodeTps > 0);
        QVERIFY(st.contextUsed >= st.promptTokens);
        QString text;
        for (const auto& args : deltas) text += args.at(1).toString();
        QVERIFY(!text.isEmpty());
        // Throttled: at most one delta per 50 ms (+ the final flush).
        QVERIFY2(deltas.size() <= int(genSeconds * 1000 / EngineWorker::kSignalIntervalMs) + 2,
                 qPrintable(QStringLiteral("%1 deltas in %2 s").arg(deltas.size()).arg(genSeconds)));
        QVERIFY(!telemetry.isEmpty());
        const TelemetrySnapshot last = telemetry.last().at(1).value<TelemetrySnapshot>();
        QCOMPARE(last.kvBytesPerToken, model.kvBytesPerToken);
        QCOMPARE(last.kvCacheType, QStringLiteral("fp32"));
        QVERIFY(last.kvTokens >= st.promptTokens);
        QCOMPARE(last.kvBytesUsed, last.kvTokens * last.kvBytesPerToken);
        QCOMPARE(last.layers, 6);
        QCOMPARE(last.experts, 32);
        QVERIFY(!last.moeLayer[0]);  // first_k_dense_replace = 1
        for (int l = 0; l < last.layers; ++l) {
            qint64 sum = 0;
            for (int e = 0; e < last.experts; ++e) sum += last.expertConversation[l * last.experts + e];
            if (last.moeLayer[l]) {
                QVERIFY(sum > 0);
                QCOMPARE(sum % 4, qint64(0));  // top-4 routing: 4 assignments per token
            } else {
                QCOMPARE(sum, qint64(0));
            }
        }
    }

    void stopCancelsAndDestructorJoins() {
        auto worker = std::make_unique<EngineWorker>();
        QSignalSpy loaded(worker.get(), &EngineWorker::modelLoaded);
        worker->loadModel(m_model, 2048);
        QVERIFY(loaded.wait(60000));
        QSignalSpy deltas(worker.get(), &EngineWorker::replyDelta);
        QSignalSpy finished(worker.get(), &EngineWorker::replyFinished);
        auto req = request(7, 1500);
        worker->generate(req);
        QVERIFY(deltas.wait(30000));
        worker->stop();
        QVERIFY(finished.wait(10000));
        const ReplyStats st = finished.first().at(1).value<ReplyStats>();
        QCOMPARE(st.stopReason, QStringLiteral("cancelled"));
        QVERIFY(st.tokens < 1500);
        // Destroying the worker mid-reply stops the engine and joins its thread promptly.
        worker->generate(request(8, 1500));
        QVERIFY(deltas.wait(30000));
        QElapsedTimer clock;
        clock.start();
        worker.reset();
        QVERIFY2(clock.elapsed() < 5000, qPrintable(QString::number(clock.elapsed())));
    }
};

QTEST_MAIN(WorkerTest)
#include "WorkerTest.moc"
