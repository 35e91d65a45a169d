#!/usr/bin/env bash
# Runs every test: installs Debian packages if missing, builds (Release, CUDA backend compiled when
# nvcc is present), then CTest. GPU tests skip themselves on machines without an NVIDIA GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache: paths under the checkout are hashed relative to it, so every clone shares one cache.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
scripts/install-deps.sh
scripts/fetch-test-fixtures.sh
cmake --preset default >/dev/null
cmake --build --preset default -j "$(nproc)"
# Tests run two at a time on two cores: OpenMP threads must sleep, not spin, while they wait.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
ctest --preset default
