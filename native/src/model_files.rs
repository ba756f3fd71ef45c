//! Model files on disk: burnpack checkpoints with their JSON config (`model.bpk` +
//! `model.json`), and PyTorch / safetensors state dicts.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use hypersphere_core::models::{Arch, Classifier, ModelConfig, Normalization};

/// Architecture flags shared by `train --init` and `eval`.
#[derive(clap::Args, Debug, Clone)]
pub struct ArchArgs {
    /// Architecture (resnet18-cifar, small-cnn). Read from the checkpoint's JSON when present.
    #[arg(long)]
    pub arch: Option<String>,
    /// Channels of the first stage (64 for the standard ResNet-18).
    #[arg(long)]
    pub width: Option<usize>,
    /// Number of classes of the head.
    #[arg(long)]
    pub num_classes: Option<usize>,
    /// Input normalisation inside the model for foreign weights (a PyTorch state dict does not
    /// record it): cifar10 (mean/std of HobbitLong/SupContrast, assumed when not given) or none
    /// (the model expects raw [0, 1] pixels, as robustbench and torchattacks models do).
    #[arg(long)]
    pub normalize: Option<String>,
}

impl Default for ArchArgs {
    fn default() -> Self {
        Self { arch: None, width: None, num_classes: None, normalize: None }
    }
}

/// Several models and how to read foreign ones: the flags `geometry` and `corrupt-eval` share.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelsArgs {
    /// Models, comma-separated: model.bpk files (with their .json) or PyTorch state dicts (--arch, --width).
    #[arg(long, value_delimiter = ',', required = true)]
    pub models: Vec<PathBuf>,
    #[command(flatten)]
    pub arch: ArchArgs,
}

impl ModelsArgs {
    /// Fails, naming the file, when a model does not exist (before any device work starts).
    pub fn check_exist(&self) -> Result<()> {
        match self.models.iter().find(|m| !m.exists()) {
            Some(m) => bail!("model {} does not exist", m.display()),
            None => Ok(()),
        }
    }

    /// Loads model `path` (one of `models`) on `device`.
    pub fn load(&self, path: &Path, device: &Device) -> Result<Classifier> {
        load(path, &self.arch, device)
    }
}

/// How a model's normalisation reads in headers: `CIFAR-10 mean/std`, `none ([0, 1] pixels)`.
pub fn describe_normalization(n: &Option<Normalization>) -> String {
    match n {
        Some(n) if *n == Normalization::CIFAR10 => "CIFAR-10 mean/std inside the model".into(),
        Some(n) => format!("mean {:?} std {:?} inside the model", n.mean, n.std),
        None => "none (the network sees [0, 1] pixels)".into(),
    }
}

impl ArchArgs {
    /// The configuration named by the flags, on top of `base` (a checkpoint's JSON) if any.
    pub fn config(&self, base: Option<ModelConfig>) -> Result<ModelConfig> {
        let arch: Arch = match (&self.arch, &base) {
            (Some(a), _) => a.parse()?,
            (None, Some(b)) => b.arch,
            (None, None) => Arch::ResNet18Cifar,
        };
        let mut config = match base {
            Some(b) if b.arch == arch => b,
            _ => {
                let mut c = ModelConfig::new(arch, 10);
                c.normalization = match self.normalize.as_deref().unwrap_or("cifar10") {
                    "cifar10" => Some(Normalization::CIFAR10),
                    "none" => None,
                    other => bail!("unknown --normalize '{other}' (valid: cifar10, none)"),
                };
                c
            }
        };
        if let Some(w) = self.width {
            config.width = w;
        }
        if let Some(n) = self.num_classes {
            config.num_classes = n;
        }
        config.validate()?;
        Ok(config)
    }
}

/// The JSON config stored next to a burnpack checkpoint.
pub fn sidecar(weights: &Path) -> PathBuf {
    weights.with_extension("json")
}

/// Loads a classifier from `weights` (`.bpk` with its JSON, `.safetensors`, `.pt`, `.pth`).
pub fn load(weights: &Path, args: &ArchArgs, device: &Device) -> Result<Classifier> {
    if !weights.exists() {
        bail!("weights file {} does not exist", weights.display());
    }
    let ext = weights.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default();
    if ext == "bpk" {
        let json = sidecar(weights);
        let base = if json.exists() {
            let text = std::fs::read_to_string(&json).with_context(|| format!("reading {}", json.display()))?;
            Some(serde_json::from_str::<ModelConfig>(&text).with_context(|| format!("{} is not a model config", json.display()))?)
        } else {
            None
        };
        let config = args.config(base)?;
        let bytes = std::fs::read(weights).with_context(|| format!("reading {}", weights.display()))?;
        let model = Classifier::from_burnpack(config, bytes, device).with_context(|| format!("loading {}", weights.display()))?;
        return check_finite(model, weights);
    }
    let config = args.config(None)?;
    if args.normalize.is_none() {
        eprintln!(
            "note: {} is a state dict, which does not record its input normalisation: assuming CIFAR-10 \
             mean/std inside the model; pass --normalize none if it was trained on raw [0, 1] pixels",
            weights.display()
        );
    }
    check_finite(hypersphere_core::models::import::load_foreign(config, weights, device)?, weights)
}

/// Refuses weights holding NaN or infinite values (they would give NaN accuracies).
fn check_finite(model: Classifier, weights: &Path) -> Result<Classifier> {
    match hypersphere_core::models::import::non_finite_parameter(&model) {
        Some((name, bad, total)) => bail!("{}: tensor '{name}' holds {bad} NaN or infinite values (of {total}); refusing these weights", weights.display()),
        None => Ok(model),
    }
}

/// Writes `model.bpk` and `model.json` into `dir`, atomically (write, then rename), so a run
/// killed mid-save keeps its previous checkpoint.
pub fn save(model: &Classifier, dir: &Path, stem: &str) -> Result<PathBuf> {
    let weights = dir.join(format!("{stem}.bpk"));
    write_atomic(&weights, &model.to_burnpack()?)?;
    write_atomic(&sidecar(&weights), serde_json::to_string_pretty(model.config())?.as_bytes())?;
    Ok(weights)
}

/// Writes `bytes` to `path` through a temporary sibling and a rename, so a reader (or a later
/// run) sees the old file or the complete new one, never a half-written one. Every result and
/// checkpoint file goes through here.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default()
    ));
    if test_exit_at(path) {
        // Killed halfway through writing the temporary file.
        let _ = std::fs::write(&tmp, &bytes[..bytes.len() / 2]);
        std::process::exit(TEST_EXIT_CODE);
    }
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Exit code of a run stopped by `HYPERSPHERE_TEST_EXIT_AT`.
pub const TEST_EXIT_CODE: i32 = 86;

/// Test hook of the kill-and-rerun tests (tests/tests/interrupted.rs):
/// `HYPERSPHERE_TEST_EXIT_AT=NAME[@N]` stops the process during its N-th (default first) atomic
/// write of a file named NAME, as a kill at that moment would. Unset, it costs one lookup.
fn test_exit_at(path: &Path) -> bool {
    static WRITES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let Some(spec) = std::env::var_os("HYPERSPHERE_TEST_EXIT_AT") else { return false };
    let spec = spec.to_string_lossy();
    let (name, nth) = match spec.split_once('@') {
        Some((n, k)) => (n, k.parse().unwrap_or(1)),
        None => (&*spec, 1),
    };
    if path.file_name().is_none_or(|f| f.to_string_lossy() != name) {
        return false;
    }
    WRITES.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == nth
}
