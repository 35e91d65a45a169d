// SqliteDb — a thin RAII wrapper over one sqlite3 connection (the C API, used directly).
//
// Why the C API and not Qt SQL (QSQLITE): we need exact control of PRAGMAs, BEGIN IMMEDIATE,
// VACUUM INTO, quick_check/integrity_check and the extended error codes that tell "not a database"
// from "busy"; the C API gives all of that without a driver layer, and the connection is used by
// exactly one thread (the Database writer thread), so Qt SQL's per-thread connection rules buy nothing.
#pragma once

#include <QString>
#include <QVariant>
#include <QVector>
#include <stdexcept>

struct sqlite3;
struct sqlite3_stmt;

class SqliteError : public std::runtime_error {
public:
    SqliteError(const QString& message, int code);
    int code() const { return m_code; }
    QString message() const { return QString::fromStdString(what()); }

private:
    int m_code;
};

class SqliteStatement {
public:
    SqliteStatement(sqlite3* db, const QString& sql);
    ~SqliteStatement();
    SqliteStatement(const SqliteStatement&) = delete;
    SqliteStatement& operator=(const SqliteStatement&) = delete;

    SqliteStatement& bind(int index, const QVariant& value);  // 1-based
    bool step();                                                // true while a row is available
    void reset();
    qint64 columnInt(int col) const;
    double columnDouble(int col) const;
    QString columnText(int col) const;
    bool columnIsNull(int col) const;

private:
    sqlite3* m_db;
    sqlite3_stmt* m_stmt = nullptr;
    QString m_sql;
};

class SqliteDb {
public:
    SqliteDb() = default;
    ~SqliteDb();
    SqliteDb(const SqliteDb&) = delete;
    SqliteDb& operator=(const SqliteDb&) = delete;

    // Opens (creating when absent) and applies the connection PRAGMAs: WAL, synchronous=NORMAL,
    // busy_timeout, foreign_keys. Throws SqliteError naming the file.
    void open(const QString& path);
    void close();
    bool isOpen() const { return m_db != nullptr; }
    const QString& path() const { return m_path; }
    sqlite3* handle() const { return m_db; }

    void exec(const QString& sql);                      // one or more statements, no results
    QString queryText(const QString& sql);              // first column of the first row ("" if none)
    qint64 queryInt(const QString& sql);
    qint64 lastInsertId() const;
    int changes() const;

    // "ok" or the first problem quick_check / integrity_check reports.
    QString quickCheck();
    QString integrityCheck();

private:
    sqlite3* m_db = nullptr;
    QString m_path;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back in the destructor unless commit() ran.
class SqliteTransaction {
public:
    explicit SqliteTransaction(SqliteDb& db);
    ~SqliteTransaction();
    void commit();

private:
    SqliteDb& m_db;
    bool m_done = false;
};
