//! A small CNN for fast tests and CPU demos: three conv-BN-ReLU stages (strides 1, 2, 2),
//! global average pooling and a linear classifier.

use super::cpu_conv::conv2d;
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use super::cpu_relu::relu;
use burn::tensor::{Device, Tensor};

use super::batch_norms::{BnSet, Norms, second_set};
use super::resnet::conv3x3;

/// Three convolutional stages of `width`, `2 width`, `4 width` channels.
#[derive(Module, Debug)]
pub struct SmallCnn {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    conv3: Conv2d,
    bn3: BatchNorm,
    pub(crate) fc: Linear,
    /// The second BatchNorm set ("pgd", dual BatchNorm) for `bn1`, `bn2`, `bn3`; `None` for a
    /// single set.
    bn_pgd: Option<Vec<BatchNorm>>,
}

impl SmallCnn {
    /// A freshly initialised network.
    pub fn new(width: usize, num_classes: usize, device: &Device) -> Self {
        let conv = |cin, cout, stride| conv3x3(cin, cout, stride, device);
        Self {
            conv1: conv(3, width, 1),
            bn1: BatchNormConfig::new(width).init(device),
            conv2: conv(width, 2 * width, 2),
            bn2: BatchNormConfig::new(2 * width).init(device),
            conv3: conv(2 * width, 4 * width, 2),
            bn3: BatchNormConfig::new(4 * width).init(device),
            fc: LinearConfig::new(4 * width, num_classes).init(device),
            bn_pgd: None,
        }
    }

    /// The same network with a freshly initialised second BatchNorm set (dual BatchNorm).
    pub fn with_second_batch_norms(mut self, device: &Device) -> Self {
        self.bn_pgd = Some(second_set(&[&self.bn1, &self.bn2, &self.bn3], device));
        self
    }

    /// Backbone features `[N, 4 * width]`.
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        self.features_with(x, BnSet::Normal)
    }

    /// Backbone features through the BatchNorm set `set` (the one set without dual BatchNorm).
    pub fn features_with(&self, x: Tensor<4>, set: BnSet) -> Tensor<2> {
        let mut norms = Norms::new(set, self.bn_pgd.as_deref());
        let x = relu(norms.apply(&self.bn1, conv2d(&self.conv1, x)));
        let x = relu(norms.apply(&self.bn2, conv2d(&self.conv2, x)));
        let x = relu(norms.apply(&self.bn3, conv2d(&self.conv3, x)));
        x.mean_dims(&[2, 3]).flatten(1, 3)
    }

    /// Class logits from backbone features.
    pub fn classify(&self, features: Tensor<2>) -> Tensor<2> {
        self.fc.forward(features)
    }
}
