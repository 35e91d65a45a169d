// MarkdownBlocks — finds fenced code blocks (``` or ~~~) in a message so each gets a copy button.
// QTextDocument::setMarkdown renders the text; it does not expose block boundaries, hence this scan.
#pragma once

#include <QString>
#include <QVector>

struct CodeBlock {
    QString language;  // the info string's first word ("" when none)
    QString code;      // without the fences; an unterminated block (still streaming) runs to the end
};

namespace MarkdownBlocks {
QVector<CodeBlock> codeBlocks(const QString& markdown);
}
