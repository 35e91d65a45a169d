#!/usr/bin/env bash
# finetune_task.sh — the longer version of tests/engine/evidence/task_learning_test.cpp (issue 4 item 9(b)):
# the *tiny preset* (MLA, dense, mHC by default) trained from scratch through the CLI on two-digit
# addition (a, b in [10, 49], a seeded 10% of the pairs held out), then `latent eval` held-out exact match.
#
# Usage: scripts/evidence/finetune_task.sh [WORK_DIR]
#   env: LATENT (default build/engine/latent), STEPS (1500), SEQ_LEN (128), BATCH (16), LR (2e-3),
#   RESIDUAL (mhc), PYTHON (/usr/bin/python3). Results: WORK_DIR/summary.txt and WORK_DIR/eval.jsonl.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="${1:-$repo/build/finetune-task}"
LATENT="${LATENT:-$repo/build/engine/latent}"
PYTHON="${PYTHON:-/usr/bin/python3}"
STEPS="${STEPS:-1500}"; SEQ_LEN="${SEQ_LEN:-128}"; BATCH="${BATCH:-16}"; LR="${LR:-2e-3}"; RESIDUAL="${RESIDUAL:-mhc}"
[ -x "$LATENT" ] || { echo "error: latent binary not found at $LATENT" >&2; exit 2; }
[ -e "$work/base/config.json" ] && { echo "error: $work already holds a run; remove it first" >&2; exit 2; }
mkdir -p "$work"
t0=$(date +%s)
"$PYTHON" - "$work" <<'PY'
import json, os, random, sys
work = sys.argv[1]
pairs = [(a, b) for a in range(10, 50) for b in range(10, 50)]
rng = random.Random(20261125)
rng.shuffle(pairs)
held, train = pairs[:len(pairs) // 10], pairs[len(pairs) // 10:]
conv = lambda a, b: {"messages": [{"role": "user", "content": f"{a}+{b}"}, {"role": "assistant", "content": str(a + b)}]}
with open(os.path.join(work, "train.jsonl"), "w") as f:
    for _ in range(20):
        rng.shuffle(train)
        for a, b in train:
            f.write(json.dumps(conv(a, b)) + "\n")
with open(os.path.join(work, "heldout.jsonl"), "w") as f:
    for a, b in held:
        f.write(json.dumps(conv(a, b)) + "\n")
with open(os.path.join(work, "corpus.txt"), "w") as f:
    f.write("0123456789+\n")
PY
# Byte-level tokenizer: 256 bytes + 3 ChatML specials, no merges.
"$LATENT" new "$work/base" --corpus "$work/corpus.txt" --preset tiny --residual "$RESIDUAL" --vocab 259 | tee "$work/summary.txt"
"$LATENT" train "$work/run" --base "$work/base" --data "$work/train.jsonl" --steps "$STEPS" --seq-len "$SEQ_LEN" \
    --batch "$BATCH" --lr "$LR" --warmup $(( STEPS / 20 + 1 )) --eval-every $(( STEPS / 10 + 1 )) --ckpt-every 0 \
    --keep 1 --val 0.02 2>"$work/train.log" | tee -a "$work/summary.txt"
"$LATENT" eval "$work/run/final" "$work/heldout.jsonl" -n 6 --out "$work/eval.jsonl" | tee -a "$work/summary.txt"
echo "wall time $(( $(date +%s) - t0 )) s; load $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores" | tee -a "$work/summary.txt"
