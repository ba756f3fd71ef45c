//! `hypersphere corrupt-eval`: accuracy of one or more models under the 15 CIFAR-10-C common
//! corruptions at severities 1-5, and the relative drop `(clean - corrupted) / clean` per
//! corruption, averaged over severities (the paper's Figure 3).
//!
//! Contract: `--json out.json` writes `{"data", "source", "images", "seed", "severities",
//! "models": [{"model", "clean_accuracy", "mean_relative_drop", "corruptions": [{"corruption",
//! "fidelity", "accuracy": [per severity], "relative_drop": [per severity], "mean_accuracy",
//! "mean_relative_drop"}]}]}` with accuracies as fractions, severities in the order given
//! (`hypersphere_core::results::CorruptionReport`, the type the study report reads).

use std::path::PathBuf;

use anyhow::{Result, bail};
use hypersphere_core::corruptions::{Fidelity, check_severity, cifar10c, corrupt_set, parse_list};
use hypersphere_core::data::{ImageSet, Split};
use hypersphere_core::evaluate::clean_accuracy;
use hypersphere_core::metrics::relative_drop;
use hypersphere_core::results::{CorruptionReport, CorruptionResult, ModelCorruptions};

use crate::device::DeviceArgs;
use crate::model_files::{ModelsArgs, write_atomic};
use crate::progress::bar;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub models: ModelsArgs,
    /// Dataset whose test split gives the clean images (and, without --cifar10c, the images to corrupt): a path, `procedural[:N]`, or `cifar10`/`cifar100` (the fetched copy, fetched when absent).
    #[arg(long)]
    pub data: String,
    /// Corruptions: `all` or comma-separated CIFAR-10-C names (gaussian_noise, ..., jpeg_compression).
    #[arg(long, default_value = "all")]
    pub corruptions: String,
    /// Severities to evaluate, comma-separated, each 1..5.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4,5", allow_negative_numbers = true)]
    pub severities: Vec<i64>,
    /// Use a class-balanced subset of this many test images (the same for every model); with
    /// --cifar10c, the same class-balanced subset of this many CIFAR-10-C images for every file.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Folder of the published CIFAR-10-C files (<corruption>.npy, labels.npy), or `cifar10-c`
    /// for the fetched copy (fetched first when absent): evaluate on them instead of corrupting
    /// --data here (clean accuracy still comes from --data).
    #[arg(long)]
    pub cifar10c: Option<PathBuf>,
    /// Write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Seed of the subset and of the random corruptions.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Images per forward pass.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 }
}

/// The class-balanced subset of `n` images chosen by `seed` (it depends only on the labels and
/// the seed, so every CIFAR-10-C file gives the same indices).
fn cifar10c_subset(set: ImageSet, limit: Option<usize>, seed: u64) -> ImageSet {
    match limit {
        Some(n) if n < set.len() => set.subset(n, seed),
        _ => set,
    }
}

pub fn run(mut args: Args) -> Result<()> {
    args.cifar10c = args.cifar10c.as_deref().map(super::data::resolve_cifar10c).transpose()?;
    let corruptions = parse_list(&args.corruptions)?;
    let severities = args.severities.iter().map(|&s| check_severity(s)).collect::<hypersphere_core::Result<Vec<u8>>>()?;
    if severities.is_empty() {
        bail!("no severity given (use 1..5)");
    }
    args.models.check_exist()?;
    if let Some(dir) = &args.cifar10c {
        for c in &corruptions {
            let path = dir.join(format!("{}.npy", c.name()));
            if !path.exists() {
                bail!("{} not found (--cifar10c expects <dir>/<corruption>.npy and labels.npy)", path.display());
            }
        }
    }
    let selected = args.device.select()?;
    let device = selected.device.clone();
    let clean = super::load_split(&args.data, Split::Test, args.limit, args.seed)?;
    let models = args.models.models.iter().map(|p| args.models.load(p, &device)).collect::<Result<Vec<_>>>()?;
    let clean_acc: Vec<f64> = models.iter().map(|m| clean_accuracy(m, &clean, args.batch_size, &device)).collect();
    // accuracy[model][corruption][severity]
    let mut acc = vec![vec![Vec::with_capacity(severities.len()); corruptions.len()]; models.len()];
    let pb = bar((corruptions.len() * severities.len()) as u64, "sets");
    pb.set_prefix("corrupt-eval");
    let mut images = clean.len();
    for (ci, &c) in corruptions.iter().enumerate() {
        for &s in &severities {
            pb.set_message(format!("{c} severity {s}"));
            let set = match &args.cifar10c {
                Some(dir) => cifar10c_subset(cifar10c::load(dir, c, s)?, args.limit, args.seed),
                None => corrupt_set(&clean, c, s, args.seed.wrapping_add(1000 * ci as u64 + s as u64)),
            };
            if set.class_names.len() != clean.class_names.len() {
                bail!("{c}: {} classes in the corrupted images, {} in {}", set.class_names.len(), clean.class_names.len(), args.data);
            }
            images = set.len();
            for (mi, model) in models.iter().enumerate() {
                acc[mi][ci].push(clean_accuracy(model, &set, args.batch_size, &device));
            }
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    let results: Vec<ModelCorruptions> = args
        .models
        .models
        .iter()
        .enumerate()
        .map(|(mi, path)| {
            let clean = clean_acc[mi];
            let corruptions: Vec<CorruptionResult> = corruptions
                .iter()
                .enumerate()
                .map(|(ci, c)| {
                    let accuracy = acc[mi][ci].clone();
                    let drops: Vec<f64> = accuracy.iter().map(|&a| relative_drop(clean, a)).collect();
                    CorruptionResult {
                        corruption: c.name().into(),
                        fidelity: Some(if args.cifar10c.is_some() { Fidelity::Exact } else { c.fidelity() }),
                        mean_accuracy: mean(&accuracy),
                        mean_relative_drop: mean(&drops),
                        accuracy,
                        relative_drop: drops,
                    }
                })
                .collect();
            let mean_relative_drop = mean(&corruptions.iter().map(|c| c.mean_relative_drop).collect::<Vec<_>>());
            ModelCorruptions { model: path.display().to_string(), clean_accuracy: clean, mean_relative_drop, corruptions }
        })
        .collect();
    let source = match &args.cifar10c {
        Some(dir) => format!("cifar10c:{}", dir.display()),
        None => "native".into(),
    };
    let sev_text = severities.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(",");
    println!(
        "Relative accuracy drop (clean - corrupted) / clean, mean over severities {sev_text}, on {images} images ({}); accuracy in brackets",
        if args.cifar10c.is_some() { "published CIFAR-10-C files".to_string() } else { format!("corrupted test split of {}", args.data) }
    );
    println!("| corruption | {} |", results.iter().map(|r| r.model.as_str()).collect::<Vec<_>>().join(" | "));
    println!("|---|{}", "---|".repeat(results.len()));
    println!("| clean accuracy | {} |", results.iter().map(|r| format!("{:.2}%", 100.0 * r.clean_accuracy)).collect::<Vec<_>>().join(" | "));
    for (ci, c) in corruptions.iter().enumerate() {
        let mark = if args.cifar10c.is_none() && c.fidelity() == Fidelity::Approximate { "*" } else { "" };
        let cells: Vec<String> = results
            .iter()
            .map(|r| format!("{:.1}% ({:.2}%)", 100.0 * r.corruptions[ci].mean_relative_drop, 100.0 * r.corruptions[ci].mean_accuracy))
            .collect();
        println!("| {c}{mark} | {} |", cells.join(" | "));
    }
    println!("| **mean** | {} |", results.iter().map(|r| format!("**{:.1}%**", 100.0 * r.mean_relative_drop)).collect::<Vec<_>>().join(" | "));
    if args.cifar10c.is_none() && corruptions.iter().any(|c| c.fidelity() == Fidelity::Approximate) {
        println!("\nStarred rows are approximations of CIFAR-10-C: frost uses a procedural texture instead of the frost photographs, JPEG the image crate's encoder instead of libjpeg (see README); use --cifar10c for numbers you report.");
    }
    if let Some(path) = &args.json {
        let report = CorruptionReport { data: args.data.clone(), source, images, seed: args.seed, severities, models: results };
        write_atomic(path, serde_json::to_string_pretty(&report)?.as_bytes())?;
        println!("\nwrote {}", path.display());
    }
    Ok(())
}
