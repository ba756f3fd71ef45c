//! `hypersphere linear-eval`: train a classifier on a contrastive encoder and write the
//! evaluable model (`model.bpk` + `model.json`) and `linear_eval.json` (its settings, mode
//! included, and accuracies). `--mode standard` (a linear head on the frozen encoder),
//! `adversarial` (the head trained on PGD examples, RoCL) or `trades` (encoder and head
//! fine-tuned with TRADES, ACL): [`hypersphere_core::train::linear_eval`].

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use hypersphere_core::data::{ImageSet, Split};
use hypersphere_core::models::Classifier;
use hypersphere_core::attacks::spec::parse_eps;
use hypersphere_core::train::{LinearEvalConfig, LinearEvalMode, LinearEvalReport, TrainingAttack, linear_eval};

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
    /// Output folder (default: the run's folder, or the encoder's): `model.bpk`, `model.json`
    /// and `linear_eval.json` go there.
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
    /// standard (linear head on the frozen encoder's clean features), adversarial (RoCL: frozen
    /// encoder, head trained on l_inf PGD examples of every batch) or trades (ACL: encoder and
    /// head fine-tuned with TRADES) [default: standard].
    #[arg(long)]
    pub mode: Option<String>,
    /// l_inf radius of the training attack (adversarial, trades), e.g. 8/255 or 0.03 [default: 8/255].
    #[arg(long)]
    pub attack_eps: Option<String>,
    /// Step size of the training attack (adversarial, trades) [default: 2/255].
    #[arg(long)]
    pub attack_step: Option<String>,
    /// Steps of the training attack (adversarial, trades) [default: 10].
    #[arg(long)]
    pub attack_steps: Option<usize>,
    /// Weight of TRADES's KL term (trades) [default: 6].
    #[arg(long)]
    pub trades_beta: Option<f32>,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Seed of the batch order, subsets and the attack's random starts.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// The mode the flags ask for: `--mode` (else `base`, the run's plan's) with the attack flags
/// over its defaults; attack flags without an adversarial mode are an error.
fn mode(args: &Args, base: LinearEvalMode) -> Result<LinearEvalMode> {
    let mut mode = match &args.mode {
        Some(name) => LinearEvalMode::from_name(name).map_err(|e| anyhow::anyhow!("--mode: {e}"))?,
        None => base,
    };
    let radius = |flag: &str, text: &Option<String>| -> Result<Option<f32>> {
        text.as_deref()
            .map(|t| parse_eps(t).with_context(|| format!("{flag}: '{t}' is not a number >= 0 (a decimal like 0.03 or a fraction like 8/255)")))
            .transpose()
    };
    let (eps, step) = (radius("--attack-eps", &args.attack_eps)?, radius("--attack-step", &args.attack_step)?);
    let attack_flags = eps.is_some() || step.is_some() || args.attack_steps.is_some();
    let set = |attack: &mut TrainingAttack| {
        attack.eps = eps.unwrap_or(attack.eps);
        attack.step = step.unwrap_or(attack.step);
        attack.steps = args.attack_steps.unwrap_or(attack.steps);
    };
    match &mut mode {
        LinearEvalMode::Standard if attack_flags || args.trades_beta.is_some() => {
            bail!("--attack-eps, --attack-step, --attack-steps and --trades-beta need --mode adversarial or trades")
        }
        LinearEvalMode::Standard => {}
        LinearEvalMode::Adversarial { .. } if args.trades_beta.is_some() => bail!("--trades-beta needs --mode trades"),
        LinearEvalMode::Adversarial { attack } => set(attack),
        LinearEvalMode::Trades { attack, beta } => {
            set(attack);
            *beta = args.trades_beta.unwrap_or(*beta);
        }
    }
    mode.validate()?;
    Ok(mode)
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
    pb.set_prefix(match config.mode {
        LinearEvalMode::Standard => "linear eval",
        LinearEvalMode::Adversarial { .. } => "adversarial linear eval",
        LinearEvalMode::Trades { .. } => "TRADES fine-tuning",
    });
    let (model, report) = linear_eval(encoder, train, test, config, device, |epoch, loss| {
        pb.set_position(epoch as u64);
        pb.set_message(format!("loss {loss:.4}"));
    })?;
    pb.finish_and_clear();
    model_files::save(&model, &run.dir, "model")?;
    run.write_json("linear_eval.json", &serde_json::json!({ "config": config, "report": report }))?;
    eprintln!(
        "linear evaluation ({}): train {:.2}%, test {:.2}% ({} test images, {:.1} s) -> {}",
        config.mode.name(),
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
            let run = match &args.out {
                Some(out) => RunFolder::create(out)?,
                None => run,
            };
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
    config.mode = mode(&args, config.mode)?;
    let train = super::load_split(&data, Split::Train, args.train_limit.or(train_limit), args.seed)?;
    let test = super::load_split(&data, Split::Test, args.test_limit.or(test_limit), args.seed)?;
    let report = evaluate_encoder(&encoder, &train, &test, &config, &run, &device)?;
    println!("done: linear evaluation test accuracy {:.2}%, model {}", 100.0 * report.test_accuracy, run.path("model.bpk").display());
    Ok(())
}
