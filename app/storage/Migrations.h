// Migrations — versioned schema scripts (resources/sql/schema_vN.sql) tracked by PRAGMA user_version.
//
// Each step runs in its own BEGIN IMMEDIATE transaction and sets user_version with it. Before
// migrating a database that already has a schema, a copy is written with VACUUM INTO next to it.
// A database whose user_version is newer than the scripts we ship is refused with a clear message.
#pragma once

#include <QString>
#include <QStringList>

class SqliteDb;

struct MigrationResult {
    int fromVersion = 0;
    int toVersion = 0;
    QString backupPath;  // empty when no backup was needed (fresh database or already current)
};

class Migrations {
public:
    // scripts[i] is the SQL that takes version i to version i+1.
    static QStringList bundledScripts();  // from the Qt resources (:/sql/schema_v1.sql ...)
    static int latestVersion(const QStringList& scripts) { return int(scripts.size()); }

    // Throws SqliteError; for a too-new database the message says what to do.
    static MigrationResult apply(SqliteDb& db, const QStringList& scripts);
};
