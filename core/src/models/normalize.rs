//! Per-channel input normalisation applied inside the model, so that every attack works in
//! [0, 1] pixel space (AutoAttack and torchattacks expect exactly this).

use burn::tensor::{Tensor, TensorData};
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

    /// Normalises an `[N, 3, H, W]` batch.
    pub fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        let device = x.device();
        let mean = Tensor::<1>::from_data(TensorData::from(self.mean), &device).reshape([1, 3, 1, 1]);
        let inv_std = Tensor::<1>::from_data(TensorData::from(self.std.map(|s| 1.0 / s)), &device)
            .reshape([1, 3, 1, 1]);
        (x - mean) * inv_std
    }
}
