#!/usr/bin/env bash
# The main job from a fresh machine: builds the `hypersphere` CLI (release) and runs the whole
# study, `hypersphere reproduce`: trains the paper's six settings (CE, SupCon, SimCLR, SimCLR +
# fixed FNC, two A-FNC schedules), attacks them, measures their geometry and corruption
# robustness and writes report/report.html. Defaults to the tiny scale on the built-in
# procedural data (minutes on a 2-core CPU); arguments go to `reproduce`, e.g.
#   scripts/main.sh --preset small --data ../shared/data/cifar10     (hours on a 2-core CPU)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
pin_patch_times
cargo build --release -p hypersphere
stamp_patches
case " $* " in
  *" --preset "*|*" --preset="*) exec "$CARGO_TARGET_DIR/release/hypersphere" reproduce "$@" ;;
  *) exec "$CARGO_TARGET_DIR/release/hypersphere" reproduce --preset tiny "$@" ;;
esac
