//! `hypersphere report`: gathers a study folder (one sub-folder per training run, each with
//! `config.json`, `metrics.jsonl` and optionally `linear_eval.json` and `eval.json`; and at the
//! top `eval.json` from `hypersphere eval --models ... --json`, `geometry.json` from
//! `hypersphere geometry --json`, `corruptions.json` from `hypersphere corrupt-eval --json` and
//! `table5.json`, the Table 5 evaluation of `reproduce --tables 5`) into `report.md` +
//! `plots/*.svg` and one self-contained `report.html`.
//!
//! A study trained with several seeds (`hypersphere reproduce --seeds N`) holds one such folder
//! per seed, `seed-0`, `seed-1`, ...; the report then shows mean ± std over the seeds (core's
//! `report::render_seeds`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hypersphere_core::evaluate::{ComparisonTable, EvalReport};
use hypersphere_core::report::{RunRecord, StudyRecord, render, render_seeds};
use hypersphere_core::results::{CorruptionReport, GeometryResult};
use hypersphere_core::train::HeadRecipe;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::model_files::write_atomic;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Study folder: run folders inside, optional geometry.json beside them.
    #[arg(long)]
    pub study: PathBuf,
    /// Output folder (default: <study>/report).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Heading of the report.
    #[arg(long, default_value = "hypersphere study")]
    pub title: String,
}

/// The contents of `path` as a `T` (`what` names the file's kind in errors), or `None` when
/// there is no such file.
pub(super) fn read_json<T: DeserializeOwned>(path: &Path, what: &str) -> Result<Option<T>> {
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(serde_json::from_str(&text).with_context(|| format!("{} is not {what}", path.display()))?))
}

fn load_run(dir: &Path) -> Result<Option<RunRecord>> {
    let Some(config) = read_json(&dir.join("config.json"), "valid JSON")? else { return Ok(None) };
    let metrics_path = dir.join("metrics.jsonl");
    let text = std::fs::read_to_string(&metrics_path).unwrap_or_default();
    // A last line without its newline was cut by a kill during the append (`train --resume`
    // drops it too); a damaged line anywhere else is an error.
    let complete = if text.ends_with('\n') { text.as_str() } else { text.rsplit_once('\n').map_or("", |(a, _)| a) };
    let metrics = complete
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).with_context(|| format!("{} has a damaged line", metrics_path.display())))
        .collect::<Result<Vec<Value>>>()?;
    // `scripts/train_presets.sh` records the wall time of a run in `done` ("<seconds> s").
    let seconds = std::fs::read_to_string(dir.join("done")).ok().and_then(|t| t.split_whitespace().next()?.parse().ok());
    Ok(Some(RunRecord {
        name: dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        config,
        metrics,
        linear_eval: read_json(&dir.join("linear_eval.json"), "valid JSON")?,
        eval: read_json(&dir.join("eval.json"), "an `hypersphere eval --json` report")?,
        seconds,
    }))
}

/// The `seed-<k>` folders of a study trained with several seeds, in order of k (none for a
/// study of one seed).
fn seed_folders(study: &Path) -> Result<Vec<PathBuf>> {
    let mut seeds: Vec<(u64, PathBuf)> = std::fs::read_dir(study)
        .with_context(|| format!("reading {}", study.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .filter_map(|p| Some((p.file_name()?.to_str()?.strip_prefix("seed-")?.parse().ok()?, p)))
        .collect();
    seeds.sort();
    Ok(seeds.into_iter().map(|(_, p)| p).collect())
}

/// One seed's study folder: its run folders and the study-level result files.
fn load_study(study: &Path, title: &str) -> Result<StudyRecord> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(study)
        .with_context(|| format!("reading {}", study.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut runs = Vec::new();
    for dir in &dirs {
        if let Some(run) = load_run(dir)? {
            runs.push(run);
        }
    }
    // A study-level `eval.json` written by `eval --models ... --json` holds one row per model:
    // each row's report goes to the run of the same name. (One model's report there names no
    // run, so it is left out, as before.)
    let eval_path = study.join("eval.json");
    match read_json::<Value>(&eval_path, "valid JSON")? {
        Some(v) if v.get("rows").is_some() => {
            let table: ComparisonTable =
                serde_json::from_value(v).with_context(|| format!("{} is not an `hypersphere eval --models ... --json` table", eval_path.display()))?;
            for row in table.rows {
                if let Some(run) = runs.iter_mut().find(|r| r.name == row.model && r.eval.is_none()) {
                    run.eval = Some(row.report);
                }
            }
        }
        Some(v) if EvalReport::deserialize(&v).is_ok() => {
            eprintln!("warning: {} holds one model's report, not a table with model names; it is not shown", eval_path.display())
        }
        Some(_) => bail!("{} is neither an `hypersphere eval --json` report nor a table", eval_path.display()),
        None => {}
    }
    let geometry: Option<Vec<GeometryResult>> = read_json(&study.join("geometry.json"), "an `hypersphere geometry --json` result")?;
    let corruptions: Option<CorruptionReport> = read_json(&study.join("corruptions.json"), "an `hypersphere corrupt-eval --json` result")?;
    // `reproduce --tables 5`: the Table 5 attacks on SimCLR and the adversarial contrastive runs.
    let table5: Option<ComparisonTable> = read_json(&study.join("table5.json"), "an `hypersphere eval --models ... --json` table")?;
    let table5_head: Option<HeadRecipe> = read_json(&study.join("table5-head.json"), "a classifier recipe (`reproduce --table5-head`)")?;
    if runs.is_empty() && geometry.is_none() {
        bail!("{} holds no run folders (with config.json) and no geometry.json", study.display());
    }
    Ok(StudyRecord { title: title.to_string(), runs, geometry, corruptions, table5, table5_head })
}

pub fn run(args: Args) -> Result<()> {
    if !args.study.is_dir() {
        bail!("{} is not a folder", args.study.display());
    }
    let seeds = seed_folders(&args.study)?;
    let report = if seeds.is_empty() {
        render(&load_study(&args.study, &args.title)?)?
    } else {
        let records = seeds.iter().map(|dir| load_study(dir, &args.title)).collect::<Result<Vec<_>>>()?;
        render_seeds(&args.title, &records)?
    };
    let out = args.out.clone().unwrap_or_else(|| args.study.join("report"));
    let plots = out.join("plots");
    std::fs::create_dir_all(&plots).with_context(|| format!("creating {}", plots.display()))?;
    for f in &report.figures {
        write_atomic(&plots.join(&f.file), f.svg.as_bytes())?;
    }
    write_atomic(&out.join("report.md"), report.markdown.as_bytes())?;
    write_atomic(&out.join("report.html"), report.html.as_bytes())?;
    println!(
        "wrote {} and {} ({} figures)",
        out.join("report.html").display(),
        out.join("report.md").display(),
        report.figures.len()
    );
    Ok(())
}
