//! Dual BatchNorm, the "dual stream" of ACL (Jiang et al., *Robust Pre-Training by Adversarial
//! Contrastive Learning*, NeurIPS 2020, Section 3.2; VITA-Group/Adversarial-Contrastive-Learning
//! `models/resnet_multi_bn.py`, `bn_names=['normal', 'pgd']`): a network whose BatchNorm layers
//! come in two sets, one for clean images and one for adversarial ones, every other weight
//! shared.
//!
//! A network keeps its own BatchNorm layers under their torchvision names (the "normal" set, so
//! single-set checkpoints and imports are unchanged) and, when built with
//! [`super::ModelConfig::dual_batch_norm`], a second set `bn_pgd.K` holding one layer per
//! BatchNorm in the order a forward pass meets them. A [`Norms`] picks the set of one forward
//! pass. Both sets are parameters and buffers of the module, so checkpoints save and load both
//! (weights and running statistics).

use super::cpu_batch_norm::batch_norm;
use burn::nn::{BatchNorm, BatchNormConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// One of the two BatchNorm sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BnSet {
    /// The clean stream's set (the network's own layers).
    #[default]
    Normal,
    /// The adversarial stream's set.
    Pgd,
}

impl BnSet {
    /// The name on the command line and in configs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Pgd => "pgd",
        }
    }
}

impl std::str::FromStr for BnSet {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "normal" => Ok(Self::Normal),
            "pgd" => Ok(Self::Pgd),
            _ => Err(crate::Error::Model(format!("unknown BatchNorm set '{s}' (valid: normal, pgd)"))),
        }
    }
}

/// The BatchNorm layers of one forward pass: each layer's own, or, one after the other in
/// forward order, the layers of the second set. A network without a second set has one set,
/// which both names mean.
pub(crate) struct Norms<'a> {
    pgd: Option<std::slice::Iter<'a, BatchNorm>>,
}

impl<'a> Norms<'a> {
    /// The layers of `set`, given the network's second set (if it has one).
    pub(crate) fn new(set: BnSet, second: Option<&'a [BatchNorm]>) -> Self {
        Self { pgd: second.filter(|_| set == BnSet::Pgd).map(|s| s.iter()) }
    }

    /// `own` (or its counterpart in the second set) applied to `x`.
    pub(crate) fn apply<const D: usize>(&mut self, own: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
        match &mut self.pgd {
            Some(layers) => batch_norm(layers.next().expect("the second set has one layer per BatchNorm"), x),
            None => batch_norm(own, x),
        }
    }
}

/// A freshly initialised layer of the same width for each of `layers` (PyTorch's BatchNorm
/// defaults, as the first set).
pub(crate) fn second_set(layers: &[&BatchNorm], device: &Device) -> Vec<BatchNorm> {
    layers.iter().map(|bn| BatchNormConfig::new(bn.gamma.dims()[0]).init(device)).collect()
}
