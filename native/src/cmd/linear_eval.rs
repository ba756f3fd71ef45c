//! `hypersphere linear-eval`: train a linear classifier on a frozen contrastive encoder and
//! write the evaluable model (`model.bpk` + `model.json`) and `linear_eval.json`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use hypersphere_core::data::{ImageSet, Split};
use hypersphere_core::models::Classifier;
use hypersphere_core::train::{LinearEvalConfig, LinearEvalReport, linear_eval};

use crate::device::DeviceArgs;
use crate::model_files::{self, ArchArgs};
use crate::progress::bar;
use crate::run_folder::RunFolder;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run folder of a contrastive pre-training: its encoder, data, subsets and linear settings.
    #[arg(long, required_unless_present = "encoder")]
    pub run: Option<PathBuf>,
    /// An encoder to evaluate instead: a .bpk (with its .json) or a PyTorch state dict (--arch, --width).
    #[arg(long, conflicts_with = "run")]
    pub encoder: Option<PathBuf>,
    #[command(flatten)]
    pub arch: ArchArgs,
    /// Dataset (with --encoder): a path, `procedural[:N]`, or `cifar10`/`cifar100` (the fetched copy, fetched when absent).
    #[arg(long)]
    pub data: Option<String>,
    /// Output folder (with --encoder; default: the encoder's folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Epochs of the linear classifier.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Peak learning rate (SGD, cosine decay).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Batch size.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Class-balanced training subset.
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Test subset.
    #[arg(long)]
    pub test_limit: Option<usize>,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Seed of the batch order and subsets.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Linear evaluation of `encoder` with a progress bar; saves `model.bpk` and `linear_eval.json`
/// into `run`.
pub fn evaluate_encoder(
    encoder: &Classifier,
    train: &ImageSet,
    test: &ImageSet,
    config: &LinearEvalConfig,
    run: &RunFolder,
    device: &Device,
) -> Result<LinearEvalReport> {
    let pb = bar(config.epochs as u64, "epochs");
    pb.set_prefix("linear eval");
    let (model, report) = linear_eval(encoder, train, test, config, device, |epoch, loss| {
        pb.set_position(epoch as u64);
        pb.set_message(format!("loss {loss:.4}"));
    })?;
    pb.finish_and_clear();
    model_files::save(&model, &run.dir, "model")?;
    run.write_json("linear_eval.json", &serde_json::json!({ "config": config, "report": report }))?;
    eprintln!(
        "linear evaluation: train {:.2}%, test {:.2}% ({} test images, {:.1} s) -> {}",
        100.0 * report.train_accuracy,
        100.0 * report.test_accuracy,
        report.test_images,
        report.seconds,
        run.path("model.bpk").display()
    );
    Ok(report)
}

pub fn run(args: Args) -> Result<()> {
    let selected = args.device.select()?;
    let device = selected.device.clone();
    let (run, encoder, data, mut config, train_limit, test_limit) = match (&args.run, &args.encoder) {
        (Some(dir), _) => {
            let run = RunFolder::open(dir)?;
            let (plan, data) = run.plan()?;
            let path = run.path("encoder.bpk");
            if !path.exists() {
                bail!("{} has no encoder.bpk: is it a contrastive run with a finished epoch?", dir.display());
            }
            let encoder = model_files::load(&path, &args.arch, &device)?;
            (run, encoder, data, plan.linear, plan.train_limit, plan.test_limit)
        }
        (None, Some(path)) => {
            let data = args.data.clone().context("--encoder needs --data")?;
            let out = args.out.clone().or_else(|| path.parent().map(PathBuf::from)).unwrap_or_else(|| PathBuf::from("."));
            let encoder = model_files::load(path, &args.arch, &device)?;
            (RunFolder::create(&out)?, encoder, data, LinearEvalConfig::default(), None, None)
        }
        (None, None) => bail!("give --run DIR or --encoder FILE"),
    };
    if let Some(e) = args.epochs {
        config.epochs = e;
    }
    if let Some(lr) = args.lr {
        config.lr = lr;
    }
    if let Some(b) = args.batch_size {
        config.batch_size = b;
    }
    config.seed = args.seed;
    let train = super::load_split(&data, Split::Train, args.train_limit.or(train_limit), args.seed)?;
    let test = super::load_split(&data, Split::Test, args.test_limit.or(test_limit), args.seed)?;
    let report = evaluate_encoder(&encoder, &train, &test, &config, &run, &device)?;
    println!("done: linear evaluation test accuracy {:.2}%, model {}", 100.0 * report.test_accuracy, run.path("model.bpk").display());
    Ok(())
}
