#include "SettingsStore.h"

#include <QDateTime>
#include <QFile>

SettingsStore::SettingsStore(const QString& path) {
    m_settings = std::make_unique<QSettings>(path, QSettings::IniFormat);
    if (m_settings->status() == QSettings::NoError) return;
    m_settings.reset();
    const QString aside = QStringLiteral("%1.damaged-%2").arg(path, QDateTime::currentDateTimeUtc().toString(QStringLiteral("yyyyMMdd-HHmmss")));
    QFile::remove(aside);
    if (!QFile::rename(path, aside)) QFile::remove(path);
    m_settings = std::make_unique<QSettings>(path, QSettings::IniFormat);
    m_notice = QStringLiteral("The settings file %1 could not be read; it was moved to %2 and default settings "
                              "are used (window layout and preferences were reset).").arg(path, aside);
}
