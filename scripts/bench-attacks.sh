#!/usr/bin/env bash
# The same-weights attack benchmark: hypersphere and PyTorch + torchattacks time the same
# ResNet-18 (CIFAR variant, width 64) on the same images in one run, and print tables with the
# same rows: inference, PGD-10 and PGD-40 (images/s and accuracy after the attack) on one batch,
# and AutoAttack standard (APGD-CE, APGD-T, FAB-T, Square, each on the images still robust) on
# the first K images, with seconds per 1,000 images and the robust accuracy after each component.
#
#   scripts/bench-attacks.sh [--gpu] [FIXTURE_DIR]
#
# The fixture (bench_model.safetensors, about 45 MB, and bench_images.safetensors) is written
# by `scripts/bench_pytorch.py --write-fixture` into FIXTURE_DIR (default /tmp/hs-bench-fixture)
# unless it is already there. Without --gpu: CPU settings that finish in minutes on 2 cores
# (batch 8, 2 warm-up calls and the median of 5 timed ones, 8 AutoAttack images, APGD/FAB 10
# steps, Square 100 queries). With --gpu: the published budgets (100 steps, 5000 queries) on
# 500 images, batch 128, on the GPU.
# Environment overrides: HS (the hypersphere binary; default: the release build), PYTHON (a
# python3 with torch, safetensors and torchattacks 3.5.1), BATCH, ITERS, WARMUP, K, STEPS,
# QUERIES, JSON_DIR (write hs-aa.json and pt-aa.json there), AA_EPS (AutoAttack's radius; default 1/255, where the non-robust fixture model keeps
# some images for APGD-T, FAB-T and Square), FIXTURE_IMAGES, BUDGET_S (seconds for the whole script: the two sides share what
# the fixture leaves, hypersphere 3/5 of it; default unbounded).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

gpu=0
if [ "${1:-}" = "--gpu" ]; then gpu=1; shift; fi
dir=${1:-/tmp/hs-bench-fixture}
HS=${HS:-$CARGO_TARGET_DIR/release/hypersphere}
PYTHON=${PYTHON:-python3}
if [ $gpu = 1 ]; then
  : "${BATCH:=128}" "${ITERS:=3}" "${WARMUP:=2}" "${K:=500}" "${STEPS:=100}" "${QUERIES:=5000}" "${FIXTURE_IMAGES:=1000}"
  hs_device=auto; pt_device=cuda
else
  : "${BATCH:=8}" "${ITERS:=5}" "${WARMUP:=2}" "${K:=8}" "${STEPS:=10}" "${QUERIES:=100}" "${FIXTURE_IMAGES:=100}"
  hs_device=flex; pt_device=cpu
fi
[ -x "$HS" ] || { echo "error: no hypersphere binary at $HS (cargo build --release --workspace, or set HS)" >&2; exit 1; }
"$PYTHON" -c "import torch, safetensors, torchattacks" 2>/dev/null \
  || { echo "error: $PYTHON lacks torch, safetensors or torchattacks (set PYTHON)" >&2; exit 1; }

: "${AA_EPS:=1/255}"
deadline=$(( $(date +%s) + ${BUDGET_S:-1000000} ))
left() { local s=$(( deadline - $(date +%s) )); echo $(( s > 1 ? s : 1 )); }

weights=$dir/bench_model.safetensors
images=$dir/bench_images.safetensors
if [ ! -f "$weights" ] || [ ! -f "$images" ]; then
  timeout "$(left)" "$PYTHON" scripts/bench_pytorch.py --write-fixture "$dir" --width 64 --fixture-images "$FIXTURE_IMAGES"
fi
common=(--weights "$weights" --images "$images" --batch-size "$BATCH" --iters "$ITERS" --warmup "$WARMUP"
        --autoattack-images "$K" --aa-steps "$STEPS" --aa-queries "$QUERIES" --aa-eps "$AA_EPS")

echo
echo "\$ hypersphere bench --device $hs_device --width 64 ${common[*]}"
hs_json=(); pt_json=()
if [ -n "${JSON_DIR:-}" ]; then hs_json=(--json "$JSON_DIR/hs-aa.json"); pt_json=(--json "$JSON_DIR/pt-aa.json"); fi
timeout "$(( $(left) * 3 / 5 ))" "$HS" bench --device "$hs_device" --width 64 "${common[@]}" "${hs_json[@]}" \
  || echo "(hypersphere stopped: exit $?, 124 = out of time)"
echo
echo "\$ $PYTHON scripts/bench_pytorch.py --device $pt_device --width 64 ${common[*]}"
PYTHONUNBUFFERED=1 timeout "$(left)" "$PYTHON" scripts/bench_pytorch.py --device "$pt_device" --width 64 "${common[@]}" "${pt_json[@]}" \
  || echo "(PyTorch stopped: exit $?, 124 = out of time)"
