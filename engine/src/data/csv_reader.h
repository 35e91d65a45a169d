// csv_reader.h — RFC 4180 CSV with a header row, keeping the line number where each record starts.
// Hand-written (≈80 lines) rather than libcsv because error messages must name the line of the record,
// and quoted fields may span lines; libcsv reports neither.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace engine {

struct CsvRow {
    int64_t line = 0;  // 1-based line where the record starts
    std::vector<std::string> fields;
};

struct CsvTable {
    std::vector<std::string> header;
    std::vector<CsvRow> rows;
    int column(const std::string& name) const;  // -1 when absent
};

// Throws Error(kBadFile) "<source>:<line>: ..." for an unterminated quote, a stray quote, or a row
// whose field count differs from the header's.
CsvTable parse_csv(const std::string& text, const std::string& source);

}  // namespace engine
