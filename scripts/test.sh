#!/usr/bin/env bash
# Every test of the project, from a fresh machine: installs the test dependencies, runs the
# Rust tests (unit, PyTorch-fixture and CLI end-to-end) in release mode, builds the page's
# WebAssembly and runs the browser tests in headless Chromium (WebGPU and CPU fallback).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

scripts/install-test-deps.sh
echo "== cargo test (target dir $CARGO_TARGET_DIR)"
HYPERSPHERE_WGPU_TEST=1 cargo test --release --workspace
echo "== wasm build"
scripts/build-web.sh
echo "== browser tests"
(cd tests/browser && npm test)
