#include "monitor/BoundedSeries.h"

#include <algorithm>

BoundedSeries::BoundedSeries(int capacity) : m_capacity(std::max(8, capacity)) {
    m_x.reserve(m_capacity);
    m_y.reserve(m_capacity);
}

void BoundedSeries::add(double x, double y) {
    if (m_x.size() >= m_capacity) decimate();
    m_x.append(x);
    m_y.append(y);
}

void BoundedSeries::clear() {
    m_x.clear();
    m_y.clear();
}

double BoundedSeries::maxY() const { return m_y.isEmpty() ? 0 : *std::max_element(m_y.begin(), m_y.end()); }

void BoundedSeries::decimate() {
    // Older half: pairs -> one point at their mean; the first point is kept exactly (start of history).
    const int half = int(m_x.size()) / 2;
    QVector<double> x, y;
    x.reserve(m_capacity);
    y.reserve(m_capacity);
    x.append(m_x[0]);
    y.append(m_y[0]);
    for (int i = 1; i + 1 < half; i += 2) {
        x.append((m_x[i] + m_x[i + 1]) / 2);
        y.append((m_y[i] + m_y[i + 1]) / 2);
    }
    for (int i = (half % 2 == 0 ? half - 1 : half); i < m_x.size(); ++i) {
        x.append(m_x[i]);
        y.append(m_y[i]);
    }
    m_x = std::move(x);
    m_y = std::move(y);
}
