// cmd_new.cpp — `latent new`: create a new model folder from a preset, with a BPE tokenizer trained on
// the user's corpus and freshly initialised weights, ready for `latent train` and the app's Library.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "command.h"
#include "engine/bpe_trainer.h"
#include "engine/chat_template.h"
#include "engine/error.h"
#include "engine/tokenizer.h"
#include "engine/train/presets.h"
#include "engine/train/train_model.h"
#include "engine/weights.h"

namespace {

namespace fs = std::filesystem;

engine::ResidualKind residual_from(const std::string& s) {
    if (s == "mhc") return engine::ResidualKind::kMHC;
    if (s == "hc") return engine::ResidualKind::kHC;
    if (s == "residual") return engine::ResidualKind::kResidual;
    throw engine::Error(engine::ErrorKind::kInvalidArgument, "--residual must be mhc, hc or residual, got '" + s + "'");
}

int run_new(cli::Args& args) {
    const std::string usage =
        "new OUT_DIR --corpus FILE [--corpus FILE ...] [--preset tiny|small|base] [--attention mla|mha] "
        "[--moe] [--residual mhc|hc|residual] [--vocab N] [--seed S]";
    std::vector<std::string> corpora;
    while (auto c = args.option({"--corpus"})) corpora.push_back(*c);
    engine::PresetOptions po;
    po.size = args.option_or({"--preset"}, "tiny");
    const std::string attention = args.option_or({"--attention"}, "mla");
    if (attention != "mla" && attention != "mha")
        throw engine::Error(engine::ErrorKind::kInvalidArgument, "--attention must be mla or mha");
    po.attention = attention == "mla" ? engine::AttentionKind::kMLA : engine::AttentionKind::kMHA;
    po.moe = args.flag({"--moe"});
    const std::string residual = args.option_or({"--residual"}, "mhc");
    po.residual = residual_from(residual);
    const int64_t vocab = int64_t(args.number_or({"--vocab"}, 0));
    const uint64_t seed = uint64_t(args.number_or({"--seed"}, 1234));
    auto pos = args.positionals(1, 1, usage);
    if (corpora.empty())
        throw engine::Error(engine::ErrorKind::kInvalidArgument, "give at least one --corpus FILE to train the tokenizer on\nusage: latent " + usage);
    const fs::path out = pos[0];
    if (fs::exists(out / "config.json"))
        throw engine::Error(engine::ErrorKind::kInvalidArgument, out.string() + " already holds a model (config.json); choose a new folder");

    // 1. Tokenizer: byte-level BPE with ChatML's special tokens; the ChatML template is stored with it.
    engine::ModelConfig probe = engine::make_preset(po);
    engine::BpeTrainerOptions bo;
    bo.vocab_size = size_t(vocab > 0 ? vocab : probe.vocab_size);
    bo.special_tokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
    bo.eos_token = "<|im_end|>";
    bo.pad_token = "<|endoftext|>";
    engine::BpeTrainer bpe(bo);
    for (const auto& c : corpora) bpe.add_file(c);
    std::fprintf(stderr, "training the tokenizer (%zu tokens) on %zu file(s)...\n", bo.vocab_size, corpora.size());
    bpe.train();
    nlohmann::json tok_config = nlohmann::json::parse(bpe.tokenizer_config_json());
    tok_config["chat_template"] = std::string(engine::default_chat_template());
    fs::create_directories(out);
    engine::write_file_atomic(out / "tokenizer.json", bpe.tokenizer_json());
    engine::write_file_atomic(out / "tokenizer_config.json", tok_config.dump(2));

    // 2. Model: the preset sized to the tokenizer, weights initialised.
    auto tokenizer = engine::Tokenizer::from_json_text(bpe.tokenizer_json(), tok_config.dump(), "tokenizer.json");
    po.vocab_size = int64_t(tokenizer->vocab_size());
    engine::ModelConfig config = engine::make_preset(po);
    auto backend = engine::make_cpu_backend(0);
    engine::TrainModel model(config, *backend);
    model.init(seed);
    model.save(out);
    engine::fsync_directory(out);
    std::printf("created %s: %s, %lld parameters, vocab %lld (%s%s, %s)\n", out.string().c_str(),
                config.architecture.c_str(), static_cast<long long>(model.parameter_count()),
                static_cast<long long>(config.vocab_size), attention.c_str(), po.moe ? " + MoE" : "",
                residual.c_str());
    return 0;
}

}  // namespace

LATENT_COMMAND(new, "new OUT_DIR --corpus FILE [--preset tiny|small|base] [--moe] [--residual mhc|hc|residual]",
               "create a new model from a preset, with a BPE tokenizer trained on your text", run_new);
