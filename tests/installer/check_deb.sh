#!/usr/bin/env bash
# check_deb.sh DEB — static checks of a built latent-studio .deb: control fields (Depends from
# dpkg-shlibdeps, no CUDA/NVIDIA package as a hard dependency), the file list (app, CLI, CUDA backend
# library when built, default model, desktop entry, icons, metainfo, man pages, copyright, changelog),
# then lintian with no errors (warnings are printed; installer/README.md lists and justifies them).
# Exit 0 = pass.
set -euo pipefail
DEB=${1:?usage: check_deb.sh DEB}
fail() { echo "FAIL: $*" >&2; exit 1; }
field() { dpkg-deb -f "$DEB" "$1"; }

[ "$(field Package)" = latent-studio ] || fail "Package is '$(field Package)'"
[ "$(field Architecture)" = amd64 ] || fail "Architecture is '$(field Architecture)'"
DEPENDS=$(field Depends)
echo "Depends: $DEPENDS"
echo "Recommends: $(field Recommends)"
echo "Suggests: $(field Suggests)"
for dep in libc6 libstdc++6 libgomp1 libqt6widgets6 libqt6svg6 libopenblas0 libpcre2-8-0 libsqlite3-0 libicu72; do
  tr ',|' '\n\n' <<<"$DEPENDS" | sed 's/^ *//; s/ .*//' | grep -qxF "$dep" || fail "Depends lacks $dep"
done
if grep -qiE "cuda|cublas|nvidia" <<<"$DEPENDS"; then fail "a CUDA/NVIDIA package is a hard dependency: $DEPENDS"; fi

dpkg-deb -c "$DEB" | awk '{print $6}' | sed 's#^\./#/#' >"${TMPDIR:-/tmp}/latent-deb-files.$$"
FILES="${TMPDIR:-/tmp}/latent-deb-files.$$"
trap 'rm -f "$FILES"' EXIT
for f in /usr/bin/latent /usr/bin/latent-studio \
         /usr/share/latent-studio/models/default/config.json /usr/share/latent-studio/models/default/model.safetensors \
         /usr/share/latent-studio/models/default/tokenizer.json /usr/share/latent-studio/models/default/tokenizer_config.json \
         /usr/share/latent-studio/demo/train.jsonl /usr/share/latent-studio/demo/heldout.jsonl \
         /usr/share/applications/latent-studio.desktop /usr/share/icons/hicolor/scalable/apps/latent-studio.svg \
         /usr/share/icons/hicolor/48x48/apps/latent-studio.png /usr/share/icons/hicolor/256x256/apps/latent-studio.png \
         /usr/share/metainfo/io.latentstudio.LatentStudio.metainfo.xml \
         /usr/share/man/man1/latent.1.gz /usr/share/man/man1/latent-studio.1.gz \
         /usr/share/doc/latent-studio/copyright /usr/share/doc/latent-studio/changelog.gz; do
  grep -qxF "$f" "$FILES" || fail "the .deb lacks $f"
done
if grep -q "liblatent_cuda.so" "$FILES"; then
  grep -xE "/usr/lib/(x86_64-linux-gnu/)?latent-studio/liblatent_cuda.so" "$FILES" || fail "liblatent_cuda.so is not where backend_select.cpp looks"
  grep -qE "cuda|cublas" <<<"$(field Suggests)" || fail "CUDA libraries are not in Suggests"
else
  echo "note: no liblatent_cuda.so in this .deb (built without the CUDA toolkit)"
fi
echo "files: $(wc -l <"$FILES") entries, all expected ones present"

if command -v lintian >/dev/null; then
  # --fail-on error: warnings and info tags are printed but do not fail the check.
  lintian --fail-on error --tag-display-limit 0 "$DEB" || fail "lintian reports errors"
  echo "lintian: no errors"
else
  echo "note: lintian is not installed (apt-get install lintian); skipped"
fi
echo "PASS"
