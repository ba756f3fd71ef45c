#!/usr/bin/env bash
# The one prepared GPU check (run through the device tool on a lent NVIDIA machine, from the
# repository root). It expects, carried with the call (carry: .gl, .gpu/hypersphere.xz, .whl):
#   .gl/                  Vulkan loader packages (see /work/.library/device/README.md)
#   .gpu/hypersphere.xz   a stripped release build:
#                           cargo build --release --workspace && mkdir -p .gpu &&
#                           strip -o /tmp/hs "$CARGO_TARGET_DIR/release/hypersphere" && xz -T2 -c /tmp/hs > .gpu/hypersphere.xz
#   .whl/                 torchattacks (not installed there; torch, safetensors, scipy, requests are):
#                           echo /.whl/ >> .git/info/exclude
#                           python3 -m pip download --no-deps torchattacks==3.5.1 -d .whl
# and writes under $OUT: gpu.txt, bench.txt (hypersphere and PyTorch, same shapes, random
# weights) and bench-attacks.txt (scripts/bench-attacks.sh --gpu: the same ResNet-18 weights and
# images on both sides, PGD-10/40 throughput and AutoAttack standard at the published budgets).
# BUDGET (seconds, default 360) bounds the whole script; the attack benchmark gets what the
# general bench leaves. (ResNet-18 training ran in an earlier check: docs/gpu/.)
set -u
OUT=${OUT:-/tmp/hs-out}
mkdir -p "$OUT"
start=$(date +%s)
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES=$icd
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
xz -dc .gpu/hypersphere.xz > /tmp/hypersphere && chmod +x /tmp/hypersphere
hs=/tmp/hypersphere

python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site

echo "== bench (hypersphere, --device auto)"
timeout 100 $hs bench --device auto --batch-size 128 --iters 5 2>&1 | tee "$OUT/bench.txt"
echo "== bench (PyTorch, same shapes)"
timeout 45 python3 scripts/bench_pytorch.py --batch-size 128 --iters 5 2>&1 | tee -a "$OUT/bench.txt"

left=$(( ${BUDGET:-360} - ($(date +%s) - start) - 10 ))
echo "== same-weights attack benchmark ($left s left)"
HS=$hs BUDGET_S=$left scripts/bench-attacks.sh --gpu /tmp/bench-fixture 2>&1 | tee "$OUT/bench-attacks.txt"
echo "total $(( $(date +%s) - start )) s" | tee -a "$OUT/bench-attacks.txt"
