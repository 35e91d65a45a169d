#!/usr/bin/env bash
# smoke.sh — the short fuzzing run CI does: builds the three libFuzzer targets (safetensors reader,
# tokenizer loader + encode, chat-template parse + render) with clang + ASan + UBSan through their
# scripts, and runs each for a fixed number of inputs with a fixed seed, so that CI is reproducible (a
# time limit made the inputs tried depend on the machine's speed: a slow day found a crash a fast day
# missed). SECONDS (default 300 per target) is only a cap. Fails on any crash, leak or sanitizer report.
# The long, exploring runs are the same scripts with minutes instead (docs/performance.md); what they find
# gets fixed and a regression test.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-300}
# Compile through ccache when it is there (the scripts take one compiler command).
if command -v ccache >/dev/null 2>&1; then
  export CXX_FUZZ="$root/tests/fuzz/ccache-clang++"
fi
status=0
declare -A runs=([safetensors]=60000 [tokenizer]=20000 [template]=20000)
for target in safetensors tokenizer template; do
  echo "== fuzz smoke: $target (${runs[$target]} inputs, seed 1, cap $secs s)"
  log=$(mktemp)
  if "$root/scripts/fuzz-$target.sh" "$secs" -seed=1 -runs="${runs[$target]}" >"$log" 2>&1; then
    tail -n 4 "$log"
  else
    # Show the whole report (sanitizer stack, the input's path and base64), not just the final stats.
    echo "fuzz smoke: $target FAILED; its report:"
    grep -v -E '^"|# Uses:|^#[0-9]+\s' "$log" | tail -n 80
    status=1
  fi
  rm -f "$log"
done
exit $status
