//! The parameter-name conventions of published checkpoints, and how each maps onto
//! hypersphere's networks (torchvision ResNet names, timm ViT names). Pure key logic: reading
//! the files is [`super::import`]'s job.
//!
//! Each convention was read off the publishing project's code:
//! - `torchvision`: `torchvision.models.resnet50` / the CIFAR ResNets, optionally under a
//!   `state_dict` or `model` key and `module.` (DataParallel) / `encoder.` (SupContrast)
//!   prefixes; also what chigur/byol-convert writes for the official BYOL ResNet-50
//!   (a plain torchvision state dict with `fc`).
//! - `simclr`: tonylins/simclr-converter `convert.py`: `{'state_dict': resnet50x1().state_dict()}`,
//!   torchvision names including the supervised `fc` (the model expects raw [0, 1] pixels).
//! - `timm`: `timm` `VisionTransformer` (`cls_token`, `blocks.N.attn.qkv`, `head`), also MoCo v3's
//!   linear-classification checkpoints (`{'state_dict': {'module.<timm name>'}}`, main_lincls.py).
//! - `swav`: facebookresearch/swav `src/resnet50.py` under `module.` (hubconf.py strips it), with
//!   `projection_head.*` and `prototypes.*` dropped (hubconf loads with `strict=False`).
//! - `byol`: sthalles/PyTorch-BYOL: `{'online_network_state_dict': {'encoder.<i>.…',
//!   'projetion.…'}}` where `encoder = Sequential(*list(resnet.children())[:-1])`, so `encoder.0`
//!   = `conv1`, `encoder.1` = `bn1`, `encoder.4..7` = `layer1..4`; the projection is dropped.
//! - `mocov3`: facebookresearch/moco-v3 pre-training checkpoints: `state_dict` with
//!   `module.base_encoder.*` (kept, as main_lincls.py does) and `module.momentum_encoder.*`,
//!   `module.predictor.*` (ignored); the base encoder's `head` (ViT) or `fc` (ResNet) is the
//!   projection MLP and is dropped.
//! - `dino`: facebookresearch/dino `vision_transformer.py` names (timm's, without `head`): the
//!   published `dino_*_pretrain.pth` backbones are plain state dicts; full training checkpoints
//!   hold `teacher.backbone.*` (used, as `--checkpoint_key teacher`) and `student.*` (ignored).
//!   The linear classifier is a separate file (`dino_*_linearweights.pth`:
//!   `{'state_dict': {'module.linear.weight', 'module.linear.bias'}}`), read by
//!   [`HeadLayout`].

use serde::{Deserialize, Serialize};

/// A checkpoint convention (see the module documentation for each one's source).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckpointFormat {
    /// torchvision names (also SupContrast's and hypersphere's PyTorch exports).
    Torchvision,
    /// SimCLR v1 converted by tonylins/simclr-converter.
    SimClr,
    /// timm ViT names.
    Timm,
    /// SwAV (facebookresearch/swav).
    Swav,
    /// BYOL as sthalles/PyTorch-BYOL saves it.
    Byol,
    /// MoCo v3 pre-training checkpoints.
    MocoV3,
    /// DINO backbones (and full training checkpoints, teacher).
    Dino,
}

/// What becomes of one tensor of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFate {
    /// A backbone or classifier tensor, under its hypersphere (torchvision/timm) name.
    Model(String),
    /// A head the convention says to drop (projection MLPs, prototypes).
    Dropped,
    /// Outside the part of the file the convention reads (optimizer state, momentum encoders,
    /// BatchNorm's `num_batches_tracked`).
    Ignored,
}

impl CheckpointFormat {
    /// Every convention, by its command-line name.
    pub const ALL: [(&'static str, CheckpointFormat); 7] = [
        ("torchvision", CheckpointFormat::Torchvision),
        ("simclr", CheckpointFormat::SimClr),
        ("timm", CheckpointFormat::Timm),
        ("swav", CheckpointFormat::Swav),
        ("byol", CheckpointFormat::Byol),
        ("mocov3", CheckpointFormat::MocoV3),
        ("dino", CheckpointFormat::Dino),
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, f)| *f == self).map(|(n, _)| *n).unwrap_or("?")
    }

    /// The recognised names, comma-separated (for error messages).
    pub fn names() -> String {
        Self::ALL.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
    }

    /// Recognises a convention from a checkpoint's (flattened, dot-joined) tensor names.
    pub fn detect<S: AsRef<str>>(keys: &[S]) -> Self {
        let any = |f: &dyn Fn(&str) -> bool| keys.iter().any(|k| f(k.as_ref()));
        if any(&|k| k.contains("base_encoder.")) {
            CheckpointFormat::MocoV3
        } else if any(&|k| k.starts_with("online_network_state_dict.")) {
            CheckpointFormat::Byol
        } else if any(&|k| k.contains("prototypes.") || k.contains("projection_head.")) {
            CheckpointFormat::Swav
        } else if any(&|k| k.starts_with("teacher.")) {
            CheckpointFormat::Dino
        } else if any(&|k| k.ends_with("cls_token")) {
            // A ViT: timm's carry their classifier, DINO's backbones do not.
            if any(&|k| k.ends_with("head.weight") && !k.contains("blocks.")) { CheckpointFormat::Timm } else { CheckpointFormat::Dino }
        } else {
            CheckpointFormat::Torchvision
        }
    }

    /// Top-level keys that wrap the state dict, in preference order.
    fn wrappers(self) -> &'static [&'static str] {
        match self {
            CheckpointFormat::Torchvision | CheckpointFormat::Timm => &["state_dict.", "model."],
            CheckpointFormat::SimClr | CheckpointFormat::Swav | CheckpointFormat::MocoV3 => &["state_dict."],
            CheckpointFormat::Byol => &["online_network_state_dict."],
            CheckpointFormat::Dino => &["teacher."],
        }
    }

    /// The wrapper this file uses ("" when the state dict is the file's top level).
    pub fn wrapper<S: AsRef<str>>(self, keys: &[S]) -> &'static str {
        self.wrappers().iter().copied().find(|w| keys.iter().any(|k| k.as_ref().starts_with(w))).unwrap_or("")
    }

    /// Maps tensor `key` of a file whose wrapper is `wrapper` (from [`Self::wrapper`]).
    pub fn map_key(self, wrapper: &str, key: &str) -> KeyFate {
        let Some(mut k) = key.strip_prefix(wrapper) else { return KeyFate::Ignored };
        if k.ends_with("num_batches_tracked") {
            return KeyFate::Ignored;
        }
        let owned: String;
        match self {
            CheckpointFormat::Torchvision | CheckpointFormat::SimClr => {
                while let Some(rest) = k.strip_prefix("module.").or_else(|| k.strip_prefix("encoder.")) {
                    k = rest;
                }
                owned = k.to_string();
            }
            CheckpointFormat::Timm | CheckpointFormat::Swav => {
                k = k.strip_prefix("module.").unwrap_or(k);
                if self == CheckpointFormat::Swav && (k.starts_with("projection_head.") || k.starts_with("prototypes")) {
                    return KeyFate::Dropped;
                }
                owned = k.to_string();
            }
            CheckpointFormat::Byol => {
                let Some(rest) = k.strip_prefix("encoder.") else { return KeyFate::Ignored };
                let (index, tail) = rest.split_once('.').unwrap_or((rest, ""));
                let name = match index {
                    "0" => "conv1",
                    "1" => "bn1",
                    "4" => "layer1",
                    "5" => "layer2",
                    "6" => "layer3",
                    "7" => "layer4",
                    _ => return KeyFate::Model(rest.to_string()),
                };
                owned = format!("{name}.{tail}");
            }
            CheckpointFormat::MocoV3 => {
                k = k.strip_prefix("module.").unwrap_or(k);
                let Some(rest) = k.strip_prefix("base_encoder.") else { return KeyFate::Ignored };
                if rest.starts_with("head.") || rest.starts_with("fc.") {
                    return KeyFate::Dropped;
                }
                owned = rest.to_string();
            }
            CheckpointFormat::Dino => {
                k = k.strip_prefix("module.").unwrap_or(k);
                k = k.strip_prefix("backbone.").unwrap_or(k);
                if k.starts_with("head.") {
                    return KeyFate::Dropped;
                }
                owned = k.to_string();
            }
        }
        // torchvision's shortcut is `downsample.0` (conv) / `downsample.1` (BatchNorm).
        let owned = owned.replace(".downsample.0.", ".downsample.conv.").replace(".downsample.1.", ".downsample.bn.");
        KeyFate::Model(owned)
    }
}

impl std::str::FromStr for CheckpointFormat {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        Self::ALL.iter().find(|(n, _)| *n == s).map(|(_, f)| *f).ok_or_else(|| {
            crate::Error::Weights(format!("unknown checkpoint format '{s}' (valid: {})", Self::names()))
        })
    }
}

/// Where the two tensors of a linear-classifier file are: `<prefix>weight` `[classes, features]`
/// and `<prefix>bias` `[classes]`, under an optional `state_dict` wrapper and `module.` prefix,
/// named `linear` (DINO's and SwAV's `LinearClassifier`/`RegLog`), `fc` (torchvision), `head`
/// (timm) or bare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadLayout {
    /// The file's name of the weight.
    pub weight: String,
    /// The file's name of the bias.
    pub bias: String,
}

impl HeadLayout {
    /// Finds the linear layer of a head file: the file (or its `state_dict`) must hold exactly
    /// one weight and its bias (None otherwise: a whole model is not a head file).
    pub fn find<S: AsRef<str>>(keys: &[S]) -> Option<Self> {
        let wrapper = if keys.iter().any(|k| k.as_ref().starts_with("state_dict.")) { "state_dict." } else { "" };
        if keys.iter().filter(|k| k.as_ref().starts_with(wrapper)).count() != 2 {
            return None;
        }
        let mut layers = Vec::new();
        for key in keys.iter().map(AsRef::as_ref) {
            let Some(k) = key.strip_prefix(wrapper) else { continue };
            let k = k.strip_prefix("module.").unwrap_or(k);
            let Some(prefix) = k.strip_suffix("weight") else { continue };
            if ["linear.", "fc.", "head.", ""].contains(&prefix) {
                let bias = format!("{}bias", &key[..key.len() - "weight".len()]);
                if keys.iter().any(|k| k.as_ref() == bias) {
                    layers.push(HeadLayout { weight: key.to_string(), bias });
                }
            }
        }
        if layers.len() == 1 { layers.pop() } else { None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(s: &str) -> KeyFate {
        KeyFate::Model(s.into())
    }

    #[test]
    fn each_convention_is_recognised_and_mapped() {
        use CheckpointFormat::*;
        let cases: [(&[&str], CheckpointFormat, &str, &str, KeyFate); 8] = [
            (&["conv1.weight", "layer1.0.downsample.0.weight", "fc.weight"], Torchvision, "", "layer1.0.downsample.0.weight", model("layer1.0.downsample.conv.weight")),
            (&["model.module.encoder.conv1.weight"], Torchvision, "model.", "model.module.encoder.conv1.weight", model("conv1.weight")),
            (&["cls_token", "blocks.0.attn.qkv.weight", "head.weight"], Timm, "", "blocks.0.attn.qkv.weight", model("blocks.0.attn.qkv.weight")),
            (&["module.conv1.weight", "module.prototypes.weight"], Swav, "", "module.projection_head.0.weight", KeyFate::Dropped),
            (&["online_network_state_dict.encoder.4.0.conv1.weight"], Byol, "online_network_state_dict.", "online_network_state_dict.encoder.4.0.downsample.1.running_mean", model("layer1.0.downsample.bn.running_mean")),
            (&["state_dict.module.base_encoder.cls_token", "state_dict.module.momentum_encoder.cls_token"], MocoV3, "state_dict.", "state_dict.module.momentum_encoder.cls_token", KeyFate::Ignored),
            (&["cls_token", "pos_embed", "blocks.0.norm1.weight", "norm.weight"], Dino, "", "norm.weight", model("norm.weight")),
            (&["teacher.backbone.cls_token", "teacher.head.mlp.0.weight", "student.module.backbone.cls_token"], Dino, "teacher.", "teacher.backbone.cls_token", model("cls_token")),
        ];
        for (keys, format, wrapper, key, fate) in cases {
            assert_eq!(CheckpointFormat::detect(keys), format, "{keys:?}");
            assert_eq!(format.wrapper(keys), wrapper, "{keys:?}");
            assert_eq!(format.map_key(wrapper, key), fate, "{key}");
        }
        assert_eq!(MocoV3.map_key("state_dict.", "state_dict.module.base_encoder.head.0.weight"), KeyFate::Dropped);
        assert_eq!(MocoV3.map_key("state_dict.", "state_dict.module.base_encoder.fc.2.weight"), KeyFate::Dropped);
        assert_eq!(Dino.map_key("teacher.", "teacher.head.mlp.0.weight"), KeyFate::Dropped);
        assert_eq!(Dino.map_key("teacher.", "student.module.backbone.cls_token"), KeyFate::Ignored);
        assert_eq!(Torchvision.map_key("", "bn1.num_batches_tracked"), KeyFate::Ignored);
        assert_eq!(Byol.map_key("online_network_state_dict.", "online_network_state_dict.projetion.net.0.weight"), KeyFate::Ignored);
    }

    #[test]
    fn format_names_parse_and_bad_ones_list_the_valid_ones() {
        assert_eq!("mocov3".parse::<CheckpointFormat>().unwrap(), CheckpointFormat::MocoV3);
        let err = "moco".parse::<CheckpointFormat>().unwrap_err().to_string();
        assert!(err.contains("dino") && err.contains("torchvision"), "{err}");
    }

    #[test]
    fn a_head_file_has_one_linear_layer() {
        let dino = ["state_dict.module.linear.weight", "state_dict.module.linear.bias"];
        let found = HeadLayout::find(&dino).unwrap();
        assert_eq!(found.weight, "state_dict.module.linear.weight");
        assert_eq!(found.bias, "state_dict.module.linear.bias");
        assert_eq!(HeadLayout::find(&["weight", "bias"]).unwrap().bias, "bias");
        assert!(HeadLayout::find(&["fc.weight", "fc.bias", "head.weight", "head.bias"]).is_none());
        assert!(HeadLayout::find(&["conv1.weight", "bn1.weight", "bn1.bias"]).is_none());
    }
}
