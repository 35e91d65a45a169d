#!/usr/bin/env bash
# check_install_tree.sh BUILD_DIR — installs a built tree with `cmake --install` into a temporary prefix
# and checks the layout the .deb ships (installer/CMakeLists.txt): every file in its place, and that the
# installed programs find what they look up relative to their own directory — the CLI the CUDA backend
# library (engine/src/cpu/backend_select.cpp), the app the bundled default model (app/AppResources.cpp).
# Needs the build done (all targets); takes a few seconds. Exit 0 = pass.
set -euo pipefail
BUILD=${1:?usage: check_install_tree.sh BUILD_DIR}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/latent-install-tree.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
PREFIX=$TMP/usr
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$BUILD" --prefix "$PREFIX" >"$TMP/install.log" || { cat "$TMP/install.log" >&2; fail "cmake --install"; }
cache() { sed -n "s/^$1:[A-Z]*=//p" "$BUILD/CMakeCache.txt"; }
LIBDIR=$(cache CMAKE_INSTALL_LIBDIR); LIBDIR=${LIBDIR:-lib}
MODEL=$PREFIX/share/latent-studio/models/default

for f in bin/latent share/latent-studio/models/default/config.json \
         share/latent-studio/models/default/model.safetensors share/latent-studio/models/default/tokenizer.json \
         share/latent-studio/models/default/tokenizer_config.json share/latent-studio/demo/train.jsonl \
         share/metainfo/io.latentstudio.LatentStudio.metainfo.xml share/man/man1/latent.1.gz \
         share/icons/hicolor/48x48/apps/latent-studio.png share/icons/hicolor/256x256/apps/latent-studio.png \
         share/doc/latent-studio/copyright share/doc/latent-studio/changelog.gz; do
  [ -f "$PREFIX/$f" ] || fail "missing $f"
done
echo "layout: CLI, default model, demo data, metainfo, man page, icons, copyright, changelog in place"

"$PREFIX/bin/latent" --version
"$PREFIX/bin/latent" info "$MODEL" >"$TMP/info.txt" || { cat "$TMP/info.txt" >&2; fail "latent info on the installed model"; }
grep -q "LatentForCausalLM" "$TMP/info.txt" || { cat "$TMP/info.txt" >&2; fail "latent info printed no architecture"; }
echo "installed latent info on the installed default model: ok"

if [ -f "$BUILD/kernels/liblatent_cuda.so" ]; then  # the CUDA backend was built
  [ -f "$PREFIX/$LIBDIR/latent-studio/liblatent_cuda.so" ] || fail "missing $LIBDIR/latent-studio/liblatent_cuda.so"
  # Forcing the GPU backend must find the library next to the installed CLI (not through the build
  # tree or the environment): either it runs, or it fails for a reason past "not installed".
  set +e
  (cd /; env -u LATENT_CUDA_BACKEND "$PREFIX/bin/latent" generate "$MODEL" -p "Hi" -n 1 --device cuda) >"$TMP/cuda.txt" 2>&1
  set -e
  if grep -q "is not installed" "$TMP/cuda.txt"; then cat "$TMP/cuda.txt" >&2; fail "the installed CLI did not find liblatent_cuda.so"; fi
  echo "CUDA backend library found from the installed CLI: $(head -c 300 "$TMP/cuda.txt" | tr '\n' ' ')"
fi

if [ -x "$PREFIX/bin/latent-studio" ]; then
  for f in share/applications/latent-studio.desktop share/icons/hicolor/scalable/apps/latent-studio.svg \
           share/man/man1/latent-studio.1.gz; do
    [ -f "$PREFIX/$f" ] || fail "missing $f"
  done
  # --help names the default model the app would load: the installed one, found relative to bin/.
  QT_QPA_PLATFORM=offscreen "$PREFIX/bin/latent-studio" --help >"$TMP/app-help.txt" 2>&1 || true
  # (QCommandLineParser wraps the help at 79 columns: compare with the white space removed.)
  tr -d ' \n' <"$TMP/app-help.txt" | grep -qF "$MODEL" || { cat "$TMP/app-help.txt" >&2; fail "the installed app does not find $MODEL"; }
  echo "installed app finds the installed default model"
  if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate "$PREFIX/share/applications/latent-studio.desktop" || fail "desktop-file-validate"
    echo "desktop-file-validate: ok"
  fi
fi
if command -v appstreamcli >/dev/null; then
  appstreamcli validate --no-net --pedantic "$PREFIX/share/metainfo/io.latentstudio.LatentStudio.metainfo.xml" \
    || fail "appstreamcli validate"
fi
echo "PASS"
