//! `hypersphere bench`: images/second of a training step, a PGD-10 attack and inference, for
//! one architecture and batch size on one device, printed as a table. Ratios are against the
//! inference throughput measured in the same run.

use anyhow::Result;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use hypersphere_core::attacks::{Attack, PgdLinf};
use hypersphere_core::losses::cross_entropy;
use hypersphere_core::models::{Arch, Classifier, ModelConfig};
use std::time::Instant;

use crate::device::{DeviceChoice, select};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Architecture.
    #[arg(long, default_value = "resnet18-cifar")]
    pub arch: String,
    /// Channels of the first stage (default: the architecture's standard width).
    #[arg(long)]
    pub width: Option<usize>,
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
    /// Also time AutoAttack's components on this many images (0: skip) and extrapolate to
    /// 1,000 images at the published budgets (APGD 100 steps, APGD-T 9 x 100, Square 5000).
    #[arg(long, default_value_t = 0)]
    pub autoattack_images: usize,
    /// APGD steps actually run for the AutoAttack extrapolation.
    #[arg(long, default_value_t = 5)]
    pub aa_steps: usize,
    /// Square queries actually run for the AutoAttack extrapolation.
    #[arg(long, default_value_t = 50)]
    pub aa_queries: usize,
}

fn sync(t: Tensor<1>) -> f32 {
    t.into_scalar::<f32>()
}

pub fn run(args: Args) -> Result<()> {
    let selected = select(args.device)?;
    let device = selected.device.clone();
    device.seed(0);
    let arch: Arch = args.arch.parse()?;
    let mut config = ModelConfig::new(arch, 10);
    config.width = args.width.unwrap_or(arch.default_width());
    let n = args.batch_size.max(1);
    let x = Tensor::<4>::random([n, 3, 32, 32], Distribution::Uniform(0.0, 1.0), &device);
    let labels: Vec<i64> = (0..n as i64).map(|i| i % 10).collect();
    let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), &device);
    let time = |what: &mut dyn FnMut()| {
        for _ in 0..args.warmup {
            what();
        }
        let start = Instant::now();
        for _ in 0..args.iters.max(1) {
            what();
        }
        start.elapsed().as_secs_f64() / args.iters.max(1) as f64
    };

    let model = Classifier::new(config.clone(), &device)?;
    let infer = time(&mut || {
        sync(model.forward(x.clone()).sum());
    });

    let ad = device.clone().autodiff();
    let mut train_model = Some(Classifier::new(config.clone(), &ad)?);
    let mut optim = SgdConfig::new().with_momentum(Some(MomentumConfig::new().with_dampening(0.0))).init();
    let (xa, ya) = (x.clone().autodiff(), y.clone().autodiff());
    let train = time(&mut || {
        let m = train_model.take().expect("model");
        let loss = cross_entropy(m.forward(xa.clone()), ya.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        let m = optim.step(0.01, m, grads);
        sync(loss.detach().without_autodiff());
        train_model = Some(m);
    });

    let pgd = PgdLinf::new("pgd:linf:8/255:10".parse()?);
    let pgd_time = time(&mut || {
        sync(pgd.perturb(&model, x.clone(), y.clone(), 0).sum());
    });
    let pgd40 = PgdLinf::new("pgd:linf:8/255:40".parse()?);
    let pgd40_time = time(&mut || {
        sync(pgd40.perturb(&model, x.clone(), y.clone(), 0).sum());
    });

    println!(
        "device: {}  arch: {} (width {})  batch: {n}  warm-up: {}  timed iterations: {}",
        selected.name, arch.name(), config.width, args.warmup, args.iters
    );
    println!("| measurement | seconds/batch | images/s | relative to inference |");
    println!("|---|---|---|---|");
    for (name, secs) in [
        ("inference (forward)", infer),
        ("training step (fwd+bwd+SGD)", train),
        ("PGD-10 attack (10 grad steps)", pgd_time),
        ("PGD-40 attack (40 grad steps)", pgd40_time),
    ] {
        println!("| {name} | {secs:.4} | {:.1} | {:.3}x |", n as f64 / secs, infer / secs);
    }
    if args.autoattack_images > 0 {
        autoattack_extrapolation(&model, &x, &y, &args)?;
    }
    Ok(())
}

/// Times APGD-CE, APGD-T (9 targets) and Square at small budgets on the first
/// `--autoattack-images` images (labelled with the model's predictions), each component as
/// `hypersphere eval` runs it (APGD-T target by target on the images still robust, as
/// torchattacks does), and scales each linearly to the published budgets and to 1,000 images.
fn autoattack_extrapolation(model: &Classifier, x: &Tensor<4>, y: &Tensor<1, Int>, args: &Args) -> Result<()> {
    let k = args.autoattack_images.min(x.dims()[0]);
    let xs = x.clone().slice([0..k]);
    // Labelled with the model's own predictions, so every image starts correctly classified.
    let ys = hypersphere_core::metrics::predictions(model.forward(xs.clone()));
    let _ = y;
    let (s, q) = (args.aa_steps.max(1), args.aa_queries.max(1));
    let mut total = 0.0;
    println!();
    println!("AutoAttack (l_inf, eps 8/255), {k} images labelled by the model, each component alone, extrapolated:");
    println!("| component | budget run | seconds | published budget | seconds per 1,000 images (extrapolated) |");
    println!("|---|---|---|---|---|");
    for (spec, full, per) in [
        (format!("apgd-ce:linf:8/255:{s}"), 100.0, s as f64),
        (format!("apgd-t:linf:8/255:{s}"), 100.0, s as f64),
        (format!("square:linf:8/255:{q}"), 5000.0, q as f64),
    ] {
        let single: hypersphere_core::attacks::AttackSpec = format!("autoattack:linf:8/255:{}@{}", &spec[..spec.find(':').unwrap()], per).parse()?;
        let aa = hypersphere_core::attacks::AutoAttack::new(single);
        let start = Instant::now();
        let _ = hypersphere_core::evaluate::autoattack_cell(model, &aa, &xs, &ys, 0);
        let secs = start.elapsed().as_secs_f64();
        let per_1000 = secs * (full / per) * (1000.0 / k as f64);
        total += per_1000;
        println!("| {spec} | {per} | {secs:.2} | {full} | {per_1000:.0} |");
    }
    println!("| AutoAttack (APGD-CE, APGD-T, Square; no FAB-T) | | | | {total:.0} ({:.1} h) |", total / 3600.0);
    Ok(())
}
