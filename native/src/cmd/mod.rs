//! One file per subcommand.

pub mod attack;
pub mod bench;
pub mod bench_contrastive;
pub mod corrupt_eval;
pub mod data;
pub mod eval;
pub mod geometry;
pub mod linear_eval;
pub mod quickstart;
pub mod report;
pub mod reproduce;
pub mod serve;
pub mod train;

use anyhow::Result;
use hypersphere_core::data::{ImageSet, Split};

use crate::progress::spinner;

/// Loads a split of a data source behind a spinner, optionally keeping a stratified subset.
/// Every `--data` goes through here: `cifar10` / `cifar100` are the fetched copies
/// ([`data::resolve_data`]).
pub fn load_split(spec: &str, split: Split, limit: Option<usize>, seed: u64) -> Result<ImageSet> {
    let source = data::resolve_data(spec)?;
    let pb = spinner(&format!("loading {} split of {spec}", split.name()));
    let set = source.load(split, 32);
    pb.finish_and_clear();
    let set = set?;
    Ok(match limit {
        Some(n) if n < set.len() => set.subset(n, seed),
        _ => set,
    })
}
