#include "chat/MarkdownBlocks.h"

#include <QStringList>

namespace MarkdownBlocks {

QVector<CodeBlock> codeBlocks(const QString& markdown) {
    QVector<CodeBlock> blocks;
    const QStringList lines = markdown.split(QLatin1Char('\n'));
    bool inside = false;
    QString fence;
    CodeBlock current;
    QStringList body;
    for (const QString& line : lines) {
        const QString trimmed = line.trimmed();
        if (!inside) {
            if (trimmed.startsWith(QLatin1String("```")) || trimmed.startsWith(QLatin1String("~~~"))) {
                int n = 0;
                while (n < trimmed.size() && trimmed[n] == trimmed[0]) ++n;
                fence = trimmed.left(n);
                current = CodeBlock{trimmed.mid(n).trimmed().section(QLatin1Char(' '), 0, 0), {}};
                body.clear();
                inside = true;
            }
        } else if (trimmed.startsWith(fence) && trimmed.mid(fence.size()).trimmed().isEmpty()) {
            current.code = body.join(QLatin1Char('\n'));
            blocks << current;
            inside = false;
        } else {
            body << line;
        }
    }
    if (inside) {
        current.code = body.join(QLatin1Char('\n'));
        blocks << current;
    }
    return blocks;
}

}  // namespace MarkdownBlocks
