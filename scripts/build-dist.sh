#!/usr/bin/env bash
# Builds dist/: the page as a self-contained static folder (index.html, web/app.js,
# web/worker.js, web/worker-client.js, the wasm module, the bundled models and gallery, the benchmark page) that any
# static host can serve; `hypersphere serve` serves it locally. The models' weight matrices are
# stored as f16 (scripts/web_weights.py; the page widens them to f32 on load). Prints every
# file's size raw and gzip -9 compressed (scripts/dist_size.py), writes the totals to
# dist/size.json, and fails when dist/ exceeds its budget: 5 MB gzipped (issue 16;
# DIST_BUDGET_BYTES overrides).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${SKIP_WASM_BUILD:-0}" = 1 ] || scripts/build-web.sh
rm -rf dist
mkdir -p dist/web/pkg
cp index.html dist/
cp web/app.js web/worker.js web/worker-client.js web/bench.html web/bench.js dist/web/
cp web/pkg/hypersphere_web.js web/pkg/hypersphere_web_bg.wasm dist/web/pkg/
cp -r web/models web/gallery dist/web/
python3 scripts/web_weights.py dist web/models dist/web/models
python3 scripts/dist_size.py dist --json --budget "${DIST_BUDGET_BYTES:-5000000}"
