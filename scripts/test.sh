#!/usr/bin/env bash
# Every test of the project, from a fresh machine: installs the test dependencies, runs the
# Rust tests (unit, PyTorch-fixture and CLI end-to-end) in release mode, builds the page's
# WebAssembly and runs the browser tests in headless Chromium (WebGPU and CPU fallback).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

scripts/install-test-deps.sh
# The wasm build runs beside the native one: single-crate stretches of either build leave a
# core idle, so together they finish sooner than one after the other.
echo "== wasm build (in the background, log in $HYPERSPHERE_WASM_TARGET_DIR.log)"
mkdir -p "$(dirname "$HYPERSPHERE_WASM_TARGET_DIR")"
scripts/build-web.sh > "$HYPERSPHERE_WASM_TARGET_DIR.log" 2>&1 &
wasm_pid=$!
echo "== cargo test (target dir $CARGO_TARGET_DIR)"
pin_patch_times
cargo test --release --workspace --no-run
# `cargo test` builds the e2e tests but not the `hypersphere` binary they drive (it belongs to
# another package): build it explicitly, or a cold target directory fails every CLI test.
cargo build --release --workspace
stamp_patches
HYPERSPHERE_WGPU_TEST=1 cargo test --release --workspace
echo "== waiting for the wasm build"
if ! wait "$wasm_pid"; then
  tail -n 60 "$HYPERSPHERE_WASM_TARGET_DIR.log"
  echo "wasm build failed" >&2
  exit 1
fi
tail -n 1 "$HYPERSPHERE_WASM_TARGET_DIR.log"
echo "== dist/ (the static page) for the benchmark page"
SKIP_WASM_BUILD=1 scripts/build-dist.sh
echo "== browser tests"
(cd tests/browser && HYPERSPHERE_BIN="$CARGO_TARGET_DIR/release/hypersphere" npm test)
