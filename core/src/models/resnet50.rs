//! ResNet-50: bottleneck blocks (He et al. 2016, Table 1; stride on the 3x3 convolution as in
//! torchvision, "v1.5"), stages of 3, 4, 6 and 3 blocks, 2048-d features at the standard width
//! 64, with one of two stems ([`Stem`]): the CIFAR stem (3x3 stride-1 convolution, no max-pool)
//! of SupContrast's `resnet_big` and the paper's CIFAR models, or torchvision's ImageNet stem
//! (7x7 stride-2 convolution, 3x3 stride-2 max-pool), the network of the paper's Table 2.
//!
//! Parameter names follow torchvision (`layer3.5.conv3`, `layer1.0.downsample`, `fc`), so
//! SupContrast and torchvision checkpoints load through [`super::import`].

use super::cpu_conv::conv2d;
use super::cpu_batch_norm::batch_norm;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use super::cpu_relu::{add_relu, relu};
use burn::tensor::{Device, Tensor};

use super::resnet::{Downsample, conv3x3};

/// Channel expansion of the last 1x1 convolution of a bottleneck.
const EXPANSION: usize = 4;

fn conv1x1(cin: usize, cout: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [1, 1]).with_bias(false).init(device)
}

/// 1x1 reduce, 3x3 (strided), 1x1 expand, with a residual connection.
#[derive(Module, Debug)]
pub struct Bottleneck {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    conv3: Conv2d,
    bn3: BatchNorm,
    downsample: Option<Downsample>,
}

impl Bottleneck {
    fn new(cin: usize, planes: usize, stride: usize, device: &Device) -> Self {
        let cout = planes * EXPANSION;
        Self {
            conv1: conv1x1(cin, planes, device),
            bn1: BatchNormConfig::new(planes).init(device),
            conv2: conv3x3(planes, planes, stride, device),
            bn2: BatchNormConfig::new(planes).init(device),
            conv3: conv1x1(planes, cout, device),
            bn3: BatchNormConfig::new(cout).init(device),
            downsample: (stride != 1 || cin != cout).then(|| Downsample::new(cin, cout, stride, device)),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(d) => d.forward(x.clone()),
            None => x.clone(),
        };
        let out = relu(batch_norm(&self.bn1, conv2d(&self.conv1, x)));
        let out = relu(batch_norm(&self.bn2, conv2d(&self.conv2, out)));
        let out = batch_norm(&self.bn3, conv2d(&self.conv3, out));
        add_relu(out, identity)
    }
}

/// The first layers of a ResNet, before `layer1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stem {
    /// 3x3 stride-1 convolution, no max-pool (32x32 inputs).
    Cifar,
    /// torchvision's ImageNet stem: 7x7 stride-2 convolution (padding 3), BatchNorm, ReLU,
    /// 3x3 stride-2 max-pool (padding 1): 224x224 inputs reach `layer1` at 56x56.
    ImageNet,
}

/// ResNet-50 with a linear classifier `fc` on the pooled features.
#[derive(Module, Debug)]
pub struct ResNet50 {
    conv1: Conv2d,
    bn1: BatchNorm,
    /// The ImageNet stem's max-pool (no parameters).
    #[module(skip)]
    maxpool: Option<MaxPool2d>,
    layer1: Vec<Bottleneck>,
    layer2: Vec<Bottleneck>,
    layer3: Vec<Bottleneck>,
    layer4: Vec<Bottleneck>,
    pub(crate) fc: Linear,
}

impl ResNet50 {
    /// A freshly initialised network; `width` 64 is the standard one.
    pub fn new(width: usize, num_classes: usize, device: &Device) -> Self {
        Self::with_stem(Stem::Cifar, width, num_classes, device)
    }

    /// A freshly initialised network with `stem`.
    pub fn with_stem(stem: Stem, width: usize, num_classes: usize, device: &Device) -> Self {
        let mut cin = width;
        let mut stage = |planes: usize, blocks: usize, stride: usize| {
            let layer: Vec<Bottleneck> = (0..blocks)
                .map(|b| {
                    let block = Bottleneck::new(cin, planes, if b == 0 { stride } else { 1 }, device);
                    cin = planes * EXPANSION;
                    block
                })
                .collect();
            layer
        };
        let (layer1, layer2, layer3, layer4) =
            (stage(width, 3, 1), stage(2 * width, 4, 2), stage(4 * width, 6, 2), stage(8 * width, 3, 2));
        let (conv1, maxpool) = match stem {
            Stem::Cifar => (conv3x3(3, width, 1, device), None),
            Stem::ImageNet => (
                Conv2dConfig::new([3, width], [7, 7])
                    .with_stride([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(3, 3, 3, 3))
                    .with_bias(false)
                    .init(device),
                // Inputs of the max-pool are ReLU outputs (>= 0), so its padding value (-inf in
                // PyTorch) never wins a window that also holds an input.
                Some(MaxPool2dConfig::new([3, 3]).with_strides([2, 2]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init()),
            ),
        };
        Self {
            conv1,
            bn1: BatchNormConfig::new(width).init(device),
            maxpool,
            layer1,
            layer2,
            layer3,
            layer4,
            fc: LinearConfig::new(Self::feature_dim(width), num_classes).init(device),
        }
    }

    /// Width of the pooled features: `32 * width` (2048 at width 64).
    pub fn feature_dim(width: usize) -> usize {
        8 * width * EXPANSION
    }

    /// Backbone features `[N, 32 * width]`.
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = relu(batch_norm(&self.bn1, conv2d(&self.conv1, x)));
        if let Some(pool) = &self.maxpool {
            x = pool.forward(x);
        }
        for block in self.layer1.iter().chain(&self.layer2).chain(&self.layer3).chain(&self.layer4) {
            x = block.forward(x);
        }
        x.mean_dims(&[2, 3]).flatten(1, 3)
    }

    /// Class logits from backbone features.
    pub fn classify(&self, features: Tensor<2>) -> Tensor<2> {
        self.fc.forward(features)
    }
}
