//! `hypersphere reproduce`: the whole study end to end. `--tables` selects what of the paper
//! it reproduces ([`PaperTable`]; default `1`):
//!
//! - `1`: the six settings (CE, SupCon, SimCLR, SimCLR + fixed FNC, SimCLR + A-FNC 0.9 -> 0.5
//!   and 0.99 -> 0.7) with their linear evaluations, attacked in the Table 1 layout (and Table
//!   4's "gap closed" against SimCLR and SupCon, `eval.json`), their geometry (Figure 2,
//!   `geometry.json`) and their accuracy under corruptions (Figure 3, `corruptions.json`);
//! - `4`: the same study with Table 4's IFND row (`simclr-ifnd`) trained and attacked beside
//!   FNC and A-FNC;
//! - `5`: Table 5: SimCLR, RoCL, A-RoCL, ACL and A-ACL (the presets of
//!   `train::presets::ADVERSARIAL_PRESETS`; SimCLR's run is shared with Table 1's) under the
//!   paper's Table 5 attacks ([`table5_attacks`], `table5.json`), the report showing the relative
//!   gain of A-RoCL and A-ACL over RoCL and ACL. The paper evaluates the adversarially trained
//!   models as RoCL does ("adversarial training with PGD l_inf adversary"), so their classifiers
//!   are trained again by `linear-eval --mode M` into `<run>/<M>/` (`--table5-head`, default
//!   `adversarial`: RoCL's robust linear evaluation; `trades`: ACL's TRADES fine-tuning;
//!   `standard`: the run's own linear evaluation), recorded in `table5-head.json`; SimCLR, the
//!   paper's row without adversarial training, keeps its standard linear evaluation;
//! - `2`: the ImageNet Table 2 and Figure 3 of given checkpoints (`cmd/table2.rs`; alone only).
//!
//! Every run lives in `<out>/<preset>`, so studies of several selections share their runs; then
//! the report (`hypersphere report`) gathers whatever the folder holds.
//!
//! Each stage runs as its own `hypersphere` process and is skipped when its result exists (an
//! evaluation's result must also hold every run selected: adding `--tables 4` to a finished
//! study evaluates again, its finished cells read from the results file), so a killed study
//! continues where it stopped (interrupted training runs resume from their last epoch; the
//! evaluations resume from their results files).
//!
//! Every run of Tables 1 and 4 is evaluated as soon as it is trained, into its own folder
//! (`<run>/eval.json`, `geometry.json`, `corruptions.json`); the study's tables are gathered
//! from those files once every run has them, with the numbers one evaluation of all the models
//! together gives (the same images, seeds and corruptions for every model). So a study that
//! moves between short GPU windows needs the weights of the run in training only: a finished,
//! evaluated run's weights may stay behind (`scripts/gpu-check.sh` leaves them out of its pack
//! when the pack would not fit the transfer limit); a stage that still needs them says so.
//!
//! `--seeds N` (the paper averages 5 runs) repeats the study for training seeds 0..N, seed k's
//! in `<out>/seed-k` (trained with `--seed k`; every seed is evaluated on the same test images),
//! each resumable on its own; the report then shows mean ± std over seeds and the verdicts.
//! With one seed (the default) the study is `<out>` itself, as before.
//!
//! `--budget 9m` bounds the whole command's wall time: every training stage gets what is left as
//! its own `--budget` (it stops at a step boundary after a checkpoint), any other stage still
//! running at the deadline is stopped (the evaluation keeps its finished cells; geometry,
//! corruptions and the Table 5 classifiers start again), no stage starts when less than 5 s
//! are left, and the command ends with exit code 75 and "stopped at budget ...; run the same
//! command again to continue".

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hypersphere_core::attacks::AttackSpec;
use hypersphere_core::evaluate::{ComparisonTable, EvalReport};
use hypersphere_core::results::{CorruptionReport, GeometryResult};
use hypersphere_core::train::budget::{self, BudgetSpent, EXIT_CODE};
use hypersphere_core::train::presets::ADVERSARIAL_PRESETS;
use hypersphere_core::train::{HeadRecipe, LinearEvalConfig, LinearEvalMode, PRESETS, Scale, TABLE4_PRESETS};

use crate::device::DeviceArgs;
use crate::run_folder::RunFolder;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scale of the presets: tiny (minutes on a 2-core CPU), small (a 2-core CPU, hours), converge (ResNet-18 width 64, all of CIFAR-10, 100-200 epochs, bf16 checkpoints: a GPU study in windows) or paper (ResNet-50, 1000 epochs: GPUs).
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
    /// Tables of the paper to reproduce, comma-separated: 1 (the six CIFAR settings: Table 1,
    /// Table 4's FNC/A-FNC rows, Figures 2 and 3; the default), 4 (adds IFND to them), 5
    /// (SimCLR, RoCL, A-RoCL, ACL, A-ACL under the Table 5 attacks), or 2 alone (ImageNet
    /// Table 2 and Figure 3: the checkpoints given by --model, the validation folder --data).
    #[arg(long)]
    pub tables: Option<String>,
    /// One table, as `--tables N` (kept for `--table 2`).
    #[arg(long)]
    pub table: Option<String>,
    /// Table 5: how the classifiers of RoCL, A-RoCL, ACL and A-ACL are trained before the attacks
    /// (linear-eval's modes): adversarial (RoCL's robust linear evaluation, the paper's
    /// protocol), trades (ACL's TRADES fine-tuning) or standard (their runs' own linear
    /// evaluation). SimCLR keeps its standard linear evaluation.
    #[arg(long, default_value = "adversarial")]
    pub table5_head: String,
    /// Table 5: epochs of those classifiers (default: the runs' linear-evaluation epochs; an
    /// adversarial epoch costs about attack steps + 1 passes over the data).
    #[arg(long)]
    pub table5_head_epochs: Option<usize>,
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

/// A table of the paper that `reproduce` can reproduce (`--tables`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PaperTable {
    /// Table 1 with the six settings (and Table 4's FNC / A-FNC rows, Figures 2 and 3).
    One,
    /// The ImageNet Table 2 (and Figure 3) of given checkpoints.
    Two,
    /// Table 4: the six settings and IFND.
    Four,
    /// Table 5: adversarial contrastive learning with and without A-FNC.
    Five,
}

impl PaperTable {
    /// Reads one entry of `flag`'s list (`1`, `2`, `4`, `5`, or `table5`); a one-line error
    /// naming `flag` otherwise.
    fn parse(text: &str, flag: &str) -> Result<Self> {
        let t = text.trim();
        Ok(match t.strip_prefix("table").unwrap_or(t) {
            "1" => Self::One,
            "2" => Self::Two,
            "4" => Self::Four,
            "5" => Self::Five,
            "3" => bail!("{flag} 3: Table 3 (video models) is not reproducible here; the tables are 1 (the CIFAR study, the default), 2 (ImageNet checkpoints), 4 (1 with IFND) and 5 (RoCL, ACL and A-FNC)"),
            _ => bail!("{flag} {text}: not a table (1: the CIFAR study, the default; 2: ImageNet checkpoints; 4: 1 with IFND; 5: RoCL, ACL and A-FNC)"),
        })
    }

    /// The tables of `--tables LIST` or `--table N` (not both), sorted, each once; `[One]`
    /// without either.
    fn selection(tables: Option<&str>, table: Option<&str>) -> Result<Vec<Self>> {
        let (text, flag) = match (tables, table) {
            (Some(_), Some(_)) => bail!("--tables and --table name the same thing; give one"),
            (Some(t), None) => (t, "--tables"),
            (None, Some(t)) => (t, "--table"),
            (None, None) => return Ok(vec![Self::One]),
        };
        let mut list = text.split(',').filter(|t| !t.trim().is_empty()).map(|t| Self::parse(t, flag)).collect::<Result<Vec<_>>>()?;
        list.sort();
        list.dedup();
        if list.is_empty() {
            bail!("{flag} is empty (1, 2, 4 or 5)");
        }
        if list.contains(&Self::Two) && list.len() > 1 {
            bail!("{flag} {text}: Table 2 evaluates ImageNet checkpoints and runs alone; reproduce it in its own command");
        }
        Ok(list)
    }
}

/// What a CIFAR study trains and evaluates, from the selected tables.
#[derive(Debug, Clone, Copy)]
struct Selection {
    /// The six settings with their evaluation, geometry and corruptions (Tables 1, 4).
    main: bool,
    /// IFND beside them (Table 4).
    ifnd: bool,
    /// The Table 5 runs and their evaluation.
    table5: bool,
}

impl Selection {
    fn of(tables: &[PaperTable]) -> Self {
        let has = |t| tables.contains(&t);
        Self { main: has(PaperTable::One) || has(PaperTable::Four), ifnd: has(PaperTable::Four), table5: has(PaperTable::Five) }
    }

    /// The runs of the main robustness evaluation, in the report's order.
    fn main_runs(&self) -> Vec<&'static str> {
        let mut runs: Vec<&str> = if self.main { PRESETS.iter().map(|(n, _, _)| *n).collect() } else { vec![] };
        if self.ifnd {
            runs.extend(TABLE4_PRESETS.iter().map(|(n, _, _)| *n));
        }
        runs
    }

    /// The runs of Table 5, in the paper's order: SimCLR, then each base and its A- version.
    fn table5_runs(&self) -> Vec<&'static str> {
        if !self.table5 {
            return vec![];
        }
        std::iter::once("simclr").chain(ADVERSARIAL_PRESETS.iter().map(|(n, _, _)| *n)).collect()
    }

    /// Every run to train, each once.
    fn runs(&self) -> Vec<&'static str> {
        let mut runs = self.main_runs();
        for r in self.table5_runs() {
            if !runs.contains(&r) {
                runs.push(r);
            }
        }
        runs
    }
}

/// The paper's Table 5 attacks: PGD l_inf 8/255 and 16/255, l_2 0.25 and l_1 12, AutoAttack
/// l_inf 8/255 and 16/255. The paper gives no step counts; PGD takes 20 steps as RoCL's and
/// ACL's evaluations do (PGD-20). At the paper scale AutoAttack is the standard version; at the
/// CPU scales its first two components, APGD-CE and APGD-T, with 20 iterations each (the spec
/// says so in every column).
pub fn table5_attacks(scale: Scale) -> Vec<String> {
    let autoattack = if scale.is_gpu_scale() { "standard" } else { "apgd-ce@20+apgd-t@20" };
    vec![s("pgd:linf:8/255,16/255:20"), s("pgd:l2:0.25:20"), s("pgd:l1:12:20"), format!("autoattack:linf:8/255,16/255:{autoattack}")]
}

/// Whether the evaluation table `path` exists and has a row for every one of `models` (a study
/// that gained runs evaluates again, reading its finished cells from the results file).
fn evaluated(path: &Path, models: &[&str]) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else { return false };
    let Ok(table) = serde_json::from_str::<ComparisonTable>(&text) else { return false };
    models.iter().all(|m| table.rows.iter().any(|r| r.model == *m))
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
    /// How Table 5's adversarial contrastive runs get their classifiers (`--table5-head`,
    /// `--table5-head-epochs`).
    table5_head: HeadRecipe,
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
    let tables = PaperTable::selection(args.tables.as_deref(), args.table.as_deref())?;
    if tables == [PaperTable::Two] {
        if window.is_some() {
            bail!("--budget belongs to the CIFAR study (--tables 1, 4, 5); --table 2 keeps each finished evaluation, so run it again to continue");
        }
        let selected = args.device.select()?;
        eprintln!("device: {}", selected.runtime);
        return super::table2::run(&args, selected.choice.name(), args.device.precision.name());
    }
    if !args.model.is_empty() || args.imagenet_c.is_some() || !args.attack.is_empty() {
        bail!("--model, --imagenet-c and --attack belong to --table 2");
    }
    let selection = Selection::of(&tables);
    let mode = LinearEvalMode::from_name(&args.table5_head).map_err(|e| anyhow::anyhow!("--table5-head: {e}"))?;
    if args.table5_head_epochs == Some(0) {
        bail!("--table5-head-epochs must be at least 1");
    }
    let table5_head = HeadRecipe { mode, epochs: args.table5_head_epochs };
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
        Scale::Small | Scale::Converge => Some(1000),
        Scale::Paper => None,
    });
    let limit_args: Vec<String> = limit.map(|l| vec![s("--limit"), l.to_string()]).unwrap_or_default();
    let stages = Stages { args: &args, scale, device, precision, limit_args, deadline: window.map(|w| started + w), table5_head };
    let start = Instant::now();
    if args.seeds == 1 {
        study(&stages, selection, &out, None)?;
    } else {
        for seed in 0..args.seeds {
            eprintln!("== seed {seed} of {}", args.seeds);
            study(&stages, selection, &out.join(format!("seed-{seed}")), Some(seed))?;
        }
    }
    stages.run("report", &[s("report"), s("--study"), path(&out), s("--title"), format!("hypersphere study ({} scale, {})", args.preset, args.data)])?;
    println!("study complete in {:.1} min: {}", start.elapsed().as_secs_f64() / 60.0, out.join("report").join("report.html").display());
    Ok(())
}

/// Trains one run (preset `name`) in `out/name` with `--seed` when given, unless it is done;
/// resumes it when it has a checkpoint.
fn train(stages: &Stages, out: &Path, name: &str, seed: Option<u64>) -> Result<()> {
    let run = out.join(name);
    // `done` alone: a finished run's weights may have been left out of a study window's pack
    // once its results were in (scripts/gpu-check.sh); the stages that need them say so.
    if run.join("done").exists() {
        eprintln!("== train {name}: done already");
        return Ok(());
    }
    // RoCL and ACL train in f32 only (their inner attack is not written for mixed precision):
    // with --precision f16/bf16 they train in f32, and are evaluated in the precision asked.
    let precision = if is_adversarial(name) && matches!(stages.precision.as_str(), "f16" | "bf16") {
        eprintln!("note: {name} trains in f32 (adversarial contrastive training has no mixed precision)");
        s("f32")
    } else {
        stages.precision.clone()
    };
    let t = Instant::now();
    if run.join("checkpoint.json").exists() {
        stages.run(&format!("train {name} (resuming)"), &[s("train"), s("--resume"), path(&run), s("--device"), stages.device.clone(), s("--precision"), precision])?;
    } else {
        let mut a = vec![s("train"), s("--preset"), s(name), s("--scale"), s(&stages.args.preset), s("--data"), s(&stages.args.data), s("--out"), path(&run), s("--device"), stages.device.clone(), s("--precision"), precision];
        if let Some(seed) = seed {
            a.extend([s("--seed"), seed.to_string()]);
        }
        // A converge study moves between GPU windows: its checkpoints are stored in bf16 (half
        // the bytes; a resume moves the numbers within noise) unless --train-args says otherwise.
        if stages.scale == Scale::Converge && !stages.args.train_args.contains("--checkpoint-precision") {
            a.extend([s("--checkpoint-precision"), s("bf16")]);
        }
        a.extend(stages.args.train_args.split_whitespace().map(String::from));
        stages.run(&format!("train {name}"), &a)?;
    }
    crate::model_files::write_atomic(&run.join("done"), format!("{:.0} s\n", t.elapsed().as_secs_f64()).as_bytes())
}

/// `eval --models` of `models` (name, weights) under `attacks`, written to `<out>/<file>.json`
/// (and `.md`, results file `.jsonl`), unless that table exists with every model.
fn evaluate(stages: &Stages, out: &Path, stage: &str, file: &str, models: &[(&str, PathBuf)], attacks: &[String], extra: &[String]) -> Result<()> {
    let json = out.join(format!("{file}.json"));
    let names: Vec<&str> = models.iter().map(|(n, _)| *n).collect();
    if evaluated(&json, &names) {
        return Ok(());
    }
    let named: Vec<String> = models.iter().map(|(n, w)| format!("{n}={}", path(w))).collect();
    let mut a = vec![s("eval"), s("--models"), named.join(","), s("--data"), s(&stages.args.data), s("--device"), stages.device.clone(), s("--precision"), stages.precision.clone()];
    for attack in attacks {
        a.extend([s("--attack"), attack.clone()]);
    }
    a.extend(extra.iter().cloned());
    a.extend([s("--markdown"), path(&out.join(format!("{file}.md"))), s("--resume"), path(&out.join(format!("{file}.jsonl")))]);
    a.extend([s("--json"), path(&json)]);
    a.extend(stages.limit_args.clone());
    stages.run(stage, &a)
}

/// The attacks of the Table 1 / Table 4 evaluation at `scale`: FGSM and PGD in three norms,
/// plus AutoAttack at the paper scale.
fn main_attacks(scale: Scale) -> Vec<String> {
    let mut attacks = vec![s("fgsm:linf:1/255,2/255,4/255,8/255")];
    if !scale.is_gpu_scale() {
        attacks.extend([s("pgd:linf:1/255,2/255:10"), s("pgd:l2:0.1,0.25:10"), s("pgd:l1:2,5:10")]);
    } else {
        attacks.extend([s("pgd:linf:1/255,2/255,4/255,8/255:40"), s("pgd:l2:0.25,0.5:40"), s("pgd:l1:5,10:40"), s("autoattack:linf:8/255:standard")]);
    }
    attacks
}

/// The weights of run `name` in `out`, which `stage` needs; a one-line error when they are
/// missing (a finished run whose weights were left out of a study window's pack once its own
/// results were in).
fn weights_of(out: &Path, name: &str, stage: &str) -> Result<PathBuf> {
    let weights = out.join(name).join("model.bpk");
    if !weights.exists() {
        bail!(
            "{stage} needs the weights of run '{name}', but {} is missing (left out of a study window's pack?); put them back, or delete {} to train the run again",
            weights.display(),
            out.join(name).join("done").display()
        );
    }
    Ok(weights)
}

/// Reads a result file written by a stage (`what` names its kind in the error; a missing file
/// is an error too).
fn read_result<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    super::report::read_json(path, what)?.with_context(|| format!("{} is missing", path.display()))
}

/// Whether `path` is an `eval --json` report of exactly `attacks` (expanded, in order).
fn run_evaluated(path: &Path, attacks: &[AttackSpec]) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else { return false };
    let Ok(report) = serde_json::from_str::<EvalReport>(&text) else { return false };
    report.attacks.len() == attacks.len() && report.attacks.iter().zip(attacks).all(|(a, b)| a.spec == b.spec)
}

/// The results of one run of the main evaluation, written into its own folder as soon as it is
/// trained: `eval.json` (its row of the robustness table; cells kept in the study's
/// `eval.jsonl`), and for the six settings `geometry.json` and `corruptions.json`. Each is
/// skipped when it exists, or when the study's table already holds the run.
fn evaluate_run(stages: &Stages, out: &Path, name: &str, attacks: &[String], six: bool) -> Result<()> {
    let run = out.join(name);
    let data = || [s("--data"), s(&stages.args.data), s("--device"), stages.device.clone(), s("--precision"), stages.precision.clone()];
    if six && !out.join("geometry.json").exists() && !run.join("geometry.json").exists() {
        let weights = weights_of(out, name, "geometry")?;
        let mut a = vec![s("geometry"), s("--models"), path(&weights)];
        a.extend(data());
        a.extend([s("--json"), path(&run.join("geometry.json"))]);
        a.extend(stages.limit_args.clone());
        stages.run(&format!("geometry of {name}"), &a)?;
    }
    if six && !out.join("corruptions.json").exists() && !run.join("corruptions.json").exists() {
        let weights = weights_of(out, name, "corruptions")?;
        let mut a = vec![s("corrupt-eval"), s("--models"), path(&weights)];
        a.extend(data());
        a.extend([s("--json"), path(&run.join("corruptions.json"))]);
        if !stages.scale.is_gpu_scale() {
            a.extend([s("--severities"), s("1,3,5")]);
        }
        a.extend(stages.limit_args.clone());
        stages.run(&format!("corruptions of {name}"), &a)?;
    }
    // Last, so that a run folder with `eval.json` holds every result of its own.
    let specs = super::eval::parse_specs(attacks)?;
    if !evaluated(&out.join("eval.json"), &[name]) && !run_evaluated(&run.join("eval.json"), &specs) {
        let weights = weights_of(out, name, "robustness")?;
        // Named by its folder, as `eval --models` names `<run>/model.bpk`: cells of studies
        // evaluated all at once are found in the results file too.
        let mut a = vec![s("eval"), s("--weights"), path(&weights)];
        a.extend(data());
        for attack in attacks {
            a.extend([s("--attack"), attack.clone()]);
        }
        a.extend([s("--resume"), path(&out.join("eval.jsonl")), s("--json"), path(&run.join("eval.json"))]);
        a.extend(stages.limit_args.clone());
        stages.run(&format!("robustness of {name}"), &a)?;
    }
    Ok(())
}

/// The study's tables from its runs' own results ([`evaluate_run`]): `eval.json` + `eval.md`
/// (rows in the order of `runs`, the paper's "gap closed" against SimCLR and SupCon),
/// `geometry.json` and `corruptions.json` (the six settings). Each is skipped when it exists
/// with every run. The numbers are those of one `eval`, `geometry` and `corrupt-eval` of all
/// the models together: every model sees the same images, seeds and corruptions.
fn gather(out: &Path, runs: &[&str]) -> Result<()> {
    let json = out.join("eval.json");
    if !evaluated(&json, runs) {
        // A run without its own result has its row in the study's table (a study evaluated all
        // at once, before runs kept their own, that gained runs).
        let before: Option<ComparisonTable> = std::fs::read_to_string(&json).ok().and_then(|t| serde_json::from_str(&t).ok());
        let rows = runs
            .iter()
            .map(|n| {
                let own = out.join(n).join("eval.json");
                let row = before.as_ref().and_then(|t| t.rows.iter().find(|r| r.model == *n));
                let report = match row {
                    Some(r) if !own.exists() => r.report.clone(),
                    _ => read_result::<EvalReport>(&own, "an `hypersphere eval --json` report")?,
                };
                Ok((s(n), report))
            })
            .collect::<Result<Vec<_>>>()?;
        let table = ComparisonTable::new(rows, Some((s("simclr"), s("supcon"))))?;
        let markdown = table.to_markdown();
        eprintln!("== robustness of {} models", runs.len());
        print!("{markdown}");
        crate::model_files::write_atomic(&out.join("eval.md"), markdown.as_bytes())?;
        crate::model_files::write_atomic(&json, serde_json::to_string_pretty(&table)?.as_bytes())?;
    }
    let six: Vec<&str> = PRESETS.iter().map(|(n, _, _)| *n).collect();
    let geometry = out.join("geometry.json");
    if !geometry.exists() {
        let mut all: Vec<GeometryResult> = Vec::new();
        for n in &six {
            all.extend(read_result::<Vec<GeometryResult>>(&out.join(n).join("geometry.json"), "an `hypersphere geometry --json` result")?);
        }
        crate::model_files::write_atomic(&geometry, serde_json::to_string_pretty(&all)?.as_bytes())?;
    }
    let corruptions = out.join("corruptions.json");
    if !corruptions.exists() {
        let reports = six
            .iter()
            .map(|n| read_result::<CorruptionReport>(&out.join(n).join("corruptions.json"), "an `hypersphere corrupt-eval --json` result"))
            .collect::<Result<Vec<_>>>()?;
        crate::model_files::write_atomic(&corruptions, serde_json::to_string_pretty(&CorruptionReport::combine(reports)?)?.as_bytes())?;
    }
    Ok(())
}

/// Trains, attacks and measures one study in `out` (with `--seed` when given): each selected
/// run, then at once its own results ([`evaluate_run`]: robustness, geometry and corruptions of
/// the six settings, Tables 1 and 4), then the study's tables gathered from them ([`gather`])
/// and the Table 5 evaluation; each stage skipped when its result exists. Evaluating a run as
/// soon as it is trained keeps a study that moves between short GPU windows small: a finished
/// run's weights are not needed again by Tables 1 and 4.
fn study(stages: &Stages, selection: Selection, out: &Path, seed: Option<u64>) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let main_runs = selection.main_runs();
    let attacks = main_attacks(stages.scale);
    for name in selection.runs() {
        train(stages, out, name, seed)?;
        if main_runs.contains(&name) {
            evaluate_run(stages, out, name, &attacks, PRESETS.iter().any(|(n, _, _)| *n == name))?;
        }
    }
    if selection.main {
        gather(out, &main_runs)?;
    }
    if selection.table5 {
        let models = table5_classifiers(stages, out, &selection.table5_runs(), seed)?;
        evaluate(stages, out, "table 5 robustness", "table5", &models, &table5_attacks(stages.scale), &[])?;
    }
    Ok(())
}

/// Whether preset `name` is adversarial contrastive learning (RoCL, ACL and their A- versions).
fn is_adversarial(name: &str) -> bool {
    ADVERSARIAL_PRESETS.iter().any(|(n, _, _)| *n == name)
}

/// The classifiers Table 5 attacks: SimCLR's from its run; the adversarial contrastive runs'
/// trained by `linear-eval --mode <--table5-head> [--epochs <--table5-head-epochs>]` into
/// `<run>/<mode>/` (each skipped when its `linear_eval.json` holds that mode and those epochs,
/// by default the run's linear-evaluation epochs),
/// or their runs' own with `standard` (and no epochs given). The recipe goes to
/// `table5-head.json`; when it differs from the one there, the Table 5 evaluation's files are
/// removed so that it runs again on the new classifiers.
fn table5_classifiers<'a>(stages: &Stages, out: &Path, runs: &[&'a str], seed: Option<u64>) -> Result<Vec<(&'a str, PathBuf)>> {
    let head = stages.table5_head;
    let record = out.join("table5-head.json");
    let recorded: Option<HeadRecipe> = std::fs::read_to_string(&record).ok().and_then(|t| serde_json::from_str(&t).ok());
    // Older studies have no record: their table was made with the runs' standard evaluation.
    let previous = recorded.unwrap_or(HeadRecipe::RUNS_OWN);
    if previous != head {
        for f in ["table5.json", "table5.md", "table5.jsonl"] {
            let file = out.join(f);
            if file.exists() {
                std::fs::remove_file(&file).with_context(|| format!("removing {}", file.display()))?;
            }
        }
    }
    if recorded != Some(head) {
        crate::model_files::write_atomic(&record, serde_json::to_string_pretty(&head)?.as_bytes())?;
    }
    let mut models = Vec::new();
    for &name in runs {
        if !is_adversarial(name) || head == HeadRecipe::RUNS_OWN {
            models.push((name, out.join(name).join("model.bpk")));
            continue;
        }
        let folder = out.join(name).join(head.mode.name());
        let epochs = match head.epochs {
            Some(e) => e,
            None => RunFolder::open(&out.join(name))?.plan()?.0.linear.epochs,
        };
        // `linear_eval.json` is `{"config": LinearEvalConfig, "report": ...}`.
        let config = std::fs::read_to_string(folder.join("linear_eval.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| serde_json::from_value::<LinearEvalConfig>(v["config"].clone()).ok());
        let done = config.is_some_and(|c| c.mode == head.mode && c.epochs == epochs);
        if !(done && folder.join("model.bpk").exists()) {
            // f32 as their training: the attacks inside these modes have no mixed precision.
            let mut a = vec![s("linear-eval"), s("--run"), path(&out.join(name)), s("--out"), path(&folder), s("--mode"), s(head.mode.name())];
            if let Some(e) = head.epochs {
                a.extend([s("--epochs"), e.to_string()]);
            }
            a.extend([s("--device"), stages.device.clone(), s("--precision"), s("f32")]);
            if let Some(seed) = seed {
                a.extend([s("--seed"), seed.to_string()]);
            }
            stages.run(&format!("table 5 classifier of {name} ({})", head.mode.name()), &a)?;
        }
        models.push((name, folder.join("model.bpk")));
    }
    Ok(models)
}
