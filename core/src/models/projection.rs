//! The projection head of contrastive training (SimCLR Section 2.1; SupContrast's `head='mlp'`):
//! `Linear(d, d) - ReLU - Linear(d, out)` on the backbone features, output L2-normalised. It
//! exists only during pre-training; linear evaluation and attacks use the backbone features.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use super::cpu_relu::relu;
use burn::tensor::{Device, Tensor};

use crate::losses::l2_normalize;

/// A two-layer MLP with a normalised output.
#[derive(Module, Debug)]
pub struct ProjectionHead {
    fc1: Linear,
    fc2: Linear,
}

impl ProjectionHead {
    /// `input -> input -> output` (512 -> 512 -> 128 for ResNet-18).
    pub fn new(input: usize, output: usize, device: &Device) -> Self {
        Self { fc1: LinearConfig::new(input, input).init(device), fc2: LinearConfig::new(input, output).init(device) }
    }

    /// Unit-norm projections of backbone features.
    pub fn forward(&self, features: Tensor<2>) -> Tensor<2> {
        l2_normalize(self.fc2.forward(relu(self.fc1.forward(features))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_unit_vectors_of_the_requested_size() {
        let device = Device::flex();
        let head = ProjectionHead::new(16, 8, &device);
        let z = head.forward(Tensor::<2>::ones([3, 16], &device));
        assert_eq!(z.dims(), [3, 8]);
        let norms = z.powi_scalar(2).sum_dim(1).into_data().try_into_vec::<f32>().unwrap();
        assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-5), "{norms:?}");
    }
}
