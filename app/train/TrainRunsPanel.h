// TrainRunsPanel — training runs recorded in the database, read-only (starting runs comes with the
// training app).
#pragma once

#include <QWidget>

class Database;
class QLabel;
class QTableWidget;

class TrainRunsPanel : public QWidget {
    Q_OBJECT
public:
    explicit TrainRunsPanel(Database* db, QWidget* parent = nullptr);

public slots:
    void refresh();

private:
    Database* m_db;
    QTableWidget* m_table;
    QLabel* m_empty;
};
