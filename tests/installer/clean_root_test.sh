#!/usr/bin/env bash
# clean_root_test.sh DEB — installs the .deb into a clean Debian 12 root and runs it there:
#   1. a minbase bookworm root from Debian's mirror (debootstrap), cached in $LATENT_DEB_BASE_ROOT
#      (default /var/tmp/latent-bookworm-base) and copied fresh for every run;
#   2. in the copy (chroot): apt-get install /tmp/<the .deb>, so apt resolves Depends from Debian;
#   3. latent --help / --version, latent info and latent generate (8 tokens) on the installed default
#      model, the CUDA backend's fallback note (the root has no NVIDIA driver), and the app offscreen:
#      it loads the default model, answers one message and saves its views as PNGs, then quits.
# Needs root, debootstrap and network access to the mirror; exits 77 (CTest: skipped) without them.
# Env: LATENT_DEB_MIRROR (http://deb.debian.org/debian), KEEP_ROOT=1 keeps the root for inspection.
set -euo pipefail
DEB=$(realpath "${1:?usage: clean_root_test.sh DEB}")
MIRROR=${LATENT_DEB_MIRROR:-http://deb.debian.org/debian}
BASE=${LATENT_DEB_BASE_ROOT:-/var/tmp/latent-bookworm-base}
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (chroot, debootstrap)"; exit 77; }
command -v debootstrap >/dev/null || { echo "SKIP: debootstrap is not installed (apt-get install debootstrap)"; exit 77; }

if [ ! -x "$BASE/usr/bin/apt-get" ]; then
  echo "== debootstrap --variant=minbase bookworm $BASE $MIRROR"
  rm -rf "$BASE.partial"
  debootstrap --variant=minbase bookworm "$BASE.partial" "$MIRROR" >"${BASE}.log" 2>&1 \
    || { tail -20 "${BASE}.log" >&2; echo "SKIP: debootstrap failed (no network?)"; exit 77; }
  mv "$BASE.partial" "$BASE"
fi

ROOT=$(mktemp -d /var/tmp/latent-deb-root.XXXXXX)
cleanup() {
  umount "$ROOT/proc" 2>/dev/null || true
  umount "$ROOT/dev" 2>/dev/null || true
  if [ "${KEEP_ROOT:-0}" = 1 ]; then echo "root kept: $ROOT"; else rm -rf "$ROOT"; fi
}
trap cleanup EXIT
cp -a "$BASE/." "$ROOT/"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
mount -t proc proc "$ROOT/proc" || fail "cannot mount /proc in the root"
mount --bind /dev "$ROOT/dev" || fail "cannot bind /dev in the root"
cp "$DEB" "$ROOT/tmp/"
in_root() { chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }

echo "== apt-get install ./$(basename "$DEB") in a clean bookworm root"
in_root apt-get update -q >/dev/null
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "/tmp/$(basename "$DEB")" >"$ROOT/tmp/apt.log" 2>&1 \
  || { tail -30 "$ROOT/tmp/apt.log" >&2; fail "apt-get install"; }
grep -E "^[0-9]+ upgraded" "$ROOT/tmp/apt.log" || true
in_root dpkg -s latent-studio | grep -E "^(Status|Version)"
if in_root dpkg -l | grep -iE "^ii +(cuda|libcublas|libcudart|nvidia)"; then fail "apt pulled in a CUDA/NVIDIA package"; fi

MODEL=/usr/share/latent-studio/models/default
echo "== latent --help"; in_root latent --help | head -5
echo "== latent --version"; in_root latent --version
echo "== latent info $MODEL"; in_root latent info "$MODEL" | head -12
echo "== latent generate (8 tokens)"
in_root latent generate "$MODEL" --chat -p "What is 23 + 45?" -n 8 --seed 1 >"$ROOT/tmp/gen.out" 2>"$ROOT/tmp/gen.err" \
  || { cat "$ROOT/tmp/gen.err" >&2; fail "latent generate"; }
echo "stdout: $(cat "$ROOT/tmp/gen.out")"
echo "stderr: $(cat "$ROOT/tmp/gen.err")"
[ -s "$ROOT/tmp/gen.out" ] || fail "latent generate printed nothing"
if in_root sh -c 'ls /usr/lib/x86_64-linux-gnu/latent-studio/liblatent_cuda.so /usr/lib/latent-studio/liblatent_cuda.so 2>/dev/null' | grep -q .; then
  # The library is installed but the root has no CUDA runtime: the note must say why it fell back.
  grep -q "Using the CPU" "$ROOT/tmp/gen.err" || fail "no CPU fallback note"
  grep -q "is not installed" "$ROOT/tmp/gen.err" && fail "liblatent_cuda.so was not found at its installed path"
  echo "CUDA backend library installed, CUDA runtime absent: CPU fallback as designed"
fi

echo "== latent-studio (offscreen): load the default model, answer one message, save the views, quit"
set +e
in_root env QT_QPA_PLATFORM=offscreen XDG_RUNTIME_DIR=/tmp/xdg timeout 300 \
  latent-studio --data-dir /tmp/ls-data --prompt "What is 23 + 45?" --screenshots /tmp/ls-shots \
  >"$ROOT/tmp/app.log" 2>&1
rc=$?
set -e
tail -5 "$ROOT/tmp/app.log"
[ $rc = 0 ] || fail "latent-studio exited with $rc"
grep -q "failed to load" "$ROOT/tmp/app.log" && fail "the app could not load the default model"
grep -q "reply finished" "$ROOT/tmp/app.log" || fail "the app did not finish a reply"
n=$(ls "$ROOT/tmp/ls-shots"/*.png 2>/dev/null | wc -l)
[ "$n" -ge 3 ] || fail "latent-studio saved $n screenshots, expected one per view"
echo "latent-studio: exit 0, $n views saved: $(cd "$ROOT/tmp/ls-shots" && ls | tr '\n' ' ')"
echo "PASS"
