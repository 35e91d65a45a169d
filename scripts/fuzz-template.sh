#!/usr/bin/env bash
# fuzz-template.sh — build the chat-template libFuzzer target with clang++ (fuzzer + ASan + UBSan) in its
# own build dir (build-fuzz-tpl/) and run it for N seconds (default 120): parse + render of arbitrary
# templates and contexts (tests/fuzz/template_fuzz.cpp).
#
#   scripts/fuzz-template.sh [SECONDS] [extra libFuzzer flags...]
#
# The corpus lives in build-fuzz-tpl/corpus, seeded with the real templates and the corner-case
# snippets of tests/data/templates; crashes go to build-fuzz-tpl/crashes/. Exit status is libFuzzer's:
# 0 when nothing was found.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-120}
shift || true
out=$root/build-fuzz-tpl
CXX=${CXX_FUZZ:-clang++}
command -v "$CXX" >/dev/null || { echo "fuzz-template.sh: $CXX not found (apt-get install clang)" >&2; exit 2; }
mkdir -p "$out/obj" "$out/corpus" "$out/crashes"

flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -I"$root/engine/include" -I"$root/engine/src")
objs=()
# Library code gets the fuzzer's coverage instrumentation (-fsanitize=fuzzer-no-link).
for src in "$root"/engine/src/core/*.cpp "$root"/engine/src/template/*.cpp "$root"/engine/src/text/utf8.cpp; do
  obj=$out/obj/$(basename "$(dirname "$src")")_$(basename "${src%.cpp}").o
  # rebuild when the source or any header is newer than the object
  if [[ ! -f $obj || $src -nt $obj || -n $(find "$root/engine/include" "$root/engine/src/core" "$root/engine/src/template" "$root/engine/src/text" \
        -name '*.h' -newer "$obj" -print -quit) ]]; then
    "$CXX" "${flags[@]/-fsanitize=fuzzer,address,undefined/-fsanitize=fuzzer-no-link,address,undefined}" -c "$src" -o "$obj"
  fi
  objs+=("$obj")
done
"$CXX" "${flags[@]}" "$root/tests/fuzz/template_fuzz.cpp" "${objs[@]}" -o "$out/template_fuzz" -ldl -lpthread

# Seeds: every committed template, and every snippet (template \0 context JSON).
for f in "$root"/tests/data/templates/*.jinja; do cp "$f" "$out/corpus/seed_$(basename "$f")"; done
python3 - "$root/tests/data/templates/snippets.json" "$out/corpus" <<'PY'
import json, sys
for i, s in enumerate(json.load(open(sys.argv[1], encoding="utf-8"))["snippets"]):
    data = s["template"].encode()
    if "context" in s:
        data += b"\0" + json.dumps(s["context"]).encode()
    open(f"{sys.argv[2]}/seed_snippet_{i:03d}", "wb").write(data)
PY

cd "$out"
./template_fuzz corpus -dict="$root/tests/fuzz/template.dict" -max_total_time="$secs" -max_len=8192 \
  -artifact_prefix=crashes/ -print_final_stats=1 "$@"
