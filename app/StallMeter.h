// StallMeter — measures how long the GUI thread's event loop goes without running a timer: a
// heartbeat QTimer fires every `intervalMs`; the worst lateness beyond the interval is the stall.
#pragma once

#include <QElapsedTimer>
#include <QObject>
#include <QTimer>

class StallMeter : public QObject {
    Q_OBJECT
public:
    explicit StallMeter(int intervalMs = 5, QObject* parent = nullptr);
    void start();
    void stop();
    void reset();
    double worstStallMs() const { return m_worstMs; }
    qint64 beats() const { return m_beats; }

private:
    void beat();
    QTimer m_timer;
    QElapsedTimer m_clock;
    qint64 m_lastNs = 0;
    double m_worstMs = 0;
    qint64 m_beats = 0;
    int m_intervalMs;
};
