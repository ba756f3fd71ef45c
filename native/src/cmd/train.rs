//! `hypersphere train`: supervised cross-entropy, SupCon or SimCLR (with FNC / A-FNC) into a
//! run folder (see [`crate::run_folder`]), checkpointed every epoch and resumable.
//!
//! A run's recipe is a [`TrainPlan`]: a named preset (`--preset simclr-afnc-0.99-0.7 --scale
//! small`) or the defaults of `--method`, with any flag given overriding it. Contrastive runs
//! end with a linear evaluation, whose backbone + head is `model.bpk`, the model `eval` loads.
//!
//! `--budget 9m` stops the run before that much wall time is spent, at a step boundary, after a
//! (mid-epoch) checkpoint, with exit code [`budget::EXIT_CODE`]; the same command run again
//! (`--out DIR` holding a run of the same settings continues it; `--resume DIR` too) carries on
//! to the numbers of an uninterrupted run.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::tensor::DType;
use hypersphere_core::data::batch::steps_per_epoch;
use hypersphere_core::data::{ImageSet, Split};
use hypersphere_core::models::{Classifier, ModelConfig, ProjectionHead, module_from_burnpack, module_to_burnpack};
use hypersphere_core::train::contrastive::{OptimizerKind, ViewBackend};
use hypersphere_core::train::ifnd::{IfndEpoch, IfndState};
use hypersphere_core::train::supervised::Augmentation;
use hypersphere_core::train::budget::{self, Budget, BudgetSpent, Pause};
use hypersphere_core::train::{
    ContrastiveModel, KnnMonitor, Method, PlanOverrides, PretrainingRun, Scale, Start, StepProgress, TrainPlan, train_contrastive, train_supervised_from,
};
use serde_json::json;

use crate::device::{DeviceArgs, Selected};
use crate::model_files::{self, ArchArgs, write_atomic};
use crate::progress::bar;
use crate::run_folder::RunFolder;

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// Named preset: ce, supcon, simclr, simclr-fnc, simclr-afnc-0.9-0.5, simclr-afnc-0.99-0.7, simclr-ifnd, rocl, a-rocl, acl, a-acl (flags override it).
    #[arg(long)]
    pub preset: Option<String>,
    /// Preset size: tiny (a small CNN, seconds on a CPU), small (minutes on a CPU), converge (ResNet-18 width 64, all of CIFAR-10, 100-200 epochs: GPUs) or paper (ResNet-50, 1000 epochs).
    #[arg(long, default_value = "small")]
    pub scale: String,
    /// Training method without a preset: ce, supcon, simclr, rocl or acl (default ce).
    #[arg(long)]
    pub method: Option<String>,
    /// ACL's variant (method acl): a2a (both views adversarial), a2s (adversarial against clean) or ds (dual stream with dual BatchNorm; default).
    #[arg(long)]
    pub acl_variant: Option<String>,
    /// The BatchNorm set an ACL-DS model evaluates with: pgd (default, as ACL's adversarial fine-tuning) or normal.
    #[arg(long)]
    pub eval_batch_norm: Option<String>,
    /// False-negative cancellation: none, fixed:RHO, adaptive:RHO_INITIAL:RHO_FINAL, oracle [:cosine|:step|:attract], or ifnd[:K1,K2,...][:every=N][:attract] (k-means pseudo-labels, IFND).
    #[arg(long)]
    pub fnc: Option<String>,
    /// Dataset: a path (image folders, .tar.gz, CIFAR binary, a folder of per-split archives), `procedural[:N]`, or `cifar10`/`cifar100` (the fetched copy, fetched when absent).
    #[arg(long, default_value = "procedural")]
    pub data: String,
    /// Architecture: resnet18-cifar, resnet50-cifar or small-cnn.
    #[arg(long)]
    pub arch: Option<String>,
    /// Channels of the first stage (64 for the standard ResNets).
    #[arg(long)]
    pub width: Option<usize>,
    /// Epochs (of pre-training for contrastive methods).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Images per step.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Peak learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Momentum.
    #[arg(long)]
    pub momentum: Option<f64>,
    /// Weight decay.
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Warm-up epochs before the cosine decay.
    #[arg(long)]
    pub warmup_epochs: Option<usize>,
    /// Optimiser of contrastive pre-training: sgd or lars.
    #[arg(long)]
    pub optimizer: Option<String>,
    /// Where contrastive views are rendered: auto (the device on GPUs, the host on Flex), host or device.
    #[arg(long)]
    pub views: Option<String>,
    /// Temperature of the contrastive loss.
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Output size of the projection head.
    #[arg(long)]
    pub projection_dim: Option<usize>,
    /// Neighbours of the kNN monitor (0 turns it off).
    #[arg(long)]
    pub knn_k: Option<usize>,
    /// Epochs of the linear evaluation after contrastive pre-training.
    #[arg(long)]
    pub linear_epochs: Option<usize>,
    /// Learning rate of the linear evaluation.
    #[arg(long)]
    pub linear_lr: Option<f64>,
    /// Stop after contrastive pre-training (run `hypersphere linear-eval --run DIR` later).
    #[arg(long)]
    pub no_linear_eval: bool,
    /// Augmentation: none, pad-crop (random crop with padding 4 + flip), or views: simclr (crops of 8-100%, jitter 0.4), supcon (crops of 20-100%, jitter 0.4), supcon-ce (crops of 20-100%, jitter 0.1; the paper's cross-entropy recipe). Contrastive methods take a views recipe.
    #[arg(long)]
    pub augment: Option<String>,
    /// Cross-entropy only: no augmentation (the same as --augment none).
    #[arg(long, conflicts_with = "augment")]
    pub no_augment: bool,
    /// Train on a class-balanced subset of this many images.
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Measure test accuracy (and kNN) on a subset of this many images.
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// Start from these weights (.bpk, .safetensors, .pt, .pth).
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Run folder (default: runs/<preset or method>-<unix time>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in this folder from its last checkpoint (its config.json gives every setting).
    #[arg(long, conflicts_with_all = ["preset", "method", "out", "init"])]
    pub resume: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Seed of weights, shuffling, augmentation and views.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Wall-time budget (e.g. 90s, 10m, 1h): stop before it is spent, after a checkpoint, with exit code 75; the same command again continues.
    #[arg(long)]
    pub budget: Option<String>,
    /// How checkpoints store weights and optimizer state: f32 (exact resume), f16 or bf16 (half the size; a resumed run's numbers move within noise). Default: the run's recorded choice, else f32.
    #[arg(long)]
    pub checkpoint_precision: Option<String>,
}

/// The storage type named by `--checkpoint-precision`.
fn storage_dtype(name: &str) -> Result<DType> {
    Ok(match name {
        "f32" => DType::F32,
        "f16" => DType::F16,
        "bf16" => DType::BF16,
        other => bail!("unknown --checkpoint-precision '{other}' (valid: f32, f16, bf16)"),
    })
}

/// The test hook that makes a budget run out after N training steps of one process
/// (deterministic stopping points for the tests; `tests/tests/budget.rs`).
const STEP_HOOK: &str = "HYPERSPHERE_TEST_BUDGET_STEPS";

/// The budget of this invocation, counted from now: `--budget`, and the test hook.
pub fn budget_from(text: Option<&str>) -> Result<Budget> {
    let mut b = match text {
        Some(t) => Budget::new(budget::parse_duration(t).context("--budget")?),
        None => Budget::unlimited(),
    };
    if let Some(n) = std::env::var(STEP_HOOK).ok().and_then(|v| v.parse().ok()) {
        b = b.with_step_limit(n);
    }
    Ok(b)
}

/// Whether `out` holds a run of exactly this plan, data and initialisation with a checkpoint:
/// then the same command continues it instead of starting afresh.
fn same_run(out: &Path, plan: &TrainPlan, data: &str, init: Option<&PathBuf>) -> bool {
    let Ok(run) = RunFolder::open(out) else { return false };
    if !run.path("checkpoint.json").exists() {
        return false;
    }
    let Ok(config) = run.read_json::<serde_json::Value>("config.json") else { return false };
    // Mixed precision is a setting of each invocation, not of the run.
    let recipe = |mut p: serde_json::Value| {
        for part in ["supervised", "contrastive"] {
            if let Some(o) = p.get_mut(part).and_then(|v| v.as_object_mut()) {
                o.remove("mixed_precision");
            }
        }
        p
    };
    let same = serde_json::to_value(plan).is_ok_and(|p| recipe(p) == recipe(config["plan"].clone()))
        && config["data"].as_str() == Some(data)
        && config["init"] == serde_json::to_value(init).unwrap_or_default();
    if !same {
        eprintln!("note: {} holds a run with other settings; starting afresh", out.display());
    }
    same
}

/// The plan named by the flags: preset or method defaults, then every given flag (the rules of
/// overriding live in core: [`TrainPlan::apply`]).
pub fn plan_from_args(args: &Args) -> Result<TrainPlan> {
    let scale: Scale = args.scale.parse()?;
    let plan = match (&args.preset, &args.method) {
        (Some(p), None) => TrainPlan::preset(p, scale)?,
        (Some(_), Some(_)) => bail!("--preset already sets the method; drop --method"),
        (None, m) => TrainPlan::new(m.as_deref().unwrap_or("ce").parse()?),
    };
    let optimizer = match args.optimizer.as_deref() {
        None => None,
        Some("sgd") => Some(OptimizerKind::Sgd),
        Some("lars") => Some(OptimizerKind::Lars),
        Some(other) => bail!("unknown --optimizer '{other}' (valid: sgd, lars)"),
    };
    let view_backend = match args.views.as_deref() {
        None => None,
        Some("auto") => Some(ViewBackend::Auto),
        Some("host") => Some(ViewBackend::Host),
        Some("device") => Some(ViewBackend::Device),
        Some(other) => bail!("unknown --views '{other}' (valid: auto, host, device)"),
    };
    let overrides = PlanOverrides {
        seed: Some(args.seed),
        arch: args.arch.as_deref().map(str::parse).transpose()?,
        width: args.width,
        train_limit: args.train_limit,
        test_limit: args.test_limit,
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        momentum: args.momentum,
        weight_decay: args.weight_decay,
        warmup_epochs: args.warmup_epochs,
        augment: if args.no_augment { Some(Augmentation::None) } else { args.augment.as_deref().map(str::parse).transpose()? },
        fnc: args.fnc.as_deref().map(str::parse).transpose().context("--fnc")?,
        temperature: args.temperature,
        projection_dim: args.projection_dim,
        knn_k: args.knn_k,
        optimizer,
        linear_epochs: args.linear_epochs,
        linear_lr: args.linear_lr,
        view_backend,
        acl_variant: args.acl_variant.as_deref().map(str::parse).transpose().context("--acl-variant")?,
        eval_batch_norm: args.eval_batch_norm.as_deref().map(str::parse).transpose().context("--eval-batch-norm")?,
    };
    Ok(plan.apply(&overrides, args.preset.is_some())?)
}

/// What a finished run reports.
pub struct Outcome {
    pub dir: PathBuf,
    /// Test accuracy of `model.bpk` (after linear evaluation for contrastive runs).
    pub test_accuracy: Option<f64>,
}

/// Trains (or resumes) and returns the run folder and the final test accuracy.
pub fn train(args: &Args) -> Result<Outcome> {
    // The budget counts from the start of the command: loading data and the device included.
    let mut budget = budget_from(args.budget.as_deref())?;
    args.checkpoint_precision.as_deref().map(storage_dtype).transpose()?;
    let (run, mut plan, data, init, resuming) = match &args.resume {
        Some(dir) => {
            let run = RunFolder::open(dir)?;
            let (plan, data) = run.plan()?;
            (run, plan, data, None, true)
        }
        None => {
            let plan = plan_from_args(args)?;
            let name = plan.preset.clone().unwrap_or_else(|| format!("{:?}", plan.method).to_lowercase()).replace('@', "-");
            let out = args.out.clone().unwrap_or_else(|| {
                let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
                PathBuf::from(format!("runs/{name}-{t}"))
            });
            if same_run(&out, &plan, &args.data, args.init.as_ref()) {
                (RunFolder::open(&out)?, plan, args.data.clone(), None, true)
            } else {
                let run = RunFolder::create(&out)?;
                run.truncate_metrics(0)?;
                (run, plan, args.data.clone(), args.init.clone(), false)
            }
        }
    };
    let (start, resume_dir) = if resuming { run.resume_point()? } else { (Start::from(1), None) };
    // Checkpoint storage: this invocation's flag, else what the run recorded, else f32.
    let recorded = if resuming { run.read_json::<serde_json::Value>("config.json")?["checkpoint_precision"].as_str().map(String::from) } else { None };
    let checkpoint_precision = args.checkpoint_precision.clone().or(recorded).unwrap_or_else(|| "f32".into());
    let mut run = run;
    run.store = storage_dtype(&checkpoint_precision)?;
    if resuming {
        let (epoch, step) = start.partial.as_ref().map_or((start.epoch - 1, 0), |p| (p.epoch - 1, p.steps_done));
        let within = if step > 0 { format!(" and {step} steps of epoch {}", epoch + 1) } else { String::new() };
        eprintln!("resuming {} after epoch {epoch}{within} of {}", run.dir.display(), plan.epochs());
    }
    // How to continue after a stop at the budget: the same command, unless it names no folder.
    let resume_hint = if args.resume.is_some() || args.out.is_some() {
        "run the same command again to continue".to_string()
    } else {
        let b = args.budget.as_deref().map(|b| format!(" --budget {b}")).unwrap_or_default();
        format!("run `hypersphere train --resume {}{b}` to continue", run.dir.display())
    };
    let spent = |epoch: usize, step: usize| BudgetSpent { resume: resume_hint.clone(), ..BudgetSpent::after(epoch, step) };
    // Settings are checked before the device is probed, so mistakes fail at once.
    let selected = args.device.select_for_training()?;
    // Mixed precision is a setting of this invocation (a resumed run may change it).
    plan.supervised.mixed_precision = selected.runtime.mixed_precision;
    plan.contrastive.mixed_precision = selected.runtime.mixed_precision;
    if plan.method != Method::Ce {
        plan.contrastive.validate()?;
    }
    let device = selected.device.clone();
    device.seed(plan.supervised.seed);
    let train_set = super::load_split(&data, Split::Train, plan.train_limit, plan.supervised.seed)?;
    let test_set = super::load_split(&data, Split::Test, plan.test_limit, plan.supervised.seed)?;
    if train_set.class_names.len() < 2 {
        bail!("{data}: the training split has only one class ({}); training needs at least two", train_set.class_names.join(", "));
    }
    if test_set.class_names != train_set.class_names {
        bail!(
            "{data}: the test split's classes ({}) differ from the training split's ({}), so their labels would not match",
            test_set.class_names.join(", "),
            train_set.class_names.join(", ")
        );
    }
    let mut model_config = ModelConfig::new(plan.arch, train_set.class_names.len());
    model_config.width = plan.width;
    // The training data are decoded at 32x32; a ViT's position embedding must match.
    model_config.input_size = train_set.height;
    model_config.class_names = train_set.class_names.clone();
    if plan.method != Method::Ce {
        // ACL-DS trains a backbone with two BatchNorm sets.
        model_config.dual_batch_norm = plan.contrastive.dual_batch_norm();
    }
    model_config.validate()?;
    if resume_dir.is_none() {
        run.write_json(
            "config.json",
            &json!({
                "command": "train",
                "data": data,
                "train_images": train_set.len(),
                "test_images": test_set.len(),
                "device": selected.runtime.to_string(),
                "runtime": selected.runtime,
                "model": model_config,
                "plan": plan,
                "init": init,
                "checkpoint_precision": checkpoint_precision,
            }),
        )?;
    }
    eprintln!(
        "training {} ({} width {}) on {} images ({} test) on {} -> {}",
        plan.preset.as_deref().unwrap_or(&format!("{:?}", plan.method).to_lowercase()),
        plan.arch.name(),
        plan.width,
        train_set.len(),
        test_set.len(),
        selected.runtime,
        run.dir.display()
    );
    let from = Resume { start, dir: resume_dir, budget: &mut budget, spent: &spent };
    let test_accuracy = match plan.method {
        Method::Ce => train_ce(&run, &plan, &model_config, init.as_ref(), from, &train_set, &test_set, &selected)?,
        _ => train_contrastive_run(&run, &plan, &model_config, init.as_ref(), from, &train_set, &test_set, &selected, args.no_linear_eval)?,
    };
    Ok(Outcome { dir: run.dir.clone(), test_accuracy })
}

/// Where a run continues and when it must stop: the loop's start, the checkpoint folder it
/// continues from, the budget, and the stop message's maker (epoch, step).
struct Resume<'a> {
    start: Start,
    dir: Option<PathBuf>,
    budget: &'a mut Budget,
    spent: &'a dyn Fn(usize, usize) -> BudgetSpent,
}

/// The stop at the budget: saves the mid-epoch checkpoint when anything changed since the last
/// one (`save`), then the error that ends the command with exit code 75.
fn pause_with(pause: &Pause, spent: &dyn Fn(usize, usize) -> BudgetSpent, save: impl FnOnce() -> Result<()>) -> anyhow::Error {
    if pause.changed
        && let Err(e) = save()
    {
        return e;
    }
    let (epoch, step) = pause.partial.position();
    anyhow::Error::new(spent(epoch, step))
}

/// The starting backbone: from the checkpoint folder `resume` when resuming, else `--init` or
/// fresh weights.
fn initial_model(resume: Option<&Path>, stem: &str, config: &ModelConfig, init: Option<&PathBuf>, selected: &Selected) -> Result<Classifier> {
    let ad = selected.device.clone().autodiff();
    let flags = |c: &ModelConfig| ArchArgs {
        arch: Some(c.arch.name().to_string()),
        width: Some(c.width),
        num_classes: Some(c.num_classes),
        normalize: Some("cifar10".into()),
        ..ArchArgs::default()
    };
    Ok(match (resume, init) {
        (Some(dir), _) => model_files::load(&dir.join(format!("{stem}.bpk")), &flags(config), &ad)?,
        (None, Some(path)) => model_files::load(path, &flags(config), &ad)?,
        (None, None) => Classifier::new(config.clone(), &ad)?,
    })
}

fn bar_message(p: &StepProgress, epochs: usize) -> String {
    let rho = p.rho.map(|r| format!(" rho {r:.3}")).unwrap_or_default();
    format!("epoch {}/{} loss {:.3} lr {:.4}{rho} {:.0} img/s", p.epoch, epochs, p.loss, p.lr, p.images_per_second)
}

#[allow(clippy::too_many_arguments)]
fn train_ce(
    run: &RunFolder,
    plan: &TrainPlan,
    model_config: &ModelConfig,
    init: Option<&PathBuf>,
    from: Resume,
    train_set: &ImageSet,
    test_set: &ImageSet,
    selected: &Selected,
) -> Result<Option<f64>> {
    let config = &plan.supervised;
    let Resume { start, dir: resume, budget, spent } = from;
    let model = initial_model(resume.as_deref(), "model", model_config, init, selected)?;
    let mut optim = config.optimizer();
    if let Some(dir) = &resume {
        optim = RunFolder::load_optimizer(dir, optim)?;
    }
    let steps = steps_per_epoch(train_set.len(), config.batch_size) as u64;
    if let Some(p) = &start.partial {
        p.check(steps as usize, hypersphere_core::train::supervised::PARTIAL_SUMS)?;
    }
    let pb = bar(steps * config.epochs as u64, "steps");
    pb.set_prefix("train");
    pb.set_position((start.epoch as u64 - 1) * steps + start.partial.as_ref().map_or(0, |p| p.steps_done as u64));
    let mut last_test = None;
    train_supervised_from(
        model,
        &mut optim,
        train_set,
        Some(test_set),
        config,
        start,
        budget,
        &selected.device,
        |p| {
            pb.set_length(config.epochs as u64 * p.steps as u64);
            pb.set_position((p.epoch as u64 - 1) * p.steps as u64 + p.step as u64);
            pb.set_message(bar_message(&p, config.epochs));
        },
        |report, model, optim| -> Result<()> {
            run.commit_epoch(report.epoch, report, optim, |dir| {
                model_files::save_as(model, dir, "model", run.store)?;
                model_files::save(model, &run.dir, "model").map(|_| ())
            })?;
            last_test = report.test_accuracy;
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
        |pause, model, optim| {
            pb.finish_and_clear();
            pause_with(pause, spent, || run.commit_partial(&pause.partial, optim, |dir| model_files::save_as(model, dir, "model", run.store).map(|_| ())))
        },
    )?;
    pb.finish_and_clear();
    if last_test.is_none() {
        // Resumed a finished run: report the saved model's accuracy. A study window's pack
        // leaves out the root copy of a run it has not seen finish (scripts/gpu-check.sh), so
        // the last checkpoint's weights (the same, in the checkpoint's precision) become it again.
        let root = run.path("model.bpk");
        let model = match &resume {
            Some(dir) if !root.exists() => {
                let model = model_files::load(&dir.join("model.bpk"), &ArchArgs::default(), &selected.device)?;
                model_files::save(&model, &run.dir, "model")?;
                model
            }
            _ => model_files::load(&root, &ArchArgs::default(), &selected.device)?,
        };
        last_test = Some(hypersphere_core::evaluate::clean_accuracy(&model, test_set, 256, &selected.device));
    }
    Ok(last_test)
}

#[allow(clippy::too_many_arguments)]
fn train_contrastive_run(
    run: &RunFolder,
    plan: &TrainPlan,
    model_config: &ModelConfig,
    init: Option<&PathBuf>,
    from: Resume,
    train_set: &ImageSet,
    test_set: &ImageSet,
    selected: &Selected,
    no_linear_eval: bool,
) -> Result<Option<f64>> {
    let config = &plan.contrastive;
    let Resume { start, dir: resume, budget, spent } = from;
    let ad = selected.device.clone().autodiff();
    let encoder = initial_model(resume.as_deref(), "encoder", model_config, init, selected)?;
    let mut head = ProjectionHead::new(encoder.feature_dim(), config.projection_dim, &ad);
    let mut optim = config.optimizer();
    if let Some(dir) = &resume {
        let path = dir.join("projection.bpk");
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        head = module_from_burnpack(head, hypersphere_core::models::widen_burnpack(bytes)).with_context(|| format!("loading {}", path.display()))?;
        optim = RunFolder::load_optimizer(dir, optim)?;
    }
    // IFND's pseudo-labels travel with the checkpoint (absent before the first clustering).
    let ifnd_state = match (&resume, config.fnc.ifnd()) {
        (Some(dir), Some(_)) if dir.join(IFND_STATE).exists() => {
            let path = dir.join(IFND_STATE);
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            Some(serde_json::from_str::<IfndState>(&text).with_context(|| format!("{} is damaged", path.display()))?)
        }
        _ => None,
    };
    let model = ContrastiveModel { encoder, head };
    let steps = steps_per_epoch(train_set.len(), config.batch_size) as u64;
    let pb = bar(steps * config.epochs as u64, "steps");
    pb.set_prefix(format!("{:?}", config.method).to_lowercase());
    pb.set_position((start.epoch as u64 - 1) * steps + start.partial.as_ref().map_or(0, |p| p.steps_done as u64));
    let monitor = (config.knn.k > 0).then_some(KnnMonitor { bank: train_set, test: test_set });
    // A checkpoint folder's pre-training files: encoder, projection head and, for IFND runs,
    // the pseudo-labels in use (a mid-epoch checkpoint's are those its epoch began with).
    let save = |dir: &Path, model: &ContrastiveModel, ifnd: Option<&IfndState>| -> Result<()> {
        model_files::save_as(&model.encoder, dir, "encoder", run.store)?;
        let mut head = module_to_burnpack(&model.head)?;
        if run.store != DType::F32 {
            head = hypersphere_core::models::recast_burnpack(head, run.store)?;
        }
        write_atomic(&dir.join("projection.bpk"), &head)?;
        if let Some(state) = ifnd {
            write_atomic(&dir.join(IFND_STATE), &serde_json::to_vec(state)?)?;
        }
        Ok(())
    };
    let model = train_contrastive(
        model,
        &mut optim,
        PretrainingRun { train: train_set, monitor, config, start, ifnd: ifnd_state, budget: &mut *budget, device: &selected.device },
        |p| {
            pb.set_length(config.epochs as u64 * p.steps as u64);
            pb.set_position((p.epoch as u64 - 1) * p.steps as u64 + p.step as u64);
            pb.set_message(bar_message(&p, config.epochs));
        },
        |report, model, optim, ifnd| -> Result<()> {
            run.commit_epoch(report.epoch, report, optim, |dir| {
                save(dir, model, ifnd)?;
                model_files::save(&model.encoder, &run.dir, "encoder").map(|_| ())
            })?;
            let percent = |v: Option<f64>| v.map(|v| format!("{:.2}%", 100.0 * v)).unwrap_or_else(|| "-".into());
            let fnc = match (report.rho, report.cancelled_fraction) {
                (Some(rho), Some(f)) => format!(", rho {rho:.3} cancelled {} (precision {})", percent(Some(f)), percent(report.cancel_precision)),
                (None, Some(f)) => format!(", cancelled {} (precision {})", percent(Some(f)), percent(report.cancel_precision)),
                _ => String::new(),
            };
            let ifnd = report.ifnd.as_ref().map(|i| ifnd_message(i, &percent)).unwrap_or_default();
            pb.suspend(|| {
                eprintln!(
                    "epoch {:>3}: loss {:.4}, kNN {}{fnc}{ifnd}, {:.0} img/s ({:.0}% in views), {:.1} s",
                    report.epoch,
                    report.train_loss,
                    percent(report.knn_accuracy),
                    report.images_per_second,
                    100.0 * report.augment_seconds / report.seconds.max(1e-9),
                    report.seconds
                )
            });
            Ok(())
        },
        |pause, model, optim, ifnd| {
            pb.finish_and_clear();
            pause_with(pause, spent, || run.commit_partial(&pause.partial, optim, |dir| save(dir, model, ifnd)))
        },
    )?;
    pb.finish_and_clear();
    if no_linear_eval {
        eprintln!("pre-training done; run `hypersphere linear-eval --run {}` for the classifier", run.dir.display());
        return Ok(None);
    }
    // The linear evaluation is not checkpointed: start it only when its estimate fits (the
    // features of the training and test images, a forward pass each, at a third of a training
    // view's measured cost, doubled). Without a measured step (nothing trained in this
    // invocation) it runs.
    if let Some(step) = budget.step_estimate() {
        let images = (train_set.len() + test_set.len()) as f64;
        if !budget.fits(2.0 * images * step / (2 * config.batch_size) as f64 / 3.0) {
            let steps = steps as usize;
            return Err(BudgetSpent { at: format!("after epoch {} step {steps} (the linear evaluation is left)", config.epochs), ..spent(config.epochs, steps) }.into());
        }
    }
    let report = super::linear_eval::evaluate_encoder(&model.encoder.valid(), train_set, test_set, &plan.linear, run, &selected.device)?;
    Ok(Some(report.test_accuracy))
}

/// The checkpoint file of IFND's pseudo-labels.
const IFND_STATE: &str = "ifnd.json";

/// IFND's part of an epoch line: acceptance rate and pseudo-label precision (per level when
/// they were recomputed).
fn ifnd_message(i: &IfndEpoch, percent: &dyn Fn(Option<f64>) -> String) -> String {
    if i.levels.is_empty() {
        return format!(", IFND acceptance {:.0}% (no pseudo-labels yet)", 100.0 * i.acceptance_rate);
    }
    let levels: Vec<String> = i.levels.iter().map(|l| format!("k={} {}", l.clusters, percent(l.precision))).collect();
    let when = if i.recomputed { "recomputed".to_string() } else { format!("from epoch {}", i.labels_from_epoch) };
    format!(
        ", IFND acceptance {:.0}% ({} accepted), pseudo-label precision {} [{}] ({when})",
        100.0 * i.acceptance_rate,
        percent(Some(i.accepted_fraction)),
        percent(i.precision),
        levels.join(", ")
    )
}

pub fn run(args: Args) -> Result<()> {
    let outcome = train(&args)?;
    match outcome.test_accuracy {
        Some(acc) => println!("done: test accuracy {:.2}%, model {}", 100.0 * acc, outcome.dir.join("model.bpk").display()),
        None => println!("done: encoder {}", outcome.dir.join("encoder.bpk").display()),
    }
    Ok(())
}
