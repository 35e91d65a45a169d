#!/usr/bin/env bash
# run_emulated.sh BUILD_DIR [gtest arguments...] — runs the CUDA parity suites (test_kernels,
# test_kernels_train, test_kernels_model) against the REAL kernels/*.cu executed on the CPU by the
# emulated CUDA headers in this folder (see cuda_runtime.h for what that does and does not check).
# For machines without a GPU: it catches indexing, reduction, launcher and cuBLAS-argument bugs before
# the GPU run, not races or device-specific behaviour. BUILD_DIR is a CUDA-enabled build
# (-DLATENT_CUDA=ON) with the test targets built (a missing one is skipped); the emulated backend goes
# to BUILD_DIR/kernels-emu/ and is loaded through LATENT_CUDA_BACKEND. Slow (one std::thread per CUDA
# thread): ~2 min for the two op suites on 2 cores without AttentionBackwardChunked, ~8 min more with
# it, ~4 min for the model suite, e.g.  run_emulated.sh build --gtest_filter=-*Chunked*
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
BUILD=$(cd "${1:?usage: run_emulated.sh BUILD_DIR [gtest args...]}" && pwd)
shift
OUT=$BUILD/kernels-emu
rm -rf "$OUT" && mkdir -p "$OUT/src"
for f in "$ROOT"/kernels/*.cu; do
    python3 "$HERE/rewrite_launches.py" "$f" "$OUT/src/$(basename "$f" .cu).cpp"
done
# The emulated headers come first; "common.cuh", "checks.h", ... are the real ones from kernels/.
g++ -std=c++20 -O2 -fPIC -shared -pthread -fopenmp -w -I"$HERE" -I"$ROOT/kernels" -I"$ROOT/engine/include" \
    -I"$ROOT/engine/src" "$OUT"/src/*.cpp -o "$OUT/liblatent_cuda_emu.so" \
    -Wl,--whole-archive "$BUILD/engine/liblatent_cpu.a" -Wl,--no-whole-archive "$BUILD/engine/liblatent_core.a" \
    -lopenblas -lpcre2-8 -licuuc -licudata -ldl
status=0
for t in test_kernels test_kernels_train test_kernels_model; do
    if [ ! -x "$BUILD/tests/kernels/$t" ]; then
        echo "=== $t: not built in $BUILD (skipped)"
        continue
    fi
    echo "=== $t (emulated CUDA backend)"
    env -u LATENT_PARITY_SELFTEST LATENT_CUDA_BACKEND="$OUT/liblatent_cuda_emu.so" "$BUILD/tests/kernels/$t" "$@" ||
        status=1
done
exit $status
