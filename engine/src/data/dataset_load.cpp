// dataset_load.cpp — reading training files (text, chat JSONL, alpaca JSONL, CSV) into examples,
// and the seeded train/validation split.
#include <algorithm>
#include <fstream>
#include <sstream>

#include "data/csv_reader.h"
#include "data/seeded_rng.h"
#include "engine/dataset.h"
#include "engine/error.h"
#include "engine/tokenizer.h"

namespace engine {

namespace fs = std::filesystem;

const char* dataset_format_name(DatasetFormat f) {
    switch (f) {
        case DatasetFormat::kAuto: return "auto";
        case DatasetFormat::kText: return "text";
        case DatasetFormat::kChatJsonl: return "chat";
        case DatasetFormat::kAlpacaJsonl: return "alpaca";
        case DatasetFormat::kCsv: return "csv";
    }
    return "?";
}

DatasetFormat dataset_format_from_name(const std::string& name) {
    for (DatasetFormat f : {DatasetFormat::kAuto, DatasetFormat::kText, DatasetFormat::kChatJsonl,
                            DatasetFormat::kAlpacaJsonl, DatasetFormat::kCsv})
        if (name == dataset_format_name(f)) return f;
    ENGINE_THROW(kInvalidArgument, "unknown dataset format '", name, "'; expected auto, text, chat, alpaca or csv");
}

namespace {

std::string read_all(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    ENGINE_CHECK(in.good(), kIo, path.string(), ": cannot open the dataset file");
    std::ostringstream s;
    s << in.rdbuf();
    ENGINE_CHECK(!in.bad(), kIo, path.string(), ": read failed");
    return s.str();
}

// Lines of a JSONL file with their 1-based numbers; blank lines are not records.
std::vector<std::pair<int64_t, std::string>> jsonl_lines(const std::string& text) {
    std::vector<std::pair<int64_t, std::string>> lines;
    int64_t number = 0;
    size_t start = 0;
    while (start <= text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        ++number;
        std::string line = text.substr(start, end - start);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") != std::string::npos) lines.emplace_back(number, std::move(line));
        start = end + 1;
    }
    return lines;
}

nlohmann::json parse_record(const std::string& line, const std::string& where) {
    try {
        nlohmann::json j = nlohmann::json::parse(line);
        ENGINE_CHECK(j.is_object(), kBadFile, where, ": expected one JSON object per line");
        return j;
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range (number overflow)
        ENGINE_THROW(kBadFile, where, ": invalid JSON (", e.what(), ")");
    }
}

std::string string_field(const nlohmann::json& j, const char* key, const std::string& where, bool required) {
    if (!j.contains(key) || j[key].is_null()) {
        ENGINE_CHECK(!required, kBadFile, where, ": missing \"", key, "\"");
        return {};
    }
    ENGINE_CHECK(j[key].is_string(), kBadFile, where, ": \"", key, "\" must be a string");
    return j[key].get<std::string>();
}

nlohmann::json conversation(const std::string& system, const std::string& user, const std::string& assistant) {
    nlohmann::json m = nlohmann::json::array();
    if (!system.empty()) m.push_back({{"role", "system"}, {"content", system}});
    m.push_back({{"role", "user"}, {"content", user}});
    m.push_back({{"role", "assistant"}, {"content", assistant}});
    return m;
}

DatasetFormat detect_format(const fs::path& path, const std::string& text) {
    std::string ext = path.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    if (ext == ".csv") return DatasetFormat::kCsv;
    if (ext == ".jsonl" || ext == ".json") {
        auto lines = jsonl_lines(text);
        ENGINE_CHECK(!lines.empty(), kBadFile, path.string(), ": the file has no records");
        const std::string where = path.filename().string() + ":" + std::to_string(lines[0].first);
        nlohmann::json first = parse_record(lines[0].second, where);
        if (first.contains("messages")) return DatasetFormat::kChatJsonl;
        if (first.contains("instruction")) return DatasetFormat::kAlpacaJsonl;
        ENGINE_THROW(kBadFile, where, ": cannot tell the format: expected \"messages\" (chat) or ",
                     "\"instruction\"/\"output\" (alpaca) in the first record");
    }
    return DatasetFormat::kText;
}

void add_all(std::vector<TrainExample>& out, std::vector<TrainExample>&& more) {
    for (auto& e : more) out.push_back(std::move(e));
}

std::vector<TrainExample> load_file(const fs::path& path, const Tokenizer& tok, const DatasetOptions& opt) {
    const std::string text = read_all(path);
    const std::string name = path.filename().string();
    DatasetFormat format = opt.format == DatasetFormat::kAuto ? detect_format(path, text) : opt.format;
    std::vector<TrainExample> out;
    switch (format) {
        case DatasetFormat::kText: {
            ENGINE_CHECK(!text.empty(), kBadFile, path.string(), ": the text file is empty");
            std::vector<int32_t> ids = tok.encode(text, /*add_special_tokens=*/true);
            auto eos = tok.eos_ids();
            if (!eos.empty()) ids.push_back(eos[0]);
            const int64_t chunk = opt.text_chunk_tokens > 0 ? opt.text_chunk_tokens : int64_t(ids.size());
            for (int64_t begin = 0; begin < int64_t(ids.size()); begin += chunk) {
                int64_t end = std::min<int64_t>(int64_t(ids.size()), begin + chunk);
                TrainExample ex;
                ex.tokens.assign(ids.begin() + begin, ids.begin() + end);
                ex.trained.assign(ex.tokens.size(), 1);
                ex.source = name + ":tokens " + std::to_string(begin) + "-" + std::to_string(end);
                out.push_back(std::move(ex));
            }
            break;
        }
        case DatasetFormat::kChatJsonl:
            for (const auto& [number, line] : jsonl_lines(text)) {
                const std::string where = name + ":" + std::to_string(number);
                nlohmann::json rec = parse_record(line, where);
                ENGINE_CHECK(rec.contains("messages"), kBadFile, where, ": missing \"messages\" (chat format)");
                nlohmann::json messages = rec["messages"];
                if (!opt.system_prompt.empty() && messages.is_array() && !messages.empty() &&
                    messages[0].value("role", "") != "system")
                    messages.insert(messages.begin(), {{"role", "system"}, {"content", opt.system_prompt}});
                add_all(out, render_chat_examples(messages, tok, opt.template_name, where));
            }
            break;
        case DatasetFormat::kAlpacaJsonl:
            for (const auto& [number, line] : jsonl_lines(text)) {
                const std::string where = name + ":" + std::to_string(number);
                nlohmann::json rec = parse_record(line, where);
                std::string instruction = string_field(rec, "instruction", where, true);
                std::string input = string_field(rec, "input", where, false);
                std::string output = string_field(rec, "output", where, true);
                std::string system = string_field(rec, "system", where, false);
                if (system.empty()) system = opt.system_prompt;
                ENGINE_CHECK(!instruction.empty(), kBadFile, where, ": \"instruction\" is empty");
                ENGINE_CHECK(!output.empty(), kBadFile, where, ": \"output\" is empty: nothing to train on");
                std::string user = input.empty() ? instruction : instruction + "\n\n" + input;
                add_all(out, render_chat_examples(conversation(system, user, output), tok, opt.template_name, where));
            }
            break;
        case DatasetFormat::kCsv: {
            CsvTable table = parse_csv(text, path.string());
            int prompt_col = table.column(opt.csv_prompt_column);
            int response_col = table.column(opt.csv_response_column);
            ENGINE_CHECK(prompt_col >= 0 && response_col >= 0, kBadFile, path.string(),
                         ": the header row needs columns \"", opt.csv_prompt_column, "\" and \"",
                         opt.csv_response_column, "\" (choose others in the dataset options)");
            for (const CsvRow& row : table.rows) {
                const std::string where = name + ":" + std::to_string(row.line);
                const std::string& prompt = row.fields[size_t(prompt_col)];
                const std::string& response = row.fields[size_t(response_col)];
                ENGINE_CHECK(!prompt.empty(), kBadFile, where, ": the \"", opt.csv_prompt_column, "\" cell is empty");
                ENGINE_CHECK(!response.empty(), kBadFile, where, ": the \"", opt.csv_response_column,
                             "\" cell is empty: nothing to train on");
                add_all(out, render_chat_examples(conversation(opt.system_prompt, prompt, response), tok,
                                                  opt.template_name, where));
            }
            break;
        }
        case DatasetFormat::kAuto: break;
    }
    ENGINE_CHECK(!out.empty(), kBadFile, path.string(), ": the file has no records");
    return out;
}

bool supported_extension(const fs::path& p) {
    std::string ext = p.extension().string();
    return ext == ".txt" || ext == ".md" || ext == ".jsonl" || ext == ".json" || ext == ".csv";
}

}  // namespace

Dataset load_dataset(const fs::path& path, const Tokenizer& tokenizer, const DatasetOptions& options) {
    ENGINE_CHECK(options.validation_fraction >= 0 && options.validation_fraction < 1, kInvalidArgument,
                 "validation fraction ", options.validation_fraction, " must be in [0, 1)");
    std::vector<fs::path> files;
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
        for (const auto& entry : fs::directory_iterator(path))
            if (entry.is_regular_file() && supported_extension(entry.path())) files.push_back(entry.path());
        std::sort(files.begin(), files.end());
        ENGINE_CHECK(!files.empty(), kBadFile, path.string(),
                     ": the folder has no .txt, .md, .jsonl, .json or .csv files");
    } else {
        ENGINE_CHECK(fs::exists(path, ec), kIo, path.string(), ": no such file or folder");
        files.push_back(path);
    }
    std::vector<TrainExample> all;
    for (const auto& f : files) add_all(all, load_file(f, tokenizer, options));

    Dataset ds;
    for (const auto& ex : all) {
        ds.stats.tokens += int64_t(ex.tokens.size());
        for (uint8_t t : ex.trained) ds.stats.trained_tokens += t;
    }
    ds.stats.records = int64_t(all.size());
    ENGINE_CHECK(ds.stats.trained_tokens > 0, kBadFile, path.string(), ": no token is marked for training");

    // Seeded split: a permutation of the records; the first n_val go to validation.
    std::vector<int64_t> order(all.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = int64_t(i);
    SeededRng rng(options.seed);
    rng.shuffle(order);
    int64_t n_val = int64_t(double(all.size()) * options.validation_fraction + 0.5);
    if (options.validation_fraction > 0 && n_val == 0 && all.size() >= 2) n_val = 1;
    if (n_val >= int64_t(all.size())) n_val = int64_t(all.size()) - 1;
    std::vector<bool> is_val(all.size(), false);
    for (int64_t i = 0; i < n_val; ++i) is_val[size_t(order[size_t(i)])] = true;
    for (size_t i = 0; i < all.size(); ++i)
        (is_val[i] ? ds.validation : ds.train).push_back(std::move(all[i]));
    return ds;
}

}  // namespace engine
