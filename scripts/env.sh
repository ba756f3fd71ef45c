# Shared settings of the project's scripts (sourced, not run).
# Build outputs live outside the clone so CI and fresh clones reuse them when present.
export HYPERSPHERE_TARGET_DIR="${HYPERSPHERE_TARGET_DIR:-$HOME/.cache/hypersphere/target}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HYPERSPHERE_TARGET_DIR}"
export HYPERSPHERE_WASM_TARGET_DIR="${HYPERSPHERE_WASM_TARGET_DIR:-$HYPERSPHERE_TARGET_DIR-wasm}"
# root runs apt directly; others go through sudo.
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
