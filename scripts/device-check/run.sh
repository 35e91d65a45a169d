#!/usr/bin/env bash
# scripts/device-check/run.sh — every check that needs the device machine, in ONE call (device time is
# 15 minutes a session, start-up included). Prepare first, here: scripts/device-check/prepare.sh. Then:
#
#   run(command="bash scripts/device-check/run.sh", carry=[".devcheck"], timeout_s=600)
#
# Each check is independent (a failure is logged and the next one runs) and time-boxed. What comes back
# under $OUT:
#   log.txt          everything printed, with the seconds since start on each phase
#   lane-*.txt       the output of each concurrent lane of phase A (also appended to log.txt when it ends)
#   parity.tar.gz    tests/data/parity/* made by transformers: untar into tests/data/parity and commit
#   results.tar.gz   gtest XML of the GPU suites, bench output, compute-sanitizer reports
# Steps (numbers as in STEPS):
#   1. environment: GPU, driver, nvcc, torch, transformers
#   2. transformers fixtures (issue #2): tests/parity/make_hf_fixtures.py
#   3. CUDA-vs-CPU parity, forward and training ops and the whole model (issue #5): test_kernels,
#      test_kernels_train, test_kernels_model (a skip fails)
#   4. exported models load in transformers with our logits (issue #7): tests/parity/check_export_transformers.py
#   5. whole model on the GPU (issue #5): the benchmarks (`latent bench --device cuda|cpu` on the synthetic 303M
#      bf16 checkpoint; the attention benchmarks; V2-Lite-shaped batch-1 decode; the base-preset training
#      bench), then `latent generate --device cuda` logits vs the CPU's on step 4's exports and 20 training
#      steps with --device cuda, then cpu
#   6. compute-sanitizer memcheck on the three suites (issue #5)
# Phases, so that it fits one call (the order is the order of importance when the limit cuts it):
#   A  concurrently: step 3 (one lane), step 6 (one lane per suite), steps 2 + 4 (one lane: CPU and
#      transformers); no timing is taken while they share the machine
#   B  alone, on a quiet machine: step 5's benchmarks
#   C  step 5's checks on step 4's exports, and the training runs
# STEPS="3 6" (say) runs only those of steps 2–6, for a second call when the first was cut at its limit.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
OUT=${OUT:-/tmp/devcheck-out}
W=/tmp/devcheck
rm -rf "$W" && mkdir -p "$OUT" "$W/results"
exec > >(tee -a "$OUT/log.txt") 2>&1
T0=$SECONDS
# Steps 2–6 to run (default all): e.g. STEPS="3 6" for a second call after a first one ran out of time
# (step 5's exported-model checks need step 4's models and skip without them).
STEPS=${STEPS:-2 3 4 5 6}
runs() { [[ " $STEPS " == *" $1 "* ]]; }
# results.tar.gz is repacked at every step, so a run cut short by the time limit still returns what it did.
step() {
    [ -d "$W/results" ] && tar -C "$W" -czf "$OUT/results.tar.gz" results 2>/dev/null
    echo; echo "=== [$((SECONDS - T0)) s] $*"
}
# Failures are names appended to a file, so that checks in concurrent lanes (subshells) record them too.
: > "$W/failed"
check() {  # check NAME CMD...: run, record a failure by name
    local name=$1; shift
    "$@"; local rc=$?
    if [ $rc -ne 0 ]; then echo "!!! $name: exit status $rc"; echo "$name" >> "$W/failed"; fi
    return 0
}
# lane NAME FUNCTION: runs FUNCTION in the background, its output in $OUT/lane-NAME.txt (which comes back
# even when the call is cut); join appends every lane's file to the log once all have ended.
# (Explicit pids: a bare `wait` would also wait for the log's tee when no lane was started.)
LANES=()
PIDS=()
lane() {
    echo "--- [$((SECONDS - T0)) s] lane $1 started"
    ( T1=$SECONDS; "$2"; echo "--- lane $1 ended after $((SECONDS - T1)) s" ) > "$OUT/lane-$1.txt" 2>&1 &
    LANES+=("$1")
    PIDS+=($!)
}
join() {
    [ ${#PIDS[@]} -gt 0 ] && wait "${PIDS[@]}"
    for l in "${LANES[@]}"; do echo; echo "----- lane $l -----"; cat "$OUT/lane-$l.txt"; done
    LANES=()
    PIDS=()
}

step "1. environment"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo nvidia-smi >> "$W/failed"
nvcc --version 2>/dev/null | tail -1
python3 -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda, "| transformers", transformers.__version__)'
uname -r; nproc
if [ ! -f .devcheck/bundle.tar.xz ]; then
    echo "!!! .devcheck/bundle.tar.xz missing: run scripts/device-check/prepare.sh here and carry .devcheck"
    exit 2
fi
tar -xJf .devcheck/bundle.tar.xz -C "$W"
B=$W/bin
CUDA_LIBS=""
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu; do
    [ -e "$d/libcublas.so.13" ] && CUDA_LIBS="$CUDA_LIBS:$d"
done
if [ -z "$CUDA_LIBS" ]; then  # the pip wheels (nvidia-cublas, nvidia-cuda-runtime) as a fallback
    for f in $(python3 -c 'import nvidia, os; print(" ".join(os.path.join(p) for p in nvidia.__path__))' 2>/dev/null); do
        for so in $(find "$f" -name 'libcublas.so.13' -o -name 'libcudart.so.13' 2>/dev/null); do CUDA_LIBS="$CUDA_LIBS:$(dirname "$so")"; done
    done
fi
LIBS="$W/lib$CUDA_LIBS"
ours() { LD_LIBRARY_PATH="$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$@"; }
if ! ours "$B/latent" --help >/dev/null 2>"$W/ldd.err"; then
    cat "$W/ldd.err"; echo "(adding the build machine's libstdc++ / libgcc_s)"
    LIBS="$LIBS:$W/lib-fallback"
fi
ours ldd "$B/latent" "$W/lib/liblatent_cuda.so" | grep -E "not found|cublas|cudart" || true
export LATENT_CUDA_BACKEND=$W/lib/liblatent_cuda.so OMP_WAIT_POLICY=passive

E=$W/export              # step 4's models, used again by step 5
PROMPT="Add 25 and 33."

fixtures_and_exports() {  # steps 2 and 4: CPU and transformers only
if runs 2; then
    echo "=== 2. transformers parity fixtures (tests/parity/make_hf_fixtures.py)"
    check fixtures timeout 240 python3 tests/parity/make_hf_fixtures.py --out "$W/parity"
    [ -d "$W/parity" ] && tar -C "$W/parity" -czf "$OUT/parity.tar.gz" . && ls -la "$W"/parity/*
fi
if runs 4; then
    echo "=== 4. exported models in transformers (tests/parity/check_export_transformers.py)"
    # A new tiny MoE model without mHC (DeepseekV3ForCausalLM), fine-tuned for a few steps in full and with
    # LoRA, exported by `latent export`; our CPU logits for a fixed prompt; then transformers loads each
    # export. Made here, not carried: 12 MB of f32 weights each.
    mkdir -p "$E"
    latent_cpu() { LD_LIBRARY_PATH="$LIBS" "$B/latent" "$@" >>"$E/log.txt" 2>&1; }
    latent_cpu new "$E/base" --corpus resources/demo/train.jsonl --preset tiny --moe --residual residual &&
    latent_cpu train "$E/run-full" --base "$E/base" --data resources/demo/train.jsonl --steps 12 --seq-len 64 \
        --batch 2 --lr 1e-3 &&
    latent_cpu train "$E/run-lora" --base "$E/base" --data resources/demo/train.jsonl --steps 12 --seq-len 64 \
        --batch 2 --lr 1e-2 --lora-rank 4 --lora-alpha 8 || { tail -20 "$E/log.txt"; echo export-train >> "$W/failed"; }
    for m in full lora; do
        latent_cpu export "$E/run-$m" "$E/$m" &&
        latent_cpu generate "$E/$m" -p "$PROMPT" -n 8 --temp 0 --ignore-eos --device cpu --logits-out "$E/$m.logits" ||
            { tail -20 "$E/log.txt"; echo "export-$m-make" >> "$W/failed"; continue; }
        python3 -c 'import json,sys; print(sys.argv[1], json.load(open(sys.argv[1]))["architectures"])' \
            "$E/$m/config.json"
        check "export-$m" timeout 180 python3 tests/parity/check_export_transformers.py "$E/$m" "$E/$m.logits" \
            --prompt "$PROMPT"
    done
fi
}

parity_suites() {  # step 3
for t in test_kernels test_kernels_train test_kernels_model; do
    check "$t" timeout 240 env -u LATENT_PARITY_SELFTEST LD_LIBRARY_PATH="$LIBS" "$B/$t" --gtest_brief=1 \
        --gtest_output="xml:$W/results/$t.xml"
    # On the device every case must RUN: a skip there means the GPU backend did not start.
    check "$t-none-skipped" python3 - "$W/results/$t.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
cases = list(r.iter("testcase"))
bad = [(k.tag, c) for c in cases for k in c if k.tag in ("failure", "skipped")]
f, s = (sum(1 for t, _ in bad if t == tag) for tag in ("failure", "skipped"))
print("%s: %d cases, %d failed, %d skipped" % (sys.argv[1].rsplit("/", 1)[-1], len(cases), f, s))
for tag, c in bad:
    k = c.find(tag)
    print("  %s %s.%s: %s" % (tag, c.get("classname"), c.get("name"), (k.get("message") or "")[:300]))
sys.exit(1 if s else 0)
PY
done
}

memcheck_suite() {  # step 6, one suite: $1, gtest filter $2
    check "memcheck-$1" timeout 300 env LD_LIBRARY_PATH="$LIBS" compute-sanitizer --tool memcheck --leak-check full \
        --error-exitcode 3 --log-file "$W/results/memcheck-$1.txt" "$B/$1" --gtest_brief=1 --gtest_filter="$2"
    tail -3 "$W/results/memcheck-$1.txt" 2>/dev/null
}
# Not under the sanitizer: the 3-chunk attention case (minutes there); in the model suite the V2 and HC
# configurations (V3 and mHC run the same kernels), so that the lanes end within phase A's share of the call.
memcheck_test_kernels() { memcheck_suite test_kernels "-*Chunked*"; }
memcheck_test_kernels_train() { memcheck_suite test_kernels_train "-*Chunked*"; }
memcheck_test_kernels_model() { memcheck_suite test_kernels_model "-*/v2:*/latent_hc"; }

step "A. concurrently: 3. CUDA-vs-CPU parity | 6. compute-sanitizer memcheck (a lane per suite) | 2 + 4. transformers"
runs 3 && lane parity parity_suites
if runs 6; then
    for t in test_kernels test_kernels_train test_kernels_model; do lane "memcheck-$t" "memcheck_$t"; done
fi
if runs 2 || runs 4; then lane transformers fixtures_and_exports; fi
join

step "B. 5. benchmarks, alone on the machine"
if runs 5; then
check bench-ckpt timeout 180 env LD_LIBRARY_PATH="$LIBS" "$B/latent_model_decode_bench" --threads "$(nproc)" --prompt 512 \
    --tokens 32 --dir "$W/ckpt"
# MLA decode attention kernel alone: batch 64 x 4096 tokens, H 16/128, fp32 and bf16 caches, % of D2D copy
# bandwidth; then flash prefill forward and backward at T 4096 (fp32 and TF32 kernels, % of the GEMM of the
# same math); self-checked.
check cuda-attention-bench timeout 150 env LD_LIBRARY_PATH="$LIBS" "$B/latent_cuda_attention_bench"
# Batch-1 decode of a DeepSeek-V2-Lite-shaped model (31 GB of random bf16 weights made in memory), CUDA
# Graphs and op by op, % of the bytes roofline at the device copy bandwidth (issue #5 asks for >= 60 %); then
# with a BF16 KV cache. First it times the step's dense GEMVs alone, gemv.cu against cuBLAS.
check gpu-decode-bench timeout 180 env LD_LIBRARY_PATH="$LIBS" "$B/latent_gpu_decode_bench" --shape v2-lite \
    --prompt 512 --tokens 32
for dev in cuda cpu; do
    check "bench-$dev" timeout 180 env LD_LIBRARY_PATH="$LIBS" "$B/latent" bench "$W/ckpt" --device "$dev" -p 512 -n 128
done
check bench-cuda-bf16-kv timeout 180 env LD_LIBRARY_PATH="$LIBS" "$B/latent" bench "$W/ckpt" --device cuda -p 512 \
    -n 128 --kv-cache bf16
# The same decode with the dense GEMVs through cuBLAS instead of gemv.cu (the default's A/B on a whole model).
check bench-cuda-cublas-gemv timeout 180 env LD_LIBRARY_PATH="$LIBS" LATENT_CUDA_GEMV=cublas "$B/latent" bench \
    "$W/ckpt" --device cuda -p 512 -n 128
# Training step of the base preset on the GPU: MFU against the backend's GEMM rate at the step's precision
# (bf16 tensor cores), and mHC (n = 4) vs residual step time (issue #5: >= 40 % and <= 1.07x).
check train-bench-base timeout 120 env LD_LIBRARY_PATH="$LIBS" "$B/latent_train_bench" --device cuda --preset base \
    --steps 4
# MoE training step (small preset + 8 routed experts, top-2, balance loss): the routing sort and the balance
# loss run on the device (moe_permute, moe_seq_aux_loss); MFU vs the same GEMM limit.
check train-bench-moe timeout 90 env LD_LIBRARY_PATH="$LIBS" "$B/latent_train_bench" --device cuda --preset small \
    --moe --steps 4
fi

step "C. 5. step 4's exports on the GPU, and training runs"
if runs 5; then
for m in full lora; do
    [ -f "$E/$m.logits" ] || continue
    check "generate-cuda-$m" timeout 120 env LD_LIBRARY_PATH="$LIBS" "$B/latent" generate "$E/$m" \
        -p "$PROMPT" -n 8 --temp 0 --ignore-eos --device cuda --logits-out "$W/results/$m.cuda.logits"
    check "logits-cuda-vs-cpu-$m" python3 - "$E/$m.logits" "$W/results/$m.cuda.logits" <<'PY'
import json, sys
import numpy as np
a, b = (np.fromfile(p, dtype="<f4") for p in sys.argv[1:3])
ta, tb = (json.load(open(p + ".json"))["tokens"] for p in sys.argv[1:3])
n = min(a.size, b.size)
err = float(np.max(np.abs(a[:n] - b[:n]))) if n else float("inf")
# The exports hold f32 weights: the GPU multiplies them with cublasSgemm (no TF32 by default), so only the
# summation order differs from the CPU: expect ~1e-5..1e-4.
ok = a.size == b.size and ta == tb and err <= 2e-3
print("%s CUDA vs CPU logits: max abs diff %.3g over %d values; same tokens: %s" % ("PASS" if ok else "FAIL", err, n, ta == tb))
sys.exit(0 if ok else 1)
PY
done
# Training on the GPU (first run): 20 steps of the demo data on the step-4 base model, GPU then CPU; the
# per-step tokens/s are in the log.
if [ -d "$E/base" ]; then
    for dev in cuda cpu; do
        check "train-$dev" timeout 150 env LD_LIBRARY_PATH="$LIBS" "$B/latent" train "$W/results/train-$dev" \
            --base "$E/base" --data resources/demo/train.jsonl --steps 20 --seq-len 128 --batch 4 --lr 1e-3 \
            --device "$dev"
    done
fi
fi

step "done"
tar -C "$W" -czf "$OUT/results.tar.gz" results
mapfile -t FAILED < "$W/failed"
if [ ${#FAILED[@]} -eq 0 ]; then echo "ALL STEPS PASSED"; else echo "FAILED STEPS: ${FAILED[*]}"; fi
echo "elapsed $((SECONDS - T0)) s"
