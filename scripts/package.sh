#!/usr/bin/env bash
# Builds the .deb and tests it: `cmake --preset package` (portable x86-64-v2 Release, CUDA backend when
# nvcc is found, prefix /usr, no tests), build, cpack, then
#   tests/installer/check_deb.sh       control fields, file list, lintian (no errors)
#   tests/installer/clean_root_test.sh apt-get install into a clean Debian 12 root (debootstrap), run the
#                                      CLI and the app there (root and network needed; skipped without)
# Usage: scripts/package.sh [--no-root-test]
# Env: BUILD_DIR (default build-package), JOBS (default nproc), LATENT_DEB_MIRROR, LATENT_DEB_BASE_ROOT.
# The .deb is BUILD_DIR/latent-studio_<version>_amd64.deb. installer/README.md says what was run and seen.
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
BUILD_DIR=$(realpath -m "${BUILD_DIR:-build-package}")
ROOT_TEST=1
[ "${1:-}" = "--no-root-test" ] && ROOT_TEST=0
for tool in cmake cpack dpkg-deb dpkg-shlibdeps; do
  command -v $tool >/dev/null || { echo "package.sh: $tool is missing (scripts/install-deps.sh; apt-get install dpkg-dev)" >&2; exit 1; }
done
cmake --preset package -B "$BUILD_DIR" >/dev/null
cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}"
(cd "$BUILD_DIR" && cpack -G DEB)  # = cpack --preset package for the default BUILD_DIR
DEB=$(ls "$BUILD_DIR"/latent-studio_*_amd64.deb)
echo "== $DEB ($(du -h "$DEB" | cut -f1))"
tests/installer/check_deb.sh "$DEB"
if [ $ROOT_TEST = 1 ]; then
  set +e; tests/installer/clean_root_test.sh "$DEB"; rc=$?; set -e
  [ $rc = 77 ] && { echo "package.sh: the clean-root install test was skipped (see above)"; exit 0; }
  exit $rc
fi
