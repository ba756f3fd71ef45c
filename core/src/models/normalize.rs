//! Per-channel input normalisation applied inside the model, so that every attack works in
//! [0, 1] pixel space (AutoAttack and torchattacks expect exactly this).

use std::cell::RefCell;

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// `(x - mean) / std` per RGB channel.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Channel means.
    pub mean: [f32; 3],
    /// Channel standard deviations (all > 0).
    pub std: [f32; 3],
}

impl Normalization {
    /// The CIFAR-10 statistics used by HobbitLong/SupContrast (the paper's code base).
    pub const CIFAR10: Normalization =
        Normalization { mean: [0.4914, 0.4822, 0.4465], std: [0.2023, 0.1994, 0.2010] };

    /// The ImageNet statistics of torchvision's models and of the self-supervised ImageNet
    /// checkpoints (SwAV, BYOL, MoCo v3 and DINO all normalise with them).
    pub const IMAGENET: Normalization = Normalization { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

    /// mean = std = 0.5 per channel: timm's `IMAGENET_INCEPTION_MEAN/STD`, used by timm's
    /// AugReg ViTs (`vit_*_patch16_224.augreg*`).
    pub const INCEPTION: Normalization = Normalization { mean: [0.5; 3], std: [0.5; 3] };

    /// The named statistics (`cifar10`, `imagenet`, `inception`) by name.
    pub const NAMED: [(&'static str, Normalization); 3] =
        [("cifar10", Normalization::CIFAR10), ("imagenet", Normalization::IMAGENET), ("inception", Normalization::INCEPTION)];

    /// Normalises an `[N, 3, H, W]` batch. The `[1, 3, 1, 1]` mean and 1/std tensors are
    /// uploaded once per device and kept (per thread), not on every forward pass; on an autodiff
    /// input they enter its graph as constants.
    pub fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        let device = x.device();
        let (mut mean, mut inv_std) = self.constants(&device.clone().without_autodiff());
        // Mixed-precision training runs the forward in f16/bf16 on an f32 device: the cached
        // f32 constants follow the input's dtype.
        if mean.dtype() != x.dtype() {
            let dtype: burn::tensor::FloatDType = x.dtype().into();
            (mean, inv_std) = (mean.cast(dtype), inv_std.cast(dtype));
        }
        if device.is_autodiff() {
            (x - mean.autodiff()) * inv_std.autodiff()
        } else {
            (x - mean) * inv_std
        }
    }

    /// The cached constants on a device without autodiff.
    fn constants(&self, device: &Device) -> (Tensor<4>, Tensor<4>) {
        type Entry = (Device, Normalization, Tensor<4>, Tensor<4>);
        thread_local! {
            static CACHE: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
        }
        CACHE.with(|cache| {
            let mut cache = cache.borrow_mut();
            if let Some((_, _, m, s)) = cache.iter().find(|(d, n, _, _)| d == device && n == self) {
                return (m.clone(), s.clone());
            }
            let mean = Tensor::<1>::from_data(TensorData::from(self.mean), device).reshape([1, 3, 1, 1]);
            let inv_std = Tensor::<1>::from_data(TensorData::from(self.std.map(|s| 1.0 / s)), device).reshape([1, 3, 1, 1]);
            // A process uses a handful of devices; keep the list bounded anyway.
            if cache.len() >= 16 {
                cache.remove(0);
            }
            cache.push((device.clone(), *self, mean.clone(), inv_std.clone()));
            (mean, inv_std)
        })
    }
}
