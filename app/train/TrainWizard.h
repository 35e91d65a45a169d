// TrainWizard — a new training run in four pages: base model (fine-tune a folder with LoRA or fully,
// or a new model from a preset with MLA/MoE/mHC switches), data (file, format, validation split, a
// preview of the first records as the model sees them, line-numbered errors), hyper-parameters
// (presets, a tooltip each), and an estimate (memory from the model's real tensors, time per epoch from
// a few measured steps). Engine work runs on worker threads (QtConcurrent); the GUI never waits.
#pragma once

#include <QFutureWatcher>
#include <QWizard>

#include "train/TrainEngineOps.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QRadioButton;
class QSpinBox;
class QTextBrowser;

class TrainWizard : public QWizard {
    Q_OBJECT
public:
    // `baseModel`: the loaded model (or the bundled default); `runsRoot`: where run folders go.
    TrainWizard(const QString& baseModel, const QString& runsRoot, QWidget* parent = nullptr);
    ~TrainWizard() override;

    void setDataFile(const QString& path);  // starts a preview
    bool previewPending() const { return m_previewRunning; }
    const DataPreview& preview() const { return m_preview; }
    QString dataError() const;              // the text shown under the preview ("" when fine)
    bool dataValid() const { return m_preview.error.isEmpty() && m_previewDone && m_previewFor == currentDataKey(); }
    void startProbe();
    bool probePending() const { return m_probeRunning; }
    const TrainEstimate& estimate() const { return m_estimate; }

    // The run the user set up (valid after accept()).
    QString runName() const;
    QString runFolder() const;
    QString baseModelPath() const;          // the model folder trained (for a preset: created on accept)
    bool fromPreset() const;
    QString modelFolderField() const;       // the fine-tune folder (a preset takes its tokenizer)
    PresetChoice presetChoice() const;
    // TrainingRunConfig JSON; for a preset the base model folder is <runFolder>/base.
    QString configJson() const;
    // Applies a TrainingRunConfig JSON's settings (e.g. resources/demo/finetune.json) to the pages;
    // relative paths are resolved against `relativeTo`.
    void applyConfig(const QString& json, const QString& relativeTo);

signals:
    void previewFinished();
    void probeFinished();

protected:
    bool validateCurrentPage() override;

private:
    QWizardPage* buildBasePage();
    QWizardPage* buildDataPage();
    QWizardPage* buildParamsPage();
    QWizardPage* buildEstimatePage();
    void applyHyperPreset(int index);
    double presetLr(int index) const;
    QString currentDataKey() const;
    void showPreview();
    void showEstimate();
    void updateBaseEnabled();

    QString m_runsRoot;
    // base
    QRadioButton* m_fineTune;
    QRadioButton* m_preset;
    QLineEdit* m_modelPath;
    QComboBox* m_method;      // LoRA / full
    QSpinBox* m_loraRank;
    QComboBox* m_presetSize;
    QCheckBox* m_mla;
    QCheckBox* m_moe;
    QComboBox* m_residual;
    // data
    QLineEdit* m_dataPath;
    QComboBox* m_format;
    QDoubleSpinBox* m_valSplit;
    QTextBrowser* m_previewView;
    QLabel* m_dataStatus;
    // params
    QLineEdit* m_name;
    QComboBox* m_hyperPreset = nullptr;
    QSpinBox* m_steps;
    QDoubleSpinBox* m_lr = nullptr;
    double m_presetLr = 0;  // the lr the last preset set (kept in step with the method until the user edits it)
    QSpinBox* m_seqLen;
    QSpinBox* m_batch;
    QSpinBox* m_warmup;
    QSpinBox* m_evalEvery;
    QSpinBox* m_ckptEvery;
    QSpinBox* m_seed;
    QComboBox* m_device = nullptr;  // cpu / cuda / auto (TrainingRunConfig::device)
    // estimate
    QLabel* m_estimateLabel;
    QPushButton* m_probeButton;

    QFutureWatcher<DataPreview> m_previewWatcher;
    QFutureWatcher<TrainEstimate> m_probeWatcher;
    DataPreview m_preview;
    QString m_previewFor;
    bool m_previewRunning = false;
    bool m_previewDone = false;
    bool m_previewAgain = false;
    TrainEstimate m_estimate;
    bool m_probeRunning = false;
};
