//! `hypersphere reproduce --table 2`: the paper's ImageNet experiment on checkpoints the user
//! brings (Table 2 and Figure 3, core's [`ImageNetTable`]).
//!
//! Every checkpoint is evaluated by its own `hypersphere eval` stage on the same validation
//! images (same class-balanced `--limit` subset, same attack seeds) with Table 2's attacks
//! ([`TABLE2_ATTACKS`] unless `--attack` replaces them), then on each ImageNet-C corruption
//! found under `--imagenet-c` at `--severity` (clean accuracy only). Each stage's result is a
//! file in `<out>/<name>/`, skipped when present, and the attack stage keeps a results file, so
//! a killed run continues where it stopped when the same command is run again. The tables go to
//! `<out>/table2.md` and `<out>/table2.json`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hypersphere_core::corruptions::Corruption;
use hypersphere_core::evaluate::imagenet_table::{CorruptionRow, ImageNetTable, TABLE2_ATTACKS};
use hypersphere_core::evaluate::{ComparisonTable, EvalReport};

use super::reproduce::{Args, stage};

/// The per-model flags a `--model` entry may set: `eval`'s architecture flags, by name.
const MODEL_FLAGS: [&str; 8] = ["arch", "width", "num-classes", "normalize", "depth", "input-size", "checkpoint-format", "head"];

/// One checkpoint of the table, from `--model NAME=WEIGHTS[,FLAG=VALUE...]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Row name (also its folder under `--out`).
    pub name: String,
    /// The weights file.
    pub weights: PathBuf,
    /// `(flag, value)` pairs passed to `eval` as `--flag value`.
    pub flags: Vec<(String, String)>,
}

impl Checkpoint {
    /// Parses `NAME=WEIGHTS[,FLAG=VALUE...]` (flags: [`MODEL_FLAGS`]).
    pub fn parse(text: &str) -> Result<Self> {
        let mut parts = text.split(',');
        let first = parts.next().unwrap_or_default();
        let Some((name, weights)) = first.split_once('=') else {
            bail!("--model '{text}': expected NAME=WEIGHTS[,FLAG=VALUE...], e.g. simclr=r50_simclr.pth,arch=resnet50-imagenet,checkpoint-format=simclr");
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) || name.starts_with('.') {
            bail!("--model '{text}': the name '{name}' must be letters, digits, '-', '_' or '.' (it names a folder)");
        }
        let mut flags = Vec::new();
        for part in parts {
            let Some((flag, value)) = part.split_once('=') else {
                bail!("--model '{text}': '{part}' is not FLAG=VALUE (flags: {})", MODEL_FLAGS.join(", "));
            };
            if !MODEL_FLAGS.contains(&flag) {
                bail!("--model '{text}': unknown flag '{flag}' (valid: {})", MODEL_FLAGS.join(", "));
            }
            if flags.iter().any(|(f, _)| f == flag) {
                bail!("--model '{text}': '{flag}' given twice");
            }
            flags.push((flag.to_string(), value.to_string()));
        }
        Ok(Self { name: name.to_string(), weights: PathBuf::from(weights), flags })
    }

    fn flag(&self, name: &str) -> Option<&str> {
        self.flags.iter().find(|(f, _)| f == name).map(|(_, v)| v.as_str())
    }

    /// `eval`'s arguments selecting this checkpoint.
    fn eval_args(&self) -> Vec<String> {
        let mut a = vec!["--weights".to_string(), self.weights.display().to_string()];
        for (f, v) in &self.flags {
            a.extend([format!("--{f}"), v.clone()]);
        }
        a
    }
}

/// The ImageNet-C corruptions present as `<dir>/<corruption>/<severity>/`, in the paper's order.
pub fn corruptions_present(dir: &Path, severity: u8) -> Result<Vec<Corruption>> {
    if !dir.is_dir() {
        bail!("--imagenet-c {}: not a folder", dir.display());
    }
    let found: Vec<Corruption> = Corruption::ALL.into_iter().filter(|c| dir.join(c.name()).join(severity.to_string()).is_dir()).collect();
    if found.is_empty() {
        bail!("--imagenet-c {}: no <corruption>/{severity}/ folders (expected e.g. gaussian_noise/{severity}/n01440764/*.JPEG; corruptions: {})", dir.display(), Corruption::valid_names());
    }
    Ok(found)
}

fn read_report(path: &Path) -> Result<EvalReport> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not an eval report", path.display()))
}

/// Runs Table 2 (and Figure 3 with `--imagenet-c`) for `args.model`.
pub fn run(args: &Args, device: &str, precision: &str) -> Result<()> {
    // Validate everything before any slow work.
    if !args.train_args.is_empty() || args.seeds != 1 {
        bail!("--table 2 evaluates given checkpoints: --train-args and --seeds do not apply");
    }
    if args.model.is_empty() {
        bail!("--table 2 needs --model NAME=WEIGHTS[,FLAG=VALUE...] for each checkpoint");
    }
    let models: Vec<Checkpoint> = args.model.iter().map(|m| Checkpoint::parse(m)).collect::<Result<_>>()?;
    for (i, m) in models.iter().enumerate() {
        if models[..i].iter().any(|o| o.name == m.name) {
            bail!("two --model entries are named '{}'", m.name);
        }
        if !m.weights.exists() {
            bail!("weights file {} of model '{}' does not exist", m.weights.display(), m.name);
        }
        if let Some(h) = m.flag("head")
            && !Path::new(h).exists()
        {
            bail!("head file {h} of model '{}' does not exist", m.name);
        }
    }
    let val = args.data.strip_prefix("imagenet:").unwrap_or(&args.data);
    if !Path::new(val).is_dir() {
        bail!("--data {}: not a folder (Table 2 needs an ImageNet validation folder, <dir>/<wnid>/<image>)", args.data);
    }
    let attacks: Vec<String> = if args.attack.is_empty() { TABLE2_ATTACKS.iter().map(|s| s.to_string()).collect() } else { args.attack.clone() };
    for a in &attacks {
        hypersphere_core::attacks::AttackSpec::parse_list(a)?;
    }
    let corruptions = match &args.imagenet_c {
        Some(dir) => corruptions_present(dir, args.severity)?,
        None => Vec::new(),
    };
    if let Some(dir) = &args.imagenet_c {
        let missing: Vec<&str> = Corruption::ALL.iter().filter(|c| !corruptions.contains(c)).map(|c| c.name()).collect();
        if !missing.is_empty() {
            eprintln!("note: {} has no severity-{} folder for {} (skipped)", dir.display(), args.severity, missing.join(", "));
        }
    }
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("runs/table2"));
    let common = |data: String, preprocess: &str| {
        let mut a = vec!["eval".to_string(), "--data".into(), data, "--preprocess".into(), preprocess.into()];
        a.extend(["--device".into(), device.into(), "--precision".into(), precision.into()]);
        a.extend(["--batch-size".into(), args.batch_size.to_string(), "--seed".into(), args.seed.to_string()]);
        if let Some(l) = args.limit {
            a.extend(["--limit".into(), l.to_string()]);
        }
        a
    };

    let mut rows = Vec::new();
    let mut corruption_rows = Vec::new();
    for m in &models {
        let dir = out.join(&m.name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let report_path = dir.join("attacks.json");
        if report_path.exists() {
            eprintln!("== {}: attacks done already", m.name);
        } else {
            let mut a = common(format!("imagenet:{val}"), &args.preprocess);
            a.extend(m.eval_args());
            for spec in &attacks {
                a.extend(["--attack".into(), spec.clone()]);
            }
            a.extend(["--resume".into(), dir.join("attacks.jsonl").display().to_string()]);
            a.extend(["--json".into(), report_path.display().to_string()]);
            stage(&format!("{}: Table 2 attacks", m.name), &a, None)?;
        }
        let report = read_report(&report_path)?;
        let mut evaluations = Vec::new();
        for c in &corruptions {
            let path = dir.join("imagenet-c").join(format!("{}-{}.json", c.name(), args.severity));
            if !path.exists() {
                let folder = args.imagenet_c.as_ref().expect("corruptions come from --imagenet-c").join(c.name()).join(args.severity.to_string());
                // ImageNet-C's images are published already resized and cropped (224 x 224).
                let mut a = common(format!("imagenet:{}", folder.display()), "none");
                a.extend(m.eval_args());
                std::fs::create_dir_all(path.parent().expect("has a parent"))?;
                a.extend(["--json".into(), path.display().to_string()]);
                stage(&format!("{}: ImageNet-C {} severity {}", m.name, c.name(), args.severity), &a, None)?;
            }
            evaluations.push((*c, read_report(&path)?));
        }
        if !corruptions.is_empty() {
            corruption_rows.push(CorruptionRow::new(&m.name, report.clean_accuracy, &evaluations));
        }
        rows.push((m.name.clone(), report));
    }
    let images = rows[0].1.images;
    if let Some((name, r)) = rows.iter().find(|(_, r)| r.images != images) {
        bail!("model '{name}' was evaluated on {} images, '{}' on {images}: delete {} and run again", r.images, rows[0].0, out.display());
    }
    let table = ImageNetTable {
        images,
        attacks: ComparisonTable::new(rows, None)?,
        severity: (!corruptions.is_empty()).then_some(args.severity),
        corruptions: corruption_rows,
    };
    let md = table.to_markdown();
    crate::model_files::write_atomic(&out.join("table2.md"), md.as_bytes())?;
    crate::model_files::write_atomic(&out.join("table2.json"), serde_json::to_string_pretty(&table)?.as_bytes())?;
    print!("{md}");
    println!("written: {} and table2.json", out.join("table2.md").display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_entries_parse_into_eval_flags() {
        let c = Checkpoint::parse("dino=vit.pth,arch=vit-b16,head=lin.pth").unwrap();
        assert_eq!(c.name, "dino");
        assert_eq!(c.eval_args(), ["--weights", "vit.pth", "--arch", "vit-b16", "--head", "lin.pth"]);
        for (bad, needle) in [
            ("vit.pth", "expected NAME=WEIGHTS"),
            ("a b=x.pth", "must be letters"),
            ("x=w.pth,arch", "is not FLAG=VALUE"),
            ("x=w.pth,epochs=3", "unknown flag 'epochs'"),
            ("x=w.pth,arch=a,arch=b", "given twice"),
        ] {
            let err = Checkpoint::parse(bad).unwrap_err().to_string();
            assert!(err.contains(needle) && !err.contains('\n'), "{bad}: {err}");
        }
    }
}
