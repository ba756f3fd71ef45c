#!/usr/bin/env bash
# The one prepared GPU check, and its CPU rehearsal.
#
#   scripts/gpu-check.sh [--dry-run]
#
# On a lent NVIDIA machine (through the device tool, from the repository root) it runs, in one
# call, on the same card, hypersphere and PyTorch alternately (so both see the same clocks and
# temperature), each row the median of 20 timed calls after 10 warm-up calls:
#   1. `hypersphere bench` (random ResNet-18 width 64: inference, CE training step at batch 128
#      and 512, SimCLR step at batch 256 with augmentations, PGD-10, PGD-40) in f32, then
#      PyTorch strict f32 (TF32 off), then hypersphere tf32, then PyTorch defaults (TF32 convs,
#      cudnn.benchmark), then hypersphere bf16 (training rows in mixed precision), then PyTorch
#      bf16 autocast;
#   2. the same-weights attack benchmark (scripts/bench-attacks.sh --gpu: AutoAttack standard at
#      the published budgets on K=500 images, both sides);
#   3. scripts/bench_table.py: the ratio table and bench.json (rows: name, batch,
#      hypersphere_img_s, pytorch_img_s, ratio, hypersphere_precision, pytorch_mode, backend,
#      device).
# Everything lands in $OUT (gpu.txt, hs-*.json, pt-*.json, bench.json, bench.md, log.txt); copy
# them to docs/gpu/ with the card's name and the date. BUDGET (seconds, default 480) bounds the
# whole script; steps that do not fit are skipped and say so.
#
# With STUDY_ARGS set (e.g. STUDY_ARGS="--preset small --data .data/cifar10") it runs, instead of
# the benchmarks, the next window of a study that progresses window by window (issue 17): the
# study so far comes in as the parts .study/study.tar.xz.* (carry: .study, after
# `echo /.study/ >> .git/info/exclude`; none for the first window),
# `hypersphere reproduce $STUDY_ARGS --out /tmp/study --budget <what BUDGET leaves, minus 60 s>`
# runs until the study is done or its budget stops it cleanly (exit code 75: training stopped at
# a step boundary after a checkpoint; the next window continues it), and the study goes back out
# as $OUT/study.tar.xz.aa, .ab, ... (15 MB parts: the device tool brings back at most 8 files of
# 16 MiB, 64 MiB in all). Copy them into .study/ for the next window; finished results
# (eval.json, geometry.json, corruptions.json, report/) can be committed to docs/results/.
#
# What travels to the device in one call is at most 64 MiB: the repository's tracked files
# (16.5 MB on 2026-12-03) and every carried path. The binary (.gpu, 22 MB with xz -9), CIFAR-10
# (.data/cifar10: the two JPEG archives, 19 MB) and a width-64 study (32-41 MB) do not fit in
# one call together, so a study window takes two calls on the same warm machine (ignored paths
# carried by a call stay there for the next call while the machine is warm, 30 s): first the
# benchmark, carrying .gl .gpu .whl .data (about 60 MB), then at once the window, carrying
# .study alone. The window says so in one line when .gpu is not there.
#
# Carried with the call (carry: .gl, .gpu, .whl):
#   .gl/                  Vulkan loader packages (see /work/.library/device/README.md)
#   .gpu/hypersphere.xz   a stripped release build:
#                           cargo build --release -p hypersphere && mkdir -p .gpu &&
#                           strip -o /tmp/hs "$CARGO_TARGET_DIR/release/hypersphere" && xz -9 -T2 -c /tmp/hs > .gpu/hypersphere.xz
#   .data/cifar10/        the study's data (cp ../shared/data/cifar10/*.tar.gz; echo /.data/ >> .git/info/exclude)
#   .whl/                 torchattacks (not installed there; torch, safetensors are):
#                           echo /.whl/ >> .git/info/exclude
#                           python3 -m pip download --no-deps torchattacks==3.5.1 -d .whl
#
# --dry-run: the same steps on this machine's CPU with tiny sizes (Flex; ResNet-18 width 4,
# batch 8, 1 warm-up, 3 timed calls; PyTorch on the CPU when it is installed, else hypersphere's
# rows alone), then two 10-second windows of a tiny study on procedural data (the --budget path:
# the second continues what the first packed), with the release build in $CARGO_TARGET_DIR (or HS). OUT defaults to
# /tmp/hs-gpu-check.
set -uo pipefail
cd "$(dirname "$0")/.."
dry=0
if [ "${1:-}" = "--dry-run" ]; then dry=1; shift; fi
OUT=${OUT:-/tmp/hs-gpu-check}
mkdir -p "$OUT"
start=$(date +%s)
# The device run must end inside its lease; the dry run (a test) has no such limit, only a
# loaded CPU, so it gets one that never cuts a step short.
budget=${BUDGET:-$([ $dry = 1 ] && echo 3600 || echo 480)}
left() { echo $(( budget - ($(date +%s) - start) )); }
log() { echo "$*" | tee -a "$OUT/log.txt"; }
: > "$OUT/log.txt"

if [ $dry = 1 ]; then
  . scripts/env.sh
  HS=${HS:-$CARGO_TARGET_DIR/release/hypersphere}
  [ -x "$HS" ] || { echo "error: no hypersphere binary at $HS (cargo build --release -p hypersphere, or set HS)" >&2; exit 1; }
  hs_common=(--device flex --width 4 --batch-size 8 --train-batch-sizes 8,16 --simclr-batch-size 8 --warmup 1 --iters 3)
  pt_common=(--device cpu --width 4 --batch-size 8 --train-batch-sizes 8,16 --simclr-batch-size 8 --warmup 1 --iters 3)
  precisions=(f32 bf16)
  echo "CPU (dry run) $(nproc) cores" > "$OUT/gpu.txt"
else
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
  icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  [ -f "$icd" ] && export VK_DRIVER_FILES=$icd
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$OUT/gpu.txt"
  if [ ! -f .gpu/hypersphere.xz ]; then
    echo "error: .gpu/hypersphere.xz is not here: carry .gpu in this call, or in the call just before it on the same warm machine (see the header)" | tee -a "$OUT/log.txt" >&2
    exit 1
  fi
  xz -dc .gpu/hypersphere.xz > /tmp/hypersphere && chmod +x /tmp/hypersphere
  HS=/tmp/hypersphere
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
  hs_common=(--device auto --width 64 --batch-size 128 --train-batch-sizes 128,512 --simclr-batch-size 256 --warmup 10 --iters 20)
  pt_common=(--device cuda --width 64 --batch-size 128 --train-batch-sizes 128,512 --simclr-batch-size 256 --warmup 10 --iters 20)
  precisions=(f32 tf32 bf16)
fi
log "== $(cat "$OUT/gpu.txt"), $(date -u +%Y-%m-%d)"
have_torch=0
python3 -c "import torch" 2>/dev/null && have_torch=1

# Both sides alternately: hypersphere f32, PyTorch strict, hypersphere tf32, PyTorch default,
# hypersphere bf16, PyTorch bf16.
hs_bench() {
  log "\$ hypersphere bench --precision $1 ${hs_common[*]}"
  timeout "$(( $(left) > 5 ? $(left) : 5 ))" "$HS" bench --precision "$1" "${hs_common[@]}" --json "$OUT/hs-$1.json" 2>&1 | tee -a "$OUT/log.txt"
}
pt_bench() {
  if [ $have_torch = 0 ]; then log "(PyTorch is not installed here: mode $1 skipped)"; return; fi
  log "\$ python3 scripts/bench_pytorch.py --mode $1 ${pt_common[*]}"
  PYTHONUNBUFFERED=1 timeout "$(( $(left) > 5 ? $(left) : 5 ))" python3 scripts/bench_pytorch.py --mode "$1" "${pt_common[@]}" --json "$OUT/pt-$1.json" 2>&1 | tee -a "$OUT/log.txt"
}
has() { case " ${precisions[*]} " in *" $1 "*) return 0 ;; esac; return 1; }

# The next window of a study: unpack the carried parts, reproduce under --budget, pack it again.
study_window() {
  # One path in every window: eval's results file names models by their weights' paths.
  local dir=/tmp/hs-study window=$1 parts=$2
  rm -rf "$dir" && mkdir -p "$dir"
  if compgen -G "$parts/study.tar.xz.*" > /dev/null; then
    cat "$parts"/study.tar.xz.* | xz -dc | tar -x -C "$dir" || { log "error: the carried study parts do not unpack"; return 1; }
    log "== study so far: $(du -sh "$dir" | cut -f1) from $(ls "$parts"/study.tar.xz.* | wc -l) part(s)"
  fi
  local args
  eval "args=($STUDY_ARGS)"
  log "\$ hypersphere reproduce ${args[*]} --out $dir --budget ${window}s"
  "$HS" reproduce "${args[@]}" --out "$dir" --budget "${window}s" 2>&1 | tee -a "$OUT/log.txt"
  local rc=${PIPESTATUS[0]}
  case $rc in
    0) log "== study complete" ;;
    75) log "== window ended at its budget; the next window continues" ;;
    *) log "error: reproduce failed (exit $rc)" ;;
  esac
  pack_study "$dir"
  rm -rf "$dir"
  [ "$rc" = 0 ] || [ "$rc" = 75 ]
}

# Packs the study in $1 into $OUT/study.tar.xz.* without what the next window can do without:
# the root weights of a run still training (model.bpk, encoder.bpk: its checkpoint folder is
# what resumes it) and the checkpoint folder of a finished run (`done`). When that is still
# more than PACK_LIMIT bytes (default 60 MB, under the 64 MiB the device tool returns), it
# packs again without the weights of the finished runs that hold their own results (eval.json:
# reproduce evaluates a run as soon as it is trained, and the study's tables are gathered from
# those files) and without the encoder copy of finished runs other than RoCL/ACL (their
# model.bpk holds the same backbone; only Table 5's classifiers of RoCL and ACL read an
# encoder), and lists what it left out.
pack_study() {
  local dir=$1 limit=${PACK_LIMIT:-60000000} excludes=() finished=() encoders=() run rel bytes
  for run in "$dir"/*/ "$dir"/seed-*/*/; do
    [ -f "$run/config.json" ] || continue
    rel=${run#"$dir"/}; rel=${rel%/}
    if [ -f "$run/done" ]; then
      excludes+=(--exclude="./$rel/checkpoints")
      if [ -f "$run/eval.json" ]; then finished+=("$rel")
      elif [ -f "$run/encoder.bpk" ] && ! grep -Eq '"method": *"(rocl|acl)"' "$run/config.json"; then encoders+=("$rel")
      fi
    else
      excludes+=(--exclude="./$rel/model.bpk" --exclude="./$rel/encoder.bpk")
    fi
  done
  pack() {
    rm -f "$OUT"/study.tar.xz.*
    tar -C "$dir" "${excludes[@]}" -c . | xz -1 -T0 | split -b 15M - "$OUT/study.tar.xz."
    bytes=$(cat "$OUT"/study.tar.xz.* | wc -c)
  }
  pack
  if [ "$bytes" -gt "$limit" ] && [ $(( ${#finished[@]} + ${#encoders[@]} )) -gt 0 ]; then
    log "== the study packs to $bytes bytes, over $limit: leaving out the weights of the evaluated runs ${finished[*]:-(none)} and the encoder copies of ${encoders[*]:-(none)}"
    for rel in "${finished[@]}"; do excludes+=(--exclude="./$rel/model.bpk" --exclude="./$rel/encoder.bpk"); done
    for rel in "${encoders[@]}"; do excludes+=(--exclude="./$rel/encoder.bpk"); done
    pack
  fi
  log "== packed: $(ls "$OUT"/study.tar.xz.* | wc -l) part(s), $bytes bytes"
  [ "$bytes" -le "$limit" ] || log "warning: the packed study ($bytes bytes) is over $limit bytes; the device tool returns at most 64 MiB (try --train-args '--checkpoint-precision bf16')"
}

if [ -n "${STUDY_ARGS:-}" ] && [ $dry = 0 ]; then
  study_window $(( $(left) - 60 )) .study
  rc=$?
  log "total $(( $(date +%s) - start )) s"
  exit $rc
fi

hs_bench f32
pt_bench strict
if has tf32; then hs_bench tf32; fi
pt_bench default
# bf16: inference and attacks in bf16, training steps in mixed precision (f32 master weights),
# the counterpart of PyTorch's bf16 autocast mode.
if has bf16; then hs_bench bf16; fi
pt_bench bf16

if [ $dry = 0 ]; then
  if [ "$(left)" -gt 60 ]; then
    log "== same-weights attack benchmark ($(left) s left)"
    HS=$HS K=${K:-500} JSON_DIR=$OUT BUDGET_S=$(( $(left) - 20 )) scripts/bench-attacks.sh --gpu /tmp/bench-fixture 2>&1 | tee -a "$OUT/log.txt"
  else
    log "(same-weights attack benchmark skipped: $(left) s left)"
  fi
fi

if [ $dry = 1 ]; then
  STUDY_ARGS=${STUDY_ARGS:-"--preset tiny --data procedural:200 --limit 100 --device flex --train-args '--epochs 2 --arch small-cnn --width 4 --train-limit 100 --test-limit 20 --linear-epochs 1'"}
  # Two windows of 10 s: the second continues the study the first packed.
  parts=$(mktemp -d)
  study_window 10 "$parts" || exit 1
  cp "$OUT"/study.tar.xz.* "$parts"/
  study_window 10 "$parts" || exit 1
  rm -rf "$parts"
fi

hs_reports=()
for p in "${precisions[@]}" aa; do [ -s "$OUT/hs-$p.json" ] && hs_reports+=("$OUT/hs-$p.json"); done
if [ ${#hs_reports[@]} = 0 ]; then log "error: no hypersphere report was written"; exit 1; fi
pt_reports=()
for m in strict default bf16 aa; do [ -s "$OUT/pt-$m.json" ] && pt_reports+=("$OUT/pt-$m.json"); done
python3 scripts/bench_table.py --hypersphere "${hs_reports[@]}" --pytorch "${pt_reports[@]}" \
  --out "$OUT/bench.json" --markdown "$OUT/bench.md" 2>&1 | tee -a "$OUT/log.txt"
log "total $(( $(date +%s) - start )) s"
