#include "AppResources.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QStandardPaths>
#include <QStringList>
#include <QtGlobal>

static void initAppQrc() { Q_INIT_RESOURCE(app); }

void initAppResources() {
    static const bool done = (initAppQrc(), true);
    (void)done;
}

QString bundledDefaultModelDir() {
    const QString relative = QStringLiteral("latent-studio/models/default");
    QStringList candidates;
    const QString fromEnv = qEnvironmentVariable("LATENT_DEFAULT_MODEL");
    if (!fromEnv.isEmpty()) candidates << fromEnv;
    const QDir exeDir(QCoreApplication::applicationDirPath());
    candidates << exeDir.filePath(QStringLiteral("../share/") + relative)
               << exeDir.filePath(QStringLiteral("../../resources/models/default"));
    const QString xdg = QStandardPaths::locate(QStandardPaths::GenericDataLocation, relative, QStandardPaths::LocateDirectory);
    if (!xdg.isEmpty()) candidates << xdg;
    for (const QString& dir : candidates) {
        if (QFileInfo::exists(QDir(dir).filePath(QStringLiteral("config.json")))) return QDir::cleanPath(QDir(dir).absolutePath());
    }
    return {};
}
