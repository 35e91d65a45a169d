#include "engine/EngineWorker.h"

#include <QDir>
#include <QFileInfo>
#include <list>
#include <map>
#include <random>
#include <tuple>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "engine/ModelInspector.h"
#include "engine/backend.h"
#include "engine/chat_template.h"
#include "engine/error.h"
#include "engine/generate.h"
#include "engine/model.h"
#include "engine/tokenizer.h"

struct EngineWorker::State {
    std::unique_ptr<engine::Backend> backend;
    std::unique_ptr<engine::Model> model;       // after backend: destroyed before it
    std::unique_ptr<engine::Tokenizer> tokenizer;
    ModelSummary summary;
    qint64 contextTokens = 0;
    engine::DType kvDtype = engine::DType::F32;  // the sessions' KV cache element type
    // One session (KV cache) per conversation, most recently used first; a few are kept so switching
    // chats does not re-prefill, and memory stays bounded.
    std::list<std::pair<qint64, std::unique_ptr<engine::Session>>> sessions;
    static constexpr size_t kMaxSessions = 3;

    // The backend for `device` ("auto": the GPU when the CUDA backend loads, else the CPU; "cpu"; "cuda"),
    // made once and kept. A different choice replaces it, and everything made on the old one goes first.
    // "cuda" without a usable GPU throws, saying why.
    void ensureBackend(int threads, const QString& device) {
        if (backend && madeFor == device) return;
        unload();
        backend.reset();
        backend = make(threads, device, &note);
        madeFor = device;
    }
    static std::unique_ptr<engine::Backend> make(int threads, const QString& device, QString* note) {
        engine::BackendChoice choice;
        choice.kind = engine::backend_kind_from_name(device.toStdString());
        choice.cpu_threads = threads;
        std::string why;
        auto made = engine::make_backend(choice, &why);
        *note = QString::fromStdString(why);
        return made;
    }
    QString madeFor;  // the device choice `backend` was made for
    void describeBackend(ModelSummary& s) const { describe(*backend, note, s); }
    static void describe(const engine::Backend& be, const QString& why, ModelSummary& s) {
        s.backendName = QString::fromStdString(be.name());
        s.backendNote = why;
        s.onGpu = be.device() == engine::Device::CUDA;
        if (s.onGpu) {
            const engine::DeviceMemoryInfo mem = be.memory_info();
            s.deviceFreeBytes = mem.free_bytes;
            s.deviceTotalBytes = mem.total_bytes;
        }
    }
    QString note;
    void unload() {
        sessions.clear();
        model.reset();
        tokenizer.reset();
    }
    engine::Session& sessionFor(qint64 conversationId) {
        for (auto it = sessions.begin(); it != sessions.end(); ++it) {
            if (it->first == conversationId) {
                sessions.splice(sessions.begin(), sessions, it);
                return *sessions.front().second;
            }
        }
        if (sessions.size() >= kMaxSessions) sessions.pop_back();
        sessions.emplace_front(conversationId, std::make_unique<engine::Session>(*model, contextTokens, kvDtype));
        return *sessions.front().second;
    }
};

namespace {
TelemetrySnapshot makeSnapshot(engine::Session& session, const engine::ModelConfig& cfg,
                               const std::vector<std::vector<int64_t>>& replyBase, double elapsed) {
    TelemetrySnapshot s;
    s.elapsedS = elapsed;
    const engine::KvCacheStats kv = session.kv_stats();
    s.kvTokens = kv.tokens;
    s.kvCapacity = kv.capacity_tokens;
    s.kvBytesUsed = kv.bytes_used;
    s.kvBytesPerToken = kv.bytes_per_token;
    s.mhaBytesPerToken = kv.mha_bytes_per_token;
    s.kvCacheType = kv.dtype == engine::DType::BF16 ? QStringLiteral("bf16") : QStringLiteral("fp32");
    s.kvBytesPerLayer = QVector<qint64>(kv.bytes_used_per_layer.begin(), kv.bytes_used_per_layer.end());
    const engine::ExpertLoad& load = session.expert_load();
    s.layers = int(cfg.num_hidden_layers);
    s.experts = int(cfg.n_routed_experts);
    s.moeLayer.resize(s.layers);
    for (int l = 0; l < s.layers; ++l) s.moeLayer[l] = cfg.is_moe_layer(l);
    if (s.experts > 0) {
        s.expertConversation = QVector<qint64>(qsizetype(s.layers) * s.experts, 0);
        s.expertReply = s.expertConversation;
        for (int l = 0; l < s.layers && l < int(load.cumulative.size()); ++l) {
            const auto& row = load.cumulative[l];
            for (int e = 0; e < s.experts && e < int(row.size()); ++e) {
                const qint64 base = l < int(replyBase.size()) && e < int(replyBase[l].size()) ? replyBase[l][e] : 0;
                s.expertConversation[l * s.experts + e] = row[e];
                s.expertReply[l * s.experts + e] = row[e] - base;
            }
        }
    }
    return s;
}
}  // namespace

EngineWorker::EngineWorker(QObject* parent) : QObject(parent), m_state(std::make_shared<State>()) {
    qRegisterMetaType<ModelSummary>();
    qRegisterMetaType<ReplyStats>();
    qRegisterMetaType<TelemetrySnapshot>();
    m_thread.setObjectName(QStringLiteral("latent-engine"));
    m_context = new QObject;
    m_context->moveToThread(&m_thread);
    connect(&m_thread, &QThread::finished, m_context, &QObject::deleteLater);
    m_thread.start();
    // The engine thread (and the OpenMP threads it starts, which inherit it) runs at a lower CPU
    // priority than the GUI thread, so a busy engine never delays painting or input on a small machine.
    QMetaObject::invokeMethod(m_context, [] { setpriority(PRIO_PROCESS, pid_t(syscall(SYS_gettid)), kEngineNice); },
                              Qt::QueuedConnection);
}

EngineWorker::~EngineWorker() {
    m_stop = true;
    m_cancelLoad = true;
    QMetaObject::invokeMethod(m_context, [state = m_state]() {
        state->unload();
        state->backend.reset();
        QThread::currentThread()->quit();
    }, Qt::QueuedConnection);
    m_thread.wait();
}

void EngineWorker::post(std::function<void(State&)> work) {
    QMetaObject::invokeMethod(m_context, [state = m_state, work = std::move(work)]() { work(*state); },
                              Qt::QueuedConnection);
}

void EngineWorker::inspect(const QString& path, const QString& device) {
    post([this, path, device](State& st) {
        try {
            ModelSummary s = ModelInspector::inspect(path);
            if (st.model && st.madeFor != device) {
                // A model is loaded on another device: describe the chosen one without unloading it.
                QString why;
                const auto probe = State::make(0, device, &why);
                State::describe(*probe, why, s);
            } else {
                st.ensureBackend(0, device);
                st.describeBackend(s);
            }
            emitOnOwner(&EngineWorker::inspected, s);
        } catch (const engine::Error& e) {
            emitOnOwner(&EngineWorker::inspectFailed, path, ModelInspector::plainMessage(e));
        } catch (const std::exception& e) {
            emitOnOwner(&EngineWorker::inspectFailed, path, QString::fromUtf8(e.what()));
        }
    });
}

void EngineWorker::loadModel(const QString& path, qint64 contextTokens, int threads, const QString& device,
                             const QString& kvCache) {
    m_cancelLoad = false;
    post([this, path, contextTokens, threads, device, kvCache](State& st) {
        st.unload();
        try {
            st.kvDtype = engine::kv_cache_dtype_from_name(kvCache.toStdString());
            ModelSummary summary = ModelInspector::inspect(path);
            st.ensureBackend(threads, device);
            QElapsedTimer since;
            since.start();
            emitOnOwner(&EngineWorker::loadProgress, 0.0, tr("reading tokenizer"));
            st.tokenizer = engine::Tokenizer::from_path(path.toStdString());
            st.model = engine::Model::load(path.toStdString(), *st.backend,
                [this, &since](double fraction, const std::string& stage) {
                    if (since.elapsed() >= kSignalIntervalMs) {
                        since.restart();
                        emitOnOwner(&EngineWorker::loadProgress, fraction, QString::fromStdString(stage));
                    }
                    return !m_cancelLoad.load();
                });
            if (m_cancelLoad) ENGINE_THROW(kCancelled, "loading was cancelled");
            const engine::ModelStats stats = st.model->stats();
            summary.totalParams = stats.total_params;
            summary.activeParams = stats.active_params;
            summary.weightBytes = stats.weight_bytes;
            // The stats count fp32 elements; a BF16 cache stores half (the MHA comparison likewise).
            const int64_t kvDiv = st.kvDtype == engine::DType::BF16 ? 2 : 1;
            summary.kvBytesPerToken = stats.kv_bytes_per_token / kvDiv;
            summary.mhaKvBytesPerToken = stats.mha_kv_bytes_per_token / kvDiv;
            summary.kvCacheType = kvCache;
            st.describeBackend(summary);
            const qint64 maxCtx = st.model->config().max_position_embeddings;
            st.contextTokens = maxCtx > 0 ? std::min(contextTokens, maxCtx) : contextTokens;
            summary.contextTokens = st.contextTokens;
            st.summary = summary;
            emitOnOwner(&EngineWorker::loadProgress, 1.0, tr("ready"));
            emitOnOwner(&EngineWorker::modelLoaded, summary);
        } catch (const engine::Error& e) {
            st.unload();
            if (e.kind() == engine::ErrorKind::kCancelled || m_cancelLoad) emitOnOwner(&EngineWorker::loadCancelled);
            else emitOnOwner(&EngineWorker::loadFailed, ModelInspector::plainMessage(e));
        } catch (const std::bad_alloc&) {
            st.unload();
            emitOnOwner(&EngineWorker::loadFailed, tr("Not enough memory to load this model. Close other programs or choose a smaller model."));
        } catch (const std::exception& e) {
            st.unload();
            emitOnOwner(&EngineWorker::loadFailed, QString::fromUtf8(e.what()));
        }
    });
}

void EngineWorker::unloadModel() {
    post([this](State& st) {
        st.unload();
        emitOnOwner(&EngineWorker::modelUnloaded);
    });
}

void EngineWorker::forgetConversation(qint64 conversationId) {
    post([conversationId](State& st) {
        st.sessions.remove_if([conversationId](const auto& p) { return p.first == conversationId; });
    });
}

void EngineWorker::generate(const GenerationRequest& request) {
    m_stop = false;
    post([this, request](State& st) {
        const qint64 id = request.requestId;
        if (!st.model || !st.tokenizer) {
            emitOnOwner(&EngineWorker::replyFailed, id, tr("No model is loaded. Open one in the Library tab first."));
            return;
        }
        try {
            engine::Session& session = st.sessionFor(request.conversationId);
            const nlohmann::json messages = nlohmann::json::parse(request.messagesJson.toStdString());
            const std::string prompt = engine::apply_chat_template(*st.tokenizer, messages, true);
            const std::vector<int32_t> ids = st.tokenizer->encode(prompt, false);
            emitOnOwner(&EngineWorker::promptReady, id, qint64(ids.size()), st.contextTokens);

            engine::GenerateOptions options;
            options.sampling.temperature = request.sampling.temperature;
            options.sampling.top_k = request.sampling.topK;
            options.sampling.top_p = request.sampling.topP;
            options.sampling.min_p = request.sampling.minP;
            options.sampling.repetition_penalty = request.sampling.repetitionPenalty;
            options.sampling.seed = request.sampling.seed != 0 ? request.sampling.seed : std::random_device{}();
            options.max_tokens = request.sampling.maxTokens;
            options.context_policy = engine::ContextPolicy::kStopAtLimit;

            const std::vector<std::vector<int64_t>> replyBase = session.expert_load().cumulative;
            const engine::ModelConfig& cfg = st.model->config();
            QElapsedTimer sinceSignal, sinceStart;
            sinceSignal.start();
            sinceStart.start();
            std::string pending;
            double firstTokenS = -1;     // decode starts at the first generated token
            double windowS = 0;          // decode rate over the tokens since the previous telemetry
            int64_t windowIndex = 0;
            bool prefillReported = false;
            const engine::GenerateResult result = engine::generate(session, *st.tokenizer, ids, options,
                [&](const engine::TokenEvent& ev) {
                    pending += ev.text;
                    if (firstTokenS < 0) windowS = firstTokenS = ev.elapsed_s;
                    if (sinceSignal.elapsed() >= kSignalIntervalMs) {
                        sinceSignal.restart();
                        if (!pending.empty()) emitOnOwner(&EngineWorker::replyDelta, id, QString::fromStdString(pending));
                        pending.clear();
                        TelemetrySnapshot snap = makeSnapshot(session, cfg, replyBase, sinceStart.elapsed() / 1000.0);
                        const engine::Throughput& tp = session.throughput();
                        if (!prefillReported) snap.prefillTps = tp.prefill_tps();  // once per reply
                        prefillReported = true;
                        snap.decodeTps = ev.index > windowIndex && ev.elapsed_s > windowS
                                             ? double(ev.index - windowIndex) / (ev.elapsed_s - windowS) : 0;
                        windowS = ev.elapsed_s;
                        windowIndex = ev.index;
                        snap.promptTokens = qint64(ids.size());
                        snap.generatedTokens = ev.index + 1;
                        emitOnOwner(&EngineWorker::telemetry, id, snap);
                    }
                    return !m_stop.load();
                });
            if (!pending.empty()) emitOnOwner(&EngineWorker::replyDelta, id, QString::fromStdString(pending));
            TelemetrySnapshot snap = makeSnapshot(session, cfg, replyBase, sinceStart.elapsed() / 1000.0);
            snap.prefillTps = prefillReported ? 0 : result.throughput.prefill_tps();
            snap.decodeTps = result.throughput.decode_tps();
            snap.promptTokens = qint64(ids.size());
            snap.generatedTokens = qint64(result.tokens.size());
            emitOnOwner(&EngineWorker::telemetry, id, snap);

            ReplyStats stats;
            stats.promptTokens = qint64(ids.size());
            stats.tokens = qint64(result.tokens.size());
            stats.seconds = result.throughput.prefill_seconds + result.throughput.decode_seconds;
            stats.prefillTps = result.throughput.prefill_tps();
            stats.decodeTps = result.throughput.decode_tps();
            stats.stopReason = QString::fromLatin1(engine::stop_reason_name(result.stop));
            stats.contextUsed = qint64(session.tokens().size());
            stats.contextCapacity = session.context_tokens();
            emitOnOwner(&EngineWorker::replyFinished, id, stats);
        } catch (const engine::Error& e) {
            emitOnOwner(&EngineWorker::replyFailed, id, ModelInspector::plainMessage(e));
        } catch (const std::exception& e) {
            emitOnOwner(&EngineWorker::replyFailed, id, QString::fromUtf8(e.what()));
        }
    });
}
