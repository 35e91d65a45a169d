// cmd_export.cpp — `latent export RUN_DIR [--checkpoint STEP] OUT_DIR`: a checkpoint of a training run (the
// newest healthy one by default) as a model folder the app's Library and `latent chat` load. LoRA
// checkpoints are merged onto the run's base (engine::export_checkpoint_model).
#include <cstdio>
#include <filesystem>

#include "command.h"
#include "engine/checkpoint.h"
#include "engine/error.h"
#include "engine/training_run.h"

namespace {

namespace fs = std::filesystem;

int run_export(cli::Args& args) {
    const std::string usage = "export RUN_DIR [--checkpoint STEP] [--threads N] OUT_DIR";
    const double step = args.number_or({"--checkpoint"}, -1);
    const int threads = int(args.number_or({"-t", "--threads"}, 0));
    auto pos = args.positionals(2, 2, usage);
    const fs::path run = pos[0], out = pos[1];
    const fs::path root = run / "checkpoints";
    std::optional<engine::CheckpointInfo> chosen;
    if (step < 0) {
        chosen = engine::latest_healthy_checkpoint(root);
        ENGINE_CHECK(chosen, kInvalidArgument, root.string(), ": no healthy checkpoint to export");
    } else {
        std::string kept;
        for (const engine::CheckpointInfo& c : engine::list_checkpoints(root)) {
            if (c.step == int64_t(step)) chosen = c;
            kept += (kept.empty() ? "" : ", ") + std::to_string(c.step);
        }
        ENGINE_CHECK(chosen, kInvalidArgument, root.string(), ": no checkpoint at step ", int64_t(step),
                     " (kept: ", kept.empty() ? "none" : kept, ")");
    }
    auto backend = engine::make_cpu_backend(threads);
    const fs::path written = engine::export_checkpoint_model(run, chosen->dir, out, *backend);
    std::printf("exported checkpoint %lld of %s to %s\n", static_cast<long long>(chosen->step), run.string().c_str(),
                written.string().c_str());
    return 0;
}

}  // namespace

LATENT_COMMAND(export, "export RUN_DIR [--checkpoint STEP] OUT_DIR",
               "a training run's checkpoint as a model folder (LoRA merged onto the base)", run_export);
