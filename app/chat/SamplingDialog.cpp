#include "chat/SamplingDialog.h"

#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QSpinBox>

SamplingDialog::SamplingDialog(const QString& systemPrompt, const SamplingSettings& s, QWidget* parent) : QDialog(parent) {
    setWindowTitle(tr("Conversation settings"));
    auto* form = new QFormLayout(this);
    m_system = new QPlainTextEdit(systemPrompt, this);
    m_system->setPlaceholderText(tr("e.g. You are a concise assistant."));
    m_system->setAccessibleName(tr("System prompt"));
    form->addRow(tr("System prompt:"), m_system);
    auto dbl = [this](double lo, double hi, double step, double v, const QString& name) {
        auto* b = new QDoubleSpinBox(this);
        b->setRange(lo, hi);
        b->setSingleStep(step);
        b->setDecimals(2);
        b->setValue(v);
        b->setAccessibleName(name);
        return b;
    };
    m_temperature = dbl(0, 2, 0.05, s.temperature, tr("Temperature"));
    m_topP = dbl(0.01, 1, 0.01, s.topP, tr("Top p"));
    m_minP = dbl(0, 1, 0.01, s.minP, tr("Min p"));
    m_repetition = dbl(0.5, 2, 0.05, s.repetitionPenalty, tr("Repetition penalty"));
    m_topK = new QSpinBox(this);
    m_topK->setRange(0, 1000);
    m_topK->setValue(s.topK);
    m_topK->setAccessibleName(tr("Top k"));
    m_maxTokens = new QSpinBox(this);
    m_maxTokens->setRange(1, 1 << 20);
    m_maxTokens->setValue(s.maxTokens);
    m_maxTokens->setAccessibleName(tr("Maximum reply tokens"));
    m_seed = new QLineEdit(s.seed ? QString::number(s.seed) : QString(), this);
    m_seed->setPlaceholderText(tr("random"));
    m_seed->setAccessibleName(tr("Seed"));
    form->addRow(tr("Temperature (0 = greedy):"), m_temperature);
    form->addRow(tr("Top k (0 = off):"), m_topK);
    form->addRow(tr("Top p (1 = off):"), m_topP);
    form->addRow(tr("Min p (0 = off):"), m_minP);
    form->addRow(tr("Repetition penalty (1 = off):"), m_repetition);
    form->addRow(tr("Max reply tokens:"), m_maxTokens);
    form->addRow(tr("Seed:"), m_seed);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    form->addRow(buttons);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
}

QString SamplingDialog::systemPrompt() const { return m_system->toPlainText(); }

SamplingSettings SamplingDialog::settings() const {
    SamplingSettings s;
    s.temperature = m_temperature->value();
    s.topK = m_topK->value();
    s.topP = m_topP->value();
    s.minP = m_minP->value();
    s.repetitionPenalty = m_repetition->value();
    s.maxTokens = m_maxTokens->value();
    s.seed = m_seed->text().trimmed().toULongLong();
    return s;
}
