// SettingsStore — QSettings in an INI file under the data dir, with recovery: a file QSettings cannot
// read (status() != NoError) is renamed aside and settings start fresh; notice() tells the user.
#pragma once

#include <QSettings>
#include <memory>

class SettingsStore {
public:
    explicit SettingsStore(const QString& path);
    QSettings& settings() { return *m_settings; }
    const QString& notice() const { return m_notice; }

private:
    std::unique_ptr<QSettings> m_settings;
    QString m_notice;
};
