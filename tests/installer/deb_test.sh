#!/usr/bin/env bash
# deb_test.sh BUILD_DIR — builds the .deb from a built tree with cpack (into BUILD_DIR/deb-test), then
# check_deb.sh (control fields, file list, lintian) and clean_root_test.sh (install into a clean Debian
# root and run it). Exit 0 = pass, 77 = the clean-root part could not run (no root/debootstrap/network).
set -euo pipefail
BUILD=$(realpath "${1:?usage: deb_test.sh BUILD_DIR}")
HERE=$(dirname "$(realpath "$0")")
OUT=$BUILD/deb-test
rm -rf "$OUT"
(cd "$BUILD" && cpack -G DEB -B "$OUT") >"$BUILD/deb-test.log" 2>&1 || { tail -30 "$BUILD/deb-test.log" >&2; exit 1; }
DEB=$(ls "$OUT"/latent-studio_*.deb)
echo "built $DEB ($(du -h "$DEB" | cut -f1))"
"$HERE/check_deb.sh" "$DEB"
"$HERE/clean_root_test.sh" "$DEB"
