//! `hypersphere eval`: clean and adversarial accuracy of one or several models on a dataset.
//!
//! Contract (relied upon by scripts and later commands):
//! `hypersphere eval --arch A --weights W --data D --attack NAME:NORM:EPS[:STEPS]... --json out.json`
//! writes `{"images", "clean_accuracy", "attacks": [{"spec", "attack", "norm", "eps", "steps",
//! "accuracy", "p_drop", "seconds", ...}]}` with accuracies as fractions.
//!
//! With `--models A,B,C` (instead of `--weights`) every model is evaluated on the same images
//! with the same seeds and one table in the paper's layout is printed (rows = models, columns =
//! attack/eps, cells = accuracy with the relative drop); `--json` then writes
//! `{"attacks", "gap_reference"?, "rows": [{"model", "report", "gap_closed"?, "gap_closed_relative"?}]}`.
//! `--markdown` and `--csv` write the table in those formats for one model or several.
//! `--gap-reference LOW,HIGH` adds the paper's "gap closed" columns in both readings, `(acc -
//! acc_LOW) / (acc_HIGH - acc_LOW)` and from relative drops, each only where its gap exceeds
//! its binomial uncertainty (core's `evaluate::stats::GapClosed`; otherwise `n/a (no gap)`).
//! `--resume FILE` keeps every finished (model, batch, attack) cell in FILE (JSON lines) and skips
//! them when the same evaluation is run again.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hypersphere_core::attacks::AttackSpec;
use hypersphere_core::data::{ImageSet, Split};
use hypersphere_core::evaluate::{Cell, CellCache, ComparisonTable, EvalConfig, EvalReport, evaluate_resumable, model_name};
use hypersphere_core::models::Classifier;
use serde::{Deserialize, Serialize};

use crate::device::DeviceArgs;
use crate::model_files::{self, ArchArgs};
use crate::progress::bar;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Weights: a burnpack checkpoint (with its .json) or a PyTorch state dict (.pt, .pth, .safetensors).
    #[arg(long, required_unless_present = "models", conflicts_with = "models")]
    pub weights: Option<PathBuf>,
    /// Several models, comma-separated, each `PATH` or `NAME=PATH` (the name defaults to the
    /// file stem, or the folder for `model.bpk`), evaluated on the same images and seeds.
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    #[command(flatten)]
    pub arch: ArchArgs,
    /// Dataset (its test split is evaluated): a path, `procedural[:N]`, `cifar10`/`cifar100` (the
    /// fetched copy, fetched when absent), or `imagenet:DIR` for an ImageNet validation folder
    /// (`DIR/<wnid>/<image>`, standard class indices).
    #[arg(long)]
    pub data: String,
    /// Preprocessing of `imagenet:DIR` images: standard (resize 256, centre crop 224; scaled to
    /// --input-size) or none (images already at the model's input size).
    #[arg(long, default_value = "standard")]
    pub preprocess: String,
    /// Attack NAME:NORM:EPS[:STEPS[:LOSS]], repeatable; EPS may list radii (`pgd:linf:2/255,8/255:40`).
    /// Names: fgsm, pgd (linf, l2, l1; LOSS ce, dlr, cw), apgd-ce, apgd-dlr, apgd-t, square,
    /// autoattack[:standard|rand|apgd-ce@N+square@N...].
    #[arg(long = "attack")]
    pub attacks: Vec<String>,
    /// Write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the table as Markdown here.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Write the table as CSV here (`model,attack,images,accuracy,p_drop,gap_closed,gap_closed_relative`).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Two model names LOW,HIGH (e.g. simclr,supcon): adds "gap closed" columns.
    #[arg(long, value_delimiter = ',', num_args = 1)]
    pub gap_reference: Vec<String>,
    /// Results file: finished (model, batch, attack) cells are appended here and not recomputed
    /// when the same evaluation runs again.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Evaluate a class-balanced subset of this many images.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Batch size.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Seed of the attacks' random starts (and of --limit's subset).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Parses every `--attack`, expanding EPS lists.
pub fn parse_specs(texts: &[String]) -> Result<Vec<AttackSpec>> {
    let mut specs = Vec::new();
    for t in texts {
        specs.extend(AttackSpec::parse_list(t)?);
    }
    Ok(specs)
}

/// What makes two runs the same evaluation (the first line of a results file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ResumeKey {
    data: String,
    limit: Option<usize>,
    seed: u64,
    batch_size: usize,
}

/// One finished cell in a results file.
#[derive(Debug, Serialize, Deserialize)]
struct ResumeLine {
    model: String,
    weights: String,
    batch: usize,
    column: String,
    cell: Cell,
}

/// A results file: cells read at start, new cells appended (and flushed) as they finish.
struct ResultsFile {
    file: Option<std::fs::File>,
    path: PathBuf,
    model: String,
    weights: String,
    cells: BTreeMap<(String, String, usize, String), Cell>,
}

impl ResultsFile {
    fn open(path: Option<&Path>, key: &ResumeKey) -> Result<Self> {
        let mut cells = BTreeMap::new();
        let Some(path) = path else {
            return Ok(Self { file: None, path: PathBuf::new(), model: String::new(), weights: String::new(), cells });
        };
        let header = serde_json::to_string(key)?;
        if path.exists() {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let mut lines = text.lines();
            let first: ResumeKey = lines
                .next()
                .and_then(|l| serde_json::from_str(l).ok())
                .with_context(|| format!("{} is not a hypersphere results file", path.display()))?;
            if &first != key {
                bail!(
                    "{} holds results of another evaluation ({}); use another --resume path or delete it",
                    path.display(),
                    serde_json::to_string(&first)?
                );
            }
            // A line cut short by an interruption is ignored (and recomputed); it is cut off
            // the file so the next appended line starts on a line of its own.
            for line in lines.filter_map(|l| serde_json::from_str::<ResumeLine>(l).ok()) {
                cells.insert((line.model, line.weights, line.batch, line.column), line.cell);
            }
            if !text.ends_with('\n') {
                let kept = match text.rfind('\n') {
                    Some(i) => text[..=i].to_string(),
                    None => format!("{header}\n"),
                };
                model_files::write_atomic(path, kept.as_bytes())?;
            }
        } else {
            model_files::write_atomic(path, format!("{header}\n").as_bytes())?;
        }
        let file = std::fs::OpenOptions::new().append(true).open(path).with_context(|| format!("opening {}", path.display()))?;
        Ok(Self { file: Some(file), path: path.to_path_buf(), model: String::new(), weights: String::new(), cells })
    }
}

impl CellCache for ResultsFile {
    fn get(&self, batch: usize, column: &str) -> Option<Cell> {
        self.cells.get(&(self.model.clone(), self.weights.clone(), batch, column.to_string())).cloned()
    }

    fn put(&mut self, batch: usize, column: &str, cell: &Cell) {
        self.cells.insert((self.model.clone(), self.weights.clone(), batch, column.to_string()), cell.clone());
        if let Some(file) = &mut self.file {
            let line = ResumeLine { model: self.model.clone(), weights: self.weights.clone(), batch, column: column.to_string(), cell: cell.clone() };
            let text = serde_json::to_string(&line).expect("cells serialise");
            if let Err(e) = writeln!(file, "{text}").and_then(|_| file.flush()) {
                eprintln!("warning: could not append to {}: {e}", self.path.display());
            }
        }
    }
}

/// Evaluates an already loaded model on `set` and prints its table.
fn evaluate_on(
    name: &str,
    model: &Classifier,
    set: &ImageSet,
    specs: &[AttackSpec],
    config: &EvalConfig,
    device: &burn::tensor::Device,
    cache: &mut ResultsFile,
) -> Result<EvalReport> {
    // The labels present must be logits of the model (an ImageNet folder names 1,000 classes
    // but may hold only some; a test checkpoint's head may be smaller).
    let outputs = model.config().num_classes;
    if let Some(&top) = set.labels.iter().max()
        && top >= outputs
    {
        let class = set.class_names.get(top).map(String::as_str).unwrap_or("?");
        bail!("the data has images of class {top} ('{class}') but the model{} has only {outputs} outputs", if name.is_empty() { String::new() } else { format!(" '{name}'") });
    }
    let batches = set.len().div_ceil(config.batch_size.max(1)) as u64;
    let pb = bar(batches, "batches");
    pb.set_prefix(if name.is_empty() { "eval".to_string() } else { name.chars().take(12).collect() });
    let mut reused = 0usize;
    let report = evaluate_resumable(model, set, specs, config, device, cache, |p| {
        pb.set_position(p.batches_done as u64);
        reused += p.cached as usize;
        match &p.attack {
            Some(a) => pb.set_message(format!("{} images · {a}{}", p.images_done, if p.cached { " (from results file)" } else { "" })),
            None => pb.set_message(format!("{} images", p.images_done)),
        }
    })?;
    pb.finish_and_clear();
    if reused > 0 {
        eprintln!("{name}: {reused} (batch, attack) results reused from {}", cache.path.display());
    }
    Ok(report)
}

/// Evaluates an already loaded model and prints the table (used by `eval` and `quickstart`).
pub fn evaluate_model(
    model: &Classifier,
    data: &str,
    specs: &[AttackSpec],
    limit: Option<usize>,
    batch_size: usize,
    seed: u64,
    device: &burn::tensor::Device,
) -> Result<EvalReport> {
    let set = super::load_split(data, Split::Test, limit, seed)?;
    let mut cache = ResultsFile::open(None, &ResumeKey { data: data.into(), limit, seed, batch_size })?;
    let report = evaluate_on("", model, &set, specs, &EvalConfig { batch_size, seed }, device, &mut cache)?;
    println!("{} images of {data}", report.images);
    print!("{}", report.to_markdown());
    Ok(report)
}

/// `NAME=PATH` or `PATH` (named by core's rule, [`model_name`]: its stem, or its folder for
/// `model.bpk`).
fn model_entry(text: &str) -> (String, PathBuf) {
    if let Some((name, path)) = text.split_once('=') {
        return (name.to_string(), PathBuf::from(path));
    }
    let path = PathBuf::from(text);
    (model_name(&path), path)
}

pub fn run(args: Args) -> Result<()> {
    // Validate everything the user typed before any slow work.
    let specs = parse_specs(&args.attacks)?;
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let models: Vec<(String, PathBuf)> = match &args.weights {
        Some(w) => vec![model_entry(&w.display().to_string())],
        None => args.models.iter().map(|m| model_entry(m)).collect(),
    };
    if models.is_empty() {
        bail!("give --weights or --models");
    }
    for (name, path) in &models {
        if !path.exists() {
            bail!("weights file {} of model '{name}' does not exist", path.display());
        }
    }
    let mut names: Vec<&String> = models.iter().map(|(n, _)| n).collect();
    names.sort();
    names.dedup();
    if names.len() != models.len() {
        bail!("two models share a name; name them with NAME=PATH");
    }
    let reference = match args.gap_reference.as_slice() {
        [] => None,
        [low, high] => {
            for r in [low, high] {
                if !models.iter().any(|(n, _)| n == r) {
                    bail!("--gap-reference '{r}' is not one of the models ({})", models.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "));
                }
            }
            Some((low.clone(), high.clone()))
        }
        _ => bail!("--gap-reference takes two model names, LOW,HIGH"),
    };
    let selected = args.device.select()?;
    eprintln!("device: {}", selected.runtime);
    let set = super::load_test_set(&args.data, args.limit, args.seed, args.arch.input_size.unwrap_or(224), &args.preprocess)?;
    let key = ResumeKey { data: args.data.clone(), limit: args.limit, seed: args.seed, batch_size: args.batch_size };
    let mut cache = ResultsFile::open(args.resume.as_deref(), &key)?;
    let config = EvalConfig { batch_size: args.batch_size, seed: args.seed };
    let mut rows = Vec::new();
    for (name, path) in &models {
        let model = model_files::load(path, &args.arch, &selected.device).with_context(|| format!("model '{name}'"))?;
        eprintln!(
            "model '{name}': {} width {}, normalisation: {}",
            model.config().arch.name(),
            model.config().width,
            model_files::describe_normalization(&model.config().normalization)
        );
        cache.model = name.clone();
        cache.weights = path.display().to_string();
        let report = evaluate_on(name, &model, &set, &specs, &config, &selected.device, &mut cache)?;
        rows.push((name.clone(), report));
    }
    println!("{} images of {}", set.len(), args.data);
    let single = args.weights.is_some();
    let table = ComparisonTable::new(rows.clone(), reference)?;
    if single {
        print!("{}", rows[0].1.to_markdown());
    } else {
        print!("{}", table.to_markdown());
    }
    if let Some(path) = &args.json {
        let json = if single { serde_json::to_string_pretty(&rows[0].1)? } else { serde_json::to_string_pretty(&table)? };
        model_files::write_atomic(path, json.as_bytes())?;
    }
    if let Some(path) = &args.markdown {
        let md = if single { rows[0].1.to_markdown() } else { table.to_markdown() };
        model_files::write_atomic(path, md.as_bytes())?;
    }
    if let Some(path) = &args.csv {
        model_files::write_atomic(path, table.to_csv().as_bytes())?;
    }
    Ok(())
}
