//! ResNet-18 in its CIFAR form (He et al. 2016; 3x3 stride-1 stem, no max-pool), as used by
//! SimCLR, SupCon and the paper (Section 4: "ResNet-18 ... CIFAR-10").
//!
//! Parameter names follow torchvision (`conv1`, `bn1`, `layer1.0.conv1`, `layer2.0.downsample`,
//! `fc`); torchvision's `downsample.0` / `downsample.1` are this module's `downsample.conv` /
//! `downsample.bn` and are renamed on import (see [`super::import`]). `width` scales every
//! stage (64 is the standard network; 8 or 16 give fast CPU models with the same topology).

use super::cpu_conv::conv2d;
use super::cpu_batch_norm::batch_norm;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use super::cpu_relu::{add_relu, relu};
use burn::tensor::{Device, Tensor};

use super::batch_norms::{BnSet, Norms, second_set};

/// A 3x3 convolution with padding 1 and no bias (followed by BatchNorm everywhere it is used).
pub(crate) fn conv3x3(cin: usize, cout: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
        .init(device)
}

/// The 1x1 projection shortcut of a block that changes shape.
#[derive(Module, Debug)]
pub struct Downsample {
    conv: Conv2d,
    bn: BatchNorm,
}

impl Downsample {
    /// A strided 1x1 convolution and BatchNorm from `cin` to `cout` channels.
    pub(crate) fn new(cin: usize, cout: usize, stride: usize, device: &Device) -> Self {
        Self {
            conv: Conv2dConfig::new([cin, cout], [1, 1]).with_stride([stride, stride]).with_bias(false).init(device),
            bn: BatchNormConfig::new(cout).init(device),
        }
    }

    /// The shortcut branch.
    pub(crate) fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        batch_norm(&self.bn, conv2d(&self.conv, x))
    }

    /// The shortcut branch with the BatchNorm of `norms`.
    fn forward_with(&self, x: Tensor<4>, norms: &mut Norms) -> Tensor<4> {
        norms.apply(&self.bn, conv2d(&self.conv, x))
    }
}

/// Two 3x3 convolutions with a residual connection.
#[derive(Module, Debug)]
pub struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    downsample: Option<Downsample>,
}

impl BasicBlock {
    fn new(cin: usize, cout: usize, stride: usize, device: &Device) -> Self {
        let downsample = (stride != 1 || cin != cout).then(|| Downsample::new(cin, cout, stride, device));
        Self {
            conv1: conv3x3(cin, cout, stride, device),
            bn1: BatchNormConfig::new(cout).init(device),
            conv2: conv3x3(cout, cout, 1, device),
            bn2: BatchNormConfig::new(cout).init(device),
            downsample,
        }
    }

    /// The block with the BatchNorm layers of `norms`, met in the order of
    /// [`BasicBlock::batch_norms`].
    fn forward(&self, x: Tensor<4>, norms: &mut Norms) -> Tensor<4> {
        let out = relu(norms.apply(&self.bn1, conv2d(&self.conv1, x.clone())));
        let out = norms.apply(&self.bn2, conv2d(&self.conv2, out));
        let identity = match &self.downsample {
            Some(d) => d.forward_with(x, norms),
            None => x,
        };
        add_relu(out, identity)
    }

    /// The block's BatchNorm layers in forward order: `bn1`, `bn2`, `downsample.bn`.
    fn batch_norms(&self) -> Vec<&BatchNorm> {
        let mut layers = vec![&self.bn1, &self.bn2];
        layers.extend(self.downsample.as_ref().map(|d| &d.bn));
        layers
    }
}

/// ResNet-18 (CIFAR stem) with a linear classifier `fc` on the pooled features.
#[derive(Module, Debug)]
pub struct ResNet18 {
    conv1: Conv2d,
    bn1: BatchNorm,
    layer1: Vec<BasicBlock>,
    layer2: Vec<BasicBlock>,
    layer3: Vec<BasicBlock>,
    layer4: Vec<BasicBlock>,
    pub(crate) fc: Linear,
    /// The second BatchNorm set ("pgd", dual BatchNorm), one layer per BatchNorm in forward
    /// order ([`ResNet18::batch_norms`]); `None` for a single set.
    bn_pgd: Option<Vec<BatchNorm>>,
}

impl ResNet18 {
    /// A freshly initialised network (PyTorch's default initialisation).
    pub fn new(width: usize, num_classes: usize, device: &Device) -> Self {
        let w = [width, 2 * width, 4 * width, 8 * width];
        let stage = |cin: usize, cout: usize, stride: usize| {
            vec![BasicBlock::new(cin, cout, stride, device), BasicBlock::new(cout, cout, 1, device)]
        };
        Self {
            conv1: conv3x3(3, w[0], 1, device),
            bn1: BatchNormConfig::new(w[0]).init(device),
            layer1: stage(w[0], w[0], 1),
            layer2: stage(w[0], w[1], 2),
            layer3: stage(w[1], w[2], 2),
            layer4: stage(w[2], w[3], 2),
            fc: LinearConfig::new(w[3], num_classes).init(device),
            bn_pgd: None,
        }
    }

    /// The same network with a freshly initialised second BatchNorm set (dual BatchNorm).
    pub fn with_second_batch_norms(mut self, device: &Device) -> Self {
        self.bn_pgd = Some(second_set(&self.batch_norms(), device));
        self
    }

    /// Every BatchNorm layer in the order a forward pass meets it.
    fn batch_norms(&self) -> Vec<&BatchNorm> {
        let mut layers = vec![&self.bn1];
        for block in self.layer1.iter().chain(&self.layer2).chain(&self.layer3).chain(&self.layer4) {
            layers.extend(block.batch_norms());
        }
        layers
    }

    /// Backbone features `[N, 8 * width]` (global average pool after `layer4`).
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        self.features_with(x, BnSet::Normal)
    }

    /// Backbone features through the BatchNorm set `set` (the one set without dual BatchNorm).
    pub fn features_with(&self, x: Tensor<4>, set: BnSet) -> Tensor<2> {
        let mut norms = Norms::new(set, self.bn_pgd.as_deref());
        let mut x = relu(norms.apply(&self.bn1, conv2d(&self.conv1, x)));
        for block in self.layer1.iter().chain(&self.layer2).chain(&self.layer3).chain(&self.layer4) {
            x = block.forward(x, &mut norms);
        }
        x.mean_dims(&[2, 3]).flatten(1, 3)
    }

    /// Class logits from backbone features.
    pub fn classify(&self, features: Tensor<2>) -> Tensor<2> {
        self.fc.forward(features)
    }
}
