#include "engine/ModelInspector.h"

#include <QDir>
#include <QFileInfo>
#include <QRegularExpression>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <map>

#include "engine/config.h"
#include "engine/error.h"
#include "engine/weights.h"

namespace ModelInspector {

ModelSummary inspect(const QString& path) {
    const std::filesystem::path dir = path.toStdString();
    ENGINE_CHECK(std::filesystem::is_directory(dir), kIo, path.toStdString(),
                 ": not a folder. Choose the folder that holds config.json and the .safetensors files.");
    ENGINE_CHECK(std::filesystem::exists(dir / "config.json"), kBadFile, path.toStdString(),
                 ": no config.json here. Choose the model's folder (Hugging Face layout: config.json, "
                 "*.safetensors, tokenizer.json).");
    const engine::ModelConfig cfg = engine::ModelConfig::from_file(dir / "config.json");
    // Headers only: FP8 weights stay FP8 (dequantizing them here would cost the whole load).
    const auto store = engine::WeightStore::open(dir, engine::Fp8Load::kKeep);

    ModelSummary s;
    s.path = QDir(path).absolutePath();
    s.name = QFileInfo(s.path).fileName();
    s.architecture = QString::fromStdString(cfg.architecture);
    s.modelType = QString::fromStdString(cfg.model_type);
    s.layers = int(cfg.num_hidden_layers);
    s.routedExperts = int(cfg.n_routed_experts);
    s.expertsPerToken = int(cfg.num_experts_per_tok);
    s.sharedExperts = int(cfg.n_shared_experts);
    s.maxContext = cfg.max_position_embeddings;
    constexpr int64_t kCacheElem = 4;  // the engine keeps the KV cache in F32
    const int64_t L = cfg.num_hidden_layers;
    if (cfg.attention_kind == engine::AttentionKind::kMLA) {
        s.kvBytesPerToken = L * (cfg.kv_lora_rank + cfg.qk_rope_head_dim) * kCacheElem;
        s.attention = QStringLiteral("MLA (latent %1 + rope %2 per token per layer)").arg(cfg.kv_lora_rank).arg(cfg.qk_rope_head_dim);
    } else {
        s.kvBytesPerToken = L * cfg.num_attention_heads * (cfg.qk_head_dim() + cfg.v_head_dim) * kCacheElem;
        s.attention = QStringLiteral("MHA");
    }
    s.mhaKvBytesPerToken = L * 2 * cfg.num_attention_heads * cfg.v_head_dim * kCacheElem;
    switch (cfg.residual_kind) {
    case engine::ResidualKind::kResidual: s.residual = QStringLiteral("residual"); break;
    case engine::ResidualKind::kHC: s.residual = QStringLiteral("HC ×%1").arg(cfg.hc_mult); break;
    case engine::ResidualKind::kMHC: s.residual = QStringLiteral("mHC ×%1").arg(cfg.hc_mult); break;
    }

    // Parameters from the tensor headers; MTP layers (index >= num_hidden_layers) are not run.
    static const QRegularExpression layerRe(QStringLiteral("^model\\.layers\\.(\\d+)\\."));
    static const QRegularExpression expertRe(QStringLiteral("^model\\.layers\\.(\\d+)\\.mlp\\.experts\\.\\d+\\."));
    std::map<std::string, int64_t> bytesByDtype;
    int64_t routed = 0;
    for (const engine::TensorInfo& t : store->tensors()) {
        const QString name = QString::fromStdString(t.name);
        const auto m = layerRe.match(name);
        if (m.hasMatch() && m.captured(1).toLongLong() >= L) continue;
        int64_t n = 1;
        for (int64_t d : t.shape) n *= d;
        s.totalParams += n;
        s.weightBytes += n * engine::loaded_dtype_size(t.dtype);  // memory once loaded (F8 -> BF16)
        bytesByDtype[engine::dtype_name(t.dtype)] += n * int64_t(engine::dtype_size(t.dtype));  // as stored
        if (expertRe.match(name).hasMatch()) routed += n;
    }
    // Per token only top_k of the routed experts run.
    s.activeParams = s.totalParams;
    if (cfg.n_routed_experts > 0)
        s.activeParams -= routed - routed * cfg.num_experts_per_tok / cfg.n_routed_experts;
    int64_t best = -1;
    for (const auto& [name, bytes] : bytesByDtype)
        if (bytes > best) { best = bytes; s.dtype = QString::fromStdString(name); }
    s.hasTokenizer = std::filesystem::exists(dir / "tokenizer.json");
    s.hasChatTemplate = std::filesystem::exists(dir / "chat_template.jinja");
    if (!s.hasChatTemplate && std::filesystem::exists(dir / "tokenizer_config.json")) {
        // A tokenizer_config.json without "chat_template" means the built-in ChatML default is used.
        std::ifstream in(dir / "tokenizer_config.json");
        const nlohmann::json tc = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
        s.hasChatTemplate = tc.is_object() && tc.contains("chat_template") && !tc["chat_template"].is_null();
    }
    return s;
}

QString plainMessage(const engine::Error& error) {
    const QString what = QString::fromStdString(error.message());
    QString todo;
    switch (error.kind()) {
    case engine::ErrorKind::kBadFile:
        todo = QStringLiteral("The model files look damaged, incomplete or not in Hugging Face safetensors "
                              "layout. Re-download or re-export the checkpoint, then open the folder again.");
        break;
    case engine::ErrorKind::kUnsupported:
        todo = QStringLiteral("Latent Studio runs DeepSeek-V2/V3-style models (MLA attention, DeepSeekMoE) and "
                              "its own Latent models. Choose a checkpoint of one of those.");
        break;
    case engine::ErrorKind::kIo:
        todo = QStringLiteral("Check that the folder exists, is readable, and that the disk is mounted.");
        break;
    case engine::ErrorKind::kOutOfMemory:
        todo = QStringLiteral("Close other programs, choose a smaller context, or a smaller model.");
        break;
    case engine::ErrorKind::kTemplate:
        todo = QStringLiteral("The model's chat template could not be used. Edit chat_template in "
                              "tokenizer_config.json, or remove it to use the built-in ChatML template.");
        break;
    case engine::ErrorKind::kContextFull:
        todo = QStringLiteral("Start a new chat, or load the model with a larger context.");
        break;
    default:
        todo = QStringLiteral("If this keeps happening, please report it with this message.");
    }
    return QStringLiteral("%1\n\nWhat to do: %2").arg(what, todo);
}

}  // namespace ModelInspector
