// training_run.cpp — run_training(): data → steps → validation → checkpoints → final model, resumable.
#include "engine/training_run.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <fstream>
#include <sstream>

#include "engine/checkpoint.h"
#include "engine/error.h"
#include "engine/tokenizer.h"
#include "engine/weights.h"

namespace engine {

namespace fs = std::filesystem;

namespace {

// Files that make a folder loadable as a model besides the weights and config.json.
const char* const kTokenizerFiles[] = {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
                                       "special_tokens_map.json"};

std::string read_text(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    ENGINE_CHECK(in.good(), kIo, p.string(), ": cannot open");
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<std::pair<std::string, std::string>> tokenizer_files(const fs::path& base) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const char* f : kTokenizerFiles)
        if (fs::exists(base / f)) out.emplace_back(f, read_text(base / f));
    return out;
}

double validation_loss(TrainModel& model, const std::vector<TrainExample>& val, const TrainingRunConfig& cfg,
                       int32_t pad_id) {
    if (val.empty()) return std::nan("");
    int64_t total_tokens = 0;
    for (const auto& e : val) total_tokens += int64_t(e.tokens.size());
    // Packed rows when the split is long enough, else one example per row; fixed seed: the same
    // validation batches at every evaluation.
    const bool pack = cfg.packing && total_tokens >= cfg.seq_len + 1;
    BatchIterator it(val, cfg.batch_size, cfg.seq_len, pack, 0x5EED, pad_id);
    const int64_t batches = std::min<int64_t>(cfg.eval_batches, std::max<int64_t>(1, it.batches_per_epoch()));
    double loss_sum = 0;
    int64_t counted = 0;
    TokenBatch b;
    for (int64_t i = 0; i < batches; ++i) {
        it.next(b);
        ForwardStats fs = model.forward(b.inputs.data(), b.targets.data(), b.batch_size, b.seq_len);
        loss_sum += fs.loss * double(fs.tokens);
        counted += fs.tokens;
    }
    return counted > 0 ? loss_sum / double(counted) : std::nan("");
}

nlohmann::json step_json(const TrainingEvent& ev) {
    const StepStats& s = ev.step;
    nlohmann::json j = {{"step", s.step},           {"loss", s.loss},
                        {"aux_loss", s.aux_loss},   {"grad_norm", s.grad_norm},
                        {"lr", s.lr},               {"tokens", s.tokens},
                        {"skipped", s.skipped},     {"skipped_total", s.skipped_total},
                        {"seconds", s.seconds},     {"tokens_per_second", ev.tokens_per_second},
                        {"eta_seconds", ev.eta_seconds}};
    // JSON has no NaN/Inf: a non-finite loss (a skipped step) is written as null.
    for (const char* k : {"loss", "aux_loss", "grad_norm"})
        if (!std::isfinite(j[k].get<double>())) j[k] = nullptr;
    if (ev.validation_loss && std::isfinite(*ev.validation_loss)) j["validation_loss"] = *ev.validation_loss;
    if (!s.block_grad_norm.empty()) {
        j["block_grad_norm"] = s.block_grad_norm;  // [embedding, layer 0 .. L-1, head]
        for (auto& v : j["block_grad_norm"])
            if (!std::isfinite(v.get<double>())) v = nullptr;
    }
    if (!s.expert_load.empty()) j["expert_load"] = s.expert_load;
    if (!s.router_bias.empty()) j["router_bias"] = s.router_bias;
    if (!s.hc_forward_gain.empty()) {
        j["hc_forward_gain"] = s.hc_forward_gain;
        j["hc_backward_gain"] = s.hc_backward_gain;
        j["hc_column_error"] = s.hc_column_error;
        j["hc_mix"] = s.hc_mix;
    }
    if (!ev.checkpoint.empty()) j["checkpoint"] = ev.checkpoint;
    return j;
}

// Keeps the metrics lines of steps <= `step` (a resumed run rewrites what came after its checkpoint).
void truncate_metrics(const fs::path& file, int64_t step) {
    if (!fs::exists(file)) return;
    std::istringstream in(read_text(file));
    std::string line, kept;
    while (std::getline(in, line)) {
        try {
            auto j = nlohmann::json::parse(line);
            if (j.value("step", int64_t(0)) <= step) kept += line + "\n";
        } catch (const nlohmann::json::exception&) {
            // a torn last line from a crash: dropped
        }
    }
    write_file_atomic(file, kept);
}

}  // namespace

TrainingSummary run_training(const TrainingRunConfig& cfg, Backend& backend,
                             const std::function<bool(const TrainingEvent&)>& on_step) {
    ENGINE_CHECK(!cfg.output.empty(), kInvalidArgument, "the training run needs an output folder");
    std::error_code ec;
    fs::create_directories(cfg.output, ec);
    ENGINE_CHECK(!ec, kIo, cfg.output.string(), ": cannot create the run folder (", ec.message(), ")");
    write_file_atomic(cfg.output / "run.json", cfg.to_json().dump(2));

    // ---- model, tokenizer, data ----
    ModelConfig mc = ModelConfig::from_file(cfg.base_model / "config.json");
    auto tokenizer = Tokenizer::from_path(cfg.base_model);
    ENGINE_CHECK(int64_t(tokenizer->vocab_size()) <= mc.vocab_size, kBadFile, (cfg.base_model / "tokenizer.json").string(),
                 ": the tokenizer has ", tokenizer->vocab_size(), " tokens but the model's vocab_size is ", mc.vocab_size);
    ENGINE_CHECK(!(cfg.from_scratch && cfg.lora.enabled()), kInvalidArgument, "LoRA trains adapters on a pretrained "
                 "base (its weights stay frozen): drop from_scratch (--from-scratch) or lora_rank (--lora-rank)");
    LoraOptions lora = cfg.lora;
    lora.seed = cfg.seed;
    TrainModel model(mc, backend, lora);
    if (cfg.from_scratch) {
        model.init(cfg.seed, cfg.init_std);
    } else {
        auto store = WeightStore::open(cfg.base_model);
        model.load(*store);
        if (lora.enabled()) model.init_lora();
    }
    TrainingSummary summary;
    Dataset data = load_dataset(cfg.data, *tokenizer, cfg.data_options);
    summary.data = data.stats;
    ENGINE_CHECK(!data.train.empty(), kBadFile, cfg.data.string(), ": the training split is empty");
    const int32_t pad_id = tokenizer->eos_ids().empty() ? 0 : tokenizer->eos_ids()[0];
    BatchIterator batches(data.train, cfg.batch_size, cfg.seq_len, cfg.packing, cfg.seed, pad_id);

    const int64_t accum = cfg.train.grad_accum_steps;
    const int64_t total_steps =
        cfg.max_steps > 0 ? cfg.max_steps
                          : std::max<int64_t>(1, int64_t(std::ceil(cfg.epochs * double(batches.batches_per_epoch()) / double(accum))));
    TrainConfig tc = cfg.train;
    if (tc.schedule.total_steps == 0) tc.schedule.total_steps = total_steps;
    Trainer trainer(model, tc);

    // ---- resume ----
    const fs::path ckpt_root = cfg.output / "checkpoints";
    const fs::path metrics_path = cfg.output / "metrics.jsonl";
    if (auto latest = latest_healthy_checkpoint(ckpt_root)) {
        LoadedCheckpoint ck = read_checkpoint(latest->dir);
        const int64_t ck_rank = ck.state.value("lora_rank", int64_t(0));
        ENGINE_CHECK(ck_rank == lora.rank, kInvalidArgument, latest->dir.string(), ": this checkpoint was written with "
                     "lora_rank ", ck_rank, " but the run now asks for ", lora.rank, "; resume with the same LoRA "
                     "settings or use a new run folder");
        if (lora.enabled())
            model.load_matching(*ck.model, model.checkpoint_names());  // base weights came from base_model
        else
            model.load(*ck.model);
        for (auto& slot : trainer.optimizer().slots()) {
            backend.copy(slot.m.view(), ck.optimizer->get("m." + slot.name));
            backend.copy(slot.v.view(), ck.optimizer->get("v." + slot.name));
        }
        const auto& st = ck.state;
        try {
            trainer.optimizer().set_steps_taken(st.at("adamw_steps").get<int64_t>());
            trainer.set_counters(st.at("steps_attempted").get<int64_t>(), st.at("steps_skipped").get<int64_t>());
            batches.set_position({st.at("data_epoch").get<int64_t>(), st.at("data_cursor").get<int64_t>()});
            model.set_dropout_calls(st.value("dropout_calls", uint64_t(0)));
        } catch (const nlohmann::json::exception& e) {
            ENGINE_THROW(kBadFile, (latest->dir / "state.json").string(), ": incomplete trainer state (", e.what(),
                         "); delete this checkpoint folder to resume from an older one");
        }
        summary.resumed_from = latest->step;
        truncate_metrics(metrics_path, latest->step);
    } else {
        write_file_atomic(metrics_path, "");
    }

    auto save_checkpoint = [&](int64_t step) {
        CheckpointWrite w;
        w.step = step;
        std::deque<Tensor> staged;  // host copies when training runs on a GPU
        for (const std::string& name : model.checkpoint_names())
            w.model.emplace_back(name, model.host_view(model.find(name)->value.view(), staged));
        for (auto& slot : trainer.optimizer().slots()) {
            w.optimizer.emplace_back("m." + slot.name, model.host_view(slot.m.view(), staged));
            w.optimizer.emplace_back("v." + slot.name, model.host_view(slot.v.view(), staged));
        }
        const auto pos = batches.position();
        w.state = {{"adamw_steps", trainer.optimizer().steps_taken()},
                   {"steps_attempted", trainer.steps_attempted()},
                   {"steps_skipped", trainer.steps_skipped()},
                   {"data_epoch", pos.epoch},
                   {"data_cursor", pos.cursor},
                   {"total_steps", total_steps},
                   {"dropout_calls", model.dropout_calls()},
                   {"lora_rank", lora.rank}};
        w.extra_files = tokenizer_files(cfg.base_model);
        w.extra_files.emplace_back("config.json", mc.to_json_text());
        CheckpointInfo info = write_checkpoint(ckpt_root, w);
        rotate_checkpoints(ckpt_root, cfg.keep_last);
        return info.dir.string();
    };

    // ---- the loop ----
    std::ofstream metrics(metrics_path, std::ios::app);
    ENGINE_CHECK(metrics.good(), kIo, metrics_path.string(), ": cannot open the metrics log for writing");
    std::vector<TokenBatch> micro(static_cast<size_t>(accum));
    std::vector<Batch> views(static_cast<size_t>(accum));
    const auto started = std::chrono::steady_clock::now();
    int64_t tokens_this_segment = 0, steps_this_segment = 0;
    int64_t step = trainer.steps_attempted();
    while (step < total_steps) {
        for (int64_t a = 0; a < accum; ++a) {
            batches.next(micro[size_t(a)]);
            views[size_t(a)] = {micro[size_t(a)].inputs.data(), micro[size_t(a)].targets.data(),
                                micro[size_t(a)].batch_size, micro[size_t(a)].seq_len};
        }
        TrainingEvent ev;
        ev.step = trainer.step(views);
        step = ev.step.step;
        ev.total_steps = total_steps;
        tokens_this_segment += accum * cfg.batch_size * cfg.seq_len;
        ++steps_this_segment;
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        ev.tokens_per_second = elapsed > 0 ? double(tokens_this_segment) / elapsed : 0;
        ev.eta_seconds = elapsed / double(steps_this_segment) * double(total_steps - step);
        summary.last_loss = ev.step.loss;
        const bool last = step >= total_steps;
        if ((cfg.eval_every > 0 && step % cfg.eval_every == 0) || last) {
            // No validation split (a tiny dataset, or validation_fraction 0): no validation figure at all.
            const double v = validation_loss(model, data.validation, cfg, pad_id);
            if (std::isfinite(v)) summary.validation_loss = ev.validation_loss = v;
        }
        const bool keep_going = on_step ? on_step(ev) : true;
        if ((cfg.checkpoint_every > 0 && step % cfg.checkpoint_every == 0) || last || !keep_going)
            ev.checkpoint = save_checkpoint(step);
        metrics << step_json(ev).dump() << "\n";
        metrics.flush();
        if (!keep_going) {
            summary.stopped = true;
            break;
        }
    }
    summary.steps = step;
    summary.skipped = trainer.steps_skipped();
    if (!summary.stopped) {
        const fs::path final_dir = cfg.output / "final";
        model.save(final_dir);
        for (const auto& [file, contents] : tokenizer_files(cfg.base_model)) write_file_atomic(final_dir / file, contents);
        fsync_directory(final_dir);
        if (lora.enabled()) model.save_adapters(cfg.output / "adapter", cfg.base_model.string());
        summary.final_model = final_dir;
    }
    return summary;
}

}  // namespace engine
