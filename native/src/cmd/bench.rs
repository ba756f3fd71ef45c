//! `hypersphere bench`: throughput of one architecture on one device, printed as tables and,
//! with `--json`, written as [`BenchReport`] rows that `scripts/bench_table.py` pairs with
//! `scripts/bench_pytorch.py`'s rows of the same names.
//!
//! Without `--weights`: images/second of inference, a cross-entropy training step (at each of
//! `--train-batch-sizes`), a SimCLR training step (two views per image, augmentations included,
//! at `--simclr-batch-size`), FGSM (with `--rows ...,fgsm`), PGD-10 and PGD-40 for a randomly initialised model on random
//! images. Each row is the median of `--iters` timed calls after `--warmup` untimed ones (Burn's
//! autotuner needs several calls per shape on a GPU).
//!
//! With `--weights W --images I` (the fixture `scripts/bench_pytorch.py --write-fixture` writes,
//! which `scripts/bench_pytorch.py --weights W --images I` times with PyTorch and torchattacks in
//! the same layout): inference, PGD-10 and PGD-40 on the first batch of those images, with the
//! accuracy after each, and with `--autoattack-images K` AutoAttack standard on the first K
//! images, component by component, each on the images still robust, with seconds per 1,000
//! images and the robust accuracy after each component.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::optim::momentum::MomentumConfig;
use burn::optim::SgdConfig;
use burn::tensor::{Distribution, Tensor};
use hypersphere_core::attacks::spec::parse_eps;
use hypersphere_core::attacks::{Attack, AttackKind, AttackSpec, AutoAttack, Fgsm, Norm, PgdLinf};
use hypersphere_core::bench::{BenchReport, BenchRow, measure, row};
use hypersphere_core::data::procedural::{ProceduralConfig, generate};
use hypersphere_core::data::views::ViewConfig;
use hypersphere_core::data::batch::labels_tensor;
use hypersphere_core::data::{safetensors_images, to_tensor};
use hypersphere_core::metrics::correct_mask;
use hypersphere_core::losses::contrastive::ContrastiveObjective;
use hypersphere_core::losses::cross_entropy;
use hypersphere_core::metrics::count_correct;
use hypersphere_core::models::Classifier;
use hypersphere_core::runtime::RuntimeInfo;
use hypersphere_core::train::{ContrastiveConfig, MixedPrecision, train_step};
use hypersphere_core::train::contrastive::{ContrastiveModel, ViewBackend, contrastive_step};

use crate::device::DeviceArgs;
use crate::model_files::{self, ArchArgs};

/// An AutoAttack component's budget.
#[derive(Clone, Copy)]
enum Budget {
    /// `--aa-steps` iterations.
    Steps,
    /// `--aa-steps` iterations for each of 9 target classes.
    TargetedSteps,
    /// `--aa-queries` queries.
    Queries,
}

/// AutoAttack "standard" in its published order: the name printed, the component, the budget.
const AUTOATTACK_STANDARD: [(&str, AttackKind, Budget); 4] = [
    ("APGD-CE", AttackKind::ApgdCe, Budget::Steps),
    ("APGD-T", AttackKind::ApgdT, Budget::TargetedSteps),
    ("FAB-T", AttackKind::FabT, Budget::TargetedSteps),
    ("Square", AttackKind::Square, Budget::Queries),
];

/// The threat model of the attack rows.
const EPS: &str = "8/255";

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub arch: ArchArgs,
    /// Weights to benchmark (.safetensors, .pt, .pth or .bpk) instead of a random model; needs --images.
    #[arg(long, requires = "images")]
    pub weights: Option<PathBuf>,
    /// Labelled images for --weights: a .safetensors file with `images` (uint8 [N,3,H,W]) and
    /// `labels` (int64 [N]), as `scripts/bench_pytorch.py --write-fixture` writes.
    #[arg(long, requires = "weights")]
    pub images: Option<PathBuf>,
    /// Batch size of inference and the attacks.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Batch sizes of the cross-entropy training step (comma list; 0 skips it, as does leaving ce-step out of --rows).
    #[arg(long, value_delimiter = ',', default_value = "128,512")]
    pub train_batch_sizes: Vec<usize>,
    /// Images per SimCLR training step (each gives two views; 0: skip).
    #[arg(long, default_value_t = 256)]
    pub simclr_batch_size: usize,
    /// Rows to measure without --weights (comma list of inference, ce-step, simclr-step, fgsm, pgd10, pgd40).
    #[arg(long, value_delimiter = ',', default_value = "inference,ce-step,simclr-step,pgd10,pgd40")]
    pub rows: Vec<String>,
    /// Timed iterations of each measurement (the median is reported).
    #[arg(long, default_value_t = 20)]
    pub iters: usize,
    /// Untimed iterations first (kernel compilation and autotuning; on GPUs autotuning can take
    /// several iterations to settle).
    #[arg(long, default_value_t = 10)]
    pub warmup: usize,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Write the rows as JSON (hypersphere_core::bench::BenchReport) to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Run AutoAttack standard (l_inf, radius --aa-eps) on the first K of --images (0: skip).
    #[arg(long, default_value_t = 0, requires = "images")]
    pub autoattack_images: usize,
    /// Iterations of AutoAttack's APGD-CE, APGD-T and FAB-T (published: 100).
    #[arg(long, default_value_t = 100)]
    pub aa_steps: usize,
    /// Queries of AutoAttack's Square (published: 5000).
    #[arg(long, default_value_t = 5000)]
    pub aa_queries: usize,
    /// AutoAttack's l_inf radius (a fraction like 8/255 or a decimal). On a model that is not
    /// robust, a small radius leaves images for the later components to attack.
    #[arg(long, default_value = "8/255")]
    pub aa_eps: String,
}

fn sync(t: Tensor<1>) -> f32 {
    t.into_scalar::<f32>()
}

/// Seconds per call of `work` (median), after `warmup` untimed calls.
fn time(args: &Args, work: &mut dyn FnMut()) -> f64 {
    measure("", "", 1, args.warmup, args.iters, work).seconds
}

fn pgd(steps: usize) -> Result<PgdLinf> {
    Ok(PgdLinf::new(AttackSpec::new(AttackKind::Pgd, Norm::Linf, 8.0 / 255.0)?.with_steps(steps)?))
}

/// Set in the child process that times the mixed-precision training rows.
const MIXED_CHILD: &str = "HYPERSPHERE_BENCH_MIXED_TRAINING";

/// The rows that time training steps.
const TRAINING_ROWS: [&str; 2] = ["ce-step", "simclr-step"];

pub fn run(mut args: Args) -> Result<()> {
    // With f16/bf16, training runs mixed precision on an f32 device (f32 master weights) while
    // inference and attacks run on a device whose float type is f16/bf16. A device's float
    // type is fixed at its first tensor, so the training rows are timed in a child process
    // (this binary again) and merged into this report.
    let is_child = std::env::var_os(MIXED_CHILD).is_some();
    let mixed = args.device.precision.training_half().is_some() && args.weights.is_none();
    let is_training = |r: &String| TRAINING_ROWS.contains(&r.as_str());
    let run_child = mixed && !is_child && args.rows.iter().any(is_training);
    if is_child {
        args.rows.retain(is_training);
    } else if run_child {
        args.rows.retain(|r| !is_training(r));
    }
    let selected = if is_child { args.device.select_for_training()? } else { args.device.select()? };
    let device = selected.device.clone();
    device.seed(0);
    let (mut report, table_printed) = match (&args.weights, &args.images) {
        (Some(weights), Some(images)) => (same_weights(&args, weights, images, &selected.runtime, &device)?, true),
        _ => (random_weights(&args, &selected.runtime, &device)?, false),
    };
    if run_child {
        let rows = mixed_training_rows()?;
        let at = report.rows.iter().position(|r| r.name != "inference").unwrap_or(report.rows.len());
        report.rows.splice(at..at, rows);
    }
    if !is_child && !table_printed {
        print_rows(&report.rows);
    }
    if let Some(path) = &args.json {
        model_files::write_atomic(path, serde_json::to_string_pretty(&report)?.as_bytes())?;
    }
    Ok(())
}

/// Runs this command again in a child process with [`MIXED_CHILD`] set (same arguments, its
/// own `--json`) and returns its rows: the training steps in mixed precision.
fn mixed_training_rows() -> Result<Vec<BenchRow>> {
    let json = std::env::temp_dir().join(format!("hypersphere-bench-mixed-{}.json", std::process::id()));
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    // Drop the user's --json (the child writes its own).
    let mut i = 0;
    while i < argv.len() {
        if argv[i] == "--json" {
            argv.drain(i..(i + 2).min(argv.len()));
        } else if argv[i].starts_with("--json=") {
            argv.remove(i);
        } else {
            i += 1;
        }
    }
    let exe = std::env::current_exe().context("locating this program for the mixed-precision training rows")?;
    let status = std::process::Command::new(exe)
        .args(&argv)
        .arg("--json")
        .arg(&json)
        .env(MIXED_CHILD, "1")
        .stdout(std::process::Stdio::null())
        .status()
        .context("starting the mixed-precision training benchmark")?;
    if !status.success() {
        bail!("the mixed-precision training benchmark (child process) failed: {status}");
    }
    let text = std::fs::read_to_string(&json).with_context(|| format!("reading {}", json.display()))?;
    let _ = std::fs::remove_file(&json);
    let report: BenchReport = serde_json::from_str(&text).with_context(|| format!("parsing {}", json.display()))?;
    Ok(report.rows)
}

/// Prints rows as a Markdown table.
fn print_rows(rows: &[BenchRow]) {
    println!("| measurement | batch | seconds/call (median) | images/s |");
    println!("|---|---|---|---|");
    for r in rows {
        let detail = if r.detail.is_empty() { String::new() } else { format!(" ({})", r.detail) };
        println!("| {}{detail} | {} | {:.4} | {:.1} |", r.name, r.batch, r.seconds, r.images_per_second);
    }
}

/// Inference, training steps (CE, SimCLR), PGD-10 and PGD-40 of a random model on random images.
fn random_weights(args: &Args, runtime: &RuntimeInfo, device: &burn::tensor::Device) -> Result<BenchReport> {
    let config = args.arch.config(None)?;
    let n = args.batch_size.max(1);
    let random_batch = |n: usize| {
        let s = config.input_size;
        let x = Tensor::<4>::random([n, 3, s, s], Distribution::Uniform(0.0, 1.0), device);
        let labels: Vec<usize> = (0..n).map(|i| i % config.num_classes).collect();
        (x, labels_tensor(&labels, device))
    };
    let (x, y) = random_batch(n);
    let (warmup, iters) = (args.warmup, args.iters);
    let mut rows = Vec::new();
    eprintln!("bench on {runtime}: {} width {}, warm-up {warmup}, timed {iters} (median)", config.arch.name(), config.width);

    const ROWS: [&str; 6] = ["inference", "ce-step", "simclr-step", "fgsm", "pgd10", "pgd40"];
    if let Some(bad) = args.rows.iter().find(|r| !ROWS.contains(&r.as_str())) {
        bail!("unknown --rows entry '{bad}' (valid: {})", ROWS.join(", "));
    }
    let wanted = |name: &str| args.rows.iter().any(|r| r == name);
    let mixed_detail = runtime.mixed_precision.map(|h| format!(", mixed {} (f32 master weights)", h.name())).unwrap_or_default();
    let model = Classifier::new(config.clone(), device)?;
    if wanted("inference") {
        rows.push(measure("inference", "forward", n, warmup, iters, &mut || {
            sync(model.forward(x.clone()).sum());
        }));
    }

    let ad = device.clone().autodiff();
    for &b in args.train_batch_sizes.iter().filter(|&&b| b > 0 && wanted("ce-step")) {
        let (xb, yb) = random_batch(b);
        let mut train_model = Some(Classifier::new(config.clone(), &ad)?);
        let mut optim = SgdConfig::new().with_momentum(Some(MomentumConfig::new().with_dampening(0.0))).init();
        let mut amp = runtime.mixed_precision.map(MixedPrecision::new);
        let (xa, ya) = (xb.autodiff(), yb.autodiff());
        rows.push(measure("ce-step", &format!("forward + backward + SGD momentum{mixed_detail}"), b, warmup, iters, &mut || {
            let m = train_model.take().expect("model");
            let Ok((m, loss)) = train_step(amp.as_mut(), &mut optim, 0.01, m, |m, compute| {
                let loss = cross_entropy(compute.output(m.forward(compute.input(xa.clone()))), ya.clone());
                Ok::<_, std::convert::Infallible>((loss.clone(), loss.detach()))
            });
            sync(loss.without_autodiff());
            train_model = Some(m);
        }));
    }

    if args.simclr_batch_size > 0 && wanted("simclr-step") {
        let b = args.simclr_batch_size.max(2);
        let data = generate(&ProceduralConfig { images: b, seed: 1, ..Default::default() });
        let indices: Vec<usize> = (0..data.len()).collect();
        let objective = ContrastiveObjective::nt_xent(0.5, 2);
        let views = ViewConfig::simclr();
        let mut model = Some(ContrastiveModel::new(Classifier::new(config.clone(), &ad)?, 128, &ad));
        let mut optim = ContrastiveConfig::default().optimizer();
        let mut amp = runtime.mixed_precision.map(MixedPrecision::new);
        let mut step = 0u64;
        let mut failure = None;
        rows.push(measure("simclr-step", &format!("two views per image, augmentations on the device{mixed_detail}"), b, warmup, iters, &mut || {
            step += 1;
            let Some(current) = model.take() else { return };
            match contrastive_step(current, &mut optim, &data, &indices, &objective, &views, ViewBackend::Device, step, 0.01, &ad, amp.as_mut()) {
                Ok(out) => {
                    let _ = out.output.loss.into_scalar::<f32>();
                    model = Some(out.model);
                }
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }));
        if let Some(e) = failure {
            bail!("SimCLR step failed: {e}");
        }
    }

    if wanted("fgsm") {
        let attack = Fgsm::new(AttackSpec::new(AttackKind::Fgsm, Norm::Linf, 8.0 / 255.0)?);
        rows.push(measure("fgsm", &format!("l_inf {EPS}, one gradient step"), n, warmup, iters, &mut || {
            sync(attack.perturb(&model, x.clone(), y.clone(), 0).sum());
        }));
    }
    for steps in [10, 40].into_iter().filter(|s| wanted(&format!("pgd{s}"))) {
        let attack = pgd(steps)?;
        rows.push(measure(&format!("pgd{steps}"), &format!("l_inf {EPS}, {steps} steps"), n, warmup, iters, &mut || {
            sync(attack.perturb(&model, x.clone(), y.clone(), 0).sum());
        }));
    }
    Ok(BenchReport { runtime: runtime.clone(), model: format!("{} width {}", config.arch.name(), config.width), rows })
}

/// The same-weights benchmark: the rows and layout of `scripts/bench_pytorch.py --weights`.
fn same_weights(
    args: &Args,
    weights: &std::path::Path,
    images: &std::path::Path,
    runtime: &RuntimeInfo,
    device: &burn::tensor::Device,
) -> Result<BenchReport> {
    let model = model_files::load(weights, &args.arch, device)?;
    let set = safetensors_images::read(images)?;
    let config = model.config();
    if set.class_names.len() > config.num_classes {
        bail!(
            "{} has labels up to {} but the model has {} classes (--num-classes)",
            images.display(),
            set.class_names.len() - 1,
            config.num_classes
        );
    }
    if set.height != config.input_size || set.width != config.input_size {
        bail!("{} holds {}x{} images; the model takes {}x{}", images.display(), set.height, set.width, config.input_size, config.input_size);
    }
    let tensors = |n: usize| {
        let x = to_tensor(&set.pixels[..n * set.image_len()], n, set.height, set.width, device);
        (x, labels_tensor(&set.labels[..n], device))
    };
    let n = args.batch_size.max(1).min(set.len());
    let (x, y) = tensors(n);
    println!(
        "hypersphere on {runtime}: {} ({} width {}), batch {n}, warm-up {}, timed iterations {} (median)",
        weights.display(),
        config.arch.name(),
        config.width,
        args.warmup,
        args.iters
    );
    println!("| measurement | seconds/batch | images/s | accuracy |");
    println!("|---|---|---|---|");
    let mut rows = Vec::new();
    let infer = time(args, &mut || {
        sync(model.forward(x.clone()).sum());
    });
    rows.push(row("inference", "forward", n, args.warmup, args.iters, infer));
    let clean = count_correct(model.forward(x.clone()), y.clone());
    println!("| inference (forward) | {infer:.4} | {:.1} | {:.1}% |", n as f64 / infer, percent(clean, n));
    for steps in [10, 40] {
        let attack = pgd(steps)?;
        let secs = time(args, &mut || {
            sync(attack.perturb(&model, x.clone(), y.clone(), 0).sum());
        });
        rows.push(row(&format!("pgd{steps}"), &format!("l_inf {EPS}, {steps} steps"), n, args.warmup, args.iters, secs));
        let robust = count_correct(model.forward(attack.perturb(&model, x.clone(), y.clone(), 0)), y.clone());
        println!(
            "| PGD-{steps} l_inf {EPS} ({steps} grad steps) | {secs:.4} | {:.1} | {:.1}% |",
            n as f64 / secs,
            percent(robust, n)
        );
    }

    let file = weights.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let report = |rows| BenchReport { runtime: runtime.clone(), model: format!("{} width {} ({file})", config.arch.name(), config.width), rows };
    let k = args.autoattack_images.min(set.len());
    if k == 0 {
        return Ok(report(rows));
    }
    let (xs, ys) = tensors(k);
    let (steps, queries) = (args.aa_steps.max(1), args.aa_queries.max(1));
    // AutoAttack standard at the given budgets, built from fields.
    let eps = parse_eps(&args.aa_eps).with_context(|| format!("--aa-eps '{}' is not a radius (like 8/255 or 0.03)", args.aa_eps))?;
    let budgets: Vec<(AttackKind, Option<usize>)> = AUTOATTACK_STANDARD
        .iter()
        .map(|(_, kind, budget)| (*kind, Some(if matches!(budget, Budget::Queries) { queries } else { steps })))
        .collect();
    let aa = AutoAttack::new(AttackSpec::new(AttackKind::AutoAttack, Norm::Linf, eps)?.with_components(budgets)?);
    let mut robust = correct_mask(&model, xs.clone(), &ys);
    let count = |robust: &[bool]| robust.iter().filter(|r| **r).count();
    println!();
    println!(
        "AutoAttack standard (l_inf, eps {}), hypersphere: each component on the images still robust, batches of {}",
        args.aa_eps, args.batch_size
    );
    println!("| attack | budget | measured on | images attacked | seconds | seconds per 1,000 images | robust accuracy |");
    println!("|---|---|---|---|---|---|---|");
    println!("| clean | | {k} images | | | | {:.1}% |", percent(count(&robust), k));
    let (mut total, mut attacked) = (0.0, count(&robust));
    let mut started = Instant::now();
    aa.run_on_robust(&model, &xs, &ys, &mut robust, args.batch_size, 0, |i, _, robust| {
        let secs = started.elapsed().as_secs_f64();
        total += secs;
        let (label, _, budget) = AUTOATTACK_STANDARD[i];
        let budget = match budget {
            Budget::Steps => format!("{steps} steps"),
            Budget::TargetedSteps => format!("9 targets x {steps} steps"),
            Budget::Queries => format!("{queries} queries"),
        };
        println!(
            "| {label} | {budget} | {k} images | {attacked} | {secs:.2} | {:.1} | {:.1}% |",
            secs * 1000.0 / k as f64,
            percent(count(robust), k)
        );
        attacked = count(robust);
        started = Instant::now();
    });
    println!(
        "| AutoAttack (APGD-CE, APGD-T, FAB-T, Square) | | {k} images | | {total:.2} | {:.1} | {:.1}% |",
        total * 1000.0 / k as f64,
        percent(count(&robust), k)
    );
    let detail = format!("l_inf {}, {steps} steps, {queries} queries, robust {:.1}%", args.aa_eps, percent(count(&robust), k));
    rows.push(row("autoattack-standard", &detail, k, 0, 1, total));
    Ok(report(rows))
}

fn percent(count: usize, of: usize) -> f64 {
    100.0 * count as f64 / of.max(1) as f64
}
