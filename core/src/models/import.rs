//! Loading PyTorch weights (`.pt` / `.pth` state dicts and `.safetensors`) with torchvision
//! parameter names into a [`Classifier`].
//!
//! Renames applied on the way in: torchvision's `downsample.0` / `downsample.1` become
//! `downsample.conv` / `downsample.bn`; wrapper prefixes `module.` (DataParallel) and
//! `encoder.` (SupContrast) are dropped; BatchNorm `weight`/`bias` become `gamma`/`beta` and
//! Linear weights are transposed (Burn's `PyTorchToBurnAdapter`). `num_batches_tracked` is
//! ignored. Checkpoints that wrap the state dict in a `state_dict` or `model` key load as is.

use std::path::Path;

use burn::store::{ApplyResult, ModuleSnapshot, PyTorchToBurnAdapter, PytorchStore, SafetensorsStore};
use burn::tensor::Device;

use super::{Classifier, ModelConfig, shorten};

const REMAPS: [(&str, &str); 4] = [
    (r"^(module\.|encoder\.)+", ""),
    (r"\.downsample\.0\.", ".downsample.conv."),
    (r"\.downsample\.1\.", ".downsample.bn."),
    (r"^", "network."),
];

/// Builds the classifier of `config` and loads a PyTorch or safetensors file into it.
pub fn load_foreign(config: ModelConfig, path: &Path, device: &Device) -> crate::Result<Classifier> {
    let mut model = Classifier::new(config, device)?;
    let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default();
    if !path.is_file() {
        return Err(crate::Error::Weights(format!("{} is not a file", path.display())));
    }
    let result = match ext.as_str() {
        "safetensors" => {
            let mut store = SafetensorsStore::from_file(path)
                .with_from_adapter(PyTorchToBurnAdapter)
                .skip_enum_variants(true)
                .allow_partial(true);
            for (from, to) in REMAPS {
                store = store.with_key_remapping(from, to);
            }
            model.load_from(&mut store).map_err(|e| e.to_string())
        }
        "pt" | "pth" => {
            let mut last = String::new();
            let mut loaded = None;
            for key in [None, Some("state_dict"), Some("model")] {
                let mut store = PytorchStore::from_file(path).allow_partial(true);
                if let Some(key) = key {
                    store = store.with_top_level_key(key);
                }
                for (from, to) in REMAPS {
                    store = store.with_key_remapping(from, to);
                }
                match model.load_from(&mut store) {
                    Ok(r) if r.applied.is_empty() => last = "no tensor matched the model".into(),
                    Ok(r) => {
                        loaded = Some(r);
                        break;
                    }
                    Err(e) => last = e.to_string(),
                }
            }
            loaded.ok_or(last)
        }
        _ => {
            return Err(crate::Error::Weights(format!(
                "{}: unknown weight format (expected .bpk, .safetensors, .pt or .pth)",
                path.display()
            )));
        }
    };
    let result = result.map_err(|e| {
        crate::Error::Weights(format!("{}: {}", path.display(), shorten(first_line_with_detail(&e))))
    })?;
    check_complete(&result, &model, path)?;
    // A state dict keeps its stored precision (f32) on load; on a device set to another float
    // precision the parameters are recast through a burnpack round trip, as checkpoints are.
    if device.settings().float_dtype != burn::tensor::FloatDType::F32 {
        let config = model.config().clone();
        return Classifier::from_burnpack(config, model.to_burnpack()?, device);
    }
    Ok(model)
}

/// The first line of a loader error that names a tensor (or the first line).
fn first_line_with_detail(message: &str) -> &str {
    message
        .lines()
        .map(str::trim)
        .find(|l| l.contains('\'') || l.contains("mismatch"))
        .or_else(|| message.lines().next())
        .unwrap_or(message)
}

fn check_complete(result: &ApplyResult, model: &Classifier, path: &Path) -> crate::Result<()> {
    if let Some((missing, _)) = result.missing.first() {
        let example = result.unused.iter().find(|u| !u.ends_with("num_batches_tracked"));
        return Err(crate::Error::Weights(format!(
            "{}: does not fit {} (width {}): no tensor for '{}'{}",
            path.display(),
            model.config().arch.name(),
            model.config().width,
            missing.trim_start_matches("network."),
            example.map(|u| format!(" (the file has e.g. '{}')", u.trim_start_matches("network."))).unwrap_or_default()
        )));
    }
    Ok(())
}

/// The first parameter of `model` holding NaN or infinite values, as `(name, bad, total)`:
/// weights like that give NaN logits and meaningless accuracies, so loaders refuse them.
pub fn non_finite_parameter(model: &Classifier) -> Option<(String, usize, usize)> {
    use burn::tensor::DType;
    for tensor in model.collect(None, None, true) {
        let Ok(bytes) = tensor.to_bytes() else { continue };
        let (bad, total) = match tensor.dtype {
            DType::F64 => count(&bytes, 8, |b| f64::from_le_bytes(b.try_into().unwrap()).is_finite()),
            DType::F32 | DType::Flex32 => count(&bytes, 4, |b| f32::from_le_bytes(b.try_into().unwrap()).is_finite()),
            DType::F16 => count(&bytes, 2, |b| u16::from_le_bytes([b[0], b[1]]) & 0x7C00 != 0x7C00),
            DType::BF16 => count(&bytes, 2, |b| u16::from_le_bytes([b[0], b[1]]) & 0x7F80 != 0x7F80),
            _ => continue,
        };
        if bad > 0 {
            return Some((tensor.name.trim_start_matches("network.").to_string(), bad, total));
        }
    }
    None
}

fn count(bytes: &[u8], size: usize, finite: impl Fn(&[u8]) -> bool) -> (usize, usize) {
    let total = bytes.len() / size;
    (bytes.chunks_exact(size).filter(|b| !finite(b)).count(), total)
}
