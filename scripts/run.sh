#!/usr/bin/env bash
# Builds Latent Studio and launches the desktop app with the bundled default model.
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache: paths under the checkout are hashed relative to it, so every clone shares one cache.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
scripts/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default -j "$(nproc)" --target latent-studio latent
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"  # see engine/cli/main.cpp
exec build/app/latent-studio --model resources/models/default "$@"
