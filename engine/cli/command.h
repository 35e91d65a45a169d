// command.h — the `latent` CLI's sub-command registry.
//
// Each sub-command lives in its own cmd_<name>.cpp and registers itself:
//   LATENT_COMMAND(info, "info MODEL", "architecture, parameters, memory, KV cache MLA vs MHA", run_info);
// where `int run_info(Args& args)` returns the process exit code. Errors are engine::Error exceptions,
// printed by main() with a non-zero exit code.
#pragma once

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/backend.h"
#include "engine/config.h"
#include "engine/generate.h"
#include "engine/model.h"
#include "engine/tokenizer.h"

namespace cli {

// Minimal argv parser: positionals, --flag, --key value, --key=value, -p value.
class Args {
public:
    Args(std::vector<std::string> argv) : argv_(std::move(argv)) {}
    // Option value; `names` like {"-p", "--prompt"}. Consumes it.
    std::optional<std::string> option(std::initializer_list<const char*> names);
    std::string option_or(std::initializer_list<const char*> names, const std::string& fallback);
    double number_or(std::initializer_list<const char*> names, double fallback);
    bool flag(std::initializer_list<const char*> names);  // consumes a boolean switch
    // After options are consumed: the remaining positionals. Throws on an unknown leftover --option.
    std::vector<std::string> positionals(size_t min_count, size_t max_count, const std::string& usage);

private:
    std::vector<std::string> argv_;
};

struct Command {
    std::string name, usage, summary;
    std::function<int(Args&)> run;
};

std::map<std::string, Command>& registry();

struct Registrar {
    Registrar(const char* name, const char* usage, const char* summary, std::function<int(Args&)> run) {
        registry()[name] = Command{name, usage, summary, std::move(run)};
    }
};

// ---- shared by the model commands (cmd_common.cpp) ----

// What `info` and `bench` need to know about a checkpoint, from config.json and the tensor headers
// (no forward pass). Parameter counts skip MTP layers (index >= num_hidden_layers).
struct ModelSummary {
    engine::ModelConfig config;
    int64_t total_params = 0;
    int64_t active_params = 0;         // per token: everything but the routed experts not chosen
    int64_t weight_bytes = 0;          // as held in memory (F8 dequantized to BF16)
    int64_t decode_read_bytes = 0;     // weight bytes one decoded token reads: 1 embedding row,
                                       // top_k/n_routed of each routed-expert set, the rest whole
    std::map<std::string, int64_t> params_by_dtype;
    int64_t kv_elems_per_token = 0;    // our cache (MLA latent + rope key), all layers
    int64_t mha_kv_elems_per_token = 0;  // same shape as MHA: layers · 2 · H · v_head_dim
};
ModelSummary summarize_model(const std::filesystem::path& model_dir);

// A model, its backend (which must outlive it) and, when asked, its tokenizer.
struct LoadedModel {
    std::unique_ptr<engine::Backend> backend;
    std::unique_ptr<engine::Model> model;
    std::unique_ptr<engine::Tokenizer> tokenizer;
};
// `device`: "auto" (the GPU when the CUDA backend loads, else the CPU; the reason goes to stderr),
// "cpu" or "cuda".
LoadedModel load_model(const std::filesystem::path& model_dir, int threads, bool with_tokenizer,
                       const std::string& device = "cpu");

// --temp --top-k --top-p --min-p --repeat-penalty --repeat-last-n --seed -n --stop (repeatable).
engine::GenerateOptions parse_generate_options(Args& args, int default_max_tokens);
// --ctx N (default: min(4096, max_position_embeddings)), checked > 0.
int64_t parse_context(Args& args, const engine::ModelConfig& config);
// --kv-cache f32|bf16 (default f32): the KV cache's element type (Model::new_cache).
engine::DType parse_kv_cache(Args& args);

// Raw logits dump: FILE holds little-endian f32 rows [rows, vocab]; FILE.json describes it.
class LogitsWriter {
public:
    LogitsWriter(const std::filesystem::path& path, int64_t vocab);
    void write_row(std::span<const float> row);
    // Closes the data file and writes the sidecar with `extra` fields merged in.
    void finish(const nlohmann::json& extra);
    int64_t rows() const { return rows_; }

private:
    std::filesystem::path path_;
    std::ofstream out_;
    int64_t vocab_ = 0;
    int64_t rows_ = 0;
};

std::string with_commas(int64_t v);   // 221184 -> "221,184"
std::string human_bytes(double bytes);  // "1.50 GiB"

}  // namespace cli

#define LATENT_COMMAND(NAME, USAGE, SUMMARY, FN) \
    static ::cli::Registrar latent_command_##NAME(#NAME, USAGE, SUMMARY, FN)
