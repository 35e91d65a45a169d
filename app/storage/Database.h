// Database — the one SQLite writer connection, on its own thread (reliability: the GUI thread never
// waits on SQL). Work is posted as closures that run in order on the database thread; results come
// back as queued calls on the caller's context object. Errors become the failed(QString) signal.
// The destructor lets every queued write finish, closes the connection, and joins the thread.
#pragma once

#include <QObject>
#include <QThread>
#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>

#include "storage/ChatStore.h"

class Database : public QObject {
    Q_OBJECT
public:
    explicit Database(QObject* parent = nullptr);
    ~Database() override;

    // Opens (with quick_check, recovery and migrations) on the database thread; emits opened/failed.
    void open(const QString& path);

    // Runs `work` on the database thread, then `done(result)` on `context`'s thread.
    template <typename Work, typename Done>
    void call(QObject* context, Work work, Done done) {
        post([this, context, work = std::move(work), done = std::move(done)](ChatStore& store) mutable {
            using R = std::invoke_result_t<Work&, ChatStore&>;
            if constexpr (std::is_void_v<R>) {
                work(store);
                QMetaObject::invokeMethod(context, [done = std::move(done)]() mutable { done(); }, Qt::QueuedConnection);
            } else {
                R result = work(store);
                QMetaObject::invokeMethod(context, [done = std::move(done), result = std::move(result)]() mutable {
                    done(std::move(result));
                }, Qt::QueuedConnection);
            }
        });
    }
    // Fire-and-forget (writes).
    void post(std::function<void(ChatStore&)> work);

    bool isOnDatabaseThread() const { return QThread::currentThread() == &m_thread; }

signals:
    void opened(const QString& notice, int fromVersion, int toVersion, int interruptedMessages);
    void failed(const QString& message);

private:
    // Signals are emitted on the thread that owns this object (queued hand-over from the DB thread).
    template <typename... Params, typename... Args>
    void emitOnOwner(void (Database::*signal)(Params...), Args&&... args) {
        QMetaObject::invokeMethod(this, [this, signal, values = std::make_tuple(std::decay_t<Args>(std::forward<Args>(args))...)] {
            std::apply([this, signal](const auto&... v) { (this->*signal)(v...); }, values);
        }, Qt::QueuedConnection);
    }
    QThread m_thread;
    QObject* m_worker = nullptr;            // lives on m_thread; owns the store
    std::shared_ptr<ChatStore> m_store;     // touched only on m_thread
};
