#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian/Ubuntu machine (idempotent, quick when done):
# Vulkan (Mesa lavapipe), Chromium + ChromeDriver, the wasm32 toolchain (rustup target, or
# Debian's rustc-web with std sources), wasm-bindgen-cli at the version in web/Cargo.lock, and
# playwright-core for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

packages=(mesa-vulkan-drivers libvulkan1 chromium chromium-driver)
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  if ! rustup target add wasm32-unknown-unknown >/dev/null 2>&1; then
    # No download possible: Debian's compiler with the std sources, built with -Zbuild-std.
    packages+=(rustc-web cargo-web rust-web-src lld-19)
  fi
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

want=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' web/Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  echo "installing wasm-bindgen-cli $want (found '${have:-none}')"
  # --locked would pin a dependency version the registry may not serve; the CLI version is what matters.
  cargo install -q wasm-bindgen-cli --version "$want"
fi

if [ ! -d tests/browser/node_modules/playwright-core ]; then
  (cd tests/browser && npm ci --no-audit --no-fund)
fi
