// checkpoint_export.cpp — export_checkpoint_model(): any checkpoint of a training run as a model folder
// the Library loads. A LoRA checkpoint holds only the adapters (+ router correction biases): the base
// weights are re-read from the run's base_model and merged exactly as run_training() writes final/.
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "engine/checkpoint.h"
#include "engine/error.h"
#include "engine/train/train_model.h"
#include "engine/training_run.h"
#include "engine/weights.h"

namespace engine {

namespace fs = std::filesystem;

namespace {

// The files final/ gets besides config.json and the weights (training_run.cpp's tokenizer_files()).
const char* const kModelSideFiles[] = {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
                                       "special_tokens_map.json"};

std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    ENGINE_CHECK(in.good(), kIo, p.string(), ": cannot open");
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

fs::path export_checkpoint_model(const fs::path& run_folder, const fs::path& checkpoint_dir, const fs::path& out_dir,
                                 Backend& backend) {
    const fs::path run_json = run_folder / "run.json";
    ENGINE_CHECK(fs::exists(run_json), kBadFile, run_json.string(), ": not found (is ", run_folder.string(),
                 " a training run folder?)");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(read_all(run_json));
    } catch (const nlohmann::json::exception& e) {
        ENGINE_THROW(kBadFile, run_json.string(), ": ", e.what());
    }
    const TrainingRunConfig cfg = TrainingRunConfig::from_json(j, run_json.string());
    LoadedCheckpoint ck = read_checkpoint(checkpoint_dir);
    const int64_t ck_rank = ck.state.value("lora_rank", int64_t(0));
    ENGINE_CHECK(ck_rank == cfg.lora.rank, kBadFile, checkpoint_dir.string(), ": written with lora_rank ", ck_rank,
                 " but ", run_json.string(), " says ", cfg.lora.rank);

    // The model's config: the checkpoint's own copy (written with every checkpoint), else the base's.
    const fs::path ck_config = checkpoint_dir / "config.json";
    const ModelConfig mc = ModelConfig::from_file(fs::exists(ck_config) ? ck_config : cfg.base_model / "config.json");
    LoraOptions lora = cfg.lora;
    lora.seed = cfg.seed;
    TrainModel model(mc, backend, lora);
    if (lora.enabled()) {
        model.load(*WeightStore::open(cfg.base_model));              // frozen base weights
        model.load_matching(*ck.model, model.checkpoint_names());  // adapters + router biases
    } else {
        model.load(*ck.model);  // a full checkpoint holds every weight
    }

    // Written next to out_dir, then renamed into place: a crash leaves no half model folder.
    const fs::path target = out_dir.has_filename() ? out_dir : out_dir.parent_path();
    std::string tmp_name = ".";
    tmp_name += target.filename().string();
    tmp_name += ".tmp-";
    tmp_name += std::to_string(::getpid());
    const fs::path tmp = target.parent_path() / tmp_name;
    std::error_code ec;
    fs::remove_all(tmp, ec);
    try {
        model.save(tmp);  // merged: W' = W + (alpha/r)·B·A under the base names
        for (const char* f : kModelSideFiles) {
            const fs::path from = fs::exists(checkpoint_dir / f) ? checkpoint_dir / f : cfg.base_model / f;
            if (fs::exists(from)) write_file_atomic(tmp / f, read_all(from));
        }
        fsync_directory(tmp);
        if (fs::exists(target)) fs::remove_all(target);
        fs::rename(tmp, target);
        fsync_directory(target.parent_path());
    } catch (const fs::filesystem_error& e) {
        fs::remove_all(tmp, ec);
        ENGINE_THROW(kIo, target.string(), ": cannot write the exported model (", e.code().message(), ")");
    } catch (...) {
        fs::remove_all(tmp, ec);
        throw;
    }
    return target;
}

}  // namespace engine
