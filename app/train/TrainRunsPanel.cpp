#include "train/TrainRunsPanel.h"

#include <QDateTime>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>

#include "storage/Database.h"

TrainRunsPanel::TrainRunsPanel(Database* db, QWidget* parent) : QWidget(parent), m_db(db) {
    auto* layout = new QVBoxLayout(this);
    auto* title = new QLabel(tr("<b>Training runs</b>"), this);
    m_table = new QTableWidget(0, 7, this);
    m_table->setHorizontalHeaderLabels({tr("Name"), tr("Model"), tr("Status"), tr("Steps"), tr("Final loss"),
                                        tr("Started"), tr("Output")});
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->setAccessibleName(tr("Training runs"));
    m_empty = new QLabel(tr("No training runs are recorded in this database yet."), this);
    auto* refresh = new QPushButton(tr("Refresh"), this);
    refresh->setAccessibleName(tr("Refresh training runs"));
    layout->addWidget(title);
    layout->addWidget(m_empty);
    layout->addWidget(m_table, 1);
    layout->addWidget(refresh, 0, Qt::AlignLeft);
    connect(refresh, &QPushButton::clicked, this, &TrainRunsPanel::refresh);
    connect(m_db, &Database::opened, this, &TrainRunsPanel::refresh);
}

void TrainRunsPanel::refresh() {
    m_db->call(this, [](ChatStore& s) { return s.trainingRuns(); }, [this](QVector<TrainingRunRow> runs) {
        m_table->setRowCount(int(runs.size()));
        for (int r = 0; r < runs.size(); ++r) {
            const TrainingRunRow& run = runs[r];
            const QStringList cells{run.name, run.modelPath, run.status, QString::number(run.steps),
                                    run.hasFinalLoss ? QString::number(run.finalLoss, 'f', 4) : QStringLiteral("–"),
                                    QDateTime::fromMSecsSinceEpoch(run.createdAt).toString(Qt::ISODate), run.outputPath};
            for (int c = 0; c < cells.size(); ++c) m_table->setItem(r, c, new QTableWidgetItem(cells[c]));
        }
        m_empty->setVisible(runs.isEmpty());
    });
}
