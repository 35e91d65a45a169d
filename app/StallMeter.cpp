#include "StallMeter.h"

#include <algorithm>

StallMeter::StallMeter(int intervalMs, QObject* parent) : QObject(parent), m_intervalMs(intervalMs) {
    m_timer.setTimerType(Qt::PreciseTimer);
    m_timer.setInterval(intervalMs);
    connect(&m_timer, &QTimer::timeout, this, &StallMeter::beat);
}

void StallMeter::start() {
    reset();
    m_timer.start();
}

void StallMeter::stop() { m_timer.stop(); }

void StallMeter::reset() {
    m_clock.start();
    m_lastNs = 0;
    m_worstMs = 0;
    m_beats = 0;
}

void StallMeter::beat() {
    const qint64 now = m_clock.nsecsElapsed();
    const double gapMs = double(now - m_lastNs) / 1e6;
    m_lastNs = now;
    ++m_beats;
    m_worstMs = std::max(m_worstMs, gapMs - m_intervalMs);
}
