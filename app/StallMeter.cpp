#include "StallMeter.h"

#include <algorithm>
#include <cstdlib>

#include <fcntl.h>
#include <unistd.h>

StallMeter::StallMeter(int intervalMs, QObject* parent) : QObject(parent), m_intervalMs(intervalMs) {
    m_timer.setTimerType(Qt::PreciseTimer);
    m_timer.setInterval(intervalMs);
    connect(&m_timer, &QTimer::timeout, this, &StallMeter::beat);
}

StallMeter::~StallMeter() {
    if (m_schedFd >= 0) ::close(m_schedFd);
}

void StallMeter::start() {
    // The timer fires on the thread that owns this object: open that thread's schedstat.
    if (m_schedFd < 0) m_schedFd = ::open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    reset();
    m_timer.start();
}

void StallMeter::stop() { m_timer.stop(); }

void StallMeter::reset() {
    m_clock.start();
    m_lastNs = 0;
    m_lastWaitNs = runQueueWaitNs();
    m_worstMs = 0;
    m_worstWallMs = 0;
    m_beats = 0;
}

// schedstat: "<ns on cpu> <ns waiting on a run queue> <timeslices>".
qint64 StallMeter::runQueueWaitNs() const {
    if (m_schedFd < 0) return 0;
    char buf[96];
    const ssize_t n = ::pread(m_schedFd, buf, sizeof buf - 1, 0);
    if (n <= 0) return 0;
    buf[n] = '\0';
    char* end = nullptr;
    std::strtoll(buf, &end, 10);
    return end ? std::strtoll(end, nullptr, 10) : 0;
}

void StallMeter::beat() {
    const qint64 now = m_clock.nsecsElapsed();
    const qint64 wait = runQueueWaitNs();
    const double gapMs = double(now - m_lastNs) / 1e6;
    const double waitMs = double(std::max<qint64>(0, wait - m_lastWaitNs)) / 1e6;
    m_lastNs = now;
    m_lastWaitNs = wait;
    ++m_beats;
    m_worstWallMs = std::max(m_worstWallMs, gapMs - m_intervalMs);
    m_worstMs = std::max(m_worstMs, gapMs - waitMs - m_intervalMs);
}
