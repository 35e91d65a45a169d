// ChartBase — a titled QCustomPlot with "Save PNG…", redrawn by a ≤30 fps timer only when new data
// arrived (markDirty), using rpQueuedReplot so bursts of updates cost one repaint.
#pragma once

#include <QWidget>

class QCustomPlot;
class QLabel;
class QTimer;

class ChartBase : public QWidget {
    Q_OBJECT
public:
    explicit ChartBase(const QString& title, QWidget* parent = nullptr);
    QCustomPlot* plot() const { return m_plot; }
    bool savePng(const QString& path, int width = 0, int height = 0);
    int replotCount() const { return m_replots; }
    static constexpr int kFrameIntervalMs = 34;  // ≤ 30 fps

public slots:
    void promptSavePng();

protected:
    void markDirty() { m_dirty = true; }
    void setCaption(const QString& text);
    void applyPalette();  // light/dark from the system palette
    virtual void refresh() {}  // copy series into the plot; called just before a replot
    void changeEvent(QEvent* event) override;

private:
    void onFrame();
    QCustomPlot* m_plot;
    QLabel* m_caption;
    QTimer* m_timer;
    bool m_dirty = false;
    int m_replots = 0;
};
