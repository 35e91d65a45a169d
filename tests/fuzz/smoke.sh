#!/usr/bin/env bash
# smoke.sh — the short fuzzing run CI does: builds the three libFuzzer targets (safetensors reader,
# tokenizer loader + encode, chat-template parse + render) with clang + ASan + UBSan through their
# scripts, and runs each for SECONDS (default 15). Fails on any crash, leak or sanitizer report.
# The long runs are the same scripts with minutes instead of seconds (docs/performance.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-15}
# Compile through ccache when it is there (the scripts take one compiler command).
if command -v ccache >/dev/null 2>&1; then
  export CXX_FUZZ="$root/tests/fuzz/ccache-clang++"
fi
for target in safetensors tokenizer template; do
  echo "== fuzz smoke: $target ($secs s)"
  "$root/scripts/fuzz-$target.sh" "$secs" -seed=1 2>&1 | tail -n 4
done
