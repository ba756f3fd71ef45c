#!/usr/bin/env bash
# CPU parity: hypersphere (Flex) and PyTorch (CPU, strict f32) time the same ResNet-18 (width 64,
# batch 128) on the same cores, one after the other, twice (hypersphere, PyTorch, hypersphere,
# PyTorch: the second round is reported, so both sides run warm and under the same load), each
# row the median of ITERS timed calls after WARMUP calls. Writes docs/bench-cpu-2core.json
# (paired rows, bench_table.py) and .md, and the README table between the bench-cpu markers.
#
#   scripts/bench-cpu.sh            # needs python3 with torch, and the release build
#
# Environment: HS (binary), ROWS (default inference,ce-step,pgd10), WARMUP (3), ITERS (5),
# WIDTH (64), BATCH (128), OUT (default docs).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
HS=${HS:-$CARGO_TARGET_DIR/release/hypersphere}
ROWS=${ROWS:-inference,ce-step,pgd10}
WARMUP=${WARMUP:-3}; ITERS=${ITERS:-5}; WIDTH=${WIDTH:-64}; BATCH=${BATCH:-128}
OUT=${OUT:-docs}
tmp=$(mktemp -d)
common=(--width "$WIDTH" --batch-size "$BATCH" --train-batch-sizes "$BATCH" --simclr-batch-size "$BATCH" --rows "$ROWS" --warmup "$WARMUP" --iters "$ITERS")
for round in 1 2; do
  echo "== round $round: hypersphere (Flex)"
  "$HS" bench --device flex "${common[@]}" --json "$tmp/hs.json"
  echo "== round $round: PyTorch (CPU, strict f32, $(python3 -c 'import torch; print(torch.get_num_threads())') threads)"
  python3 scripts/bench_pytorch.py --device cpu --mode strict "${common[@]}" --json "$tmp/pt.json"
done
python3 scripts/bench_table.py --hypersphere "$tmp/hs.json" --pytorch "$tmp/pt.json" \
  --out "$OUT/bench-cpu-2core.json" --markdown "$OUT/bench-cpu-2core.md" --readme README.md --marker bench-cpu
rm -rf "$tmp"
