#!/usr/bin/env bash
# End-to-end under Xvfb: starts latent-studio with a tiny model and a fresh data dir, sends a message,
# waits for the reply, saves a screenshot of each view (library, chat, train, monitor) plus the three
# dashboard charts, and quits.
#
#   scripts/screenshots.sh [BUILD_DIR] [OUT_DIR]
#
# Model: $LATENT_SCREENSHOT_MODEL, else resources/models/default, else a tests/data tiny checkpoint,
# else a random-weight tiny chat model written by latent-tiny-chat-model (gibberish replies).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build}"
OUT="${2:-$BUILD/screenshots}"
APP="$BUILD/app/latent-studio"
[ -x "$APP" ] || { echo "screenshots.sh: $APP not built (cmake --build $BUILD --target latent-studio)" >&2; exit 1; }

MODEL="${LATENT_SCREENSHOT_MODEL:-}"
if [ -z "$MODEL" ]; then
  for candidate in resources/models/default tests/data/tiny-model tests/data/models/tiny; do
    if [ -f "$candidate/config.json" ] && [ -f "$candidate/tokenizer.json" ]; then MODEL="$candidate"; break; fi
  done
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
if [ -z "$MODEL" ]; then
  TOOL="$BUILD/tests/app/latent-tiny-chat-model"
  [ -x "$TOOL" ] || cmake --build "$BUILD" --target latent-tiny-chat-model >/dev/null
  MODEL="$WORK/tiny-chat-model"
  "$TOOL" "$MODEL"
fi
echo "screenshots.sh: model $MODEL -> $OUT"
mkdir -p "$OUT"
PROMPT="${LATENT_SCREENSHOT_PROMPT:-Explain multi-head latent attention in two sentences, then show a tiny Python example.}"
timeout 300 xvfb-run -a -s "-screen 0 1400x900x24" \
  "$APP" --data-dir "$WORK/data" --model "$MODEL" --context 2048 --prompt "$PROMPT" --screenshots "$OUT"
ls -l "$OUT" "$OUT/charts"
for view in library chat train monitor; do
  [ -s "$OUT/$view.png" ] || { echo "screenshots.sh: $OUT/$view.png missing" >&2; exit 1; }
done
