#include "train/TrainTypes.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

namespace {

QJsonArray toArray(const QVector<double>& v) {
    QJsonArray a;
    for (double x : v) a.append(x);
    return a;
}
QJsonArray toArray2(const QVector<QVector<double>>& v) {
    QJsonArray a;
    for (const auto& row : v) a.append(toArray(row));
    return a;
}
QVector<double> fromArray(const QJsonValue& value) {
    QVector<double> v;
    for (const QJsonValue& x : value.toArray()) v << x.toDouble();
    return v;
}
QVector<QVector<double>> fromArray2(const QJsonValue& value) {
    QVector<QVector<double>> v;
    for (const QJsonValue& x : value.toArray()) v << fromArray(x);
    return v;
}

}  // namespace

TrainMetricRow TrainPoint::toRow() const {
    TrainMetricRow r;
    r.step = step;
    r.loss = loss;
    r.valLoss = valLoss;
    r.lr = lr;
    r.gradNorm = gradNorm;
    r.tokensPerSecond = tokensPerSecond;
    r.etaSeconds = etaSeconds;
    r.skipped = skipped;
    QJsonObject extra;
    if (totalSteps) extra[QStringLiteral("total")] = totalSteps;
    if (!blockGradNorm.isEmpty()) extra[QStringLiteral("block_grad_norm")] = toArray(blockGradNorm);
    if (!expertLoad.isEmpty()) extra[QStringLiteral("expert_load")] = toArray2(expertLoad);
    if (!hcForwardGain.isEmpty()) extra[QStringLiteral("hc_forward_gain")] = toArray(hcForwardGain);
    if (!hcBackwardGain.isEmpty()) extra[QStringLiteral("hc_backward_gain")] = toArray(hcBackwardGain);
    if (!hcMix.isEmpty()) extra[QStringLiteral("hc_mix")] = toArray2(hcMix);
    if (!checkpoint.isEmpty()) extra[QStringLiteral("checkpoint")] = checkpoint;
    r.extraJson = QString::fromUtf8(QJsonDocument(extra).toJson(QJsonDocument::Compact));
    return r;
}

TrainPoint TrainPoint::fromRow(const TrainMetricRow& r) {
    TrainPoint p;
    p.step = r.step;
    p.loss = r.loss;
    p.valLoss = r.valLoss;
    p.lr = r.lr;
    p.gradNorm = r.gradNorm;
    p.tokensPerSecond = r.tokensPerSecond;
    p.etaSeconds = r.etaSeconds;
    p.skipped = r.skipped;
    const QJsonObject extra = QJsonDocument::fromJson(r.extraJson.toUtf8()).object();
    p.totalSteps = extra.value(QStringLiteral("total")).toInteger();
    p.blockGradNorm = fromArray(extra.value(QStringLiteral("block_grad_norm")));
    p.expertLoad = fromArray2(extra.value(QStringLiteral("expert_load")));
    p.hcForwardGain = fromArray(extra.value(QStringLiteral("hc_forward_gain")));
    p.hcBackwardGain = fromArray(extra.value(QStringLiteral("hc_backward_gain")));
    p.hcMix = fromArray2(extra.value(QStringLiteral("hc_mix")));
    p.checkpoint = extra.value(QStringLiteral("checkpoint")).toString();
    return p;
}

namespace TrainResources {

QString resourcesDir() {
    const QString env = qEnvironmentVariable("LATENT_RESOURCES");
    if (!env.isEmpty()) return env;
    const QString exe = QCoreApplication::applicationDirPath();
    const QStringList candidates{
        exe + QStringLiteral("/../../resources"),          // build/app/latent-studio in the source tree
        exe + QStringLiteral("/../../../resources"),       // build/tests/app/<test>
        exe + QStringLiteral("/../share/latent-studio"),   // installed
    };
    for (const QString& c : candidates)
        if (QFileInfo::exists(c + QStringLiteral("/models/default/config.json"))) return QDir::cleanPath(c);
    return {};
}

QString defaultModel() {
    const QString r = resourcesDir();
    return r.isEmpty() ? QString() : r + QStringLiteral("/models/default");
}

QString demoTrainData() {
    const QString r = resourcesDir();
    const QString f = r + QStringLiteral("/demo/train.jsonl");
    return !r.isEmpty() && QFileInfo::exists(f) ? f : QString();
}

QString demoFinetuneConfig() {
    const QString r = resourcesDir();
    const QString f = r + QStringLiteral("/demo/finetune.json");
    return !r.isEmpty() && QFileInfo::exists(f) ? f : QString();
}

}  // namespace TrainResources
