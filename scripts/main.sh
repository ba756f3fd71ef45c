#!/usr/bin/env bash
# The main job from a fresh machine: builds the `hypersphere` CLI (release) and runs
# `hypersphere quickstart` with the given arguments: it trains a small CNN (procedural data
# unless --data is given) and prints its robustness table. Example:
#   scripts/main.sh --data ../shared/data/cifar10
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
cargo build --release -p hypersphere
exec "$CARGO_TARGET_DIR/release/hypersphere" quickstart "$@"
