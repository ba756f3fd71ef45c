//! Loading foreign weights (PyTorch `.pt` / `.pth` / `.pth.tar` pickles and `.safetensors`)
//! into a [`Classifier`], in any of the published conventions of [`super::checkpoints`]
//! (recognised from the tensor names, or named), with an optional separate linear-head file.
//!
//! The file's tensors are read once (nested dictionaries flattened to dot-joined names), mapped
//! by the convention (wrapper keys and `module.`-style prefixes dropped, projection heads
//! dropped, torchvision's `downsample.0/1` renamed to `downsample.conv/bn`), and applied through
//! Burn's `PyTorchToBurnAdapter` (Linear weights transposed, norm `weight`/`bias` to
//! `gamma`/`beta`). Every model tensor must be found, and every tensor the convention keeps must
//! fit the model; otherwise one line says which tensor did not, and which formats exist.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{ApplyResult, ModuleSnapshot, ModuleStore, PyTorchToBurnAdapter, PytorchStore, SafetensorsStore};
use burn::tensor::Device;

use super::checkpoints::{CheckpointFormat, HeadLayout, KeyFate};
use super::{Classifier, ModelConfig, Readout, shorten};

/// How to read a foreign checkpoint.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The convention (None: recognised from the tensor names).
    pub format: Option<CheckpointFormat>,
    /// A separate linear classifier (DINO's `*_linearweights.pth`, a SwAV or MoCo linear head)
    /// replacing or supplying the checkpoint's own.
    pub head: Option<PathBuf>,
}

/// A loaded checkpoint and how it was read.
#[derive(Debug)]
pub struct Loaded {
    /// The classifier.
    pub model: Classifier,
    /// The convention the names were read in.
    pub format: CheckpointFormat,
    /// How many tensors the convention dropped (projection heads, prototypes).
    pub dropped: usize,
}

/// Builds the classifier of `config` and loads a PyTorch or safetensors file into it, in the
/// convention its names show (see [`load_checkpoint`]).
pub fn load_foreign(config: ModelConfig, path: &Path, device: &Device) -> crate::Result<Classifier> {
    Ok(load_checkpoint(config, path, &LoadOptions::default(), device)?.model)
}

/// How many unmatched tensors an error names.
const SHOWN: usize = 3;

/// Builds the classifier of `config` (its class count and, for a ViT, its readout taken from
/// the head file when one is given) and loads checkpoint `path` into it.
pub fn load_checkpoint(config: ModelConfig, path: &Path, options: &LoadOptions, device: &Device) -> crate::Result<Loaded> {
    let tensors = read_tensors(path)?;
    let keys: Vec<&String> = tensors.keys().collect();
    let format = options.format.unwrap_or_else(|| CheckpointFormat::detect(&keys));
    let wrapper = format.wrapper(&keys);
    let mut config = config;
    let head = match &options.head {
        Some(h) => Some(read_head(h, &mut config, device)?),
        None => None,
    };
    let mut model = Classifier::new(config, device)?;
    let arch = model.config().arch.name();
    let width = model.config().width;
    let classifier = if model.config().vit_shape().is_some() { "head." } else { "fc." };

    let mut mapped = Vec::new();
    let mut original = HashMap::new();
    let mut dropped = 0;
    for (key, mut tensor) in tensors {
        match format.map_key(wrapper, &key) {
            // A head file replaces the checkpoint's own classifier.
            KeyFate::Model(name) if head.is_some() && name.starts_with(classifier) => dropped += 1,
            KeyFate::Model(name) => {
                tensor.name = format!("network.{name}");
                original.insert(tensor.name.clone(), key);
                mapped.push(tensor);
            }
            KeyFate::Dropped => dropped += 1,
            KeyFate::Ignored => {}
        }
    }
    let first_keys: Vec<String> = original.values().take(SHOWN).cloned().collect();
    let result: ApplyResult = model.apply(mapped, None, Some(Box::new(PyTorchToBurnAdapter)), true);
    let file = path.display();
    let formats = CheckpointFormat::names();
    let unmatched = |names: &[String]| -> String {
        let mut shown: Vec<String> = names.iter().take(SHOWN).map(|n| original.get(n).cloned().unwrap_or_else(|| n.clone())).collect();
        shown.sort();
        format!("'{}'", shown.join("', '"))
    };
    if let Some(error) = result.errors.first() {
        return Err(crate::Error::Weights(format!(
            "{file}: does not fit {arch} (width {width}) as a {} checkpoint: {}",
            format.name(),
            shorten(&error.to_string().replace("network.", ""))
        )));
    }
    if result.applied.is_empty() {
        let first = if result.unused.is_empty() { first_keys.join("', '") } else { unmatched(&result.unused).trim_matches('\'').to_string() };
        return Err(crate::Error::Weights(format!(
            "{file}: unknown checkpoint layout: no tensor fits {arch} as a {} checkpoint (first unmatched: '{first}'); recognised formats: {formats}",
            format.name()
        )));
    }
    // With a head file, the classifier comes from it.
    let missing: Vec<&str> = result
        .missing
        .iter()
        .map(|(p, _)| p.trim_start_matches("network."))
        .filter(|p| head.is_none() || !p.starts_with(classifier))
        .collect();
    if let Some(first) = missing.first() {
        if missing.iter().all(|m| m.starts_with(classifier)) {
            return Err(crate::Error::Weights(format!(
                "{file}: a {} backbone without its {arch} classifier (no '{classifier}weight'): give its linear head file",
                format.name()
            )));
        }
        let example = result.unused.first().map(|u| format!(" (the file has e.g. {})", unmatched(std::slice::from_ref(u)))).unwrap_or_default();
        return Err(crate::Error::Weights(format!(
            "{file}: does not fit {arch} (width {width}) as a {} checkpoint: no tensor for '{first}'{example}",
            format.name()
        )));
    }
    if !result.unused.is_empty() {
        return Err(crate::Error::Weights(format!(
            "{file}: {} tensors fit no part of {arch} as a {} checkpoint (first unmatched: {}); recognised formats: {formats}",
            result.unused.len(),
            format.name(),
            unmatched(&result.unused)
        )));
    }
    if let Some(head) = head {
        model = model.with_head(head);
    }
    // A state dict keeps its stored precision (f32) on load; on a device set to another float
    // precision the parameters are recast through a burnpack round trip, as checkpoints are.
    if device.settings().float_dtype != burn::tensor::FloatDType::F32 {
        let config = model.config().clone();
        model = Classifier::from_burnpack(config, model.to_burnpack()?, device)?;
    }
    Ok(Loaded { model, format, dropped })
}

/// Every tensor of a PyTorch or safetensors file, by its flattened name.
fn read_tensors(path: &Path) -> crate::Result<BTreeMap<String, PackTensor>> {
    if !path.is_file() {
        return Err(crate::Error::Weights(format!("{} is not a file", path.display())));
    }
    let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    let fail = |e: String| crate::Error::Weights(format!("{}: {}", path.display(), shorten(first_line(&e))));
    let tensors = if name.ends_with(".safetensors") {
        SafetensorsStore::from_file(path).get_all_tensors().map_err(|e| fail(e.to_string()))?.clone()
    } else if [".pt", ".pth", ".pth.tar", ".bin"].iter().any(|e| name.ends_with(e)) {
        PytorchStore::from_file(path).map_indices_contiguous(false).get_all_tensors().map_err(|e| fail(e.to_string()))?.clone()
    } else {
        return Err(crate::Error::Weights(format!(
            "{}: unknown weight format (expected .bpk, .safetensors, .pt, .pth or .pth.tar)",
            path.display()
        )));
    };
    if tensors.is_empty() {
        return Err(crate::Error::Weights(format!("{}: holds no tensors", path.display())));
    }
    Ok(tensors)
}

fn first_line(message: &str) -> &str {
    message.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or(message)
}

/// A linear layer alone, to load a head file through the PyTorch adapter.
#[derive(Module, Debug)]
struct HeadFile {
    linear: Linear,
}

/// Reads a linear-head file, sets `config`'s class count (and a ViT's readout from the head's
/// input width: DINO's heads read 4 class tokens (ViT-S/16) or class + mean patch token
/// (ViT-B/16)), and checks that the head fits the backbone's features.
fn read_head(path: &Path, config: &mut ModelConfig, device: &Device) -> crate::Result<Linear> {
    let tensors = read_tensors(path)?;
    let keys: Vec<&String> = tensors.keys().collect();
    let file = path.display();
    let Some(layout) = HeadLayout::find(&keys) else {
        let first: Vec<&str> = keys.iter().take(SHOWN).map(|k| k.as_str()).collect();
        return Err(crate::Error::Weights(format!(
            "{file}: not a linear-head file: expected one weight and bias ('linear', 'fc', 'head' or bare names, \
             optionally under 'state_dict' and 'module.'), found '{}'",
            first.join("', '")
        )));
    };
    let weight = &tensors[&layout.weight];
    let bias = &tensors[&layout.bias];
    let (classes, features) = match (weight.shape.to_vec().as_slice(), bias.shape.to_vec().as_slice()) {
        (&[c, f], &[b]) if b == c && c >= 2 => (c, f),
        (w, b) => {
            return Err(crate::Error::Weights(format!(
                "{file}: the linear head's weight {w:?} and bias {b:?} are not [classes, features] and [classes]"
            )));
        }
    };
    config.num_classes = classes;
    let mut expected = None;
    if let Some(shape) = config.vit_shape() {
        let d = shape.width;
        config.readout = match features {
            f if f == d => Readout::ClassToken,
            f if f == 2 * d => Readout::Dino { last_blocks: 1, avgpool: true },
            f if f % d == 0 && f / d <= shape.depth => Readout::Dino { last_blocks: f / d, avgpool: false },
            _ => {
                expected = Some(format!(
                    "{d} (class token), {} (DINO: class + mean patch token) or k x {d} (DINO: the last k <= {} class tokens)",
                    2 * d,
                    shape.depth
                ));
                Readout::ClassToken
            }
        };
    } else {
        let dim = config.feature_dim();
        if features != dim {
            expected = Some(dim.to_string());
        }
    }
    if let Some(expected) = expected {
        return Err(crate::Error::Weights(format!(
            "{file}: the linear head takes {features} features, {} (width {}) gives {expected}",
            config.arch.name(),
            config.width
        )));
    }
    let mut head = HeadFile { linear: LinearConfig::new(features, classes).init(device) };
    let mut w = weight.clone();
    w.name = "linear.weight".into();
    let mut b = bias.clone();
    b.name = "linear.bias".into();
    let result = head.apply(vec![w, b], None, Some(Box::new(PyTorchToBurnAdapter)), true);
    if let Some(error) = result.errors.first() {
        return Err(crate::Error::Weights(format!("{file}: {}", shorten(&error.to_string()))));
    }
    Ok(head.linear)
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
