//! `hypersphere data fetch cifar10|cifar100|cifar10-c [--dir D] [--mirror URL]`: downloads the
//! published archive (resuming a partial download), checks its published MD5, unpacks it and
//! prints the folder to pass as `--data` (or `corrupt-eval --cifar10c`). The catalogue and the
//! download/verify/unpack logic are `hypersphere_core::data::fetch`; this file adds the
//! environment (where fetched data lives, which mirror), the progress bar, and the resolution of
//! the names `cifar10`, `cifar100` and `cifar10-c` wherever a dataset is named
//! ([`resolve_data`], [`resolve_cifar10c`]): the fetched copy, fetched first when absent.
//!
//! Environment: `HYPERSPHERE_DATA` (the folder of fetched datasets, default
//! `~/.cache/hypersphere/data`), `HYPERSPHERE_MIRROR` (a base URL serving the archives under
//! their file names, as `--mirror`) and `HYPERSPHERE_FETCH_MD5` (`name=md5[,name=md5]`: expected
//! checksums for a mirror that serves repacked archives; the tests' local server uses it; the
//! published size is then not enforced).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hypersphere_core::data::DataSource;
use hypersphere_core::data::fetch::{self, Archive, Dataset, FetchOptions, FetchProgress};
use indicatif::{HumanBytes, ProgressBar};

use crate::progress::bytes_bar;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: DataCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum DataCommand {
    /// Download, verify (published MD5) and unpack cifar10, cifar100 or cifar10-c; prints the folder to pass as --data.
    Fetch(FetchArgs),
}

#[derive(clap::Args, Debug)]
pub struct FetchArgs {
    /// cifar10, cifar100 (the binary versions from cs.toronto.edu) or cifar10-c (Zenodo record 2535967).
    pub dataset: String,
    /// Folder to fetch into [default: $HYPERSPHERE_DATA, else ~/.cache/hypersphere/data].
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Base URL serving the archives under their published file names, instead of the official
    /// location [default: $HYPERSPHERE_MIRROR].
    #[arg(long)]
    pub mirror: Option<String>,
    /// Keep the verified archive next to the unpacked folder.
    #[arg(long)]
    pub keep_archive: bool,
}

pub fn run(args: Args) -> Result<()> {
    match args.command {
        DataCommand::Fetch(a) => {
            let dataset = parse_dataset(&a.dataset)?;
            let dir = match a.dir {
                Some(d) => d,
                None => data_dir()?,
            };
            let options = FetchOptions { keep_archive: a.keep_archive, ..Default::default() };
            let path = ensure(dataset, &dir, a.mirror.as_deref(), &options)?;
            let flag = if dataset == Dataset::Cifar10C { "corrupt-eval --cifar10c" } else { "--data" };
            eprintln!("{} is ready; use {flag} {} (or {flag} {})", dataset.name(), path.display(), dataset.name());
            println!("{}", path.display());
            Ok(())
        }
    }
}

fn parse_dataset(name: &str) -> Result<Dataset> {
    Dataset::parse(name).with_context(|| {
        let known: Vec<_> = Dataset::ALL.iter().map(|d| d.name()).collect();
        format!("unknown dataset '{name}' (known: {})", known.join(", "))
    })
}

/// The folder of fetched datasets: `$HYPERSPHERE_DATA`, else `~/.cache/hypersphere/data`.
pub fn data_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("HYPERSPHERE_DATA").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).context("neither HYPERSPHERE_DATA nor HOME is set: pass --dir or set HYPERSPHERE_DATA")?;
    Ok(Path::new(&home).join(".cache/hypersphere/data"))
}

/// The catalogue's archive, with the checksum of `HYPERSPHERE_FETCH_MD5` when it names this
/// dataset (then the size is whatever the server announces).
fn archive(dataset: Dataset) -> Result<Archive> {
    let mut archive = dataset.archive();
    if let Ok(list) = std::env::var("HYPERSPHERE_FETCH_MD5") {
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, md5) = item.split_once('=').with_context(|| format!("HYPERSPHERE_FETCH_MD5: '{item}' is not name=md5"))?;
            if !(md5.len() == 32 && md5.chars().all(|c| c.is_ascii_hexdigit())) {
                bail!("HYPERSPHERE_FETCH_MD5: '{md5}' is not an MD5 (32 hex digits)");
            }
            if parse_dataset(name)? == dataset {
                archive.md5 = md5.to_ascii_lowercase();
                archive.size = None;
            }
        }
    }
    Ok(archive)
}

/// The fetched folder of `dataset` under `dir`, downloading it first (saying so, and how big it
/// is) when absent. `mirror` falls back to `$HYPERSPHERE_MIRROR`.
fn ensure(dataset: Dataset, dir: &Path, mirror: Option<&str>, options: &FetchOptions) -> Result<PathBuf> {
    let archive = archive(dataset)?;
    if let Some(path) = archive.fetched(dir) {
        return Ok(path);
    }
    let env_mirror = std::env::var("HYPERSPHERE_MIRROR").ok().filter(|m| !m.is_empty());
    let url = archive.source_url(mirror.or(env_mirror.as_deref()));
    let size = archive.size.map_or("size announced by the server".to_string(), |s| HumanBytes(s).to_string());
    let part = dir.join(format!("{}.part", archive.file));
    let resume = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    let how = if resume > 0 { format!("resuming after {} ", HumanBytes(resume)) } else { String::new() };
    eprintln!("{} is not fetched yet: downloading {} ({size}) {how}from {url} into {}", dataset.name(), archive.file, dir.display());
    let mut bar = Bar(None);
    let path = fetch::fetch(&archive, &url, dir, options, &mut bar);
    if let Some(pb) = bar.0.take() {
        pb.finish_and_clear();
    }
    Ok(path?)
}

/// A `--data` value as a source: `cifar10` / `cifar100` name the fetched copies (fetched first
/// when absent, into [`data_dir`]); anything else is [`DataSource::parse`]d (a folder literally
/// called `cifar10` is `./cifar10`).
pub fn resolve_data(spec: &str) -> Result<DataSource> {
    match Dataset::parse(spec) {
        Some(Dataset::Cifar10C) => bail!("{spec} holds corrupted test images only: pass it to corrupt-eval --cifar10c {spec}, with --data cifar10 for the clean images"),
        Some(dataset) => Ok(DataSource::Path(ensure(dataset, &data_dir()?, None, &FetchOptions::default())?)),
        None => Ok(DataSource::parse(spec)?),
    }
}

/// A `--cifar10c` value: the name `cifar10-c` is the fetched copy (fetched first when absent);
/// anything else is a folder.
pub fn resolve_cifar10c(value: &Path) -> Result<PathBuf> {
    match value.to_str().and_then(Dataset::parse) {
        Some(Dataset::Cifar10C) => ensure(Dataset::Cifar10C, &data_dir()?, None, &FetchOptions::default()),
        Some(other) => bail!("--cifar10c {}: that is {}, not CIFAR-10-C (use cifar10-c or a folder of .npy files)", value.display(), other.name()),
        None => Ok(value.to_path_buf()),
    }
}

/// The download's progress bar (bytes, rate, ETA) and its notes.
struct Bar(Option<ProgressBar>);

impl FetchProgress for Bar {
    fn transfer(&mut self, done: u64, total: Option<u64>) {
        if let Some(old) = self.0.take() {
            old.finish_and_clear();
        }
        let pb = bytes_bar(total);
        pb.set_prefix("download");
        pb.set_position(done);
        self.0 = Some(pb);
    }

    fn bytes(&mut self, n: u64) {
        if let Some(pb) = &self.0 {
            pb.inc(n);
        }
    }

    fn note(&mut self, message: &str) {
        match &self.0 {
            Some(pb) => pb.suspend(|| eprintln!("{message}")),
            None => eprintln!("{message}"),
        }
    }
}
