//! `hypersphere bench-contrastive`: training-step throughput of SimCLR, SimCLR + A-FNC,
//! SupCon, RoCL and ACL-DS (adversarial contrastive learning: the inner attack's cost, near
//! `steps + 1` SimCLR steps by the issue's estimate) at the same batch, the A-FNC overhead as a ratio to plain SimCLR (the paper: "minimal
//! overhead"), the share of a step spent producing the views (rendered where training renders
//! them on this device, `ViewBackend::Auto`), SimCLR with the views rendered the other way
//! (host or device), and the rendering alone both ways (host: draw, render, upload; device:
//! draw, upload bytes, render; each until the device is idle).
//!
//! The contenders are timed in interleaved rounds (SimCLR, A-FNC, SupCon, SimCLR with the other
//! renderer, SimCLR, ...) and each reports its median step, so a machine whose load drifts
//! during the run biases none; the two renderers likewise.

use anyhow::Result;
use hypersphere_core::bench::median;
use hypersphere_core::data::procedural::{ProceduralConfig, generate};
use hypersphere_core::data::views::ViewConfig;
use hypersphere_core::losses::contrastive::ContrastiveObjective;
use hypersphere_core::models::{Arch, Classifier, ModelConfig};
use hypersphere_core::train::adversarial_contrastive::adversarial_step;
use hypersphere_core::train::contrastive::{ContrastiveMethod, ContrastiveModel, ViewBackend, contrastive_step};
use hypersphere_core::train::{AclVariant, AdversarialConfig, ContrastiveConfig, FncSchedule, MixedPrecision};
use std::time::Instant;

use crate::device::DeviceArgs;
use crate::progress::bar;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Architecture: resnet18-cifar, resnet50-cifar or small-cnn.
    #[arg(long, default_value = "resnet18-cifar")]
    pub arch: String,
    /// Channels of the first stage (default: the architecture's standard width).
    #[arg(long)]
    pub width: Option<usize>,
    /// Images per step (each gives two views).
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Timed rounds (one step of each method per round).
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Untimed steps of each method first (kernel compilation, autotuning, allocator).
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    #[command(flatten)]
    pub device: DeviceArgs,
}

struct Contender {
    name: &'static str,
    objective: ContrastiveObjective,
    views: ViewConfig,
    backend: ViewBackend,
    model: Option<ContrastiveModel>,
    optim: burn::optim::ModuleOptimizer,
    /// Mixed-precision state when `--precision` is f16/bf16.
    amp: Option<MixedPrecision>,
    /// RoCL / ACL settings (adversarial steps; f32 only).
    adversarial: Option<ContrastiveConfig>,
    step_seconds: Vec<f64>,
    view_seconds: Vec<f64>,
}

pub fn run(args: Args) -> Result<()> {
    let selected = args.device.select_for_training()?;
    let device = selected.device.clone();
    let ad = device.clone().autodiff();
    let arch: Arch = args.arch.parse()?;
    let mut model_config = ModelConfig::new(arch, 10);
    model_config.width = args.width.unwrap_or(arch.default_width());
    model_config.validate()?;
    let data = generate(&ProceduralConfig { images: args.batch_size.max(2), seed: 1, ..Default::default() });
    let indices: Vec<usize> = (0..data.len()).collect();
    // A-FNC at the middle of a 0.99 -> 0.7 schedule: the mask is built and applied every step.
    let afnc: FncSchedule = "adaptive:0.99:0.7".parse()?;
    // The first three render views as training does on this device; the last one the other way.
    let trained = ViewBackend::Auto.resolve(&device);
    let (other, other_name) = match trained {
        ViewBackend::Host => (ViewBackend::Device, "SimCLR, device views"),
        _ => (ViewBackend::Host, "SimCLR, host views"),
    };
    let adversarial = |method, settings| ContrastiveConfig { method, adversarial: settings, ..ContrastiveConfig::default() };
    let mut plain: Vec<(&'static str, ContrastiveObjective, ViewConfig, ViewBackend, Option<ContrastiveConfig>)> = vec![
        ("SimCLR", ContrastiveObjective::nt_xent(0.5, 2), ViewConfig::simclr(), trained, None),
        ("SimCLR + A-FNC", ContrastiveObjective { cancellation: afnc.cancellation(1, 3, 1), ..ContrastiveObjective::nt_xent(0.5, 2) }, ViewConfig::simclr(), trained, None),
        ("SupCon", ContrastiveObjective::supcon(0.1, 2), ViewConfig::supcon(), trained, None),
        (other_name, ContrastiveObjective::nt_xent(0.5, 2), ViewConfig::simclr(), other, None),
    ];
    // Adversarial contrastive learning trains in f32 only.
    if selected.runtime.mixed_precision.is_none() {
        plain.push(("RoCL (7-step attack)", ContrastiveObjective::nt_xent(0.5, 2), ViewConfig::simclr(), trained, Some(adversarial(ContrastiveMethod::Rocl, AdversarialConfig::rocl()))));
        plain.push(("ACL-DS (5-step attack)", ContrastiveObjective::nt_xent(0.5, 2), ViewConfig::simclr(), trained, Some(adversarial(ContrastiveMethod::Acl, AdversarialConfig::acl(AclVariant::Ds)))));
    }
    let mut contenders: Vec<Contender> = plain
    .into_iter()
    .map(|(name, objective, views, backend, adversarial)| -> Result<Contender> {
        device.seed(0);
        let dual = adversarial.as_ref().and_then(|c| c.dual_batch_norm());
        let encoder = Classifier::new(ModelConfig { dual_batch_norm: dual, ..model_config.clone() }, &ad)?;
        Ok(Contender {
            name,
            objective,
            views,
            backend,
            model: Some(ContrastiveModel::new(encoder, 128, &ad)),
            optim: ContrastiveConfig::default().optimizer(),
            amp: selected.runtime.mixed_precision.map(MixedPrecision::new),
            adversarial,
            step_seconds: Vec::new(),
            view_seconds: Vec::new(),
        })
    })
    .collect::<Result<_>>()?;
    // The renderers alone: one batch of two SimCLR views, until the device is idle.
    let mut render_seconds = [Vec::new(), Vec::new()];
    for round in 0..args.warmup + args.rounds {
        for (k, backend) in [ViewBackend::Host, ViewBackend::Device].into_iter().enumerate() {
            let start = Instant::now();
            let views = backend.views(&data, &indices, &ViewConfig::simclr(), 2, round as u64, &device);
            // Kept alive until the device is idle, so no backend can skip the work.
            device.sync().map_err(|e| anyhow::anyhow!("device sync: {e:?}"))?;
            drop(views);
            if round >= args.warmup {
                render_seconds[k].push(start.elapsed().as_secs_f64());
            }
        }
    }
    let total = (args.warmup + args.rounds) * contenders.len();
    let pb = bar(total as u64, "steps");
    pb.set_prefix("bench");
    for round in 0..args.warmup + args.rounds {
        for c in contenders.iter_mut() {
            let start = Instant::now();
            let model = c.model.take().expect("model");
            let out = match &c.adversarial {
                Some(config) => adversarial_step(model, &mut c.optim, &data, &indices, &c.objective, config, c.backend, round as u64, 0.01, &ad)?,
                None => contrastive_step(model, &mut c.optim, &data, &indices, &c.objective, &c.views, c.backend, round as u64, 0.01, &ad, c.amp.as_mut())?,
            };
            // Reading the loss waits for the device to finish the step.
            let _ = out.output.loss.into_scalar::<f32>();
            c.model = Some(out.model);
            if round >= args.warmup {
                c.step_seconds.push(start.elapsed().as_secs_f64());
                c.view_seconds.push(out.augment_seconds);
            }
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    println!(
        "Contrastive training step on {} ({}, width {}, batch {} images = {} views rendered on the {}, {} warm-up + {} timed rounds, median)",
        selected.runtime,
        arch.name(),
        model_config.width,
        args.batch_size,
        2 * args.batch_size,
        if trained == ViewBackend::Host { "host" } else { "device" },
        args.warmup,
        args.rounds
    );
    println!("| method | seconds/step | images/s | relative to SimCLR | of which views |");
    println!("|---|---|---|---|---|");
    let base = median(&contenders[0].step_seconds);
    for c in &contenders {
        let s = median(&c.step_seconds);
        println!(
            "| {} | {s:.4} | {:.1} | {:.3}x | {:.1}% |",
            c.name,
            args.batch_size as f64 / s,
            s / base,
            100.0 * median(&c.view_seconds) / s
        );
    }
    for c in contenders.iter().filter(|c| c.adversarial.is_some()) {
        let steps = c.adversarial.as_ref().map_or(0, |a| a.adversarial.attack.steps);
        println!("{}: {:.2}x a SimCLR step (the issue's estimate: steps + 1 = {})", c.name, median(&c.step_seconds) / base, steps + 1);
    }
    let overhead = median(&contenders[1].step_seconds) / base - 1.0;
    println!("\nA-FNC overhead over SimCLR: {:+.1}% of a step (paper: negligible; target <= 3%)", 100.0 * overhead);
    println!("\nRendering one batch of {} SimCLR views ({} warm-up + {} timed, median)", 2 * args.batch_size, args.warmup, args.rounds);
    println!("| views rendered on | ms/batch | views/s |");
    println!("|---|---|---|");
    for (name, seconds) in ["host (all cores, f32 upload)", "device (byte upload)"].into_iter().zip(&render_seconds) {
        let s = median(seconds);
        println!("| {name} | {:.2} | {:.0} |", 1e3 * s, (2 * args.batch_size) as f64 / s);
    }
    Ok(())
}
