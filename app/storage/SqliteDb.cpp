#include "storage/SqliteDb.h"

#include <sqlite3.h>

namespace {
constexpr int kBusyTimeoutMs = 5000;

QString describe(sqlite3* db, int rc, const QString& what) {
    const char* msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return QStringLiteral("%1: %2 (SQLite code %3)").arg(what, QString::fromUtf8(msg)).arg(rc);
}
}  // namespace

SqliteError::SqliteError(const QString& message, int code)
    : std::runtime_error(message.toStdString()), m_code(code) {}

SqliteStatement::SqliteStatement(sqlite3* db, const QString& sql) : m_db(db), m_sql(sql) {
    const QByteArray utf8 = sql.toUtf8();
    const int rc = sqlite3_prepare_v2(db, utf8.constData(), int(utf8.size()), &m_stmt, nullptr);
    if (rc != SQLITE_OK) throw SqliteError(describe(db, rc, QStringLiteral("preparing \"%1\"").arg(sql)), rc);
}

SqliteStatement::~SqliteStatement() { sqlite3_finalize(m_stmt); }

SqliteStatement& SqliteStatement::bind(int index, const QVariant& value) {
    int rc = SQLITE_OK;
    if (!value.isValid() || value.isNull()) {
        rc = sqlite3_bind_null(m_stmt, index);
    } else if (value.typeId() == QMetaType::Double || value.typeId() == QMetaType::Float) {
        rc = sqlite3_bind_double(m_stmt, index, value.toDouble());
    } else if (value.typeId() == QMetaType::Int || value.typeId() == QMetaType::LongLong ||
               value.typeId() == QMetaType::UInt || value.typeId() == QMetaType::ULongLong ||
               value.typeId() == QMetaType::Bool) {
        rc = sqlite3_bind_int64(m_stmt, index, value.toLongLong());
    } else {
        const QByteArray utf8 = value.toString().toUtf8();
        rc = sqlite3_bind_text(m_stmt, index, utf8.constData(), int(utf8.size()), SQLITE_TRANSIENT);
    }
    if (rc != SQLITE_OK) throw SqliteError(describe(m_db, rc, QStringLiteral("binding parameter %1").arg(index)), rc);
    return *this;
}

bool SqliteStatement::step() {
    const int rc = sqlite3_step(m_stmt);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw SqliteError(describe(m_db, rc, QStringLiteral("running \"%1\"").arg(m_sql.left(80))), rc);
}

void SqliteStatement::reset() {
    sqlite3_reset(m_stmt);
    sqlite3_clear_bindings(m_stmt);
}

qint64 SqliteStatement::columnInt(int col) const { return sqlite3_column_int64(m_stmt, col); }
double SqliteStatement::columnDouble(int col) const { return sqlite3_column_double(m_stmt, col); }
bool SqliteStatement::columnIsNull(int col) const { return sqlite3_column_type(m_stmt, col) == SQLITE_NULL; }
QString SqliteStatement::columnText(int col) const {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(m_stmt, col));
    return text ? QString::fromUtf8(text, sqlite3_column_bytes(m_stmt, col)) : QString();
}

SqliteDb::~SqliteDb() { close(); }

void SqliteDb::open(const QString& path) {
    close();
    const QByteArray utf8 = path.toUtf8();
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(utf8.constData(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    if (rc != SQLITE_OK) {
        const QString msg = describe(db, rc, QStringLiteral("opening database %1").arg(path));
        sqlite3_close(db);
        throw SqliteError(msg, rc);
    }
    m_db = db;
    m_path = path;
    sqlite3_extended_result_codes(m_db, 1);
    sqlite3_busy_timeout(m_db, kBusyTimeoutMs);
    try {
        // journal_mode returns a row; "wal" unless the file is unreadable (then this throws NOTADB).
        queryText(QStringLiteral("PRAGMA journal_mode=WAL"));
        exec(QStringLiteral("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"));
    } catch (...) {
        close();
        throw;
    }
}

void SqliteDb::close() {
    if (m_db) sqlite3_close_v2(m_db);
    m_db = nullptr;
}

void SqliteDb::exec(const QString& sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(m_db, sql.toUtf8().constData(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        const QString msg = QStringLiteral("%1: %2 (SQLite code %3)")
                                .arg(sql.left(80), QString::fromUtf8(err ? err : sqlite3_errstr(rc)))
                                .arg(rc);
        sqlite3_free(err);
        throw SqliteError(msg, rc);
    }
}

QString SqliteDb::queryText(const QString& sql) {
    SqliteStatement st(m_db, sql);
    return st.step() ? st.columnText(0) : QString();
}

qint64 SqliteDb::queryInt(const QString& sql) {
    SqliteStatement st(m_db, sql);
    return st.step() ? st.columnInt(0) : 0;
}

qint64 SqliteDb::lastInsertId() const { return sqlite3_last_insert_rowid(m_db); }
int SqliteDb::changes() const { return sqlite3_changes(m_db); }

static QString checkRows(SqliteDb& db, const QString& pragma) {
    SqliteStatement st(db.handle(), pragma);
    QStringList problems;
    while (st.step()) {
        const QString row = st.columnText(0);
        if (row != QLatin1String("ok")) problems << row;
    }
    return problems.isEmpty() ? QStringLiteral("ok") : problems.join(QLatin1Char('\n'));
}

QString SqliteDb::quickCheck() { return checkRows(*this, QStringLiteral("PRAGMA quick_check")); }
QString SqliteDb::integrityCheck() { return checkRows(*this, QStringLiteral("PRAGMA integrity_check")); }

SqliteTransaction::SqliteTransaction(SqliteDb& db) : m_db(db) { m_db.exec(QStringLiteral("BEGIN IMMEDIATE")); }

SqliteTransaction::~SqliteTransaction() {
    if (!m_done) {
        try {
            m_db.exec(QStringLiteral("ROLLBACK"));
        } catch (...) {
            // the transaction is already gone (e.g. the statement that failed ended it)
        }
    }
}

void SqliteTransaction::commit() {
    m_db.exec(QStringLiteral("COMMIT"));
    m_done = true;
}
