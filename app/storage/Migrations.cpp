#include "storage/Migrations.h"

#include <QDateTime>
#include <QFile>
#include <QFileInfo>

#include "AppResources.h"
#include "storage/SqliteDb.h"

QStringList Migrations::bundledScripts() {
    initAppResources();
    QStringList scripts;
    for (int v = 1;; ++v) {
        QFile f(QStringLiteral(":/sql/schema_v%1.sql").arg(v));
        if (!f.open(QIODevice::ReadOnly)) break;
        scripts << QString::fromUtf8(f.readAll());
    }
    return scripts;
}

MigrationResult Migrations::apply(SqliteDb& db, const QStringList& scripts) {
    MigrationResult result;
    result.fromVersion = int(db.queryInt(QStringLiteral("PRAGMA user_version")));
    result.toVersion = result.fromVersion;
    const int latest = latestVersion(scripts);
    if (result.fromVersion > latest) {
        throw SqliteError(QStringLiteral("The chat database %1 uses schema version %2, but this version of "
                                         "Latent Studio only knows versions up to %3. It was written by a "
                                         "newer Latent Studio: update the app, or start this one with "
                                         "--data-dir pointing to another folder. The file was not changed.")
                              .arg(db.path())
                              .arg(result.fromVersion)
                              .arg(latest),
                          0);
    }
    if (result.fromVersion == latest) return result;

    const bool hasTables = db.queryInt(QStringLiteral("SELECT count(*) FROM sqlite_schema")) > 0;
    if (hasTables && db.path() != QLatin1String(":memory:")) {
        result.backupPath = QStringLiteral("%1.v%2-%3.bak")
                                .arg(db.path())
                                .arg(result.fromVersion)
                                .arg(QDateTime::currentDateTimeUtc().toString(QStringLiteral("yyyyMMdd-HHmmss")));
        QFile::remove(result.backupPath);
        SqliteStatement st(db.handle(), QStringLiteral("VACUUM INTO ?1"));
        st.bind(1, result.backupPath);
        st.step();
    }
    for (int v = result.fromVersion; v < latest; ++v) {
        SqliteTransaction tx(db);
        db.exec(scripts[v]);
        db.exec(QStringLiteral("PRAGMA user_version = %1").arg(v + 1));
        tx.commit();
        result.toVersion = v + 1;
    }
    return result;
}
