// StallMeter — measures how long the GUI thread's event loop goes without running a timer: a
// heartbeat QTimer fires every `intervalMs`; the worst lateness beyond the interval is the stall.
//
// Two figures. worstWallStallMs() is the raw lateness. worstStallMs() subtracts, per gap, the time the
// kernel kept the GUI thread *runnable but off the CPU* (run-queue wait from /proc/thread-self/schedstat):
// on a loaded machine (CI with other jobs, a build beside the app) that time is the scheduler's, not
// the app's. Time the thread spent running, or blocked waiting on a lock, disk or the engine, still
// counts — those are the stalls the app must not cause. Where schedstat is missing both are equal.
#pragma once

#include <QElapsedTimer>
#include <QObject>
#include <QTimer>

class StallMeter : public QObject {
    Q_OBJECT
public:
    explicit StallMeter(int intervalMs = 5, QObject* parent = nullptr);
    ~StallMeter() override;
    void start();
    void stop();
    void reset();
    double worstStallMs() const { return m_worstMs; }          // run-queue wait excluded (see above)
    double worstWallStallMs() const { return m_worstWallMs; }  // raw heartbeat lateness
    bool excludesRunQueueWait() const { return m_schedFd >= 0; }
    qint64 beats() const { return m_beats; }

private:
    void beat();
    qint64 runQueueWaitNs() const;  // cumulative; 0 when unavailable
    QTimer m_timer;
    QElapsedTimer m_clock;
    qint64 m_lastNs = 0;
    qint64 m_lastWaitNs = 0;
    double m_worstMs = 0;
    double m_worstWallMs = 0;
    qint64 m_beats = 0;
    int m_intervalMs;
    int m_schedFd = -1;  // /proc/thread-self/schedstat of the thread that called start()
};
