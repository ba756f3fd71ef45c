//! Model files on disk: burnpack checkpoints with their JSON config (`model.bpk` +
//! `model.json`), and PyTorch / safetensors state dicts.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::{DType, Device};
use hypersphere_core::models::checkpoints::CheckpointFormat;
use hypersphere_core::models::import::{LoadOptions, load_checkpoint};
use hypersphere_core::models::{Arch, Classifier, ModelConfig, Normalization};

/// Architecture flags shared by `train --init` and `eval`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ArchArgs {
    /// Architecture (resnet18-cifar, resnet50-cifar, small-cnn, resnet50-imagenet, vit-ti16,
    /// vit-s16, vit-b16). Read from the checkpoint's JSON when present.
    #[arg(long)]
    pub arch: Option<String>,
    /// Channels of the first stage (64 for the standard ResNet-18).
    #[arg(long)]
    pub width: Option<usize>,
    /// Number of classes of the head.
    #[arg(long)]
    pub num_classes: Option<usize>,
    /// Input normalisation inside the model for foreign weights (a PyTorch state dict does not
    /// record it): cifar10 (mean/std of HobbitLong/SupContrast, assumed for the CIFAR
    /// architectures), imagenet (torchvision's mean/std, assumed for the ImageNet ones), inception
    /// (mean = std = 0.5, timm's AugReg ViTs) or none (raw [0, 1] pixels, as robustbench and
    /// torchattacks models and SimCLR's converted checkpoints expect).
    #[arg(long)]
    pub normalize: Option<String>,
    /// Transformer blocks of a ViT (default 12; smaller only for test networks).
    #[arg(long)]
    pub depth: Option<usize>,
    /// Side of the square inputs the model is built for (default 32 for CIFAR architectures, 224
    /// for ImageNet ones; a ViT's position embedding has one entry per 16x16 patch of it).
    #[arg(long)]
    pub input_size: Option<usize>,
    /// Naming convention of a PyTorch/safetensors checkpoint: torchvision, simclr, timm, swav,
    /// byol, mocov3 or dino (recognised from the tensor names when not given).
    #[arg(long)]
    pub checkpoint_format: Option<String>,
    /// A separate linear-classifier file for a self-supervised backbone (DINO's
    /// `*_linearweights.pth`, a SwAV/MoCo/BYOL linear head: one weight and bias).
    #[arg(long)]
    pub head: Option<PathBuf>,
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
        Some(n) if *n == Normalization::IMAGENET => "ImageNet mean/std inside the model".into(),
        Some(n) if *n == Normalization::INCEPTION => "mean = std = 0.5 (timm inception) inside the model".into(),
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
                // SimCLR's converted checkpoints expect raw pixels (tonylins/simclr-converter's
                // eval.py does not normalise).
                let simclr = self.checkpoint_format.as_deref() == Some("simclr");
                c.normalization = match self.normalize.as_deref() {
                    None if simclr => None,
                    None => c.normalization,
                    Some("none") => None,
                    Some(name) => match Normalization::NAMED.iter().find(|(n, _)| *n == name) {
                        Some((_, n)) => Some(*n),
                        None => bail!("unknown --normalize '{name}' (valid: cifar10, imagenet, inception, none)"),
                    },
                };
                c
            }
        };
        if let Some(d) = self.depth {
            config.depth = Some(d);
        }
        if let Some(s) = self.input_size {
            config.input_size = s;
        }
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
        if args.head.is_some() || args.checkpoint_format.is_some() {
            bail!("--head and --checkpoint-format apply to PyTorch/safetensors checkpoints, not to {}", weights.display());
        }
        let json = sidecar(weights);
        let base = if json.exists() {
            let text = std::fs::read_to_string(&json).with_context(|| format!("reading {}", json.display()))?;
            Some(serde_json::from_str::<ModelConfig>(&text).with_context(|| format!("{} is not a model config", json.display()))?)
        } else {
            None
        };
        let config = args.config(base)?;
        let bytes = std::fs::read(weights).with_context(|| format!("reading {}", weights.display()))?;
        // A compact checkpoint's half-precision weights load as f32.
        let bytes = hypersphere_core::models::widen_burnpack(bytes);
        let model = Classifier::from_burnpack(config, bytes, device).with_context(|| format!("loading {}", weights.display()))?;
        return check_finite(model, weights);
    }
    let config = args.config(None)?;
    if args.normalize.is_none() {
        eprintln!(
            "note: {} is a state dict, which does not record its input normalisation: assuming {}; \
             pass --normalize none if it was trained on raw [0, 1] pixels",
            weights.display(),
            match &config.normalization {
                Some(n) if *n == Normalization::CIFAR10 => "CIFAR-10 mean/std inside the model".to_string(),
                n => describe_normalization(n),
            }
        );
    }
    let format = args.checkpoint_format.as_deref().map(str::parse::<CheckpointFormat>).transpose()?;
    if let Some(head) = &args.head
        && !head.exists()
    {
        bail!("head file {} does not exist", head.display());
    }
    let options = LoadOptions { format, head: args.head.clone() };
    let loaded = load_checkpoint(config, weights, &options, device).map_err(|e| {
        let e = e.to_string();
        if e.contains("give its linear head file") { anyhow::anyhow!("{e} with --head FILE") } else { anyhow::anyhow!(e) }
    })?;
    if format.is_none() {
        eprintln!(
            "note: read {} as a {} checkpoint{}",
            weights.display(),
            loaded.format.name(),
            if loaded.dropped > 0 { format!(" ({} projection-head tensors dropped)", loaded.dropped) } else { String::new() }
        );
    }
    check_finite(loaded.model, weights)
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
    save_as(model, dir, stem, DType::F32)
}

/// [`save`] with the weights stored as `dtype` (f16/bf16: a compact checkpoint, widened to f32
/// again by [`load`]).
pub fn save_as(model: &Classifier, dir: &Path, stem: &str, dtype: DType) -> Result<PathBuf> {
    let weights = dir.join(format!("{stem}.bpk"));
    let mut bytes = model.to_burnpack()?;
    if dtype != DType::F32 {
        bytes = hypersphere_core::models::recast_burnpack(bytes, dtype)?;
    }
    write_atomic(&weights, &bytes)?;
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
