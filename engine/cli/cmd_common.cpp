// cmd_common.cpp — helpers shared by info / generate / chat / perplexity / bench: the checkpoint
// summary (parameters and bytes from tensor headers), model loading, sampling options, logits dumps.
#include <bit>
#include <cmath>
#include <cstdio>

#include "command.h"
#include "engine/error.h"
#include "engine/weights.h"

namespace cli {

namespace {

// "model.layers.12.mlp.experts.7.up_proj.weight" -> layer 12, routed expert.
struct NameInfo {
    int64_t layer = -1;
    bool routed_expert = false;
};

NameInfo parse_name(const std::string& name) {
    static const std::string kPrefix = "model.layers.";
    NameInfo info;
    if (name.rfind(kPrefix, 0) != 0) return info;
    size_t i = kPrefix.size(), j = i;
    while (j < name.size() && std::isdigit(static_cast<unsigned char>(name[j]))) ++j;
    if (j == i) return info;
    info.layer = std::stoll(name.substr(i, j - i));
    info.routed_expert = name.find(".mlp.experts.", j) != std::string::npos;
    return info;
}

}  // namespace

ModelSummary summarize_model(const std::filesystem::path& model_dir) {
    ModelSummary s;
    std::filesystem::path config_path = model_dir / "config.json";
    ENGINE_CHECK(std::filesystem::is_directory(model_dir), kIo, "'", model_dir.string(),
                 "' is not a folder; pass a model folder holding config.json and *.safetensors");
    ENGINE_CHECK(std::filesystem::exists(config_path), kIo, "'", model_dir.string(),
                 "' has no config.json; pass a Hugging Face model folder");
    s.config = engine::ModelConfig::from_file(config_path);
    const auto& c = s.config;
    // Headers only: FP8 weights stay FP8 (dequantizing them here would cost the whole load).
    auto store = engine::WeightStore::open(model_dir, engine::Fp8Load::kKeep);

    const int64_t E = c.n_routed_experts, K = c.num_experts_per_tok;
    std::vector<int64_t> routed_params(size_t(c.num_hidden_layers), 0), routed_bytes(size_t(c.num_hidden_layers), 0);
    for (const auto& t : store->tensors()) {
        NameInfo ni = parse_name(t.name);
        if (ni.layer >= c.num_hidden_layers) continue;  // MTP layers: not run
        int64_t n = 1;
        for (int64_t d : t.shape) n *= d;
        const int64_t bytes = n * engine::loaded_dtype_size(t.dtype);  // as loaded, not as stored
        s.total_params += n;
        s.weight_bytes += bytes;
        s.params_by_dtype[engine::dtype_name(t.dtype)] += n;
        if (ni.routed_expert && ni.layer >= 0) {
            routed_params[size_t(ni.layer)] += n;
            routed_bytes[size_t(ni.layer)] += bytes;
        } else if (t.name == "model.embed_tokens.weight" && !t.shape.empty()) {
            s.decode_read_bytes += bytes / t.shape[0];  // one row per token
            if (c.tie_word_embeddings) s.decode_read_bytes += bytes;  // it is also the lm_head
        } else {
            s.decode_read_bytes += bytes;
        }
    }
    s.active_params = s.total_params;
    for (size_t l = 0; l < routed_params.size(); ++l) {
        if (E > 0) {
            s.active_params -= routed_params[l] - routed_params[l] * K / E;
            s.decode_read_bytes += routed_bytes[l] * K / E;
        }
    }
    const int64_t L = c.num_hidden_layers, H = c.num_attention_heads;
    if (c.attention_kind == engine::AttentionKind::kMLA)
        s.kv_elems_per_token = L * (c.kv_lora_rank + c.qk_rope_head_dim);
    else
        s.kv_elems_per_token = L * H * (c.qk_head_dim() + c.v_head_dim);
    s.mha_kv_elems_per_token = L * 2 * H * c.v_head_dim;
    return s;
}

LoadedModel load_model(const std::filesystem::path& model_dir, int threads, bool with_tokenizer,
                       const std::string& device) {
    ENGINE_CHECK(std::filesystem::is_directory(model_dir), kIo, "'", model_dir.string(),
                 "' is not a folder; pass a model folder holding config.json, *.safetensors and tokenizer.json");
    LoadedModel m;
    // Tokenizer first: it is quick, and a missing tokenizer.json should not wait for the weights.
    if (with_tokenizer) m.tokenizer = engine::Tokenizer::from_path(model_dir);
    engine::BackendChoice choice;
    choice.kind = engine::backend_kind_from_name(device);
    choice.cpu_threads = threads;
    std::string note;
    m.backend = engine::make_backend(choice, &note);
    if (!note.empty() && choice.kind == engine::BackendChoice::Kind::kAuto) std::fprintf(stderr, "%s\n", note.c_str());
    m.model = engine::Model::load(model_dir, *m.backend);
    return m;
}

engine::GenerateOptions parse_generate_options(Args& args, int default_max_tokens) {
    engine::GenerateOptions o;
    o.max_tokens = int(args.number_or({"-n", "--n-predict", "--max-tokens"}, default_max_tokens));
    auto& sp = o.sampling;
    sp.temperature = args.number_or({"--temp", "--temperature"}, sp.temperature);
    sp.top_k = int(args.number_or({"--top-k"}, sp.top_k));
    sp.top_p = args.number_or({"--top-p"}, sp.top_p);
    sp.min_p = args.number_or({"--min-p"}, sp.min_p);
    sp.repetition_penalty = args.number_or({"--repeat-penalty"}, sp.repetition_penalty);
    sp.repetition_window = int(args.number_or({"--repeat-last-n"}, sp.repetition_window));
    sp.seed = uint64_t(args.number_or({"--seed"}, double(sp.seed)));
    ENGINE_CHECK(o.max_tokens >= 0, kInvalidArgument, "-n must be >= 0, got ", o.max_tokens);
    while (auto stop = args.option({"--stop"})) o.stop_strings.push_back(*stop);
    engine::Sampler check(sp);  // validates the ranges with the sampler's own messages
    (void)check;
    return o;
}

int64_t parse_context(Args& args, const engine::ModelConfig& config) {
    int64_t def = 4096;
    if (config.max_position_embeddings > 0) def = std::min(def, config.max_position_embeddings);
    const double ctx = args.number_or({"-c", "--ctx"}, double(def));
    ENGINE_CHECK(ctx >= 1 && ctx == std::floor(ctx), kInvalidArgument, "--ctx must be a positive whole number, got ", ctx);
    return int64_t(ctx);
}

engine::DType parse_kv_cache(Args& args) {
    return engine::kv_cache_dtype_from_name(args.option_or({"--kv-cache"}, "f32"));
}

LogitsWriter::LogitsWriter(const std::filesystem::path& path, int64_t vocab) : path_(path), vocab_(vocab) {
    static_assert(std::endian::native == std::endian::little, "logits dumps are written little-endian");
    out_.open(path, std::ios::binary | std::ios::trunc);
    ENGINE_CHECK(out_.good(), kIo, "cannot write logits to '", path.string(), "' (check the folder exists and is writable)");
}

void LogitsWriter::write_row(std::span<const float> row) {
    ENGINE_CHECK(int64_t(row.size()) == vocab_, kInternal, "logits row has ", row.size(), " values, expected ", vocab_);
    out_.write(reinterpret_cast<const char*>(row.data()), std::streamsize(row.size() * sizeof(float)));
    ENGINE_CHECK(out_.good(), kIo, "writing logits to '", path_.string(), "' failed (disk full?)");
    ++rows_;
}

void LogitsWriter::finish(const nlohmann::json& extra) {
    out_.close();
    ENGINE_CHECK(!out_.fail(), kIo, "closing '", path_.string(), "' failed");
    nlohmann::json j = {{"format", "latent-logits-v1"},
                        {"file", path_.filename().string()},
                        {"dtype", "f32"},
                        {"endianness", "little"},
                        {"shape", {rows_, vocab_}},
                        {"layout", "row-major [rows, vocab]; no header, raw floats"}};
    for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = it.value();
    engine::write_file_atomic(path_.string() + ".json", j.dump(2) + "\n");
}

std::string with_commas(int64_t v) {
    std::string digits = std::to_string(v < 0 ? -v : v), out;
    for (size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return v < 0 ? "-" + out : out;
}

std::string human_bytes(double bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (std::fabs(bytes) >= 1024.0 && u < 4) {
        bytes /= 1024.0;
        ++u;
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", bytes, units[u]);
    return buf;
}

}  // namespace cli
