#include "storage/Database.h"

#include <exception>
#include <tuple>

Database::Database(QObject* parent) : QObject(parent), m_store(std::make_shared<ChatStore>()) {
    m_thread.setObjectName(QStringLiteral("latent-db"));
    m_worker = new QObject;
    m_worker->moveToThread(&m_thread);
    connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    m_thread.start();
}

Database::~Database() {
    // Queued closures run in order: this one runs after every write already posted.
    QMetaObject::invokeMethod(m_worker, [store = m_store]() {
        store->db().close();
        QThread::currentThread()->quit();
    }, Qt::QueuedConnection);
    m_thread.wait();
}

void Database::post(std::function<void(ChatStore&)> work) {
    QMetaObject::invokeMethod(m_worker, [this, store = m_store, work = std::move(work)]() {
        if (!store->db().isOpen()) {
            emitOnOwner(&Database::failed, tr("The chat database is not open, so this change was not saved."));
            return;
        }
        try {
            work(*store);
        } catch (const std::exception& e) {
            emitOnOwner(&Database::failed, QString::fromUtf8(e.what()));
        }
    }, Qt::QueuedConnection);
}

void Database::open(const QString& path) {
    QMetaObject::invokeMethod(m_worker, [this, store = m_store, path]() {
        try {
            const StoreStartup s = store->open(path);
            emitOnOwner(&Database::opened, s.notice, s.migration.fromVersion, s.migration.toVersion, s.interruptedMessages);
        } catch (const std::exception& e) {
            store->db().close();
            emitOnOwner(&Database::failed, QString::fromUtf8(e.what()));
        }
    }, Qt::QueuedConnection);
}
