#!/usr/bin/env bash
# scripts/device-check/prepare.sh — run HERE (the build machine: nvcc + cuBLAS, no GPU) before a session
# that has the device machine (one H100; CMake, nvcc, PyTorch + transformers; no Debian -dev packages, no
# network). It builds what run.sh needs for sm_90 and packs it into .devcheck/ (git-ignored), which the
# device call carries:
#
#   scripts/device-check/prepare.sh            # ~15 min on 2 cores the first time (ccache helps after)
#   device run:  command "bash scripts/device-check/run.sh", carry [".devcheck"], timeout_s 540
#
# .devcheck/bundle.tar.xz  bin/ (latent, test_kernels, test_kernels_train, test_kernels_model, latent_model_decode_bench,
#                          latent_cuda_attention_bench, latent_gpu_decode_bench, latent_train_bench),
#                          lib/ (liblatent_cuda.so + the Debian shared libraries they need that a CUDA/PyTorch
#                          image lacks: OpenBLAS, ICU, PCRE2, libgomp, gfortran), lib-fallback/ (libstdc++,
#                          libgcc_s: used only if the image's are older)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-devcheck}
D=$ROOT/.devcheck
JOBS=${JOBS:-2}

# LATENT_NATIVE=OFF: the device's CPU may lack instructions this machine has (the kernels dispatch AVX2 /
# AVX-512 at run time anyway). Only sm_90: the device is a Hopper card, and one architecture builds 4x faster.
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLATENT_CUDA=ON -DLATENT_CUDA_ARCHITECTURES=90 \
      -DLATENT_NATIVE=OFF -DLATENT_BUILD_APP=OFF >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target latent test_kernels test_kernels_train test_kernels_model latent_model_decode_bench latent_cuda \
    latent_cuda_attention_bench latent_gpu_decode_bench latent_train_bench

rm -rf "$D" && mkdir -p "$D/stage/bin" "$D/stage/lib" "$D/stage/lib-fallback"
cp "$BUILD/engine/latent" "$BUILD/tests/kernels/test_kernels" "$BUILD/tests/kernels/test_kernels_train" "$BUILD/tests/kernels/test_kernels_model" \
   "$BUILD/bench/latent_model_decode_bench" "$BUILD/bench/latent_cuda_attention_bench" \
   "$BUILD/bench/latent_gpu_decode_bench" "$BUILD/bench/latent_train_bench" "$D/stage/bin/"
cp "$(find "$BUILD/kernels" -name 'liblatent_cuda.so' | head -1)" "$D/stage/lib/"
# Shared libraries: everything ldd resolves, except glibc's own, the NVIDIA driver and the CUDA runtime /
# cuBLAS (the device has the CUDA 13 toolkit; ours would add hundreds of MB).
for f in "$D"/stage/bin/* "$D/stage/lib/liblatent_cuda.so"; do
    ldd "$f" | awk '/=> \//{print $3}'
done | sort -u | while read -r lib; do
    base=$(basename "$lib")
    case "$base" in
        libc.so*|libm.so*|libdl.so*|librt.so*|libpthread.so*|ld-linux*|libcuda.so*|libcudart.so*|libcublas*.so*) ;;
        libstdc++.so*|libgcc_s.so*) cp -L "$lib" "$D/stage/lib-fallback/" ;;
        *) cp -L "$lib" "$D/stage/lib/" ;;
    esac
done
strip --strip-unneeded "$D"/stage/bin/* 2>/dev/null || true
tar -C "$D/stage" -cJf "$D/bundle.tar.xz" bin lib lib-fallback
rm -rf "$D/stage"

du -sh "$D"/* | sed 's/^/prepare: /'
echo "prepare: done"
