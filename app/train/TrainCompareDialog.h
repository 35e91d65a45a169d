// TrainCompareDialog — a trained model beside its base: one prompt, two panes, greedy replies generated
// on a worker thread (each model loaded for the comparison and released afterwards).
#pragma once

#include <QDialog>
#include <QFutureWatcher>
#include <QPair>

#include "train/TrainEngineOps.h"

class QLineEdit;
class QPushButton;
class QTextBrowser;

class TrainCompareDialog : public QDialog {
    Q_OBJECT
public:
    TrainCompareDialog(const QString& baseModel, const QString& trainedModel, QWidget* parent = nullptr);
    ~TrainCompareDialog() override;
    void ask(const QString& prompt);
    bool busy() const { return m_watcher.isRunning(); }
    QString baseReply() const;
    QString trainedReply() const;

signals:
    void answered();

private:
    QString m_base, m_trained;
    QLineEdit* m_prompt;
    QPushButton* m_send;
    QTextBrowser* m_basePane;
    QTextBrowser* m_trainedPane;
    QFutureWatcher<QPair<ReplyResult, ReplyResult>> m_watcher;
};
