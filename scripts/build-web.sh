#!/usr/bin/env bash
# Builds the WebAssembly module of the page into web/pkg/ (wasm-bindgen, --target web).
# Uses rustup's wasm32 target when installed, otherwise Debian's rustc-web with -Zbuild-std.
# web/Cargo.toml's release profile is tuned for size (opt-level "z", one codegen unit; no LTO).
# No wasm-opt pass (measured, README "Size of dist/"): binaryen 132's -O1 saves 2% gzipped and
# -Oz adds 5%; Debian bookworm's binaryen 108 breaks the module (wasm-bindgen's externref table).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

wasm_target=wasm32-unknown-unknown
if rustup target list --installed 2>/dev/null | grep -qx "$wasm_target"; then
  cargo build --manifest-path web/Cargo.toml --release --target "$wasm_target" \
    --target-dir "$HYPERSPHERE_WASM_TARGET_DIR"
else
  RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=/usr/lib/llvm-19/bin/wasm-ld \
    /usr/bin/cargo build --manifest-path web/Cargo.toml --release --target "$wasm_target" \
    -Zbuild-std=std,panic_abort --target-dir "$HYPERSPHERE_WASM_TARGET_DIR"
fi
wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section --out-dir web/pkg \
  "$HYPERSPHERE_WASM_TARGET_DIR/$wasm_target/release/hypersphere_web.wasm"
ls -l web/pkg/*.wasm
