//! `hypersphere eval`: clean and adversarial accuracy of one model on a dataset.
//!
//! Contract (relied upon by scripts and later commands):
//! `hypersphere eval --arch A --weights W --data D --attack NAME:NORM:EPS[:STEPS]... --json out.json`
//! writes `{"images", "clean_accuracy", "attacks": [{"spec", "attack", "norm", "eps", "steps",
//! "accuracy", "p_drop", "seconds"}]}` with accuracies as fractions.

use std::path::PathBuf;

use anyhow::Result;
use hypersphere_core::attacks::AttackSpec;
use hypersphere_core::data::Split;
use hypersphere_core::evaluate::{EvalConfig, EvalReport, evaluate};
use hypersphere_core::models::Classifier;

use crate::device::{DeviceChoice, select};
use crate::model_files::{self, ArchArgs};
use crate::progress::bar;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Weights: a burnpack checkpoint (with its .json) or a PyTorch state dict (.pt, .pth, .safetensors).
    #[arg(long)]
    pub weights: PathBuf,
    #[command(flatten)]
    pub arch: ArchArgs,
    /// Dataset (its test split is evaluated): a path or `procedural[:N]`.
    #[arg(long)]
    pub data: String,
    /// Attack NAME:NORM:EPS[:STEPS], repeatable: fgsm:linf:8/255, pgd:linf:8/255:10.
    #[arg(long = "attack")]
    pub attacks: Vec<String>,
    /// Write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Evaluate a class-balanced subset of this many images.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Batch size.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Compute device.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceChoice,
    /// Seed of the attacks' random starts (and of --limit's subset).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Evaluates an already loaded model and prints the table.
pub fn evaluate_model(
    model: &Classifier,
    data: &str,
    specs: &[AttackSpec],
    limit: Option<usize>,
    batch_size: usize,
    seed: u64,
    device: &burn::tensor::Device,
) -> Result<EvalReport> {
    let set = super::load_split(data, Split::Test, limit, seed)?;
    if set.class_names.len() > model.config().num_classes {
        anyhow::bail!(
            "the data has {} classes but the model only {}",
            set.class_names.len(),
            model.config().num_classes
        );
    }
    let batches = set.len().div_ceil(batch_size.max(1)) as u64;
    let pb = bar(batches, "batches");
    pb.set_prefix("eval");
    let report = evaluate(model, &set, specs, &EvalConfig { batch_size, seed }, device, |p| {
        pb.set_position(p.batches_done as u64);
        pb.set_message(format!("{} images", p.images_done));
    });
    pb.finish_and_clear();
    println!("{} images of {data}", report.images);
    print!("{}", report.to_markdown());
    Ok(report)
}

pub fn run(args: Args) -> Result<()> {
    // Validate everything the user typed before any slow work.
    let specs = args.attacks.iter().map(|s| s.parse::<AttackSpec>()).collect::<Result<Vec<_>, _>>()?;
    if args.batch_size == 0 {
        anyhow::bail!("--batch-size must be at least 1");
    }
    let selected = select(args.device)?;
    eprintln!("device: {}", selected.name);
    let model = model_files::load(&args.weights, &args.arch, &selected.device)?;
    let report = evaluate_model(&model, &args.data, &specs, args.limit, args.batch_size, args.seed, &selected.device)?;
    if let Some(path) = &args.json {
        model_files::write_atomic(path, serde_json::to_string_pretty(&report)?.as_bytes())?;
    }
    Ok(())
}
