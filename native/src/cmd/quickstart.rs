//! `hypersphere quickstart`: the main job of the README. Trains a small CNN (procedural data
//! unless `--data` is given), then prints its clean and adversarial accuracies for FGSM and
//! PGD-10 at eps = 1, 2, 4, 8 /255.

use anyhow::Result;
use hypersphere_core::attacks::AttackSpec;

use super::train::{self, Args as TrainArgs};
use crate::device::DeviceArgs;
use crate::model_files;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Dataset: `procedural[:N]` (default) or a path, e.g. ../shared/data/cifar10.
    #[arg(long, default_value = "procedural:2000")]
    pub data: String,
    /// Training epochs.
    #[arg(long, default_value_t = 8)]
    pub epochs: usize,
    /// Train on at most this many images (class-balanced).
    #[arg(long, default_value_t = 5000)]
    pub train_limit: usize,
    /// Evaluate on at most this many test images.
    #[arg(long, default_value_t = 500)]
    pub test_limit: usize,
    /// Run folder.
    #[arg(long, default_value = "runs/quickstart")]
    pub out: std::path::PathBuf,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn run(args: Args) -> Result<()> {
    let train_args = TrainArgs {
        data: args.data.clone(),
        arch: Some("small-cnn".into()),
        width: Some(16),
        epochs: Some(args.epochs),
        batch_size: Some(64),
        lr: Some(0.05),
        weight_decay: Some(5e-4),
        train_limit: Some(args.train_limit),
        test_limit: Some(args.test_limit),
        out: Some(args.out.clone()),
        device: args.device,
        seed: args.seed,
        scale: "small".into(),
        ..TrainArgs::default()
    };
    let out = train::train(&train_args)?.dir;
    let specs: Vec<AttackSpec> = ["fgsm:linf:1/255", "fgsm:linf:2/255", "fgsm:linf:4/255", "fgsm:linf:8/255",
        "pgd:linf:1/255:10", "pgd:linf:2/255:10", "pgd:linf:4/255:10", "pgd:linf:8/255:10"]
        .iter()
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    let selected = args.device.select()?;
    let model = model_files::load(&out.join("model.bpk"), &model_files::ArchArgs {
        normalize: Some("cifar10".into()),
        ..Default::default()
    }, &selected.device)?;
    println!("\nRobustness of the trained model ({}):", out.display());
    let report = super::eval::evaluate_model(&model, &args.data, &specs, Some(args.test_limit), 100, args.seed, &selected.device)?;
    model_files::write_atomic(&out.join("eval.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    println!("\nwrote {}", out.join("eval.json").display());
    Ok(())
}
