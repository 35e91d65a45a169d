#include "library/LibraryPanel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

#include "engine/EngineWorker.h"
#include "monitor/ProcessStats.h"
#include "storage/Database.h"

namespace {
QString params(qint64 n) {
    if (n >= 1'000'000'000) return QStringLiteral("%1 B").arg(n / 1e9, 0, 'f', 2);
    if (n >= 1'000'000) return QStringLiteral("%1 M").arg(n / 1e6, 0, 'f', 1);
    return QStringLiteral("%1 K").arg(n / 1e3, 0, 'f', 1);
}
}  // namespace

LibraryPanel::LibraryPanel(EngineWorker* worker, Database* db, QWidget* parent)
    : QWidget(parent), m_worker(worker), m_db(db) {
    auto* layout = new QHBoxLayout(this);
    auto* left = new QVBoxLayout;
    auto* open = new QPushButton(QIcon(QStringLiteral(":/icons/library.svg")), tr("Open model folder…"), this);
    open->setAccessibleName(tr("Open model folder"));
    open->setToolTip(tr("A Hugging Face checkpoint folder: config.json, *.safetensors, tokenizer.json"));
    left->addWidget(open);
    left->addWidget(new QLabel(tr("Recent models"), this));
    m_recent = new QListWidget(this);
    m_recent->setAccessibleName(tr("Recent models"));
    left->addWidget(m_recent, 1);
    layout->addLayout(left, 1);

    auto* right = new QVBoxLayout;
    auto* box = new QGroupBox(tr("Model"), this);
    auto* form = new QVBoxLayout(box);
    m_details = new QLabel(tr("Open a model folder to see its architecture, size and memory plan."), box);
    m_details->setWordWrap(true);
    m_details->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_details->setAccessibleName(tr("Model details"));
    form->addWidget(m_details);
    auto* ctxRow = new QFormLayout;
    m_context = new QSpinBox(box);
    m_context->setRange(256, 1 << 20);
    m_context->setSingleStep(1024);
    m_context->setValue(4096);
    m_context->setSuffix(tr(" tokens"));
    m_context->setAccessibleName(tr("Context length"));
    ctxRow->addRow(tr("Context length:"), m_context);
    m_device = new QComboBox(box);
    m_device->addItem(tr("Automatic (the GPU when one is usable)"), QStringLiteral("auto"));
    m_device->addItem(tr("GPU (CUDA)"), QStringLiteral("cuda"));
    m_device->addItem(tr("CPU"), QStringLiteral("cpu"));
    m_device->setAccessibleName(tr("Run on"));
    m_device->setToolTip(tr("Where the model runs. A change applies the next time a model is loaded."));
    ctxRow->addRow(tr("Run on:"), m_device);
    m_kvCache = new QComboBox(box);
    m_kvCache->addItem(tr("Full precision (fp32)"), QStringLiteral("f32"));
    m_kvCache->addItem(tr("Half precision (bf16): half the memory"), QStringLiteral("bf16"));
    m_kvCache->setAccessibleName(tr("KV cache precision"));
    m_kvCache->setToolTip(tr("How each token's cached latent is stored. bf16 halves the KV cache's memory and "
                             "the bytes each generated token reads, at a small cost in accuracy. A change "
                             "applies the next time a model is loaded."));
    ctxRow->addRow(tr("KV cache:"), m_kvCache);
    form->addLayout(ctxRow);
    m_planLabel = new QLabel(box);
    m_planLabel->setWordWrap(true);
    m_planLabel->setTextFormat(Qt::RichText);
    m_planLabel->setAccessibleName(tr("Memory plan"));
    form->addWidget(m_planLabel);
    m_override = new QCheckBox(tr("Load anyway (I know the estimate is too high)"), box);
    m_override->setAccessibleName(tr("Ignore the memory estimate"));
    form->addWidget(m_override);
    auto* buttons = new QHBoxLayout;
    m_load = new QPushButton(tr("Load"), box);
    m_load->setAccessibleName(tr("Load model"));
    m_load->setEnabled(false);
    m_cancel = new QPushButton(tr("Cancel"), box);
    m_cancel->setAccessibleName(tr("Cancel loading"));
    m_cancel->setVisible(false);
    buttons->addWidget(m_load);
    buttons->addWidget(m_cancel);
    buttons->addStretch(1);
    form->addLayout(buttons);
    m_progress = new QProgressBar(box);
    m_progress->setRange(0, 1000);
    m_progress->setVisible(false);
    m_progress->setAccessibleName(tr("Loading progress"));
    m_stage = new QLabel(box);
    form->addWidget(m_progress);
    form->addWidget(m_stage);
    m_error = new QLabel(box);
    m_error->setWordWrap(true);
    m_error->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_error->setStyleSheet(QStringLiteral("color: #c0392b;"));
    m_error->setAccessibleName(tr("Error"));
    form->addWidget(m_error);
    form->addStretch(1);
    right->addWidget(box);
    layout->addLayout(right, 2);

    connect(open, &QPushButton::clicked, this, &LibraryPanel::chooseFolder);
    connect(m_recent, &QListWidget::itemActivated, this,
            [this](QListWidgetItem* item) { openModel(item->data(Qt::UserRole).toString()); });
    connect(m_context, &QSpinBox::valueChanged, this, &LibraryPanel::updatePlan);
    connect(m_override, &QCheckBox::toggled, this, &LibraryPanel::updatePlan);
    connect(m_device, &QComboBox::currentIndexChanged, this, [this] {
        emit deviceChanged(device());
        if (!m_inspected.path.isEmpty()) openModel(m_inspected.path);  // the memory plan of the new device
    });
    connect(m_kvCache, &QComboBox::currentIndexChanged, this, [this] {
        emit kvCacheChanged(kvCache());
        updatePlan();
    });
    connect(m_load, &QPushButton::clicked, this, &LibraryPanel::loadInspected);
    connect(m_cancel, &QPushButton::clicked, this, [this] {
        m_worker->cancelLoad();
        m_stage->setText(tr("cancelling…"));
    });

    connect(m_worker, &EngineWorker::inspected, this, [this](const ModelSummary& s) {
        m_inspected = s;
        m_error->clear();
        if (s.maxContext > 0) m_context->setMaximum(int(std::min<qint64>(s.maxContext, 1 << 20)));
        m_details->setText(tr("<b>%1</b><br>%2 (%3)<br>Attention: %4 · residual: %5<br>Parameters: %6 total, %7 active per token"
                              "<br>Stored as %8 · %9 layers%10<br>Max context: %11 tokens%12")
                               .arg(s.name.toHtmlEscaped(), s.architecture, s.modelType, s.attention, s.residual,
                                    params(s.totalParams), params(s.activeParams), s.dtype)
                               .arg(s.layers)
                               .arg(s.routedExperts > 0 ? tr(" · %1 routed experts (top %2) + %3 shared")
                                                              .arg(s.routedExperts).arg(s.expertsPerToken).arg(s.sharedExperts)
                                                        : QString())
                               .arg(s.maxContext)
                               .arg(s.hasTokenizer ? QString() : tr("<br><b>No tokenizer.json: chat will not work.</b>"))
                           + (s.hasTokenizer && !s.hasChatTemplate
                                  ? tr("<br>Chat template: none in the model — using the built-in ChatML template "
                                       "(&lt;|im_start|&gt;role … &lt;|im_end|&gt;); answers may be poor if the model "
                                       "was trained with another format.")
                                  : QString()));
        updatePlan();
        emit status(tr("Inspected %1").arg(s.path));
    });
    connect(m_worker, &EngineWorker::inspectFailed, this, [this](const QString& path, const QString& message) {
        m_inspected = ModelSummary{};
        m_load->setEnabled(false);
        m_details->setText(tr("Could not open %1").arg(path));
        showError(message);
    });
    connect(m_worker, &EngineWorker::loadProgress, this, [this](double f, const QString& stage) {
        m_progress->setValue(int(f * 1000));
        m_stage->setText(stage);
    });
    connect(m_worker, &EngineWorker::modelLoaded, this, [this](const ModelSummary& s) {
        setBusy(false);
        m_loaded = s;
        m_stage->setText(tr("Loaded on %1 · context %2 tokens · %3 KV cache").arg(s.backendName).arg(s.contextTokens)
                             .arg(s.kvCacheType));
        RecentModel recent{s.path, s.name, s.architecture, s.totalParams, 0};
        m_db->call(this, [recent](ChatStore& st) { st.touchModel(recent); }, [this] { refreshRecent(); });
        emit modelReady(s);
    });
    connect(m_worker, &EngineWorker::loadFailed, this, [this](const QString& message) {
        setBusy(false);
        m_stage->clear();
        showError(message);
    });
    connect(m_worker, &EngineWorker::loadCancelled, this, [this] {
        setBusy(false);
        m_stage->setText(tr("Loading cancelled."));
    });
    connect(m_db, &Database::opened, this, &LibraryPanel::refreshRecent);
}

void LibraryPanel::chooseFolder() {
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Open model folder"));
    if (!dir.isEmpty()) openModel(dir);
}

void LibraryPanel::openModel(const QString& path) {
    m_error->clear();
    m_details->setText(tr("Reading %1…").arg(path));
    m_load->setEnabled(false);
    m_worker->inspect(path, device());
}

void LibraryPanel::refreshRecent() {
    m_db->call(this, [](ChatStore& st) { return st.recentModels(); }, [this](QVector<RecentModel> models) {
        m_recent->clear();
        for (const RecentModel& m : models) {
            auto* item = new QListWidgetItem(QStringLiteral("%1\n%2 · %3").arg(m.name, m.architecture, params(m.params)), m_recent);
            item->setData(Qt::UserRole, m.path);
            item->setToolTip(m.path);
        }
    });
}

void LibraryPanel::updatePlan() {
    if (m_inspected.path.isEmpty()) return;
    MemoryPlanInput in;
    in.weightBytes = m_inspected.weightBytes;
    // The inspector counts an fp32 cache; bf16 stores half.
    const qint64 kvDiv = kvCache() == QLatin1String("bf16") ? 2 : 1;
    in.kvBytesPerToken = m_inspected.kvBytesPerToken / kvDiv;
    in.contextTokens = m_context->value();
    in.maxContextTokens = m_inspected.maxContext;
    // A model already loaded frees its memory when replaced.
    in.freeBytes = ProcessStats::availableMemoryBytes() + (isLoaded() ? m_loaded.weightBytes : 0);
    m_plan = MemoryPlanner::plan(in);
    const char* color = m_plan.verdict == MemoryPlan::Verdict::Fits ? "#27ae60"
                        : m_plan.verdict == MemoryPlan::Verdict::FitsWithSmallerContext ? "#d68910" : "#c0392b";
    m_planLabel->setText(tr("<b>Memory plan (CPU RAM):</b> <span style='color:%1'><b>%2</b></span><br>"
                            "weights %3 + %9 KV cache %4 at %5 tokens (MLA: %6 KiB/token; MHA would need %7 KiB/token) "
                            "· free RAM %8")
                             .arg(QLatin1String(color), m_plan.summary.toHtmlEscaped(),
                                  MemoryPlanner::gigabytes(in.weightBytes), MemoryPlanner::gigabytes(m_plan.kvBytes))
                             .arg(in.contextTokens)
                             .arg(in.kvBytesPerToken / 1024.0, 0, 'f', 1)
                             .arg(m_inspected.mhaKvBytesPerToken / kvDiv / 1024.0, 0, 'f', 1)
                             .arg(MemoryPlanner::gigabytes(in.freeBytes), kvCache()));
    QString extra;
    if (m_inspected.onGpu) {
        // The model runs on the GPU: its memory is what must fit (weights are uploaded there).
        MemoryPlanInput gpu = in;
        gpu.freeBytes = m_inspected.deviceFreeBytes + (isLoaded() && m_loaded.onGpu ? m_loaded.weightBytes : 0);
        const MemoryPlan plan = MemoryPlanner::plan(gpu);
        extra = tr("<br><b>%1:</b> %2 (free %3 of %4)").arg(m_inspected.backendName.toHtmlEscaped(), plan.summary.toHtmlEscaped(),
                                                          MemoryPlanner::gigabytes(gpu.freeBytes), MemoryPlanner::gigabytes(m_inspected.deviceTotalBytes));
        m_plan = plan;
    } else {
        extra = tr("<br>Runs on %1.").arg(m_inspected.backendName.toHtmlEscaped());
    }
    if (!m_inspected.backendNote.isEmpty()) extra += QStringLiteral(" <i>%1</i>").arg(m_inspected.backendNote.toHtmlEscaped());
    m_planLabel->setText(m_planLabel->text() + extra);
    const bool fits = m_plan.verdict == MemoryPlan::Verdict::Fits;
    m_override->setVisible(!fits);
    m_load->setEnabled(fits || m_override->isChecked());
}

void LibraryPanel::loadInspected() {
    if (m_inspected.path.isEmpty()) return;
    m_error->clear();
    setBusy(true);
    m_worker->loadModel(m_inspected.path, m_context->value(), 0, device(), kvCache());
    emit status(tr("Loading %1…").arg(m_inspected.name));
}

void LibraryPanel::showError(const QString& message) {
    m_error->setText(message);
    emit status(message.section(QLatin1Char('\n'), 0, 0));
}

void LibraryPanel::setBusy(bool busy) {
    m_progress->setVisible(busy);
    m_progress->setValue(0);
    m_cancel->setVisible(busy);
    m_load->setEnabled(!busy && !m_inspected.path.isEmpty());
}

QString LibraryPanel::device() const { return m_device->currentData().toString(); }

void LibraryPanel::setDevice(const QString& device) {
    const int i = m_device->findData(device);
    m_device->setCurrentIndex(i >= 0 ? i : 0);  // an unknown value from an old settings file: automatic
}

QString LibraryPanel::kvCache() const { return m_kvCache->currentData().toString(); }

void LibraryPanel::setKvCache(const QString& type) {
    const int i = m_kvCache->findData(type);
    m_kvCache->setCurrentIndex(i >= 0 ? i : 0);  // an unknown value from an old settings file: fp32
}

void LibraryPanel::setContextTokens(qint64 tokens) { m_context->setValue(int(std::clamp<qint64>(tokens, 256, 1 << 20))); }
