//! `hypersphere train`: supervised cross-entropy training into a run folder.
//!
//! The run folder holds `config.json` (everything needed to repeat the run), `metrics.jsonl`
//! (one JSON object per epoch) and `model.bpk` + `model.json` (rewritten after every epoch).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use hypersphere_core::data::Split;
use hypersphere_core::models::{Arch, Classifier, ModelConfig};
use hypersphere_core::train::{SupervisedConfig, train_supervised};
use serde_json::json;

use crate::device::{DeviceChoice, select};
use crate::model_files::{self, ArchArgs};
use crate::progress::bar;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Dataset: a path (image folders, .tar.gz, CIFAR binary, a folder of per-split archives) or `procedural[:N]`.
    #[arg(long, default_value = "procedural")]
    pub data: String,
    /// Architecture: resnet18-cifar or small-cnn.
    #[arg(long, default_value = "resnet18-cifar")]
    pub arch: String,
    /// Channels of the first stage (default: 64 for ResNet-18, 32 for the small CNN).
    #[arg(long)]
    pub width: Option<usize>,
    /// Epochs.
    #[arg(long, default_value_t = 15)]
    pub epochs: usize,
    /// Batch size.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Peak learning rate (SGD).
    #[arg(long, default_value_t = 0.1)]
    pub lr: f64,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// Weight decay.
    #[arg(long, default_value_t = 5e-4)]
    pub weight_decay: f64,
    /// Warm-up epochs before the cosine decay.
    #[arg(long, default_value_t = 0)]
    pub warmup_epochs: usize,
    /// Disable random crop + flip.
    #[arg(long)]
    pub no_augment: bool,
    /// Train on a class-balanced subset of this many images.
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Measure test accuracy on a subset of this many images (default: the whole test split).
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// Start from these weights (.bpk, .safetensors, .pt, .pth).
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Run folder (default: runs/<arch>-<unix time>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Compute device.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceChoice,
    /// Seed of weights, shuffling and augmentation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Trains and returns the run folder and the final test accuracy.
pub fn train(args: &Args) -> Result<(PathBuf, Option<f64>)> {
    let selected = select(args.device)?;
    let device = selected.device.clone();
    device.seed(args.seed);
    let train_set = super::load_split(&args.data, Split::Train, args.train_limit, args.seed)?;
    let test_set = super::load_split(&args.data, Split::Test, args.test_limit, args.seed)?;
    let arch: Arch = args.arch.parse()?;
    let mut model_config = ModelConfig::new(arch, train_set.class_names.len());
    model_config.width = args.width.unwrap_or(arch.default_width());
    model_config.class_names = train_set.class_names.clone();
    model_config.validate()?;
    let ad = device.clone().autodiff();
    let model = match &args.init {
        Some(path) => {
            let flags = ArchArgs {
                arch: Some(args.arch.clone()),
                width: Some(model_config.width),
                num_classes: Some(model_config.num_classes),
                normalize: "cifar10".into(),
            };
            model_files::load(path, &flags, &ad)?
        }
        None => Classifier::new(model_config.clone(), &ad)?,
    };
    let config = SupervisedConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        momentum: args.momentum,
        weight_decay: args.weight_decay,
        warmup_epochs: args.warmup_epochs,
        augment: !args.no_augment,
        seed: args.seed,
    };
    let out = args.out.clone().unwrap_or_else(|| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        PathBuf::from(format!("runs/{}-{t}", arch.name()))
    });
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let run_config = json!({
        "command": "train",
        "data": args.data,
        "train_images": train_set.len(),
        "test_images": test_set.len(),
        "device": selected.name,
        "model": model.config(),
        "training": config,
        "init": args.init,
    });
    model_files::write_atomic(&out.join("config.json"), serde_json::to_string_pretty(&run_config)?.as_bytes())?;
    let metrics_path = out.join("metrics.jsonl");
    let mut metrics = std::fs::File::create(&metrics_path).with_context(|| format!("creating {}", metrics_path.display()))?;
    eprintln!(
        "training {} (width {}) on {} images ({} test) on {} -> {}",
        arch.name(), model.config().width, train_set.len(), test_set.len(), selected.name, out.display()
    );
    let steps = train_set.len().div_ceil(args.batch_size.max(1)) as u64;
    let pb = bar(steps * args.epochs as u64, "steps");
    pb.set_prefix("train");
    let mut last_test = None;
    train_supervised(
        model,
        &train_set,
        Some(&test_set),
        &config,
        &device,
        |p| {
            pb.set_position((p.epoch as u64 - 1) * steps + p.step as u64);
            pb.set_message(format!("epoch {}/{} loss {:.3} lr {:.4} {:.0} img/s", p.epoch, args.epochs, p.loss, p.lr, p.images_per_second));
        },
        |report, model| -> Result<()> {
            writeln!(metrics, "{}", serde_json::to_string(report)?)?;
            metrics.flush()?;
            model_files::save(model, &out, "model")?;
            last_test = report.test_accuracy;
            // Printed through the bar so it also reaches logs when stderr is not a terminal.
            pb.suspend(|| {
                eprintln!(
                    "epoch {:>3}: loss {:.4}, train acc {:.2}%, test acc {:.2}%, {:.0} img/s, {:.1} s",
                    report.epoch,
                    report.train_loss,
                    100.0 * report.train_accuracy,
                    100.0 * report.test_accuracy.unwrap_or(f64::NAN),
                    report.images_per_second,
                    report.seconds
                )
            });
            Ok(())
        },
    )?;
    pb.finish_and_clear();
    Ok((out, last_test))
}

pub fn run(args: Args) -> Result<()> {
    let (out, test) = train(&args)?;
    println!(
        "done: test accuracy {:.2}%, checkpoint {}",
        100.0 * test.unwrap_or(f64::NAN),
        out.join("model.bpk").display()
    );
    Ok(())
}
