// ProcessStats — process RSS (/proc/self/statm) and free memory (/proc/meminfo MemAvailable).
// procfs reads are served from kernel memory, never from disk, so they are safe on the GUI thread.
#pragma once

#include <QtGlobal>

namespace ProcessStats {
qint64 residentBytes();         // 0 when unavailable
qint64 availableMemoryBytes();  // MemAvailable; 0 when unavailable
qint64 totalMemoryBytes();      // MemTotal
// Parses a /proc/meminfo text for "<key>:  <n> kB" (exposed for tests).
qint64 meminfoField(const QByteArray& meminfo, const char* key);
}  // namespace ProcessStats
