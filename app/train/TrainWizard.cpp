#include "train/TrainWizard.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDateTime>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QRadioButton>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QTextBrowser>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include "train/TrainScalarCharts.h"
#include "train/TrainTypes.h"

namespace {

QString mib(double bytes) { return QStringLiteral("%1 MiB").arg(bytes / (1024.0 * 1024.0), 0, 'f', 1); }

QWidget* browseRow(QLineEdit* edit, QPushButton* button) {
    auto* w = new QWidget;
    auto* h = new QHBoxLayout(w);
    h->setContentsMargins(0, 0, 0, 0);
    h->addWidget(edit, 1);
    h->addWidget(button);
    return w;
}

}  // namespace

TrainWizard::TrainWizard(const QString& baseModel, const QString& runsRoot, QWidget* parent)
    : QWizard(parent), m_runsRoot(runsRoot) {
    setWindowTitle(tr("New training run"));
    setWizardStyle(QWizard::ClassicStyle);
    setOption(QWizard::NoBackButtonOnStartPage);
    setButtonText(QWizard::FinishButton, tr("Start training"));
    addPage(buildBasePage());
    addPage(buildDataPage());
    addPage(buildParamsPage());
    addPage(buildEstimatePage());
    m_modelPath->setText(baseModel.isEmpty() ? TrainResources::defaultModel() : baseModel);
    applyHyperPreset(0);
    // "Fine-tune the default model on the demo set": the demo's recommended settings when present.
    const QString demoConfig = TrainResources::demoFinetuneConfig();
    if (!demoConfig.isEmpty()) {
        QFile f(demoConfig);
        if (f.open(QIODevice::ReadOnly)) applyConfig(QString::fromUtf8(f.readAll()), QFileInfo(demoConfig).absolutePath());
        m_modelPath->setText(baseModel.isEmpty() ? m_modelPath->text() : baseModel);
    }
    if (m_dataPath->text().isEmpty()) m_dataPath->setText(TrainResources::demoTrainData());
    connect(&m_previewWatcher, &QFutureWatcher<DataPreview>::finished, this, [this] {
        m_preview = m_previewWatcher.result();
        m_previewRunning = false;
        m_previewDone = true;
        if (m_previewAgain) {
            m_previewAgain = false;
            setDataFile(m_dataPath->text());
            return;
        }
        showPreview();
        emit previewFinished();
    });
    connect(&m_probeWatcher, &QFutureWatcher<TrainEstimate>::finished, this, [this] {
        m_estimate = m_probeWatcher.result();
        m_probeRunning = false;
        m_probeButton->setEnabled(true);
        showEstimate();
        emit probeFinished();
    });
    connect(this, &QWizard::currentIdChanged, this, [this](int id) {
        if (id == 1 && !m_previewRunning && !dataValid() && !m_dataPath->text().isEmpty()) setDataFile(m_dataPath->text());
    });
    resize(820, 640);
}

TrainWizard::~TrainWizard() {
    m_previewWatcher.waitForFinished();
    m_probeWatcher.waitForFinished();
}

QWizardPage* TrainWizard::buildBasePage() {
    auto* page = new QWizardPage(this);
    page->setTitle(tr("1 · Base model"));
    page->setSubTitle(tr("Fine-tune an existing model, or train a new small model from a preset."));
    auto* v = new QVBoxLayout(page);
    m_fineTune = new QRadioButton(tr("Fine-tune a model folder"), page);
    m_fineTune->setChecked(true);
    m_modelPath = new QLineEdit(page);
    m_modelPath->setObjectName(QStringLiteral("modelPath"));
    m_modelPath->setAccessibleName(tr("Base model folder"));
    m_modelPath->setToolTip(tr("A model folder with config.json, model.safetensors and tokenizer.json (the loaded model by default)"));
    auto* browse = new QPushButton(tr("Browse…"), page);
    connect(browse, &QPushButton::clicked, this, [this] {
        const QString d = QFileDialog::getExistingDirectory(this, tr("Base model folder"), m_modelPath->text());
        if (!d.isEmpty()) m_modelPath->setText(d);
    });
    m_method = new QComboBox(page);
    m_method->setObjectName(QStringLiteral("method"));
    m_method->addItem(tr("LoRA adapters (small memory, merged at the end)"), QStringLiteral("lora"));
    m_method->addItem(tr("Full fine-tune (every weight)"), QStringLiteral("full"));
    m_method->setToolTip(tr("LoRA trains small low-rank adapters on the frozen base: gradients and optimizer state only for the "
                            "adapters. Full fine-tuning needs about 4× the fp32 weights in memory."));
    m_loraRank = new QSpinBox(page);
    m_loraRank->setObjectName(QStringLiteral("loraRank"));
    m_loraRank->setRange(1, 256);
    m_loraRank->setValue(8);
    m_loraRank->setToolTip(tr("LoRA rank r: adapter size per targeted projection (higher = more capacity, more memory)"));
    auto* ftForm = new QFormLayout;
    ftForm->addRow(tr("Model folder"), browseRow(m_modelPath, browse));
    ftForm->addRow(tr("Method"), m_method);
    ftForm->addRow(tr("LoRA rank"), m_loraRank);

    m_preset = new QRadioButton(tr("New model from a preset (trained from scratch; uses the base folder's tokenizer)"), page);
    m_presetSize = new QComboBox(page);
    m_presetSize->addItem(tr("tiny (~5M parameters)"), QStringLiteral("tiny"));
    m_presetSize->addItem(tr("small (~26M)"), QStringLiteral("small"));
    m_presetSize->addItem(tr("base (~120M)"), QStringLiteral("base"));
    m_presetSize->setToolTip(tr("Model size preset (same presets as `latent new`)"));
    m_mla = new QCheckBox(tr("MLA attention (multi-head latent attention; off = plain MHA)"), page);
    m_mla->setChecked(true);
    m_mla->setToolTip(tr("MLA caches one small latent per token instead of full keys and values"));
    m_moe = new QCheckBox(tr("MoE feed-forward (8 routed experts, top-2, 1 shared)"), page);
    m_moe->setToolTip(tr("DeepSeekMoE: more parameters, the same compute per token"));
    m_residual = new QComboBox(page);
    m_residual->addItem(tr("mHC (manifold-constrained hyper-connections, 4 streams)"), QStringLiteral("mhc"));
    m_residual->addItem(tr("HC (unconstrained hyper-connections)"), QStringLiteral("hc"));
    m_residual->addItem(tr("plain residual"), QStringLiteral("residual"));
    m_residual->setToolTip(tr("How layers are connected; mHC keeps the composite gain over depth near 1"));
    auto* psForm = new QFormLayout;
    psForm->addRow(tr("Size"), m_presetSize);
    psForm->addRow(QString(), m_mla);
    psForm->addRow(QString(), m_moe);
    psForm->addRow(tr("Residual"), m_residual);
    v->addWidget(m_fineTune);
    v->addLayout(ftForm);
    v->addSpacing(12);
    v->addWidget(m_preset);
    v->addLayout(psForm);
    v->addStretch(1);
    connect(m_fineTune, &QRadioButton::toggled, this, &TrainWizard::updateBaseEnabled);
    connect(m_method, &QComboBox::currentIndexChanged, this, &TrainWizard::updateBaseEnabled);
    updateBaseEnabled();
    return page;
}

void TrainWizard::updateBaseEnabled() {
    const bool ft = m_fineTune->isChecked();
    m_method->setEnabled(ft);
    m_loraRank->setEnabled(ft && m_method->currentData().toString() == QLatin1String("lora"));
    m_presetSize->setEnabled(!ft);
    m_mla->setEnabled(!ft);
    m_moe->setEnabled(!ft);
    m_residual->setEnabled(!ft);
    // A preset's lr depends on the method; follow a method change unless the user typed their own lr.
    if (m_lr && m_hyperPreset && m_lr->value() == m_presetLr) {
        m_presetLr = presetLr(m_hyperPreset->currentIndex());
        m_lr->setValue(m_presetLr);
    }
}

QWizardPage* TrainWizard::buildDataPage() {
    auto* page = new QWizardPage(this);
    page->setTitle(tr("2 · Data"));
    page->setSubTitle(tr("JSONL chat ({\"messages\": [...]}), alpaca JSONL, CSV (prompt,response) or plain text. "
                         "Green text is what the model learns to produce; grey is context only."));
    auto* v = new QVBoxLayout(page);
    m_dataPath = new QLineEdit(page);
    m_dataPath->setObjectName(QStringLiteral("dataPath"));
    m_dataPath->setAccessibleName(tr("Data file"));
    auto* browse = new QPushButton(tr("Browse…"), page);
    connect(browse, &QPushButton::clicked, this, [this] {
        const QString f = QFileDialog::getOpenFileName(this, tr("Training data"), QFileInfo(m_dataPath->text()).absolutePath(),
                                                       tr("Training data (*.jsonl *.json *.csv *.txt *.md);;All files (*)"));
        if (!f.isEmpty()) setDataFile(f);
    });
    m_format = new QComboBox(page);
    for (const char* f : {"auto", "chat", "alpaca", "csv", "text"}) m_format->addItem(QLatin1String(f), QLatin1String(f));
    m_format->setToolTip(tr("auto: chosen from the extension and the first record"));
    m_valSplit = new QDoubleSpinBox(page);
    m_valSplit->setObjectName(QStringLiteral("validationSplit"));
    m_valSplit->setRange(0.0, 0.5);
    m_valSplit->setSingleStep(0.05);
    m_valSplit->setDecimals(2);
    m_valSplit->setValue(0.1);
    m_valSplit->setToolTip(tr("Fraction of records held out for the validation loss (seeded, never trained on)"));
    auto* form = new QFormLayout;
    form->addRow(tr("File"), browseRow(m_dataPath, browse));
    form->addRow(tr("Format"), m_format);
    form->addRow(tr("Validation split"), m_valSplit);
    m_dataStatus = new QLabel(page);
    m_dataStatus->setWordWrap(true);
    m_dataStatus->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_dataStatus->setAccessibleName(tr("Data status"));
    m_previewView = new QTextBrowser(page);
    m_previewView->setAccessibleName(tr("Data preview"));
    v->addLayout(form);
    v->addWidget(m_dataStatus);
    v->addWidget(m_previewView, 1);
    connect(m_dataPath, &QLineEdit::editingFinished, this, [this] { setDataFile(m_dataPath->text()); });
    connect(m_format, &QComboBox::currentIndexChanged, this, [this] { setDataFile(m_dataPath->text()); });
    connect(m_valSplit, &QDoubleSpinBox::valueChanged, this, [this] { setDataFile(m_dataPath->text()); });
    return page;
}

QWizardPage* TrainWizard::buildParamsPage() {
    auto* page = new QWizardPage(this);
    page->setTitle(tr("3 · Hyper-parameters"));
    page->setSubTitle(tr("Start from a preset; every field explains itself in its tooltip."));
    auto* form = new QFormLayout(page);
    m_name = new QLineEdit(page);
    m_name->setObjectName(QStringLiteral("runName"));
    m_name->setAccessibleName(tr("Run name"));
    m_name->setText(QStringLiteral("run-%1").arg(QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss"))));
    m_name->setToolTip(tr("The run's folder name under %1").arg(m_runsRoot));
    m_hyperPreset = new QComboBox(page);
    m_hyperPreset->setObjectName(QStringLiteral("hyperPreset"));
    m_hyperPreset->addItems({tr("Quick demo (100 steps)"), tr("Balanced (300 steps)"), tr("Thorough (1000 steps)")});
    m_hyperPreset->setToolTip(tr("Fills the fields below with settings that work for small models"));
    auto spin = [page](int lo, int hi, const QString& tip) {
        auto* s = new QSpinBox(page);
        s->setRange(lo, hi);
        s->setToolTip(tip);
        return s;
    };
    m_steps = spin(1, 10000000, tr("Optimizer steps in total (one step = batch × sequence tokens)"));
    m_lr = new QDoubleSpinBox(page);
    m_lr->setObjectName(QStringLiteral("learningRate"));
    m_lr->setDecimals(6);
    m_lr->setRange(1e-6, 0.5);
    m_lr->setSingleStep(1e-4);
    m_lr->setToolTip(tr("Peak AdamW learning rate after warm-up (LoRA and new models tolerate ~1e-3; full fine-tunes of a trained model want ~3e-4)"));
    m_seqLen = spin(8, 1 << 20, tr("Tokens per training sequence (records are packed into sequences of this length)"));
    m_batch = spin(1, 65536, tr("Sequences per step; memory for activations grows with batch × sequence"));
    m_warmup = spin(0, 1000000, tr("Steps of linear learning-rate warm-up before the cosine decay"));
    m_evalEvery = spin(0, 1000000, tr("Steps between validation-loss passes (0: only at the end)"));
    m_ckptEvery = spin(0, 1000000, tr("Steps between checkpoints; pause and crashes resume from the newest (0: only at the end)"));
    m_seed = spin(0, 2147483647, tr("Seed of the data order, LoRA init and new weights: the same seed repeats the run exactly"));
    m_device = new QComboBox(page);
    m_device->setObjectName(QStringLiteral("trainDevice"));
    m_device->setAccessibleName(tr("Training device"));
    m_device->addItem(tr("CPU"), QStringLiteral("cpu"));
    m_device->addItem(tr("GPU (NVIDIA, CUDA)"), QStringLiteral("cuda"));
    m_device->addItem(tr("Automatic (the GPU when one is usable)"), QStringLiteral("auto"));
    m_device->setToolTip(tr("Where the steps run. The GPU trains with bf16 tensor cores and fp32 master weights; "
                            "“Measure” on the next page shows which device ran and how fast"));
    m_steps->setObjectName(QStringLiteral("steps"));
    m_seqLen->setObjectName(QStringLiteral("seqLen"));
    m_batch->setObjectName(QStringLiteral("batchSize"));
    m_evalEvery->setObjectName(QStringLiteral("evalEvery"));
    m_ckptEvery->setObjectName(QStringLiteral("checkpointEvery"));
    m_warmup->setObjectName(QStringLiteral("warmupSteps"));
    form->addRow(tr("Run name"), m_name);
    form->addRow(tr("Preset"), m_hyperPreset);
    form->addRow(tr("Steps"), m_steps);
    form->addRow(tr("Learning rate"), m_lr);
    form->addRow(tr("Sequence length"), m_seqLen);
    form->addRow(tr("Batch size"), m_batch);
    form->addRow(tr("Warm-up steps"), m_warmup);
    form->addRow(tr("Validate every"), m_evalEvery);
    form->addRow(tr("Checkpoint every"), m_ckptEvery);
    form->addRow(tr("Seed"), m_seed);
    form->addRow(tr("Device"), m_device);
    connect(m_hyperPreset, &QComboBox::activated, this, &TrainWizard::applyHyperPreset);
    return page;
}

QWizardPage* TrainWizard::buildEstimatePage() {
    auto* page = new QWizardPage(this);
    page->setTitle(tr("4 · Estimate"));
    page->setSubTitle(tr("Memory from the model's real tensors; time from a few measured training steps."));
    auto* v = new QVBoxLayout(page);
    m_estimateLabel = new QLabel(tr("Press “Measure” to run a short probe (a few steps on a worker thread)."), page);
    m_estimateLabel->setWordWrap(true);
    m_estimateLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_estimateLabel->setAccessibleName(tr("Estimate"));
    m_probeButton = new QPushButton(tr("Measure"), page);
    m_probeButton->setObjectName(QStringLiteral("measureButton"));
    v->addWidget(m_estimateLabel);
    v->addWidget(m_probeButton, 0, Qt::AlignLeft);
    v->addStretch(1);
    connect(m_probeButton, &QPushButton::clicked, this, &TrainWizard::startProbe);
    return page;
}

// Full fine-tunes of a trained model need a smaller step than LoRA or a from-scratch model: at lr 1e-3 the
// bundled default model collapsed to one answer for every demo question, 3e-4 learned them (resources/README.md).
double TrainWizard::presetLr(int index) const {
    const bool full = m_fineTune->isChecked() && m_method->currentData().toString() == QLatin1String("full");
    if (full) return index == 2 ? 2e-4 : 3e-4;
    return index == 2 ? 5e-4 : 1e-3;
}

void TrainWizard::applyHyperPreset(int index) {
    static const int steps[] = {100, 300, 1000};
    m_steps->setValue(steps[std::clamp(index, 0, 2)]);
    m_presetLr = presetLr(index);
    m_lr->setValue(m_presetLr);
    m_seqLen->setValue(128);
    m_batch->setValue(8);
    m_warmup->setValue(std::max(1, steps[std::clamp(index, 0, 2)] / 20));
    m_evalEvery->setValue(std::max(10, steps[std::clamp(index, 0, 2)] / 10));
    m_ckptEvery->setValue(std::max(10, steps[std::clamp(index, 0, 2)] / 4));
    m_seed->setValue(1234);
}

void TrainWizard::applyConfig(const QString& json, const QString& relativeTo) {
    const QJsonObject o = QJsonDocument::fromJson(json.toUtf8()).object();
    auto path = [&](const QString& key) {
        const QString p = o.value(key).toString();
        if (p.isEmpty() || QDir::isAbsolutePath(p)) return p;
        // finetune.json paths are relative to the source tree ("resources/models/default"); installed,
        // the same files sit under share/latent-studio without the "resources/" prefix.
        const QString res = TrainResources::resourcesDir();
        for (const QString& base : {relativeTo, relativeTo + QStringLiteral("/.."), res, res + QStringLiteral("/..")})
            if (QFileInfo::exists(QDir(base).filePath(p))) return QDir::cleanPath(QDir(base).filePath(p));
        const QString prefix = QStringLiteral("resources/");
        if (p.startsWith(prefix) && QFileInfo::exists(QDir(res).filePath(p.mid(prefix.size()))))
            return QDir::cleanPath(QDir(res).filePath(p.mid(prefix.size())));
        return p;
    };
    if (o.contains(QStringLiteral("base_model"))) m_modelPath->setText(path(QStringLiteral("base_model")));
    if (o.contains(QStringLiteral("data"))) m_dataPath->setText(path(QStringLiteral("data")));
    if (o.contains(QStringLiteral("data_format"))) m_format->setCurrentIndex(std::max(0, m_format->findData(o.value(QStringLiteral("data_format")).toString())));
    if (o.contains(QStringLiteral("validation_fraction"))) m_valSplit->setValue(o.value(QStringLiteral("validation_fraction")).toDouble());
    if (o.value(QStringLiteral("max_steps")).toInteger() > 0) m_steps->setValue(int(o.value(QStringLiteral("max_steps")).toInteger()));
    if (o.contains(QStringLiteral("lr"))) m_lr->setValue(o.value(QStringLiteral("lr")).toDouble());
    if (o.contains(QStringLiteral("seq_len"))) m_seqLen->setValue(int(o.value(QStringLiteral("seq_len")).toInteger()));
    if (o.contains(QStringLiteral("batch_size"))) m_batch->setValue(int(o.value(QStringLiteral("batch_size")).toInteger()));
    if (o.contains(QStringLiteral("warmup_steps"))) m_warmup->setValue(int(o.value(QStringLiteral("warmup_steps")).toInteger()));
    if (o.contains(QStringLiteral("eval_every"))) m_evalEvery->setValue(int(o.value(QStringLiteral("eval_every")).toInteger()));
    if (o.contains(QStringLiteral("checkpoint_every"))) m_ckptEvery->setValue(int(o.value(QStringLiteral("checkpoint_every")).toInteger()));
    if (o.contains(QStringLiteral("seed"))) m_seed->setValue(int(o.value(QStringLiteral("seed")).toInteger()));
    if (o.contains(QStringLiteral("device")))
        m_device->setCurrentIndex(std::max(0, m_device->findData(o.value(QStringLiteral("device")).toString())));
    const qint64 rank = o.value(QStringLiteral("lora_rank")).toInteger();
    m_method->setCurrentIndex(rank > 0 || !o.contains(QStringLiteral("lora_rank")) ? 0 : 1);
    if (rank > 0) m_loraRank->setValue(int(rank));
}

QString TrainWizard::currentDataKey() const {
    return QStringLiteral("%1|%2|%3|%4").arg(m_dataPath->text(), m_format->currentData().toString(), m_modelPath->text())
        .arg(m_valSplit->value());
}

void TrainWizard::setDataFile(const QString& path) {
    if (m_dataPath->text() != path) m_dataPath->setText(path);
    if (m_previewRunning) {
        m_previewAgain = true;
        return;
    }
    m_previewRunning = true;
    m_previewDone = false;
    m_previewFor = currentDataKey();
    m_dataStatus->setText(tr("Reading %1…").arg(QFileInfo(path).fileName()));
    const QString model = m_modelPath->text(), format = m_format->currentData().toString();
    const double val = m_valSplit->value();
    m_previewWatcher.setFuture(QtConcurrent::run([model, path, format, val] { return previewDataset(model, path, format, val); }));
}

QString TrainWizard::dataError() const { return m_preview.error; }

void TrainWizard::showPreview() {
    if (!m_preview.error.isEmpty()) {
        m_dataStatus->setText(QStringLiteral("<span style=\"color:#c0392b\"><b>%1</b> %2</span>")
                                  .arg(tr("Cannot use this data:"), m_preview.error.toHtmlEscaped()));
        m_previewView->clear();
    } else {
        m_dataStatus->setText(tr("%1 records (%2 train, %3 validation) · %4 tokens, %5 trained")
                                  .arg(m_preview.records).arg(m_preview.trainRecords).arg(m_preview.validationRecords)
                                  .arg(m_preview.tokens).arg(m_preview.trainedTokens));
        m_previewView->setHtml(m_preview.html);
    }
    if (currentPage()) emit currentPage()->completeChanged();
}

bool TrainWizard::validateCurrentPage() {
    if (currentId() == 0 && m_fineTune->isChecked() && !QFileInfo::exists(QDir(m_modelPath->text()).filePath(QStringLiteral("config.json")))) {
        m_modelPath->setFocus();
        m_modelPath->setToolTip(tr("No config.json in this folder"));
        return false;
    }
    if (currentId() == 1) {
        if (!dataValid()) {
            if (!m_previewRunning && !m_previewDone) setDataFile(m_dataPath->text());
            else if (!m_previewRunning && m_previewFor != currentDataKey()) setDataFile(m_dataPath->text());
            return false;
        }
    }
    if (currentId() == 2 && (m_name->text().trimmed().isEmpty() || QFileInfo::exists(runFolder()))) {
        m_name->setFocus();
        m_name->setToolTip(tr("Choose a name that is not used yet"));
        return false;
    }
    return QWizard::validateCurrentPage();
}

QString TrainWizard::runName() const { return m_name->text().trimmed(); }
QString TrainWizard::runFolder() const { return QDir(m_runsRoot).filePath(runName()); }
bool TrainWizard::fromPreset() const { return m_preset->isChecked(); }
QString TrainWizard::modelFolderField() const { return m_modelPath->text(); }
QString TrainWizard::baseModelPath() const {
    return fromPreset() ? QDir(runFolder()).filePath(QStringLiteral("base")) : m_modelPath->text();
}

PresetChoice TrainWizard::presetChoice() const {
    PresetChoice p;
    p.size = m_presetSize->currentData().toString();
    p.mla = m_mla->isChecked();
    p.moe = m_moe->isChecked();
    p.residual = m_residual->currentData().toString();
    return p;
}

QString TrainWizard::configJson() const {
    QJsonObject o;
    o[QStringLiteral("base_model")] = baseModelPath();
    o[QStringLiteral("from_scratch")] = fromPreset();
    o[QStringLiteral("data")] = m_dataPath->text();
    o[QStringLiteral("data_format")] = m_format->currentData().toString();
    o[QStringLiteral("validation_fraction")] = m_valSplit->value();
    o[QStringLiteral("output")] = runFolder();
    o[QStringLiteral("max_steps")] = m_steps->value();
    o[QStringLiteral("lr")] = m_lr->value();
    o[QStringLiteral("seq_len")] = m_seqLen->value();
    o[QStringLiteral("batch_size")] = m_batch->value();
    o[QStringLiteral("warmup_steps")] = m_warmup->value();
    o[QStringLiteral("eval_every")] = m_evalEvery->value();
    o[QStringLiteral("checkpoint_every")] = m_ckptEvery->value();
    o[QStringLiteral("seed")] = m_seed->value();
    o[QStringLiteral("device")] = m_device->currentData().toString();
    const bool lora = !fromPreset() && m_method->currentData().toString() == QLatin1String("lora");
    o[QStringLiteral("lora_rank")] = lora ? m_loraRank->value() : 0;
    if (lora) o[QStringLiteral("lora_alpha")] = double(2 * m_loraRank->value());
    return QString::fromUtf8(QJsonDocument(o).toJson(QJsonDocument::Compact));
}

void TrainWizard::startProbe() {
    if (m_probeRunning) return;
    m_probeRunning = true;
    m_probeButton->setEnabled(false);
    m_estimateLabel->setText(tr("Measuring: loading the model and running a few steps…"));
    const QString config = configJson();
    const bool preset = fromPreset();
    const PresetChoice choice = presetChoice();
    const QString tokenizerModel = m_modelPath->text();
    m_probeWatcher.setFuture(QtConcurrent::run([config, preset, choice, tokenizerModel] {
        QString json = config;
        QTemporaryDir tmp;
        if (preset) {
            const QString base = tmp.filePath(QStringLiteral("base"));
            const QString err = createPresetModel(base, choice, tokenizerModel);
            if (!err.isEmpty()) {
                TrainEstimate e;
                e.error = err;
                return e;
            }
            QJsonObject o = QJsonDocument::fromJson(json.toUtf8()).object();
            o[QStringLiteral("base_model")] = base;
            json = QString::fromUtf8(QJsonDocument(o).toJson(QJsonDocument::Compact));
        }
        return probeTraining(json, 3, 0);
    }));
}

void TrainWizard::showEstimate() {
    const TrainEstimate& e = m_estimate;
    if (!e.error.isEmpty()) {
        m_estimateLabel->setText(QStringLiteral("<span style=\"color:#c0392b\">%1</span>").arg(e.error.toHtmlEscaped()));
        return;
    }
    QString text = tr("<b>Memory (approximate)</b><br>"
                      "parameters %1 (trainable %2)<br>"
                      "weights (fp32) %3 · gradients %4 · AdamW state %5 · activations %6<br>"
                      "<b>total ≈ %7</b><br><br>")
                       .arg(e.parameters).arg(e.trainable).arg(mib(e.weightBytes), mib(e.gradientBytes), mib(e.optimizerBytes),
                                                               mib(e.activationBytes), mib(e.totalBytes()));
    if (e.secondsPerStep > 0)
        text += tr("<b>Time</b> (measured over %1 steps on %7)<br>%2 s per step · %3 steps per epoch · "
                   "<b>%4 per epoch</b> · this run (%5 steps) ≈ %6")
                    .arg(e.probeSteps).arg(e.secondsPerStep, 0, 'f', 3).arg(e.stepsPerEpoch)
                    .arg(TrainSpeedChart::formatDuration(e.secondsPerEpoch())).arg(m_steps->value())
                    .arg(TrainSpeedChart::formatDuration(e.secondsPerStep * m_steps->value()))
                    .arg(e.device.toHtmlEscaped());
    m_estimateLabel->setText(text);
}
