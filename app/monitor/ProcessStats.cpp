#include "monitor/ProcessStats.h"

#include <QByteArray>
#include <QFile>
#include <QList>
#include <unistd.h>

namespace ProcessStats {

static QByteArray readProc(const char* path) {
    QFile f(QString::fromLatin1(path));
    if (!f.open(QIODevice::ReadOnly)) return {};
    return f.readAll();  // procfs files report size 0; readAll reads until EOF
}

qint64 residentBytes() {
    const QList<QByteArray> fields = readProc("/proc/self/statm").split(' ');
    if (fields.size() < 2) return 0;
    return fields[1].toLongLong() * qint64(sysconf(_SC_PAGESIZE));
}

qint64 meminfoField(const QByteArray& meminfo, const char* key) {
    const QByteArray needle = QByteArray(key) + ':';
    for (const QByteArray& line : meminfo.split('\n')) {
        if (!line.startsWith(needle)) continue;
        const QList<QByteArray> parts = line.mid(needle.size()).simplified().split(' ');
        if (parts.isEmpty()) return 0;
        qint64 value = parts[0].toLongLong();
        if (parts.size() > 1 && parts[1] == "kB") value *= 1024;
        return value;
    }
    return 0;
}

qint64 availableMemoryBytes() { return meminfoField(readProc("/proc/meminfo"), "MemAvailable"); }
qint64 totalMemoryBytes() { return meminfoField(readProc("/proc/meminfo"), "MemTotal"); }

}  // namespace ProcessStats
