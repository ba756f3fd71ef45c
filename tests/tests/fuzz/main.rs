//! Fuzzing of the decoders and loaders users feed files to (issue 13), on stable Rust: a
//! seeded mutation fuzzer (`mutate.rs`) drives each target of `targets.rs` under the guards of
//! `harness.rs` (no panic, one-line errors, bounded memory, bounded time).
//!
//! `cargo test --release --workspace --test fuzz` is the CI smoke run (fixed seed, a fixed number
//! of inputs per target, seconds in all). The long run fuzzes each target for a while:
//! `HYPERSPHERE_FUZZ_SECONDS=600 cargo test --release --workspace --test fuzz -- --nocapture`
//! (also `HYPERSPHERE_FUZZ_SEED`, `HYPERSPHERE_FUZZ_TARGETS=image,archive`,
//! `HYPERSPHERE_FUZZ_ITERATIONS`, `HYPERSPHERE_FUZZ_FINDS`). Inputs that failed are saved with
//! the reason; once fixed they go to `tests/fuzz/found/<target>/` and are replayed every run.

#[path = "../common/mod.rs"]
mod common;
mod harness;
mod mutate;
mod targets;

/// The page's request parser, compiled here natively (the web crate builds for wasm32 only).
#[path = "../../../web/src/request.rs"]
#[allow(dead_code)]
mod request;

use std::path::Path;

#[global_allocator]
static ALLOCATOR: harness::Counting = harness::Counting;


/// Removes the targets' scratch folders (`<tmp>/hs-fuzz-<pid>`) when the run ends, even by a panic.
struct Scratch;

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("hs-fuzz-{}", std::process::id())));
    }
}

#[test]
fn fuzz_decoders_and_loaders() {
    let _scratch = Scratch;
    let plan = harness::Plan::from_env();
    let found = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/found");
    harness::run_all(targets::all(), &found, &plan);
}
