//! `hypersphere reproduce`: the whole study end to end. Trains the paper's six settings (CE,
//! SupCon, SimCLR, SimCLR + fixed FNC, SimCLR + A-FNC 0.9 -> 0.5 and 0.99 -> 0.7) with their
//! linear evaluations, attacks them (Table 1 / Table 4 layout with "gap closed" against SimCLR
//! and SupCon), measures their geometry (Figure 2) and their accuracy under corruptions
//! (Figure 3), and writes the report.
//!
//! Each stage runs as its own `hypersphere` process and is skipped when its result exists, so
//! a killed study continues where it stopped (interrupted training runs resume from their last
//! epoch; the evaluation resumes from its results file).
//!
//! `--seeds N` (the paper averages 5 runs) repeats the study for training seeds 0..N, seed k's
//! in `<out>/seed-k` (trained with `--seed k`; every seed is evaluated on the same test images),
//! each resumable on its own; the report then shows mean ± std over seeds and the verdicts.
//! With one seed (the default) the study is `<out>` itself, as before.
//!
//! `--budget 9m` bounds the whole command's wall time: every training stage gets what is left as
//! its own `--budget` (it stops at a step boundary after a checkpoint), any other stage still
//! running at the deadline is stopped (the evaluation keeps its finished cells; geometry and
//! corruptions start again), no stage starts when less than 5 s are left, and the command ends
//! with exit code 75 and "stopped at budget ...; run the same command again to continue".

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hypersphere_core::train::budget::{self, BudgetSpent, EXIT_CODE};
use hypersphere_core::train::{PRESETS, Scale};

use crate::device::DeviceArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scale of the presets: tiny (minutes on a 2-core CPU), small (a 2-core CPU, hours) or paper (ResNet-50, 1000 epochs: GPUs).
    #[arg(long, default_value = "small")]
    pub preset: String,
    /// Dataset: CIFAR-10 (a folder of per-split archives, image folders or the binary release) or `procedural[:N]`.
    #[arg(long, default_value = "procedural")]
    pub data: String,
    /// Study folder (default: runs/study-<preset>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Test images for the attacks, the geometry and the corruptions (default: 200 tiny, 1000 small, all for paper).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Extra flags for every training run, e.g. "--epochs 30 --width 16" (they override the preset).
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    pub train_args: String,
    /// Training seeds of every setting (the paper averages 5): seed k's study goes to <out>/seed-k and the report shows mean ± std; 1: the study is <out> itself.
    #[arg(long, default_value_t = 1)]
    pub seeds: u64,
    /// Wall-time budget of this command (e.g. 9m, 90s, 1h): stop before it is spent, training at a step boundary after a checkpoint, with exit code 75; the same command again continues.
    #[arg(long)]
    pub budget: Option<String>,
    /// Reproduce one table of the paper instead of the CIFAR study: 2 = Table 2 and Figure 3,
    /// the ImageNet checkpoints given by --model, on the validation folder given by --data.
    #[arg(long)]
    pub table: Option<u32>,
    /// Table 2: a checkpoint, `NAME=WEIGHTS[,FLAG=VALUE...]` with FLAG one of eval's arch,
    /// width, num-classes, normalize, depth, input-size, checkpoint-format, head; repeatable.
    #[arg(long)]
    pub model: Vec<String>,
    /// Table 2: an ImageNet-C folder (`<corruption>/<severity>/<wnid>/<image>`) for Figure 3.
    #[arg(long)]
    pub imagenet_c: Option<PathBuf>,
    /// Table 2: the ImageNet-C severity of Figure 3.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub severity: u8,
    /// Table 2: attacks replacing the paper's (eval's NAME:NORM:EPS[:STEPS] grammar), repeatable.
    #[arg(long)]
    pub attack: Vec<String>,
    /// Table 2: preprocessing of the validation images (standard: resize 256, centre crop 224; none).
    #[arg(long, default_value = "standard")]
    pub preprocess: String,
    /// Table 2: images per batch.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Table 2: seed of the attacks' random starts and of --limit's subset.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// What every stage of a study is given: the scale, device, precision and test-image limit.
struct Stages<'a> {
    args: &'a Args,
    scale: Scale,
    device: String,
    precision: String,
    limit_args: Vec<String>,
    /// When the command's budget runs out.
    deadline: Option<Instant>,
}

/// No stage starts with less than this left of the budget.
const MIN_STAGE_SECONDS: f64 = 5.0;
/// A training stage's own budget ends this long before the study's, so that it has stopped
/// and exited when the study's deadline comes.
const STAGE_MARGIN_SECONDS: f64 = 2.0;

impl Stages<'_> {
    /// Runs this program with `args` (a training stage gets `--budget` with what is left), its
    /// output going to the terminal; stops at the budget as described in the module comment.
    fn run(&self, name: &str, args: &[String]) -> Result<()> {
        let mut args = args.to_vec();
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(Instant::now()).as_secs_f64();
            if left < MIN_STAGE_SECONDS {
                return Err(BudgetSpent { at: format!("before {name}"), resume: "run the same command again to continue".into() }.into());
            }
            if args.first().is_some_and(|a| a == "train") {
                args.extend([s("--budget"), budget::format_duration(Duration::from_secs_f64(left - STAGE_MARGIN_SECONDS))]);
            }
        }
        stage(name, &args, self.deadline)
    }
}

/// Runs this program with `args`, its output going to the terminal; stopped when it is still
/// running at `deadline`.
pub(super) fn stage(name: &str, args: &[String], deadline: Option<Instant>) -> Result<()> {
    eprintln!("== {name}: hypersphere {}", args.join(" "));
    let exe = std::env::current_exe().context("finding the hypersphere binary")?;
    let mut child = Command::new(exe).args(args).spawn().with_context(|| format!("starting {name}"))?;
    let status = loop {
        if let Some(status) = child.try_wait().with_context(|| format!("waiting for {name}"))? {
            break status;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(BudgetSpent { at: format!("in {name} (stopped there; it continues from its last saved result)"), resume: "run the same command again to continue".into() }.into());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if status.code() == Some(EXIT_CODE) {
        return Err(BudgetSpent { at: format!("in {name}"), resume: "run the same command again to continue".into() }.into());
    }
    if !status.success() {
        bail!("{name} failed ({status}); run the same command again to continue where it stopped");
    }
    Ok(())
}

fn s(x: impl AsRef<str>) -> String {
    x.as_ref().to_string()
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

pub fn run(args: Args) -> Result<()> {
    let started = Instant::now();
    let window = args.budget.as_deref().map(budget::parse_duration).transpose().context("--budget")?;
    match args.table {
        None | Some(1) => {}
        Some(2) if window.is_some() => bail!("--budget belongs to the CIFAR study (--table 1); --table 2 keeps each finished evaluation, so run it again to continue"),
        Some(2) => {
            let selected = args.device.select()?;
            eprintln!("device: {}", selected.runtime);
            return super::table2::run(&args, selected.choice.name(), args.device.precision.name());
        }
        Some(t) => bail!("--table {t}: only 1 (the CIFAR study, the default) and 2 (ImageNet checkpoints) are reproducible"),
    }
    if !args.model.is_empty() || args.imagenet_c.is_some() || !args.attack.is_empty() {
        bail!("--model, --imagenet-c and --attack belong to --table 2");
    }
    let scale: Scale = args.preset.parse()?;
    if args.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    if args.seeds > 1 && args.train_args.split_whitespace().any(|a| a == "--seed" || a.starts_with("--seed=")) {
        bail!("--train-args sets --seed, but --seeds {} gives each seed's runs their own (0..{})", args.seeds, args.seeds);
    }
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from(format!("runs/study-{}", args.preset)));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    // Probe for a GPU once here rather than in every stage; every stage gets the resolved
    // device and the precision (f16/bf16: mixed-precision training, half-precision evaluation).
    let selected = args.device.select_for_training()?;
    eprintln!("device: {}", selected.runtime);
    let device = s(selected.choice.name());
    let precision = s(args.device.precision.name());
    let limit = args.limit.or(match scale {
        Scale::Tiny => Some(200),
        Scale::Small => Some(1000),
        Scale::Paper => None,
    });
    let limit_args: Vec<String> = limit.map(|l| vec![s("--limit"), l.to_string()]).unwrap_or_default();
    let stages = Stages { args: &args, scale, device, precision, limit_args, deadline: window.map(|w| started + w) };
    let start = Instant::now();
    if args.seeds == 1 {
        study(&stages, &out, None)?;
    } else {
        for seed in 0..args.seeds {
            eprintln!("== seed {seed} of {}", args.seeds);
            study(&stages, &out.join(format!("seed-{seed}")), Some(seed))?;
        }
    }
    stages.run("report", &[s("report"), s("--study"), path(&out), s("--title"), format!("hypersphere study ({} scale, {})", args.preset, args.data)])?;
    println!("study complete in {:.1} min: {}", start.elapsed().as_secs_f64() / 60.0, out.join("report").join("report.html").display());
    Ok(())
}

/// Trains, attacks and measures one study in `out`: the six settings (with `--seed` when
/// given), the robustness table, the geometry and the corruptions, each stage skipped when its
/// result exists.
fn study(stages: &Stages, out: &Path, seed: Option<u64>) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for (name, _, _) in PRESETS {
        let run = out.join(name);
        if run.join("model.bpk").exists() && run.join("done").exists() {
            eprintln!("== train {name}: done already");
            continue;
        }
        let t = Instant::now();
        if run.join("checkpoint.json").exists() {
            stages.run(&format!("train {name} (resuming)"), &[s("train"), s("--resume"), path(&run), s("--device"), stages.device.clone(), s("--precision"), stages.precision.clone()])?;
        } else {
            let mut a = vec![s("train"), s("--preset"), s(name), s("--scale"), s(&stages.args.preset), s("--data"), s(&stages.args.data), s("--out"), path(&run), s("--device"), stages.device.clone(), s("--precision"), stages.precision.clone()];
            if let Some(seed) = seed {
                a.extend([s("--seed"), seed.to_string()]);
            }
            a.extend(stages.args.train_args.split_whitespace().map(String::from));
            stages.run(&format!("train {name}"), &a)?;
        }
        crate::model_files::write_atomic(&run.join("done"), format!("{:.0} s\n", t.elapsed().as_secs_f64()).as_bytes())?;
    }
    let named: Vec<String> = PRESETS.iter().map(|(n, _, _)| format!("{n}={}", path(&out.join(n).join("model.bpk")))).collect();
    let paths: Vec<String> = PRESETS.iter().map(|(n, _, _)| path(&out.join(n).join("model.bpk"))).collect();

    // Table 1 / Table 4: FGSM and PGD in three norms, plus AutoAttack at the paper scale.
    if !out.join("eval.json").exists() {
        let mut attacks = vec![s("fgsm:linf:1/255,2/255,4/255,8/255")];
        if stages.scale != Scale::Paper {
            attacks.extend([s("pgd:linf:1/255,2/255:10"), s("pgd:l2:0.1,0.25:10"), s("pgd:l1:2,5:10")]);
        } else {
            attacks.extend([s("pgd:linf:1/255,2/255,4/255,8/255:40"), s("pgd:l2:0.25,0.5:40"), s("pgd:l1:5,10:40"), s("autoattack:linf:8/255:standard")]);
        }
        let mut a = vec![s("eval"), s("--models"), named.join(","), s("--data"), s(&stages.args.data), s("--device"), stages.device.clone(), s("--precision"), stages.precision.clone()];
        for attack in attacks {
            a.extend([s("--attack"), attack]);
        }
        a.extend([s("--gap-reference"), s("simclr,supcon"), s("--markdown"), path(&out.join("eval.md")), s("--resume"), path(&out.join("eval.jsonl"))]);
        a.extend([s("--json"), path(&out.join("eval.json"))]);
        a.extend(stages.limit_args.clone());
        stages.run("robustness", &a)?;
    }
    if !out.join("geometry.json").exists() {
        let mut a = vec![s("geometry"), s("--models"), paths.join(",")];
        a.extend([s("--data"), s(&stages.args.data), s("--device"), stages.device.clone(), s("--precision"), stages.precision.clone(), s("--json"), path(&out.join("geometry.json"))]);
        a.extend(stages.limit_args.clone());
        stages.run("geometry", &a)?;
    }
    if !out.join("corruptions.json").exists() {
        let mut a = vec![s("corrupt-eval"), s("--models"), paths.join(","), s("--data"), s(&stages.args.data), s("--device"), stages.device.clone(), s("--precision"), stages.precision.clone()];
        a.extend([s("--json"), path(&out.join("corruptions.json"))]);
        if stages.scale != Scale::Paper {
            a.extend([s("--severities"), s("1,3,5")]);
        }
        a.extend(stages.limit_args.clone());
        stages.run("corruptions", &a)?;
    }
    Ok(())
}
