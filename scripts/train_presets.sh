#!/usr/bin/env bash
# Trains the paper's six settings (ce, supcon, simclr, simclr-fnc, simclr-afnc-0.9-0.5,
# simclr-afnc-0.99-0.7) at one scale into runs/<scale>/<preset>, each followed by its linear
# evaluation. A run that was interrupted is resumed; a finished one is skipped.
#   scripts/train_presets.sh DATA [small|paper] [extra train flags...]
# e.g. scripts/train_presets.sh ../shared/data/cifar10 small --device flex
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
data="${1:?usage: scripts/train_presets.sh DATA [small|paper] [flags...]}"
scale="${2:-small}"
shift $(( $# >= 2 ? 2 : 1 ))
bin="${HYPERSPHERE_BIN:-}"
if [ -z "$bin" ]; then
    cargo build --release -p hypersphere
    bin="$CARGO_TARGET_DIR/release/hypersphere"
fi
for preset in ce supcon simclr simclr-fnc simclr-afnc-0.9-0.5 simclr-afnc-0.99-0.7; do
    out="runs/$scale/$preset"
    if [ -f "$out/model.bpk" ] && { [ "$preset" = ce ] || [ -f "$out/linear_eval.json" ]; } && [ -f "$out/done" ]; then
        echo "== $preset: done already ($out)"
        continue
    fi
    start=$(date +%s)
    if [ -f "$out/checkpoint.json" ]; then
        echo "== $preset: resuming $out"
        "$bin" train --resume "$out" "$@"
    else
        echo "== $preset: training into $out"
        "$bin" train --preset "$preset" --scale "$scale" --data "$data" --out "$out" "$@"
    fi
    echo "$(( $(date +%s) - start )) s" > "$out/done"
done
