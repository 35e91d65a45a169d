// SamplingDialog — a conversation's system prompt and sampling settings.
#pragma once

#include <QDialog>

#include "engine/EngineTypes.h"

class QDoubleSpinBox;
class QPlainTextEdit;
class QSpinBox;
class QLineEdit;

class SamplingDialog : public QDialog {
    Q_OBJECT
public:
    SamplingDialog(const QString& systemPrompt, const SamplingSettings& s, QWidget* parent = nullptr);
    QString systemPrompt() const;
    SamplingSettings settings() const;

private:
    QPlainTextEdit* m_system;
    QDoubleSpinBox* m_temperature;
    QSpinBox* m_topK;
    QDoubleSpinBox* m_topP;
    QDoubleSpinBox* m_minP;
    QDoubleSpinBox* m_repetition;
    QSpinBox* m_maxTokens;
    QLineEdit* m_seed;
};
