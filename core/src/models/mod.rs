//! Classifiers: an architecture ([`Network`]) behind input normalisation, with a backbone
//! feature output (for geometry and linear evaluation) and class logits.

pub mod batch_norms;
pub mod checkpoints;
pub mod cpu_batch_norm;
pub mod cpu_conv;
pub mod cpu_relu;
#[cfg(feature = "import")]
pub mod import;
pub mod normalize;
pub mod projection;
pub mod resnet;
pub mod resnet50;
pub mod small_cnn;
pub mod vit;

use burn::module::Module;
use burn::nn::Linear;
use burn::store::ModuleRecord;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

pub use batch_norms::BnSet;
pub use normalize::Normalization;
pub use projection::ProjectionHead;
pub use resnet::ResNet18;
pub use resnet50::{ResNet50, Stem};
pub use small_cnn::SmallCnn;
pub use vit::{Readout, VisionTransformer, VitShape};

/// The architectures hypersphere builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Arch {
    /// ResNet-18 with the CIFAR stem ([`ResNet18`]).
    #[serde(rename = "resnet18-cifar")]
    ResNet18Cifar,
    /// ResNet-50 with the CIFAR stem ([`ResNet50`]).
    #[serde(rename = "resnet50-cifar")]
    ResNet50Cifar,
    /// The three-stage [`SmallCnn`].
    #[serde(rename = "small-cnn")]
    SmallCnn,
    /// ResNet-50 with torchvision's ImageNet stem ([`ResNet50`], [`Stem::ImageNet`]).
    #[serde(rename = "resnet50-imagenet")]
    ResNet50ImageNet,
    /// ViT-Ti/16 (timm `vit_tiny_patch16_224`: width 192, 3 heads, 12 blocks).
    #[serde(rename = "vit-ti16")]
    VitTi16,
    /// ViT-S/16 (timm `vit_small_patch16_224`: width 384, 6 heads, 12 blocks).
    #[serde(rename = "vit-s16")]
    VitS16,
    /// ViT-B/16 (timm `vit_base_patch16_224`: width 768, 12 heads, 12 blocks).
    #[serde(rename = "vit-b16")]
    VitB16,
}

impl Arch {
    /// Every architecture, by its command-line name.
    pub const ALL: [(&'static str, Arch); 7] = [
        ("resnet18-cifar", Arch::ResNet18Cifar),
        ("resnet50-cifar", Arch::ResNet50Cifar),
        ("small-cnn", Arch::SmallCnn),
        ("resnet50-imagenet", Arch::ResNet50ImageNet),
        ("vit-ti16", Arch::VitTi16),
        ("vit-s16", Arch::VitS16),
        ("vit-b16", Arch::VitB16),
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, a)| *a == self).map(|(n, _)| *n).unwrap_or("?")
    }

    /// The standard width (channels of the first stage).
    pub fn default_width(self) -> usize {
        match self {
            Arch::ResNet18Cifar | Arch::ResNet50Cifar | Arch::ResNet50ImageNet => 64,
            Arch::SmallCnn => 32,
            Arch::VitTi16 => 192,
            Arch::VitS16 => 384,
            Arch::VitB16 => 768,
        }
    }

    /// Attention heads of a ViT (None for the convolutional networks).
    pub fn vit_heads(self) -> Option<usize> {
        match self {
            Arch::VitTi16 => Some(3),
            Arch::VitS16 => Some(6),
            Arch::VitB16 => Some(12),
            _ => None,
        }
    }

    /// Whether the architecture is an ImageNet one (224x224 inputs, ImageNet mean/std).
    pub fn is_imagenet(self) -> bool {
        matches!(self, Arch::ResNet50ImageNet | Arch::VitTi16 | Arch::VitS16 | Arch::VitB16)
    }
}

impl std::str::FromStr for Arch {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        Self::ALL.iter().find(|(n, _)| *n == s).map(|(_, a)| *a).ok_or_else(|| {
            let names: Vec<_> = Self::ALL.iter().map(|(n, _)| *n).collect();
            crate::Error::Model(format!("unknown architecture '{s}' (valid: {})", names.join(", ")))
        })
    }
}

/// Most parameters a configuration may build (2^28, 1 GiB in f32: three times ViT-B/16, the
/// largest published network hypersphere reads).
pub const MAX_PARAMETERS: u64 = 1 << 28;
/// Largest input side a configuration may ask for.
pub const MAX_INPUT_SIZE: usize = 1024;

/// Everything needed to rebuild a classifier before its weights are loaded. Stored as JSON next
/// to every checkpoint (`model.bpk` + `model.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Architecture.
    pub arch: Arch,
    /// Channels of the first stage.
    pub width: usize,
    /// Number of classes of the classifier head.
    pub num_classes: usize,
    /// Side of the square input images.
    #[serde(default = "default_input_size")]
    pub input_size: usize,
    /// Input normalisation applied inside the model (`None`: the network sees [0, 1] pixels).
    #[serde(default)]
    pub normalization: Option<Normalization>,
    /// Class names, in label order (may be empty).
    #[serde(default)]
    pub class_names: Vec<String>,
    /// Transformer blocks of a ViT (None: the architecture's 12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<usize>,
    /// Which tokens of a ViT feed the head (the class token unless a DINO linear head says
    /// otherwise).
    #[serde(default, skip_serializing_if = "is_class_token")]
    pub readout: Readout,
    /// Dual BatchNorm (ACL's dual stream; [`batch_norms`]): the network has a second set of
    /// BatchNorm layers ("pgd") beside its own ("normal"), every other weight shared, and this
    /// names the set that [`Classifier::features`] and [`Classifier::forward`] use (evaluation,
    /// linear probes, attacks). `None`: one set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dual_batch_norm: Option<BnSet>,
}

fn is_class_token(r: &Readout) -> bool {
    *r == Readout::ClassToken
}

fn default_input_size() -> usize {
    32
}

impl ModelConfig {
    /// A configuration for `arch` at its default width: CIFAR-10 normalisation and 32x32 inputs,
    /// or ImageNet mean/std and 224x224 inputs for the ImageNet architectures.
    pub fn new(arch: Arch, num_classes: usize) -> Self {
        let imagenet = arch.is_imagenet();
        Self {
            arch,
            width: arch.default_width(),
            num_classes,
            input_size: if imagenet { 224 } else { 32 },
            normalization: Some(if imagenet { Normalization::IMAGENET } else { Normalization::CIFAR10 }),
            class_names: Vec::new(),
            depth: None,
            readout: Readout::ClassToken,
            dual_batch_norm: None,
        }
    }

    /// Width of the backbone features of this configuration.
    pub fn feature_dim(&self) -> usize {
        match self.arch {
            Arch::ResNet18Cifar => 8 * self.width,
            Arch::ResNet50Cifar | Arch::ResNet50ImageNet => ResNet50::feature_dim(self.width),
            Arch::SmallCnn => 4 * self.width,
            Arch::VitTi16 | Arch::VitS16 | Arch::VitB16 => VisionTransformer::feature_dim(self.width, self.readout),
        }
    }

    /// The ViT shape of this configuration (None for the convolutional networks).
    pub fn vit_shape(&self) -> Option<VitShape> {
        self.arch.vit_heads().map(|heads| VitShape {
            width: self.width,
            heads,
            depth: self.depth.unwrap_or(12),
            input_size: self.input_size,
        })
    }

    /// An upper bound on the parameters of the network this configuration builds, computed
    /// from the shapes alone (before anything is allocated; saturating, so absurd widths give a
    /// huge bound rather than an overflow). Convolutions and linear layers are counted exactly
    /// per stage, normalisation layers generously.
    pub fn parameter_bound(&self) -> u128 {
        let (w, c) = (self.width as u128, self.num_classes as u128);
        let sq = w.saturating_mul(w);
        let head = |features: u128| features.saturating_mul(c).saturating_add(c);
        match self.arch {
            // conv1 27w, conv2 18w^2, conv3 72w^2, BatchNorm 4 x 7w, fc 4w x classes.
            Arch::SmallCnn => sq.saturating_mul(90).saturating_add(w.saturating_mul(55)).saturating_add(head(w.saturating_mul(4))),
            // 3x3 convolutions of the four stages (36 + 128 + 512 + 2048 = 2724 w^2), the 1x1
            // shortcuts, the stem and BatchNorm (< 76 w^2 + 400 w in all), fc 8w x classes.
            Arch::ResNet18Cifar => sq.saturating_mul(2800).saturating_add(w.saturating_mul(400)).saturating_add(head(w.saturating_mul(8))),
            // Bottleneck stages: 5,740 w^2 (23.5M at width 64), the 7x7 ImageNet stem 147 w,
            // BatchNorm < 2000 w; fc 32w x classes.
            Arch::ResNet50Cifar | Arch::ResNet50ImageNet => {
                sq.saturating_mul(6000).saturating_add(w.saturating_mul(2200)).saturating_add(head(w.saturating_mul(32)))
            }
            Arch::VitTi16 | Arch::VitS16 | Arch::VitB16 => {
                let depth = self.depth.unwrap_or(12) as u128;
                let side = (self.input_size / 16) as u128;
                let tokens = side.saturating_mul(side).saturating_add(1);
                // Per block: qkv 3d^2, proj d^2, MLP 8d^2, biases and two LayerNorms 13d;
                // patch embedding 769d, class token, final norm; position embedding; a head
                // on at most (depth + 1) x d features (DINO's readouts).
                let blocks = depth.saturating_mul(sq.saturating_mul(12).saturating_add(w.saturating_mul(13)));
                blocks
                    .saturating_add(w.saturating_mul(772))
                    .saturating_add(tokens.saturating_mul(w))
                    .saturating_add(head(depth.saturating_add(1).saturating_mul(w)))
            }
        }
    }

    /// Rejects configurations that cannot be built, or that would allocate more than
    /// [`MAX_PARAMETERS`] parameters (a damaged or hostile `model.json` with a width of 10^9).
    pub fn validate(&self) -> crate::Result<()> {
        if self.width == 0 || self.num_classes < 2 || self.input_size < 8 || self.input_size > MAX_INPUT_SIZE {
            return Err(crate::Error::Model(format!(
                "need width >= 1, at least 2 classes and inputs of 8 to {MAX_INPUT_SIZE} pixels (got width {}, {} classes, size {})",
                self.width, self.num_classes, self.input_size
            )));
        }
        if let Some(n) = &self.normalization
            && (n.std.iter().any(|&s| !(s > 0.0) || !s.is_finite()) || n.mean.iter().any(|m| !m.is_finite()))
        {
            return Err(crate::Error::Model("normalisation mean must be finite and std finite and > 0".into()));
        }
        let bound = self.parameter_bound();
        if bound > MAX_PARAMETERS as u128 {
            return Err(crate::Error::Model(format!(
                "{} of width {} with {} classes would have up to {bound} parameters, more than the {MAX_PARAMETERS} allowed",
                self.arch.name(),
                self.width,
                self.num_classes
            )));
        }
        if let Some(shape) = self.vit_shape() {
            shape.validate()?;
            self.readout.validate(shape.depth)?;
        } else if self.readout != Readout::ClassToken || self.depth.is_some() {
            return Err(crate::Error::Model(format!("{} has no transformer depth or token readout", self.arch.name())));
        }
        if self.dual_batch_norm.is_some() && !matches!(self.arch, Arch::ResNet18Cifar | Arch::SmallCnn) {
            return Err(crate::Error::Model(format!(
                "dual BatchNorm (ACL-DS) is built for resnet18-cifar and small-cnn, not {}",
                self.arch.name()
            )));
        }
        Ok(())
    }

    /// The name of class `label` (or its number when names are unknown).
    pub fn class_name(&self, label: usize) -> String {
        self.class_names.get(label).cloned().unwrap_or_else(|| format!("class {label}"))
    }
}

/// The network inside a [`Classifier`].
#[derive(Module, Debug)]
pub enum Network {
    /// ResNet-18, CIFAR stem.
    ResNet18(ResNet18),
    /// ResNet-50, CIFAR stem.
    ResNet50(ResNet50),
    /// The small CNN.
    SmallCnn(SmallCnn),
    /// A Vision Transformer.
    Vit(VisionTransformer),
}

/// A classifier on [0, 1] images: normalisation, backbone, linear head.
#[derive(Module, Debug)]
pub struct Classifier {
    network: Network,
    #[module(skip)]
    config: ModelConfig,
}

impl Classifier {
    /// A freshly initialised classifier on `device`.
    pub fn new(config: ModelConfig, device: &Device) -> crate::Result<Self> {
        config.validate()?;
        let network = match config.arch {
            Arch::ResNet18Cifar => {
                let net = ResNet18::new(config.width, config.num_classes, device);
                Network::ResNet18(if config.dual_batch_norm.is_some() { net.with_second_batch_norms(device) } else { net })
            }
            Arch::ResNet50Cifar => Network::ResNet50(ResNet50::new(config.width, config.num_classes, device)),
            Arch::SmallCnn => {
                let net = SmallCnn::new(config.width, config.num_classes, device);
                Network::SmallCnn(if config.dual_batch_norm.is_some() { net.with_second_batch_norms(device) } else { net })
            }
            Arch::ResNet50ImageNet => {
                Network::ResNet50(ResNet50::with_stem(Stem::ImageNet, config.width, config.num_classes, device))
            }
            Arch::VitTi16 | Arch::VitS16 | Arch::VitB16 => {
                let shape = config.vit_shape().expect("a ViT architecture has a shape");
                Network::Vit(VisionTransformer::new(shape, config.readout, config.num_classes, device))
            }
        };
        Ok(Self { network, config })
    }

    /// The configuration this classifier was built from.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Backbone features of `[N, 3, H, W]` images in [0, 1] (through the BatchNorm set the
    /// configuration names, with dual BatchNorm).
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        self.features_with(images, self.config.dual_batch_norm.unwrap_or_default())
    }

    /// Backbone features through BatchNorm set `set` (dual BatchNorm; a network with one set
    /// uses it for both names).
    pub fn features_with(&self, images: Tensor<4>, set: BnSet) -> Tensor<2> {
        let x = match &self.config.normalization {
            Some(n) => n.apply(images),
            None => images,
        };
        match &self.network {
            Network::ResNet18(m) => m.features_with(x, set),
            Network::ResNet50(m) => m.features(x),
            Network::SmallCnn(m) => m.features_with(x, set),
            Network::Vit(m) => m.features(x),
        }
    }

    /// Whether the network has two BatchNorm sets.
    pub fn has_dual_batch_norm(&self) -> bool {
        self.config.dual_batch_norm.is_some()
    }

    /// The same dual-BatchNorm network evaluating (features, logits) through `set` (ACL's
    /// fine-tuning reads the "pgd" set, `--bnNameCnt 1`; its linear probe the "normal" one).
    /// A network with one set is returned unchanged.
    pub fn with_batch_norm(mut self, set: BnSet) -> Self {
        if self.config.dual_batch_norm.is_some() {
            self.config.dual_batch_norm = Some(set);
        }
        self
    }

    /// Width of the backbone features.
    pub fn feature_dim(&self) -> usize {
        self.config.feature_dim()
    }

    /// Fails when `height` x `width` images cannot go through the network: a ViT's position
    /// embedding has one entry per 16x16 patch of its configured input size.
    pub fn check_input_size(&self, height: usize, width: usize) -> crate::Result<()> {
        let size = self.config.input_size;
        if self.config.vit_shape().is_some() && (height != size || width != size) {
            return Err(crate::Error::Model(format!(
                "{} was built for {size}x{size} inputs, the images are {height}x{width}",
                self.config.arch.name()
            )));
        }
        Ok(())
    }

    /// The same backbone with `head` as its classifier (linear evaluation).
    pub fn with_head(mut self, head: Linear) -> Self {
        self.config.num_classes = head.weight.dims()[1];
        match &mut self.network {
            Network::ResNet18(m) => m.fc = head,
            Network::ResNet50(m) => m.fc = head,
            Network::SmallCnn(m) => m.fc = head,
            Network::Vit(m) => m.head = head,
        }
        self
    }

    /// Class logits of `[N, 3, H, W]` images in [0, 1].
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let f = self.features(images);
        match &self.network {
            Network::ResNet18(m) => m.classify(f),
            Network::ResNet50(m) => m.classify(f),
            Network::SmallCnn(m) => m.classify(f),
            Network::Vit(m) => m.classify(f),
        }
    }

    /// The weights as burnpack bytes (the checkpoint format; pair it with the JSON config).
    pub fn to_burnpack(&self) -> crate::Result<Vec<u8>> {
        module_to_burnpack(self)
    }

    /// Builds the classifier described by `config` and loads burnpack `bytes` into it.
    pub fn from_burnpack(config: ModelConfig, bytes: Vec<u8>, device: &Device) -> crate::Result<Self> {
        let model = Self::new(config, device)?;
        // Every parameter of a classifier is floating point; Burn panics loading an integer
        // tensor into one (a damaged or hostile file, found by the fuzz harness), so refuse it.
        let tensors = burn_pack::Reader::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes.clone()))
            .and_then(|r| r.into_tensors())
            .map_err(|e| crate::Error::Weights(format!("not a burnpack file: {e}")))?;
        if let Some(t) = tensors.iter().find(|t| !t.dtype.is_float()) {
            return Err(crate::Error::Weights(format!("tensor '{}' holds {:?} values; weights must be floating point", t.name, t.dtype)));
        }
        // Weights take the device's float precision (f16/bf16 after `--precision`), whatever
        // precision they were stored in.
        let record = ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
            .map_err(|e| crate::Error::Weights(format!("not a burnpack file: {e}")))?;
        // Only off f32: casting materialises every parameter first, and Burn 0.22 materialises
        // some (BatchNorm's running state on an autodiff device) on the default device, which
        // is CUDA in this build and fails without an NVIDIA driver.
        let record = if device.settings().float_dtype == burn::tensor::FloatDType::F32 { record } else { record.cast_to_module_dtype() };
        let arch = model.config.arch.name();
        let width = model.config.width;
        model.try_load_record(record).map_err(|e| {
            crate::Error::Weights(format!(
                "weights do not fit {arch} (width {width}): {}",
                shorten(&e.to_string())
            ))
        })
    }
}

/// Any module's parameters (and their ids, which optimizer states refer to) as burnpack bytes.
pub fn module_to_burnpack<M: Module>(module: &M) -> crate::Result<Vec<u8>> {
    let bytes = module
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| crate::Error::Weights(format!("cannot serialise weights: {e}")))?;
    Ok(bytes.to_vec())
}

/// Loads burnpack `bytes` into `module` (which must have the same structure).
pub fn module_from_burnpack<M: Module>(module: M, bytes: Vec<u8>) -> crate::Result<M> {
    let record = ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
        .map_err(|e| crate::Error::Weights(format!("not a burnpack file: {e}")))?;
    module.try_load_record(record).map_err(|e| crate::Error::Weights(shorten(&e.to_string())))
}

/// The burnpack `bytes` (a module's weights or an optimizer record) with every floating-point
/// tensor (f32, f16, bf16) converted to `to` (round to nearest even); scalars, metadata, names
/// and parameter ids are kept. With `to` half precision a checkpoint takes half the space; with
/// `to` = f32 it is widened back (exactly) so that Burn loads it as it was written.
#[cfg(feature = "train")]
pub fn recast_burnpack(bytes: Vec<u8>, to: burn::tensor::DType) -> crate::Result<Vec<u8>> {
    use burn::tensor::{DType, TensorData};
    let bad = |e: burn_pack::Error| crate::Error::Weights(format!("not a burnpack file: {e}"));
    let reader = burn_pack::Reader::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes)).map_err(bad)?;
    let (scalars, metadata) = (reader.scalars().clone(), reader.metadata().clone());
    let mut tensors = Vec::new();
    for tensor in reader.into_tensors().map_err(bad)? {
        let (name, dtype, shape, param_id, data) = tensor.into_parts().map_err(bad)?;
        let floating = matches!(dtype, DType::F32 | DType::F16 | DType::BF16);
        let (dtype, data) = if floating && dtype != to {
            (to, TensorData::from_bytes(data, shape.clone(), dtype).convert_dtype(to).into_bytes())
        } else {
            (dtype, data)
        };
        tensors.push(burn_pack::Tensor::new(name, dtype, shape, param_id, data));
    }
    let mut writer = burn_pack::Writer::new(tensors);
    for (k, v) in &scalars {
        writer = writer.with_scalar(k, *v);
    }
    for (k, v) in &metadata {
        writer = writer.with_metadata(k, v);
    }
    Ok(writer.into_bytes().map_err(bad)?.to_vec())
}

/// `bytes` with any half-precision float tensors widened to f32 ([`recast_burnpack`]) when it is
/// a burnpack holding some (a compact checkpoint); otherwise `bytes` unchanged, for the loader
/// to read (or to refuse with its own message).
#[cfg(feature = "train")]
pub fn widen_burnpack(bytes: Vec<u8>) -> Vec<u8> {
    use burn::tensor::DType;
    let half = burn_pack::Reader::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes.clone()))
        .and_then(|r| r.into_tensors())
        .is_ok_and(|ts| ts.iter().any(|t| matches!(t.dtype, DType::F16 | DType::BF16)));
    if half { recast_burnpack(bytes.clone(), DType::F32).unwrap_or(bytes) } else { bytes }
}

/// Keeps the first line of a long loader message readable.
pub(crate) fn shorten(message: &str) -> String {
    const MAX: usize = 300;
    if message.len() <= MAX {
        return message.to_string();
    }
    let cut = (0..=MAX).rev().find(|&i| message.is_char_boundary(i)).unwrap_or(0);
    format!("{}...", &message[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_burnpack_round_trip() {
        let device = Device::flex();
        let mut cfg = ModelConfig::new(Arch::ResNet18Cifar, 10);
        cfg.width = 4;
        let model = Classifier::new(cfg.clone(), &device).unwrap();
        let x = Tensor::<4>::ones([2, 3, 32, 32], &device) * 0.5;
        assert_eq!(model.features(x.clone()).dims(), [2, 32]);
        let logits = model.forward(x.clone());
        assert_eq!(logits.dims(), [2, 10]);
        let bytes = model.to_burnpack().unwrap();
        let loaded = Classifier::from_burnpack(cfg.clone(), bytes.clone(), &device).unwrap();
        let again = loaded.forward(x);
        let (a, b) = (logits.into_data().try_into_vec::<f32>().unwrap(), again.into_data().try_into_vec::<f32>().unwrap());
        assert_eq!(a, b);
        // The same bytes do not fit another width or architecture, and the error says where.
        cfg.width = 8;
        let err = Classifier::from_burnpack(cfg, bytes.clone(), &device).unwrap_err().to_string();
        assert!(err.contains("conv1"), "{err}");
        let small = ModelConfig { width: 4, ..ModelConfig::new(Arch::SmallCnn, 10) };
        assert!(Classifier::from_burnpack(small, bytes, &device).is_err());
        assert!(Classifier::from_burnpack(ModelConfig::new(Arch::SmallCnn, 10), b"junk".to_vec(), &device).is_err());
    }

    #[test]
    fn parameter_bound_holds_and_absurd_configs_are_refused() {
        let device = Device::flex();
        for (arch, width) in [(Arch::SmallCnn, 3), (Arch::ResNet18Cifar, 2), (Arch::ResNet50Cifar, 1), (Arch::ResNet50ImageNet, 1), (Arch::VitTi16, 6)] {
            let mut cfg = ModelConfig { width, ..ModelConfig::new(arch, 7) };
            if arch == Arch::VitTi16 {
                cfg.depth = Some(2);
            }
            let n = Classifier::new(cfg.clone(), &device).unwrap().num_params() as u128;
            let bound = cfg.parameter_bound();
            // An upper bound, and not a loose one.
            assert!(n <= bound && bound < 3 * n, "{arch:?}: {n} parameters, bound {bound}");
        }
        // ViT-B/16 and ResNet-50 at their published sizes pass; a width of 10^9 does not.
        assert!(ModelConfig::new(Arch::VitB16, 1000).validate().is_ok());
        assert!(ModelConfig::new(Arch::ResNet50ImageNet, 1000).validate().is_ok());
        let huge = ModelConfig { width: 1_000_000_000, ..ModelConfig::new(Arch::ResNet18Cifar, 10) };
        let err = huge.validate().unwrap_err().to_string();
        assert!(err.contains("more than the 268435456 allowed"), "{err}");
        let classes = ModelConfig { num_classes: usize::MAX, ..ModelConfig::new(Arch::SmallCnn, 10) };
        assert!(classes.validate().is_err());
        assert!(ModelConfig { input_size: 1 << 40, ..ModelConfig::new(Arch::VitTi16, 10) }.validate().is_err());
    }

    #[test]
    fn arch_names_parse_and_bad_ones_list_the_valid_ones() {
        assert_eq!("resnet18-cifar".parse::<Arch>().unwrap(), Arch::ResNet18Cifar);
        let err = "vgg".parse::<Arch>().unwrap_err().to_string();
        assert!(err.contains("small-cnn"), "{err}");
    }
}
