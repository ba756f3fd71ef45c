//! `hypersphere bench`: throughput of one architecture on one device, printed as tables.
//!
//! Without `--weights`: images/second of inference, a training step, PGD-10 and PGD-40 for a
//! randomly initialised model on random images, with ratios against inference.
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
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use hypersphere_core::attacks::{Attack, AttackSpec, AutoAttack, PgdLinf};
use hypersphere_core::data::{safetensors_images, to_tensor};
use hypersphere_core::evaluate::{attack_robust_samples, correct_mask};
use hypersphere_core::losses::cross_entropy;
use hypersphere_core::metrics::count_correct;
use hypersphere_core::models::Classifier;

use crate::device::{DeviceChoice, select};
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

/// AutoAttack "standard" in its published order: the name printed, the spec name, the budget.
/// Components this build cannot parse (FAB-T until it is implemented) are reported as not
/// available and left out.
const AUTOATTACK_STANDARD: [(&str, &str, Budget); 4] = [
    ("APGD-CE", "apgd-ce", Budget::Steps),
    ("APGD-T", "apgd-t", Budget::TargetedSteps),
    ("FAB-T", "fab-t", Budget::TargetedSteps),
    ("Square", "square", Budget::Queries),
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
    /// Batch size.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Timed iterations of each measurement.
    #[arg(long, default_value_t = 3)]
    pub iters: usize,
    /// Untimed iterations first (kernel compilation and autotuning; on GPUs autotuning can take
    /// several iterations to settle).
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Compute device.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceChoice,
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

/// Seconds per call of `work`, after `warmup` untimed calls.
fn time(args: &Args, work: &mut dyn FnMut()) -> f64 {
    for _ in 0..args.warmup {
        work();
    }
    let start = Instant::now();
    for _ in 0..args.iters.max(1) {
        work();
    }
    start.elapsed().as_secs_f64() / args.iters.max(1) as f64
}

fn pgd(steps: usize) -> Result<PgdLinf> {
    Ok(PgdLinf::new(format!("pgd:linf:{EPS}:{steps}").parse()?))
}

pub fn run(args: Args) -> Result<()> {
    let selected = select(args.device)?;
    let device = selected.device.clone();
    device.seed(0);
    match (&args.weights, &args.images) {
        (Some(weights), Some(images)) => same_weights(&args, weights, images, &selected.name, &device),
        _ => random_weights(&args, &selected.name, &device),
    }
}

/// Inference, a training step, PGD-10 and PGD-40 of a random model on random images.
fn random_weights(args: &Args, device_name: &str, device: &burn::tensor::Device) -> Result<()> {
    let config = args.arch.config(None)?;
    let n = args.batch_size.max(1);
    let x = Tensor::<4>::random([n, 3, 32, 32], Distribution::Uniform(0.0, 1.0), device);
    let labels: Vec<i64> = (0..n as i64).map(|i| i % config.num_classes as i64).collect();
    let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), device);

    let model = Classifier::new(config.clone(), device)?;
    let infer = time(args, &mut || {
        sync(model.forward(x.clone()).sum());
    });

    let ad = device.clone().autodiff();
    let mut train_model = Some(Classifier::new(config.clone(), &ad)?);
    let mut optim = SgdConfig::new().with_momentum(Some(MomentumConfig::new().with_dampening(0.0))).init();
    let (xa, ya) = (x.clone().autodiff(), y.clone().autodiff());
    let train = time(args, &mut || {
        let m = train_model.take().expect("model");
        let loss = cross_entropy(m.forward(xa.clone()), ya.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        let m = optim.step(0.01, m, grads);
        sync(loss.detach().without_autodiff());
        train_model = Some(m);
    });
    let (pgd10, pgd40) = (pgd(10)?, pgd(40)?);
    let pgd10_time = time(args, &mut || {
        sync(pgd10.perturb(&model, x.clone(), y.clone(), 0).sum());
    });
    let pgd40_time = time(args, &mut || {
        sync(pgd40.perturb(&model, x.clone(), y.clone(), 0).sum());
    });

    println!(
        "device: {device_name}  arch: {} (width {})  batch: {n}  warm-up: {}  timed iterations: {}",
        config.arch.name(),
        config.width,
        args.warmup,
        args.iters
    );
    println!("| measurement | seconds/batch | images/s | relative to inference |");
    println!("|---|---|---|---|");
    for (name, secs) in [
        ("inference (forward)", infer),
        ("training step (fwd+bwd+SGD)", train),
        ("PGD-10 attack (10 grad steps)", pgd10_time),
        ("PGD-40 attack (40 grad steps)", pgd40_time),
    ] {
        println!("| {name} | {secs:.4} | {:.1} | {:.3}x |", n as f64 / secs, infer / secs);
    }
    Ok(())
}

/// The same-weights benchmark: the rows and layout of `scripts/bench_pytorch.py --weights`.
fn same_weights(
    args: &Args,
    weights: &std::path::Path,
    images: &std::path::Path,
    device_name: &str,
    device: &burn::tensor::Device,
) -> Result<()> {
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
        let labels: Vec<i64> = set.labels[..n].iter().map(|&l| l as i64).collect();
        (x, Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), device))
    };
    let n = args.batch_size.max(1).min(set.len());
    let (x, y) = tensors(n);
    println!(
        "hypersphere on {device_name}: {} ({} width {}), batch {n}, fp32, warm-up {}, timed iterations {}",
        weights.display(),
        config.arch.name(),
        config.width,
        args.warmup,
        args.iters
    );
    println!("| measurement | seconds/batch | images/s | accuracy |");
    println!("|---|---|---|---|");
    let infer = time(args, &mut || {
        sync(model.forward(x.clone()).sum());
    });
    let clean = count_correct(model.forward(x.clone()), y.clone());
    println!("| inference (forward) | {infer:.4} | {:.1} | {:.1}% |", n as f64 / infer, percent(clean, n));
    for steps in [10, 40] {
        let attack = pgd(steps)?;
        let secs = time(args, &mut || {
            sync(attack.perturb(&model, x.clone(), y.clone(), 0).sum());
        });
        let robust = count_correct(model.forward(attack.perturb(&model, x.clone(), y.clone(), 0)), y.clone());
        println!(
            "| PGD-{steps} l_inf {EPS} ({steps} grad steps) | {secs:.4} | {:.1} | {:.1}% |",
            n as f64 / secs,
            percent(robust, n)
        );
    }

    let k = args.autoattack_images.min(set.len());
    if k == 0 {
        return Ok(());
    }
    let (xs, ys) = tensors(k);
    let (steps, queries) = (args.aa_steps.max(1), args.aa_queries.max(1));
    // (label, budget as printed, whether this build has it), and the spec of those it has.
    let mut plan = Vec::new();
    let mut items = Vec::new();
    for (label, name, budget) in AUTOATTACK_STANDARD {
        let (n, text) = match budget {
            Budget::Steps => (steps, format!("{steps} steps")),
            Budget::TargetedSteps => (steps, format!("9 targets x {steps} steps")),
            Budget::Queries => (queries, format!("{queries} queries")),
        };
        let available = format!("{name}:linf:{}", args.aa_eps).parse::<AttackSpec>().is_ok();
        if available {
            items.push(format!("{name}@{n}"));
        }
        plan.push((label, text, available));
    }
    let spec = format!("autoattack:linf:{}:{}", args.aa_eps, items.join("+"));
    let aa = AutoAttack::new(spec.parse().with_context(|| format!("building AutoAttack from {spec}"))?);
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
    let mut total = 0.0;
    let mut components = aa.components().enumerate();
    for (label, budget, available) in &plan {
        if !available {
            println!("| {label} | not available in this build | {k} images | 0 | | | |");
            continue;
        }
        let (i, component) = components.next().context("AutoAttack built fewer components than it was given")?;
        let attacked = count(&robust);
        let start = Instant::now();
        attack_robust_samples(&model, component, &xs, &ys, &mut robust, args.batch_size, AutoAttack::component_seed(0, i));
        let secs = start.elapsed().as_secs_f64();
        total += secs;
        println!(
            "| {label} | {budget} | {k} images | {attacked} | {secs:.2} | {:.1} | {:.1}% |",
            secs * 1000.0 / k as f64,
            percent(count(&robust), k)
        );
    }
    let run: Vec<&str> = plan.iter().filter(|p| p.2).map(|p| p.0).collect();
    println!(
        "| AutoAttack ({}) | | {k} images | | {total:.2} | {:.1} | {:.1}% |",
        run.join(", "),
        total * 1000.0 / k as f64,
        percent(count(&robust), k)
    );
    for (label, _, _) in plan.iter().filter(|p| !p.2) {
        println!("{label}: not available in this build");
    }
    Ok(())
}

fn percent(count: usize, of: usize) -> f64 {
    100.0 * count as f64 / of.max(1) as f64
}
