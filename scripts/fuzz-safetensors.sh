#!/usr/bin/env bash
# fuzz-safetensors.sh — build the safetensors libFuzzer target with clang++ (fuzzer + ASan + UBSan) in its
# own build dir (build-fuzz/) and run it for N seconds (default 60).
#
#   scripts/fuzz-safetensors.sh [SECONDS] [extra libFuzzer flags...]
#
# The corpus lives in build-fuzz/corpus (seeded with a few valid files); crashes are written to
# build-fuzz/crashes/. Exit status is libFuzzer's: 0 when no finding.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-60}
shift || true
out=$root/build-fuzz
CXX=${CXX_FUZZ:-clang++}
command -v "$CXX" >/dev/null || { echo "fuzz-safetensors.sh: $CXX not found (apt-get install clang)" >&2; exit 2; }
mkdir -p "$out/obj" "$out/corpus" "$out/crashes"

flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -I"$root/engine/include" -I"$root/engine/src")
objs=()
# Library code is compiled with the fuzzer's coverage instrumentation (-fsanitize=fuzzer-no-link).
io_srcs=()
for f in atomic_file mapped_file safetensors_header safetensors_writer weight_store; do
  io_srcs+=("$root/engine/src/io/$f.cpp")
done
for src in "$root"/engine/src/core/*.cpp "${io_srcs[@]}"; do
  obj=$out/obj/$(basename "$(dirname "$src")")_$(basename "${src%.cpp}").o
  # Rebuild when the source or any engine header is newer (the objects have no dependency tracking).
  if [[ ! -f $obj || $src -nt $obj || -n $(find "$root/engine/include" "$root/engine/src" -name "*.h" -newer "$obj" -print -quit) ]]; then
    "$CXX" "${flags[@]/-fsanitize=fuzzer,address,undefined/-fsanitize=fuzzer-no-link,address,undefined}" -c "$src" -o "$obj"
  fi
  objs+=("$obj")
done
"$CXX" "${flags[@]}" "$root/tests/fuzz/safetensors_fuzz.cpp" "${objs[@]}" -o "$out/safetensors_fuzz" -lpthread

# Seeds: small valid files (F32 + BF16 + metadata; rank-0 and empty; FP8 weight + scale).
python=/usr/bin/python3; [[ -x $python ]] || python=python3
"$python" - "$out/corpus" <<'PY'
import json, struct, sys, os
def st(tensors, meta=None):
    hdr, buf = {}, b""
    if meta: hdr["__metadata__"] = meta
    for name, dtype, shape, data in tensors:
        hdr[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(buf), len(buf) + len(data)]}
        buf += data
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + buf
seeds = {
  "seed_basic": st([("a", "F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)), ("b", "BF16", [3], b"\x80\x3f" * 3)],
                   {"format": "pt"}),
  "seed_edge": st([("s", "F64", [], struct.pack("<d", 2.5)), ("e", "F16", [0, 4], b""), ("u", "U8", [1], b"\x07")]),
  "seed_fp8": st([("w_scale_inv", "F32", [1, 2], struct.pack("<2f", 0.5, 2.0)), ("w", "F8_E4M3", [2, 130], bytes(range(256)) + b"\x38" * 4)]),
}
for k, v in seeds.items():
    open(os.path.join(sys.argv[1], k), "wb").write(v)
PY

cd "$out"
./safetensors_fuzz corpus -dict="$root/tests/fuzz/safetensors.dict" -max_total_time="$secs" -max_len=65536 \
  -artifact_prefix=crashes/ -print_final_stats=1 "$@"
