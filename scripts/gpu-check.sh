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
# and writes under $OUT: gpu.txt and bench-attacks.txt (scripts/bench-attacks.sh --gpu: the same
# ResNet-18 weights and images on both sides, PGD-10/40 throughput at batch 128 and AutoAttack
# standard at the published budgets on K images, default 64). BUDGET (seconds, default 420)
# bounds the whole script. (The random-weights bench and a ResNet-18 training run ran in an
# earlier check: docs/gpu/.)
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
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site

left=$(( ${BUDGET:-420} - ($(date +%s) - start) - 10 ))
echo "== same-weights attack benchmark ($left s left)"
HS=/tmp/hypersphere K=${K:-64} BUDGET_S=$left scripts/bench-attacks.sh --gpu /tmp/bench-fixture 2>&1 | tee "$OUT/bench-attacks.txt"
echo "total $(( $(date +%s) - start )) s" | tee -a "$OUT/bench-attacks.txt"
