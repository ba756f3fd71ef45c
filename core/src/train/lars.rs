//! LARS (You et al. 2017) as SimCLR uses it (google-research/simclr `lars_optimizer.py`):
//!
//! ```text
//! g     <- g + wd * w                                   (weights only)
//! trust <- eta * |w| / |g|  (1 when either norm is 0)    (weights only; 1 otherwise)
//! v     <- momentum * v + lr * trust * g
//! w     <- w - v
//! ```
//!
//! Biases and BatchNorm parameters (the rank-1 parameters of our networks) get neither weight
//! decay nor the trust ratio, as in SimCLR. The norms stay on the device: no host reads.

use burn::optim::{ModuleOptimizer, Optimizer, RecordState, StateSink, StateSource};
use burn::tensor::{Device, Tensor};

/// LARS hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lars {
    /// Momentum.
    pub momentum: f64,
    /// Weight decay (weights only).
    pub weight_decay: f64,
    /// Trust coefficient `eta`.
    pub eta: f64,
}

impl Default for Lars {
    fn default() -> Self {
        Self { momentum: 0.9, weight_decay: 1e-6, eta: 0.001 }
    }
}

impl Lars {
    /// The optimizer for a whole module.
    pub fn init(self) -> ModuleOptimizer {
        ModuleOptimizer::from(self)
    }
}

/// The momentum buffer of one parameter.
#[derive(Clone)]
pub struct LarsState<const D: usize> {
    velocity: Tensor<D>,
}

impl<const D: usize> RecordState for LarsState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        out.push_tensor(prefix, "velocity", self.velocity.to_data());
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        src.take_tensor(prefix, "velocity").map(|data| Self { velocity: Tensor::from_data(data, device) })
    }
}

impl Optimizer for Lars {
    type State<const D: usize> = LarsState<D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let scaled = if D > 1 {
            let grad = grad + tensor.clone() * self.weight_decay;
            let w_norm = tensor.clone().powi_scalar(2).sum().sqrt();
            let g_norm = grad.clone().powi_scalar(2).sum().sqrt();
            let usable = w_norm.clone().greater_elem(0.0).bool_and(g_norm.clone().greater_elem(0.0));
            let ratio = (w_norm * self.eta) / g_norm.clamp_min(1e-30);
            let trust = ratio.clone().mask_where(usable.bool_not(), ratio.ones_like());
            grad * trust.reshape([1; D]) * lr
        } else {
            grad * lr
        };
        let velocity = match state {
            Some(s) => s.velocity * self.momentum + scaled,
            None => scaled,
        };
        (tensor - velocity.clone(), Some(LarsState { velocity }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        LarsState { velocity: state.velocity.to_device(device) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_into_vec::<f32>().unwrap()
    }

    #[test]
    fn matches_the_hand_computed_update() {
        let device = Device::flex();
        let lars = Lars { momentum: 0.9, weight_decay: 0.1, eta: 0.001 };
        // w = (3, 4): |w| = 5; g = (0, 1) + 0.1 w = (0.3, 1.4); |g| = sqrt(0.09 + 1.96)
        let w = Tensor::<2>::from_data(TensorData::new(vec![3.0f32, 4.0], [1, 2]), &device);
        let g = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 1.0], [1, 2]), &device);
        let (w1, state) = lars.step(2.0, w.clone(), g.clone(), None);
        let trust = 0.001 * 5.0 / (0.09f32 + 1.96).sqrt();
        let v = [2.0 * trust * 0.3, 2.0 * trust * 1.4];
        let got = values(w1.clone());
        assert!((got[0] - (3.0 - v[0])).abs() < 1e-6 && (got[1] - (4.0 - v[1])).abs() < 1e-6, "{got:?}");
        // second step: momentum carries the first update
        let (w2, _) = lars.step(2.0, w1.clone(), g, state);
        let w1v = values(w1);
        let norm1 = (w1v[0].powi(2) + w1v[1].powi(2)).sqrt();
        let g2 = [0.1 * w1v[0], 1.0 + 0.1 * w1v[1]];
        let trust2 = 0.001 * norm1 / (g2[0].powi(2) + g2[1].powi(2)).sqrt();
        let expected = [w1v[0] - (0.9 * v[0] + 2.0 * trust2 * g2[0]), w1v[1] - (0.9 * v[1] + 2.0 * trust2 * g2[1])];
        let got = values(w2);
        assert!((got[0] - expected[0]).abs() < 1e-6 && (got[1] - expected[1]).abs() < 1e-6, "{got:?} vs {expected:?}");
    }

    #[test]
    fn biases_skip_decay_and_adaptation_and_zero_weights_use_trust_one() {
        let device = Device::flex();
        let lars = Lars { momentum: 0.9, weight_decay: 0.5, eta: 0.001 };
        let b = Tensor::<1>::from_data(TensorData::new(vec![1.0f32, -2.0], [2]), &device);
        let g = Tensor::<1>::from_data(TensorData::new(vec![0.5f32, 0.5], [2]), &device);
        let (b1, _) = lars.step(0.1, b, g, None);
        assert_eq!(values(b1), vec![0.95, -2.05]);
        let w = Tensor::<2>::zeros([2, 2], &device);
        let g = Tensor::<2>::ones([2, 2], &device);
        let (w1, _) = lars.step(0.1, w, g, None);
        assert!(values(w1).iter().all(|v| (v + 0.1).abs() < 1e-7));
    }
}
