// EngineWorker — the engine on its own QThread (GPT4All's ChatLLM pattern).
//
// Everything engine-side (backend, model, tokenizer, one Session per conversation) is created, used
// and destroyed only on the worker thread. The GUI calls the public methods, which queue a closure to
// that thread and return at once; results come back as signals (queued to GUI receivers). Token and
// telemetry callbacks are coalesced to at most one signal per 50 ms. stop()/cancelLoad() only set a
// std::atomic<bool> that the engine callbacks check between steps. The destructor stops generation,
// cancels loading, frees the engine objects on their thread, quits the thread and waits for it.
#pragma once

#include <QElapsedTimer>
#include <QObject>
#include <QThread>
#include <atomic>
#include <memory>
#include <tuple>

#include "engine/EngineTypes.h"
#include "monitor/TelemetrySnapshot.h"

class EngineWorker : public QObject {
    Q_OBJECT
public:
    static constexpr int kSignalIntervalMs = 50;
    static constexpr int kEngineNice = 5;  // engine threads' nice value (GUI stays at 0)

    explicit EngineWorker(QObject* parent = nullptr);
    ~EngineWorker() override;

    // device: where the model runs, "auto" (the GPU when the CUDA backend loads, else the CPU), "cpu" or
    // "cuda". inspect() describes that backend in the summary (name, GPU memory) for the memory plan.
    void inspect(const QString& path, const QString& device = QStringLiteral("auto"));
    // kvCache: the sessions' KV cache element type, "f32" or "bf16" (engine::Model::new_cache).
    void loadModel(const QString& path, qint64 contextTokens, int threads = 0,
                   const QString& device = QStringLiteral("auto"), const QString& kvCache = QStringLiteral("f32"));
    void cancelLoad() { m_cancelLoad = true; }
    void unloadModel();
    void generate(const GenerationRequest& request);
    void stop() { m_stop = true; }
    void forgetConversation(qint64 conversationId);  // drops its session (KV cache)

    bool isWorkerThread() const { return QThread::currentThread() == &m_thread; }
    QThread* thread_() { return &m_thread; }

signals:
    void inspected(const ModelSummary& summary);
    void inspectFailed(const QString& path, const QString& message);
    void loadProgress(double fraction, const QString& stage);
    void modelLoaded(const ModelSummary& summary);
    void loadFailed(const QString& message);
    void loadCancelled();
    void modelUnloaded();
    void promptReady(qint64 requestId, qint64 promptTokens, qint64 contextCapacity);
    void replyDelta(qint64 requestId, const QString& text);  // new text since the previous delta
    void telemetry(qint64 requestId, const TelemetrySnapshot& snapshot);
    void replyFinished(qint64 requestId, const ReplyStats& stats);
    void replyFailed(qint64 requestId, const QString& message);

private:
    // Signals are emitted on the thread that owns this object (the GUI): results are computed on the
    // engine thread and handed over by a queued call, so receivers and QSignalSpy never race.
    template <typename... Params, typename... Args>
    void emitOnOwner(void (EngineWorker::*signal)(Params...), Args&&... args) {
        QMetaObject::invokeMethod(this, [this, signal, values = std::make_tuple(std::decay_t<Args>(std::forward<Args>(args))...)] {
            std::apply([this, signal](const auto&... v) { (this->*signal)(v...); }, values);
        }, Qt::QueuedConnection);
    }
    struct State;  // engine objects; touched only on m_thread
    void post(std::function<void(State&)> work);

    QThread m_thread;
    QObject* m_context = nullptr;  // lives on m_thread
    std::shared_ptr<State> m_state;
    std::atomic<bool> m_stop{false};
    std::atomic<bool> m_cancelLoad{false};
};
