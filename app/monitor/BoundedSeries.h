// BoundedSeries — an x/y series that never grows past `capacity` points: when full, the older half
// is averaged pairwise (so the whole history stays visible at lower resolution, newest points exact).
#pragma once

#include <QVector>

class BoundedSeries {
public:
    explicit BoundedSeries(int capacity = 2000);
    void add(double x, double y);
    void clear();
    int size() const { return int(m_x.size()); }
    int capacity() const { return m_capacity; }
    const QVector<double>& xs() const { return m_x; }
    const QVector<double>& ys() const { return m_y; }
    double lastX() const { return m_x.isEmpty() ? 0 : m_x.last(); }
    double maxY() const;

private:
    void decimate();
    int m_capacity;
    QVector<double> m_x, m_y;
};
