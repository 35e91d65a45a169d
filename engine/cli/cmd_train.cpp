// cmd_train.cpp — `latent train`: fine-tune or train a model folder on a dataset, with a progress line
// (loss, tokens/s, ETA), checkpoints, validation and resume. A run folder that already has run.json is
// resumed from its newest healthy checkpoint.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <unistd.h>

#include "command.h"
#include "engine/error.h"
#include "engine/training_run.h"

namespace {

namespace fs = std::filesystem;

std::string duration(double s) {
    if (!std::isfinite(s) || s < 0) return "?";
    char buf[32];
    const long t = long(s + 0.5);
    if (t >= 3600) std::snprintf(buf, sizeof(buf), "%ldh%02ldm", t / 3600, t / 60 % 60);
    else std::snprintf(buf, sizeof(buf), "%ldm%02lds", t / 60, t % 60);
    return buf;
}

engine::TrainingRunConfig read_config_file(const fs::path& p) {
    std::ifstream in(p);
    if (!in) throw engine::Error(engine::ErrorKind::kIo, p.string() + ": cannot open the training config");
    std::stringstream s;
    s << in.rdbuf();
    try {
        return engine::TrainingRunConfig::from_json(nlohmann::json::parse(s.str()), p.string());
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range (number overflow)
        throw engine::Error(engine::ErrorKind::kBadFile, p.string() + ": invalid JSON (" + e.what() + ")");
    }
}

int run_train(cli::Args& args) {
    const std::string usage =
        "train RUN_DIR [--base MODEL_DIR --data FILE_OR_DIR | --config run.json] [--steps N | --epochs E] "
        "[--seq-len T] [--batch B] [--accum N] [--lr LR] [--warmup N] [--decay cosine|linear|constant] "
        "[--clip C] [--eval-every N] [--ckpt-every N] [--keep N] [--seed S] [--init-std S] [--format auto|text|chat|alpaca|csv] "
        "[--val FRACTION] [--from-scratch] [--no-packing] [--threads N] [--device cpu|cuda|auto] [--matmul bf16|tf32|exact] "
        "[--lora-rank R [--lora-alpha A] [--lora-dropout P] [--lora-targets q_proj,kv_b_proj,...]]";
    auto config_file = args.option({"--config"});
    auto base = args.option({"--base"});
    auto data = args.option({"--data"});
    const int threads = int(args.number_or({"--threads"}, 0));
    // Training defaults to the CPU (run.json "device"): the GPU path passes its parity tests in the CUDA
    // emulator but has not run on a GPU yet (issue 5), so it is opt-in. --device overrides the run's.
    const std::optional<std::string> device = args.option({"--device"});
    // Overrides are read into a JSON object and applied over the base config, so every setting has
    // exactly one parser (TrainingRunConfig::from_json, with its range checks).
    nlohmann::json over = nlohmann::json::object();
    auto num = [&](std::initializer_list<const char*> names, const char* key, bool integer) {
        if (auto v = args.option(names)) {
            try {
                size_t used = 0;
                double d = std::stod(*v, &used);
                if (used != v->size()) throw std::invalid_argument("x");
                over[key] = integer ? nlohmann::json(int64_t(d)) : nlohmann::json(d);
            } catch (const std::exception&) {
                throw engine::Error(engine::ErrorKind::kInvalidArgument,
                                    std::string("option ") + *names.begin() + " expects a number, got '" + *v + "'");
            }
        }
    };
    num({"--steps"}, "max_steps", true);
    num({"--epochs"}, "epochs", false);
    num({"--seq-len"}, "seq_len", true);
    num({"--batch"}, "batch_size", true);
    num({"--accum"}, "grad_accum_steps", true);
    num({"--lr"}, "lr", false);
    num({"--warmup"}, "warmup_steps", true);
    num({"--clip"}, "grad_clip", false);
    num({"--eval-every"}, "eval_every", true);
    num({"--ckpt-every"}, "checkpoint_every", true);
    num({"--keep"}, "keep_last", true);
    num({"--seed"}, "seed", true);
    num({"--init-std"}, "init_std", false);
    num({"--val"}, "validation_fraction", false);
    num({"--chunk"}, "text_chunk_tokens", true);
    if (auto v = args.option({"--decay"})) over["lr_decay"] = *v;
    if (auto v = args.option({"--format"})) over["data_format"] = *v;
    if (auto v = args.option({"--matmul"})) over["matmul_precision"] = *v;  // GPU GEMM precision (bf16 default)
    if (device) over["device"] = *device;
    if (auto v = args.option({"--system"})) over["system_prompt"] = *v;
    num({"--lora-rank"}, "lora_rank", true);
    num({"--lora-alpha"}, "lora_alpha", false);
    num({"--lora-dropout"}, "lora_dropout", false);
    if (auto v = args.option({"--lora-targets"})) {
        std::vector<std::string> targets;
        size_t at = 0;
        while (at <= v->size()) {
            const size_t comma = std::min(v->find(',', at), v->size());
            if (comma > at) targets.push_back(v->substr(at, comma - at));
            at = comma + 1;
        }
        if (targets.empty())
            throw engine::Error(engine::ErrorKind::kInvalidArgument,
                                "option --lora-targets expects module names, e.g. q_proj,kv_b_proj,o_proj");
        over["lora_targets"] = targets;
    }
    if (args.flag({"--from-scratch"})) over["from_scratch"] = true;
    if (args.flag({"--no-packing"})) over["packing"] = false;
    auto pos = args.positionals(1, 1, usage);
    const fs::path out = pos[0];

    nlohmann::json j = nlohmann::json::object();
    if (config_file) {
        j = read_config_file(*config_file).to_json();
    } else if (fs::exists(out / "run.json") && !base) {
        j = read_config_file(out / "run.json").to_json();  // resume with the run's own settings
        std::fprintf(stderr, "resuming the run in %s\n", out.string().c_str());
    } else {
        if (!base || !data)
            throw engine::Error(engine::ErrorKind::kInvalidArgument, "give --base MODEL_DIR and --data FILE (or --config run.json)\nusage: latent " + usage);
    }
    if (base) j["base_model"] = *base;
    if (data) j["data"] = *data;
    j["output"] = out.string();
    for (auto& [k, v] : over.items()) j[k] = v;
    engine::TrainingRunConfig cfg = engine::TrainingRunConfig::from_json(j, "command line");

    engine::BackendChoice choice;
    choice.kind = engine::backend_kind_from_name(cfg.device);
    choice.cpu_threads = threads;
    std::string note;
    auto backend = engine::make_backend(choice, &note);
    if (!note.empty() && choice.kind == engine::BackendChoice::Kind::kAuto) std::fprintf(stderr, "%s\n", note.c_str());
    std::fprintf(stderr, "training %s on %s with %s -> %s\n", cfg.base_model.string().c_str(), cfg.data.string().c_str(),
                 backend->name().c_str(), out.string().c_str());
    const bool tty = isatty(fileno(stderr));
    engine::TrainingSummary s = engine::run_training(cfg, *backend, [&](const engine::TrainingEvent& ev) {
        const auto& st = ev.step;
        std::string val = ev.validation_loss ? " val " + std::to_string(*ev.validation_loss).substr(0, 6) : "";
        std::fprintf(stderr, "%sstep %lld/%lld  loss %.4f%s  lr %.2e  |g| %.3f  %.0f tok/s  ETA %s%s%s",
                     tty ? "\r" : "", static_cast<long long>(st.step), static_cast<long long>(ev.total_steps), st.loss,
                     val.c_str(), double(st.lr), st.grad_norm, ev.tokens_per_second, duration(ev.eta_seconds).c_str(),
                     st.skipped ? "  [skipped: non-finite]" : "", tty && !ev.validation_loss ? "   " : "\n");
        return true;
    });
    std::fprintf(stderr, "\n");
    std::printf("%lld steps (%lld skipped)%s; last loss %.4f%s\n", static_cast<long long>(s.steps),
                static_cast<long long>(s.skipped),
                s.resumed_from ? (", resumed from step " + std::to_string(s.resumed_from)).c_str() : "", s.last_loss,
                s.validation_loss ? (", validation loss " + std::to_string(*s.validation_loss)).c_str() : "");
    if (!s.final_model.empty()) std::printf("model written to %s\n", s.final_model.string().c_str());
    if (!s.final_model.empty() && cfg.lora.enabled())
        std::printf("LoRA merged into the model; adapters written to %s\n", (out / "adapter").string().c_str());
    return 0;
}

}  // namespace

LATENT_COMMAND(train, "train RUN_DIR --base MODEL_DIR --data FILE [options]",
               "fine-tune or train a model on JSONL chat / alpaca / CSV / text data (resumable)", run_train);
