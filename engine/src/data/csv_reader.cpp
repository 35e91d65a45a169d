// csv_reader.cpp — see csv_reader.h.
#include "data/csv_reader.h"

#include "engine/error.h"

namespace engine {

int CsvTable::column(const std::string& name) const {
    for (size_t i = 0; i < header.size(); ++i)
        if (header[i] == name) return int(i);
    return -1;
}

CsvTable parse_csv(const std::string& text, const std::string& source) {
    std::vector<CsvRow> records;
    CsvRow row;
    std::string field;
    int64_t line = 1;
    row.line = 1;
    bool in_quotes = false, field_was_quoted = false, row_has_content = false;
    size_t i = 0;
    if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) i = 3;  // UTF-8 byte-order mark
    auto end_field = [&] {
        row.fields.push_back(std::move(field));
        field.clear();
        field_was_quoted = false;
    };
    auto end_row = [&] {
        end_field();
        if (row_has_content) records.push_back(std::move(row));
        row = CsvRow{};
        row_has_content = false;
    };
    for (; i < text.size(); ++i) {
        char c = text[i];
        if (in_quotes) {
            if (c == '"') {
                if (i + 1 < text.size() && text[i + 1] == '"') {
                    field += '"';
                    ++i;
                } else {
                    in_quotes = false;
                }
            } else {
                if (c == '\n') ++line;
                field += c;
            }
            continue;
        }
        if (c == '"') {
            ENGINE_CHECK(field.empty() && !field_was_quoted, kBadFile, source, ":", line,
                         ": a quote inside an unquoted field; quote the whole field and double inner quotes");
            in_quotes = field_was_quoted = row_has_content = true;
        } else if (c == ',') {
            row_has_content = true;
            end_field();
        } else if (c == '\n' || c == '\r') {
            if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
            end_row();
            ++line;
            row.line = line;
        } else {
            ENGINE_CHECK(!field_was_quoted, kBadFile, source, ":", line,
                         ": text after a closing quote; expected a comma or the end of the line");
            field += c;
            row_has_content = true;
        }
    }
    ENGINE_CHECK(!in_quotes, kBadFile, source, ":", row.line, ": a quoted field is never closed");
    if (row_has_content || !field.empty()) end_row();

    CsvTable table;
    ENGINE_CHECK(!records.empty(), kBadFile, source, ": the CSV file is empty; expected a header row");
    table.header = std::move(records[0].fields);
    for (size_t r = 1; r < records.size(); ++r) {
        ENGINE_CHECK(records[r].fields.size() == table.header.size(), kBadFile, source, ":", records[r].line,
                     ": ", records[r].fields.size(), " fields, but the header has ", table.header.size());
        table.rows.push_back(std::move(records[r]));
    }
    return table;
}

}  // namespace engine
