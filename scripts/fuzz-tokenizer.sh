#!/usr/bin/env bash
# fuzz-tokenizer.sh — build the tokenizer libFuzzer target with clang++ (fuzzer + ASan + UBSan) in its own
# build dir (build-fuzz-tok/) and run it for N seconds (default 120): the tokenizer.json loader and
# encode/decode/stream-decode of arbitrary bytes (tests/fuzz/tokenizer_fuzz.cpp).
#
#   scripts/fuzz-tokenizer.sh [SECONDS] [extra libFuzzer flags...]
#
# The corpus lives in build-fuzz-tok/corpus (seeded with small tokenizer files and texts; the real
# DeepSeek-V3/Qwen3/Llama-3.1 tokenizer_config.json files too when tests/fixtures/npm is installed);
# crashes go to build-fuzz-tok/crashes/. Exit status is libFuzzer's: 0 when nothing was found.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-120}
shift || true
out=$root/build-fuzz-tok
CXX=${CXX_FUZZ:-clang++}
command -v "$CXX" >/dev/null || { echo "fuzz-tokenizer.sh: $CXX not found (apt-get install clang)" >&2; exit 2; }
mkdir -p "$out/obj" "$out/corpus" "$out/crashes"

flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -DPCRE2_CODE_UNIT_WIDTH=8 -I"$root/engine/include" -I"$root/engine/src")
objs=()
# Library code gets the fuzzer's coverage instrumentation (-fsanitize=fuzzer-no-link).
for src in "$root"/engine/src/core/*.cpp "$root"/engine/src/text/*.cpp; do
  obj=$out/obj/$(basename "$(dirname "$src")")_$(basename "${src%.cpp}").o
  # Rebuild when the source or any engine header is newer (the objects have no dependency tracking).
  if [[ ! -f $obj || $src -nt $obj || -n $(find "$root/engine/include" "$root/engine/src" -name "*.h" -newer "$obj" -print -quit) ]]; then
    "$CXX" "${flags[@]/-fsanitize=fuzzer,address,undefined/-fsanitize=fuzzer-no-link,address,undefined}" -c "$src" -o "$obj"
  fi
  objs+=("$obj")
done
"$CXX" "${flags[@]}" "$root/tests/fuzz/tokenizer_fuzz.cpp" "${objs[@]}" -o "$out/tokenizer_fuzz" \
  $(pkg-config --libs libpcre2-8 icu-uc) -lpthread

# Seeds: mode byte 0 = text to encode, 1 = tokenizer.json \0 tokenizer_config.json.
printf '\x00Hello world 123 <mask> word 中文 😀 \r\n\t  end<|end|>' > "$out/corpus/seed_text"
printf '\x00\xff\xfe\xc3 e\xcc\x81 aaaaaaaaaaaaaaaa the there' > "$out/corpus/seed_bytes"
printf '\x01{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]},"pre_tokenizer":{"type":"Split","pattern":{"Regex":"\\\\s+"},"behavior":"Removed","invert":true},"added_tokens":[{"id":3,"content":"<s>","special":true}]}\x00{"bos_token":"<s>","chat_template":[{"name":"default","template":"x"}]}' > "$out/corpus/seed_json"
printf '\x01{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":[["a","b"]],"ignore_merges":true},"normalizer":{"type":"Sequence","normalizers":[{"type":"NFKC"},{"type":"Lowercase"}]},"decoder":{"type":"ByteLevel"},"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":true}}' > "$out/corpus/seed_json2"

cd "$out"
./tokenizer_fuzz corpus -dict="$root/tests/fuzz/tokenizer.dict" -max_total_time="$secs" -max_len=8192 \
  -artifact_prefix=crashes/ -print_final_stats=1 "$@"
