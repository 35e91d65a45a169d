#include "library/MemoryPlan.h"

#include <algorithm>

namespace MemoryPlanner {

QString gigabytes(qint64 bytes) {
    const double gb = double(bytes) / 1e9;
    if (bytes < 1'000'000) return QStringLiteral("%1 KB").arg(double(bytes) / 1e3, 0, 'f', 0);
    if (bytes < 1'000'000'000) return QStringLiteral("%1 MB").arg(double(bytes) / 1e6, 0, 'f', 0);
    return gb >= 10 ? QStringLiteral("%1 GB").arg(gb, 0, 'f', 0) : QStringLiteral("%1 GB").arg(gb, 0, 'f', 1);
}

static QString contextLabel(qint64 tokens) {
    return tokens >= 1024 ? QStringLiteral("%1 K").arg(tokens / 1024) : QString::number(tokens);
}

MemoryPlan plan(const MemoryPlanInput& in) {
    MemoryPlan p;
    p.kvBytes = in.kvBytesPerToken * in.contextTokens;
    p.neededBytes = in.weightBytes + p.kvBytes + in.overheadBytes;
    const qint64 room = in.freeBytes - in.weightBytes - in.overheadBytes;
    if (room > 0 && in.kvBytesPerToken > 0) {
        p.maxFittingContext = room / in.kvBytesPerToken;
        if (in.maxContextTokens > 0) p.maxFittingContext = std::min(p.maxFittingContext, in.maxContextTokens);
    }
    if (p.neededBytes <= in.freeBytes) {
        p.verdict = MemoryPlan::Verdict::Fits;
        p.summary = QStringLiteral("fits: needs %1 of %2 free").arg(gigabytes(p.neededBytes), gigabytes(in.freeBytes));
    } else if (p.maxFittingContext >= 256) {
        p.verdict = MemoryPlan::Verdict::FitsWithSmallerContext;
        p.summary = QStringLiteral("fits with %1 context (%2 needs %3, has %4)")
                        .arg(contextLabel(p.maxFittingContext), contextLabel(in.contextTokens),
                             gigabytes(p.neededBytes), gigabytes(in.freeBytes));
    } else {
        p.verdict = MemoryPlan::Verdict::DoesNotFit;
        p.summary = QStringLiteral("does not fit: needs %1, has %2").arg(gigabytes(p.neededBytes), gigabytes(in.freeBytes));
    }
    return p;
}

}  // namespace MemoryPlanner
