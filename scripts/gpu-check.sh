#!/usr/bin/env bash
# The one prepared GPU check (run through the device tool on a lent NVIDIA machine, from the
# repository root). It expects, carried with the call:
#   .gl/   Vulkan loader packages (see /work/.library/device/README.md)
#   .gpu/  hypersphere.xz (a stripped release build) and cifar10/ (the two CIFAR-10 archives)
# and writes a summary, the benchmark tables (Burn and PyTorch, same shapes, same call) and the
# ResNet-18 training log under $OUT. BUDGET (seconds, default 540) bounds the whole script: the
# number of training epochs (at most 15) is chosen from the measured training throughput.
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

echo "== bench (hypersphere, --device auto)"
timeout 200 $hs bench --device auto --batch-size 128 --iters 5 2>&1 | tee "$OUT/bench.txt"
echo "== bench (PyTorch, same shapes)"
timeout 90 python3 scripts/bench_pytorch.py --batch-size 128 --iters 5 2>&1 | tee -a "$OUT/bench.txt"

ips=$(grep -m1 "training step" "$OUT/bench.txt" | awk -F'|' '{gsub(/ /,"",$4); print $4}')
elapsed=$(( $(date +%s) - start ))
left=$(( ${BUDGET:-540} - elapsed - 30 ))
epochs=$(python3 -c "ips=float('${ips:-0}' or 0); e=int($left/(50000/ips*1.15+8)) if ips>0 else 0; print(max(0,min(15,e)))")
echo "== training ResNet-18 for $epochs epochs ($left s left, $ips img/s measured)" | tee "$OUT/train.txt"
if [ "$epochs" -gt 0 ]; then
  timeout "$left" $hs train --data .gpu/cifar10 --arch resnet18-cifar --epochs "$epochs" --batch-size 128 \
    --lr 0.1 --weight-decay 5e-4 --device auto --out /tmp/resnet18 2>&1 | grep -v '^\s*$' | tee -a "$OUT/train.txt"
  cp /tmp/resnet18/metrics.jsonl /tmp/resnet18/config.json "$OUT/" 2>/dev/null
fi
echo "total $(( $(date +%s) - start )) s" | tee -a "$OUT/train.txt"
