#!/usr/bin/env bash
# train_default_model.sh — ONE command that builds Latent Studio's bundled default model from nothing:
#   1. generate the task-mix data (resources/recipes/make_default_data.py: Quillfeather Tea Co. FAQ,
#      two-digit addition, unit conversions, greetings) and the Ember-kettle demo fine-tune set;
#   2. `latent new`: train a byte-level BPE tokenizer on the training text and initialise the tiny preset
#      with MLA + DeepSeekMoE + mHC;
#   3. `latent train` on the task mix;
#   4. `latent eval`: held-out exact match on the task mix;
#   5. copy the model (safetensors + config + tokenizer + chat template) to resources/models/default/;
#   6. the demo fine-tune with the settings of resources/demo/finetune.json: `latent train` the default model
#      on the Ember set (with task-mix replay), held-out accuracy of the demo AND of the task mix before/after.
#
# Usage: resources/recipes/train_default_model.sh [WORK_DIR]
#   env: LATENT (path of the latent binary; default build/engine/latent), STEPS (default 6000: 19.5 min
#   of training on an idle 2-core machine, measured 2026-12-05; the whole recipe ~20 min), THREADS (1), SEQ_LEN (128), BATCH (8), LR (3e-3), PRESET (tiny),
#   VOCAB (1024), INSTALL (1: copy to resources/models/default and resources/demo), PYTHON (/usr/bin/python3),
#   DEMO_CONFIG (resources/demo/finetune.json: every setting of the demo fine-tune; its base_model and data
#   are replaced by this run's model and demo data), DEMO_ONLY (1: skip steps 1-5 and fine-tune the
#   committed resources/models/default on the committed resources/demo data).
# Everything it writes outside resources/ goes to WORK_DIR (default build/default-model-recipe).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="${1:-$repo/build/default-model-recipe}"
LATENT="${LATENT:-$repo/build/engine/latent}"
PYTHON="${PYTHON:-/usr/bin/python3}"
STEPS="${STEPS:-6000}"; SEQ_LEN="${SEQ_LEN:-128}"; BATCH="${BATCH:-8}"; LR="${LR:-3e-3}"
THREADS="${THREADS:-1}"  # 1: measured 4x faster than 2 threads for this 3M model on the loaded 2-core machine
DEMO_CONFIG="${DEMO_CONFIG:-$repo/resources/demo/finetune.json}"; DEMO_ONLY="${DEMO_ONLY:-0}"; PRESET="${PRESET:-tiny}"; VOCAB="${VOCAB:-1024}"; INSTALL="${INSTALL:-1}"
[ -x "$LATENT" ] || { echo "error: latent binary not found at $LATENT (build target 'latent' or set LATENT=...)" >&2; exit 2; }
{ [ -e "$work/base/config.json" ] || [ -e "$work/demo-run" ]; } && { echo "error: $work already holds a run; remove it or give another WORK_DIR" >&2; exit 2; }
mkdir -p "$work"
summary="$work/summary.txt"
t_start=$(date +%s)
stamp() { echo "[$(date -u +%H:%M:%S) +$(( $(date +%s) - t_start ))s] $*" | tee -a "$summary"; }
stamp "recipe start: preset=$PRESET steps=$STEPS seq_len=$SEQ_LEN batch=$BATCH lr=$LR demo_config=$DEMO_CONFIG demo_only=$DEMO_ONLY; load: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"

# Held-out exact match by kind (the eval's per-item results file).
by_kind() {
    "$PYTHON" - "$1" <<'PY' | tee -a "$summary"
import json, sys, collections
tot, ok = collections.Counter(), collections.Counter()
for line in open(sys.argv[1]):
    r = json.loads(line)
    ref = r["reference"]
    kind = ("ember" if ref.startswith("Ember ") else "addition" if " + " in ref
            else "unit conversion" if ref.split(" ")[0].isdigit() else "faq/price")
    tot[kind] += 1
    ok[kind] += r["correct"]
for k in sorted(tot):
    print(f"  {k}: {ok[k]}/{tot[k]}")
PY
}

# 1. Data.
"$PYTHON" "$here/make_default_data.py" "$work/data" | tee -a "$summary"
if [ "$DEMO_ONLY" != 1 ]; then  # steps 1b-5: build the default model (skipped with DEMO_ONLY=1)
# The tokenizer corpus: the message texts of the training conversations (not the JSON around them).
"$PYTHON" - "$work/data/default/train.jsonl" "$work/corpus.txt" <<'PY'
import json, sys
with open(sys.argv[2], "w", encoding="utf-8") as out:
    for line in open(sys.argv[1], encoding="utf-8"):
        for m in json.loads(line)["messages"]:
            out.write(m["content"] + "\n")
PY

# 2. Tokenizer + initialised model.
"$LATENT" new "$work/base" --corpus "$work/corpus.txt" --preset "$PRESET" --moe --residual mhc --attention mla \
    --vocab "$VOCAB" --seed 1234 | tee -a "$summary"
stamp "model created"

# 3. Train on the task mix.
"$LATENT" train "$work/run" --base "$work/base" --data "$work/data/default/train.jsonl" --steps "$STEPS" \
    --seq-len "$SEQ_LEN" --batch "$BATCH" --lr "$LR" --warmup $(( STEPS / 20 + 1 )) --decay cosine \
    --eval-every $(( STEPS / 10 + 1 )) --ckpt-every $(( STEPS / 4 + 1 )) --keep 1 --val 0.02 --threads "$THREADS" 2>"$work/train.log" \
    | tee -a "$summary"
stamp "training done"

# 4. Held-out exact match on the task mix.
"$LATENT" eval "$work/run/final" "$work/data/default/heldout.jsonl" -n 48 --threads "$THREADS" --out "$work/eval_default.jsonl" \
    | sed 's/^/default model, task-mix held-out: /' | tee -a "$summary"
by_kind "$work/eval_default.jsonl"
stamp "evaluation done"

# 5. Install the model into resources/models/default (weights, config, tokenizer, chat template).
if [ "$INSTALL" = 1 ]; then
    dest="$repo/resources/models/default"
    rm -rf "$dest"
    mkdir -p "$dest"
    cp "$work/run/final/"*.safetensors "$work/run/final/config.json" "$work/run/final/tokenizer.json" \
       "$work/run/final/tokenizer_config.json" "$dest/"
    [ -f "$work/run/final/generation_config.json" ] && cp "$work/run/final/generation_config.json" "$dest/"
    mkdir -p "$repo/resources/demo"
    cp "$work/data/demo/train.jsonl" "$work/data/demo/heldout.jsonl" "$repo/resources/demo/"
    stamp "installed to $dest ($(du -sh "$dest" | cut -f1))"
    base_for_demo="$dest"
else
    base_for_demo="$work/run/final"
fi
else
    # DEMO_ONLY=1: the committed default model, and the task-mix held-out set it was measured on.
    base_for_demo="$repo/resources/models/default"
    for f in train.jsonl heldout.jsonl; do
        cmp -s "$work/data/demo/$f" "$repo/resources/demo/$f" ||
            { echo "error: resources/demo/$f differs from what make_default_data.py generates" >&2; exit 2; }
    done
    "$LATENT" eval "$base_for_demo" "$work/data/default/heldout.jsonl" -n 48 --threads "$THREADS" \
        --out "$work/eval_default.jsonl" | sed 's/^/default model, task-mix held-out: /' | tee -a "$summary"
    by_kind "$work/eval_default.jsonl"
fi

# 6. Demo fine-tune: the Ember kettle facts with task-mix replay, every setting from $DEMO_CONFIG (only the
#    model and data paths are this run's). Held-out exact match of the demo and of the task mix, before/after.
"$LATENT" eval "$base_for_demo" "$work/data/demo/heldout.jsonl" -n 48 --threads "$THREADS" --out "$work/eval_demo_before.jsonl" \
    | sed 's/^/demo held-out BEFORE fine-tune: /' | tee -a "$summary"
stamp "demo fine-tune start; load: $(cut -d' ' -f1-3 /proc/loadavg)"
t_ft=$(date +%s)
"$LATENT" train "$work/demo-run" --config "$DEMO_CONFIG" --base "$base_for_demo" --data "$work/data/demo/train.jsonl" \
    --threads "$THREADS" 2>"$work/demo-train.log" | tee -a "$summary"
stamp "demo fine-tune done in $(( $(date +%s) - t_ft )) s; load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$LATENT" eval "$work/demo-run/final" "$work/data/demo/heldout.jsonl" -n 48 --threads "$THREADS" --out "$work/eval_demo_after.jsonl" \
    | sed 's/^/demo held-out AFTER fine-tune: /' | tee -a "$summary"
"$LATENT" eval "$work/demo-run/final" "$work/data/default/heldout.jsonl" -n 48 --threads "$THREADS" \
    --out "$work/eval_default_after_demo.jsonl" | sed 's/^/task-mix held-out AFTER demo fine-tune: /' | tee -a "$summary"
by_kind "$work/eval_default_after_demo.jsonl"
stamp "recipe done; load: $(cut -d' ' -f1-3 /proc/loadavg)"
