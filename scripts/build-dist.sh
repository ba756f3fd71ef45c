#!/usr/bin/env bash
# Builds dist/: the page as a self-contained static folder (index.html, web/app.js,
# web/worker.js, web/worker-client.js, the wasm module, the bundled models and gallery, the benchmark page) that any
# static host can serve; `hypersphere serve` serves it locally. Writes dist/size.json (files,
# bytes, and bytes when each file is gzip -9 compressed, as static hosts serve them) and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${SKIP_WASM_BUILD:-0}" = 1 ] || scripts/build-web.sh
rm -rf dist
mkdir -p dist/web/pkg
cp index.html dist/
cp web/app.js web/worker.js web/worker-client.js web/bench.html web/bench.js dist/web/
cp web/pkg/hypersphere_web.js web/pkg/hypersphere_web_bg.wasm dist/web/pkg/
cp -r web/models web/gallery dist/web/
files=$(find dist -type f | wc -l)
bytes=$(find dist -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
gzip_bytes=$(find dist -type f -exec sh -c 'gzip -9 -c "$1" | wc -c' _ {} \; | awk '{s+=$1} END {print s}')
printf '{"files": %d, "bytes": %d, "gzip_bytes": %d}\n' "$files" "$bytes" "$gzip_bytes" > dist/size.json
echo "dist/: $files files, $bytes bytes, $gzip_bytes bytes gzipped (gzip -9 per file)"
