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
pub mod table2;
pub mod train;

use anyhow::{Result, bail};
use hypersphere_core::data::imagenet::{self, Preprocess};
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

/// The evaluation images: `imagenet:DIR` is an ImageNet validation folder (`DIR/<wnid>/<image>`,
/// standard class indices) brought to `size` x `size` by `preprocess` (`standard`: shorter side
/// to size·256/224, centre crop; `none`: images already at that size), with `--limit` a fixed
/// class-balanced subset; anything else is [`load_split`]'s test split.
pub fn load_test_set(spec: &str, limit: Option<usize>, seed: u64, size: usize, preprocess: &str) -> Result<ImageSet> {
    let Some(dir) = spec.strip_prefix("imagenet:") else {
        return load_split(spec, Split::Test, limit, seed);
    };
    let size = size as u32;
    let preprocess = match preprocess {
        "standard" => Preprocess::ResizeCrop { resize: size * 256 / 224, crop: size },
        "none" => Preprocess::None { size },
        other => bail!("unknown --preprocess '{other}' (valid: standard, none)"),
    };
    let pb = spinner(&format!("loading ImageNet folder {dir}"));
    let set = imagenet::load_folder(std::path::Path::new(dir), preprocess, limit);
    pb.finish_and_clear();
    Ok(set?)
}
