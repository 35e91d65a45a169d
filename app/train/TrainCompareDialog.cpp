#include "train/TrainCompareDialog.h"

#include <QDir>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QTextBrowser>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

namespace {
QString replyHtml(const ReplyResult& r) {
    if (!r.error.isEmpty()) return QStringLiteral("<span style=\"color:#c0392b\">%1</span>").arg(r.error.toHtmlEscaped());
    return QStringLiteral("%1<br><br><small>%2 tokens in %3 s (greedy)</small>")
        .arg(r.text.toHtmlEscaped().replace(QLatin1Char('\n'), QStringLiteral("<br>")))
        .arg(r.tokens).arg(r.seconds, 0, 'f', 2);
}
}  // namespace

TrainCompareDialog::TrainCompareDialog(const QString& baseModel, const QString& trainedModel, QWidget* parent)
    : QDialog(parent), m_base(baseModel), m_trained(trainedModel) {
    setWindowTitle(tr("Compare with the base model"));
    auto* v = new QVBoxLayout(this);
    auto* row = new QHBoxLayout;
    m_prompt = new QLineEdit(this);
    m_prompt->setAccessibleName(tr("Prompt for both models"));
    m_prompt->setPlaceholderText(tr("Ask both models the same question…"));
    m_send = new QPushButton(tr("Ask both"), this);
    row->addWidget(m_prompt, 1);
    row->addWidget(m_send);
    auto* grid = new QGridLayout;
    m_basePane = new QTextBrowser(this);
    m_trainedPane = new QTextBrowser(this);
    m_basePane->setAccessibleName(tr("Base model reply"));
    m_trainedPane->setAccessibleName(tr("Trained model reply"));
    grid->addWidget(new QLabel(tr("<b>Base</b> · %1").arg(QDir(baseModel).dirName().toHtmlEscaped()), this), 0, 0);
    grid->addWidget(new QLabel(tr("<b>Trained</b> · %1").arg(QDir::cleanPath(trainedModel).toHtmlEscaped()), this), 0, 1);
    grid->addWidget(m_basePane, 1, 0);
    grid->addWidget(m_trainedPane, 1, 1);
    v->addLayout(row);
    v->addLayout(grid, 1);
    connect(m_send, &QPushButton::clicked, this, [this] { ask(m_prompt->text()); });
    connect(m_prompt, &QLineEdit::returnPressed, this, [this] { ask(m_prompt->text()); });
    connect(&m_watcher, &QFutureWatcher<QPair<ReplyResult, ReplyResult>>::finished, this, [this] {
        const auto r = m_watcher.result();
        m_basePane->setHtml(replyHtml(r.first));
        m_trainedPane->setHtml(replyHtml(r.second));
        m_send->setEnabled(true);
        emit answered();
    });
    resize(900, 500);
}

TrainCompareDialog::~TrainCompareDialog() { m_watcher.waitForFinished(); }

void TrainCompareDialog::ask(const QString& prompt) {
    if (prompt.trimmed().isEmpty() || m_watcher.isRunning()) return;
    m_prompt->setText(prompt);
    m_send->setEnabled(false);
    m_basePane->setPlainText(tr("Generating…"));
    m_trainedPane->setPlainText(tr("Generating…"));
    const QString base = m_base, trained = m_trained;
    m_watcher.setFuture(QtConcurrent::run([base, trained, prompt] {
        return qMakePair(generateReply(base, prompt, 64, 0), generateReply(trained, prompt, 64, 0));
    }));
}

QString TrainCompareDialog::baseReply() const { return m_basePane->toPlainText(); }
QString TrainCompareDialog::trainedReply() const { return m_trainedPane->toPlainText(); }
