// training_run_config.cpp — TrainingRunConfig ⇄ JSON (run.json, `latent train --config`).
#include <string>

#include "engine/error.h"
#include "engine/training_run.h"

namespace engine {

namespace {

const char* decay_name(LrDecay d) {
    switch (d) {
        case LrDecay::kConstant: return "constant";
        case LrDecay::kCosine: return "cosine";
        case LrDecay::kLinear: return "linear";
    }
    return "cosine";
}

LrDecay decay_from(const std::string& s, const std::string& source) {
    if (s == "constant") return LrDecay::kConstant;
    if (s == "cosine") return LrDecay::kCosine;
    if (s == "linear") return LrDecay::kLinear;
    ENGINE_THROW(kBadFile, source, ": \"lr_decay\" is '", s, "'; expected constant, cosine or linear");
}

template <typename T>
void read(const nlohmann::json& j, const char* key, T& out, const std::string& source) {
    if (!j.contains(key) || j[key].is_null()) return;
    try {
        out = j[key].get<T>();
    } catch (const nlohmann::json::exception&) {
        ENGINE_THROW(kBadFile, source, ": field \"", key, "\" has the wrong type (", j[key].dump(), ")");
    }
}

}  // namespace

nlohmann::json TrainingRunConfig::to_json() const {
    return {
        {"base_model", base_model.string()},
        {"from_scratch", from_scratch},
        {"data", data.string()},
        {"data_format", dataset_format_name(data_options.format)},
        {"validation_fraction", data_options.validation_fraction},
        {"template_name", data_options.template_name},
        {"system_prompt", data_options.system_prompt},
        {"csv_prompt_column", data_options.csv_prompt_column},
        {"csv_response_column", data_options.csv_response_column},
        {"text_chunk_tokens", data_options.text_chunk_tokens},
        {"output", output.string()},
        {"seq_len", seq_len},
        {"batch_size", batch_size},
        {"packing", packing},
        {"max_steps", max_steps},
        {"epochs", epochs},
        {"lr", train.adamw.lr},
        {"beta1", train.adamw.beta1},
        {"beta2", train.adamw.beta2},
        {"adam_eps", train.adamw.eps},
        {"weight_decay", train.adamw.weight_decay},
        {"lr_decay", decay_name(train.schedule.decay)},
        {"warmup_steps", train.schedule.warmup_steps},
        {"min_lr_ratio", train.schedule.min_lr_ratio},
        {"grad_clip", train.grad_clip},
        {"grad_accum_steps", train.grad_accum_steps},
        {"bias_update_rate", train.bias_update_rate},
        {"seq_aux_alpha", train.seq_aux_alpha},
        {"matmul_precision", matmul_precision_name(train.matmul_precision)},
        {"eval_every", eval_every},
        {"eval_batches", eval_batches},
        {"checkpoint_every", checkpoint_every},
        {"keep_last", keep_last},
        {"seed", seed},
        {"device", device},
        {"init_std", init_std},
        {"lora_rank", lora.rank},
        {"lora_alpha", lora.alpha},
        {"lora_dropout", lora.dropout},
        {"lora_targets", lora.targets},
    };
}

TrainingRunConfig TrainingRunConfig::from_json(const nlohmann::json& j, const std::string& source) {
    ENGINE_CHECK(j.is_object(), kBadFile, source, ": expected a JSON object of training settings");
    TrainingRunConfig c;
    std::string s;
    if (j.contains("base_model")) { read(j, "base_model", s, source); c.base_model = s; }
    if (j.contains("data")) { read(j, "data", s, source); c.data = s; }
    if (j.contains("output")) { read(j, "output", s, source); c.output = s; }
    read(j, "from_scratch", c.from_scratch, source);
    if (j.contains("data_format")) {
        read(j, "data_format", s, source);
        try {
            c.data_options.format = dataset_format_from_name(s);
        } catch (const Error& e) {
            ENGINE_THROW(kBadFile, source, ": ", e.message());
        }
    }
    read(j, "validation_fraction", c.data_options.validation_fraction, source);
    read(j, "template_name", c.data_options.template_name, source);
    read(j, "system_prompt", c.data_options.system_prompt, source);
    read(j, "csv_prompt_column", c.data_options.csv_prompt_column, source);
    read(j, "csv_response_column", c.data_options.csv_response_column, source);
    read(j, "text_chunk_tokens", c.data_options.text_chunk_tokens, source);
    read(j, "seq_len", c.seq_len, source);
    read(j, "batch_size", c.batch_size, source);
    read(j, "packing", c.packing, source);
    read(j, "max_steps", c.max_steps, source);
    read(j, "epochs", c.epochs, source);
    read(j, "lr", c.train.adamw.lr, source);
    read(j, "beta1", c.train.adamw.beta1, source);
    read(j, "beta2", c.train.adamw.beta2, source);
    read(j, "adam_eps", c.train.adamw.eps, source);
    read(j, "weight_decay", c.train.adamw.weight_decay, source);
    if (j.contains("lr_decay")) {
        read(j, "lr_decay", s, source);
        c.train.schedule.decay = decay_from(s, source);
    }
    read(j, "warmup_steps", c.train.schedule.warmup_steps, source);
    read(j, "min_lr_ratio", c.train.schedule.min_lr_ratio, source);
    read(j, "grad_clip", c.train.grad_clip, source);
    read(j, "grad_accum_steps", c.train.grad_accum_steps, source);
    read(j, "bias_update_rate", c.train.bias_update_rate, source);
    read(j, "seq_aux_alpha", c.train.seq_aux_alpha, source);
    if (j.contains("matmul_precision")) {
        read(j, "matmul_precision", s, source);
        try {
            c.train.matmul_precision = matmul_precision_from_name(s);
        } catch (const Error& e) {
            ENGINE_THROW(kBadFile, source, ": \"matmul_precision\": ", e.message());
        }
    }
    read(j, "eval_every", c.eval_every, source);
    read(j, "eval_batches", c.eval_batches, source);
    read(j, "checkpoint_every", c.checkpoint_every, source);
    read(j, "keep_last", c.keep_last, source);
    read(j, "seed", c.seed, source);
    if (j.contains("device")) {
        read(j, "device", c.device, source);
        try {
            (void)backend_kind_from_name(c.device);
        } catch (const Error& e) {
            ENGINE_THROW(kBadFile, source, ": \"device\": ", e.message());
        }
    }
    read(j, "init_std", c.init_std, source);
    read(j, "lora_rank", c.lora.rank, source);
    read(j, "lora_alpha", c.lora.alpha, source);
    read(j, "lora_dropout", c.lora.dropout, source);
    read(j, "lora_targets", c.lora.targets, source);
    ENGINE_CHECK(c.lora.rank >= 0 && c.lora.rank <= 1 << 16 && c.lora.alpha > 0 && c.lora.dropout >= 0 &&
                     c.lora.dropout < 1, kBadFile, source, ": LoRA settings need lora_rank in [0, 65536], lora_alpha > 0, "
                 "0 <= lora_dropout < 1 (got ", c.lora.rank, ", ", c.lora.alpha, ", ", c.lora.dropout, ")");
    ENGINE_CHECK(c.seq_len > 0 && c.seq_len <= 1 << 20, kBadFile, source, ": \"seq_len\" ", c.seq_len, " must be in [1, 1048576]");
    ENGINE_CHECK(c.batch_size > 0 && c.batch_size <= 1 << 16, kBadFile, source, ": \"batch_size\" ", c.batch_size, " must be in [1, 65536]");
    ENGINE_CHECK(c.max_steps >= 0 && c.epochs > 0, kBadFile, source, ": \"max_steps\" must be >= 0 and \"epochs\" > 0");
    ENGINE_CHECK(c.train.grad_accum_steps >= 1, kBadFile, source, ": \"grad_accum_steps\" must be >= 1");
    ENGINE_CHECK(c.train.adamw.lr > 0 && c.train.adamw.lr < 1, kBadFile, source, ": \"lr\" ", c.train.adamw.lr, " must be in (0, 1)");
    ENGINE_CHECK(c.init_std > 0 && c.init_std <= 1, kBadFile, source, ": \"init_std\" ", c.init_std, " must be in (0, 1]");
    ENGINE_CHECK(c.keep_last >= 1, kBadFile, source, ": \"keep_last\" must be >= 1");
    return c;
}

}  // namespace engine
