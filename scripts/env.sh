# Shared settings of the project's scripts (sourced, not run).
# Build outputs live outside the clone so CI and fresh clones reuse them when present.
export HYPERSPHERE_TARGET_DIR="${HYPERSPHERE_TARGET_DIR:-$HOME/.cache/hypersphere/target}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HYPERSPHERE_TARGET_DIR}"
export HYPERSPHERE_WASM_TARGET_DIR="${HYPERSPHERE_WASM_TARGET_DIR:-$HYPERSPHERE_TARGET_DIR-wasm}"
# root runs apt directly; others go through sudo.
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi

# Cargo decides whether a path dependency is fresh by file times. A fresh clone (CI) gives
# every file the checkout time, so the local cubecl-llvm stand-in (patches/cubecl-llvm, below
# Burn's CUDA crates) would look newer than the cached build and rebuild most of Burn. When its
# content is what the target directory was last built with (a hash stamp written after a
# successful build), its files get an old time, so the cached build is reused; otherwise they
# keep their new time and cargo rebuilds them.
patch_hash() { find patches/cubecl-llvm -type f | sort | xargs cat | sha256sum | cut -d' ' -f1; }
pin_patch_times() {
  local stamp="$CARGO_TARGET_DIR/.patches-cubecl-llvm.sha256"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(patch_hash)" ]; then
    find patches/cubecl-llvm -type f -exec touch -d @946684800 {} +
  fi
}
stamp_patches() { mkdir -p "$CARGO_TARGET_DIR" && patch_hash > "$CARGO_TARGET_DIR/.patches-cubecl-llvm.sha256"; }
