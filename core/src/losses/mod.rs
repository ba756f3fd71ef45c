//! Training losses: cross-entropy here, and the one masked contrastive loss behind NT-Xent,
//! SupCon, FNC and A-FNC in [`contrastive`], and the objectives of adversarial contrastive
//! learning (RoCL, ACL) built on it in [`adversarial`].

pub mod adversarial;
pub mod contrastive;

pub use contrastive::{ContrastiveObjective, ContrastiveOutput, contrastive_loss, contrastive_loss_with, l2_normalize, nt_xent, supcon};

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor};

/// Per-sample cross-entropy `-log softmax(logits)[y]`, shape `[N]`.
///
/// Picks the label's log-probability with `gather` (no host read: Burn's `one_hot` checks the
/// label values on the host, a synchronous read that panics in the browser).
pub fn cross_entropy_per_sample(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let [n, _] = logits.dims();
    log_softmax(logits, 1).gather(1, labels.reshape([n, 1])).flatten::<1>(0, 1).neg()
}

/// Mean cross-entropy over the batch (the supervised training loss).
pub fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    cross_entropy_per_sample(logits, labels).mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn matches_hand_computed_values() {
        let device = Device::flex();
        let logits = Tensor::<2>::from_data(TensorData::from([[0.0f32, 0.0, 0.0], [1.0, 2.0, 3.0]]), &device);
        let labels = Tensor::<1, Int>::from_data(TensorData::from([1i64, 2]), &device);
        let per = cross_entropy_per_sample(logits.clone(), labels.clone()).into_data().try_into_vec::<f32>().unwrap();
        // ln 3, and ln(e + e^2 + e^3) - 3
        let expected = [3f32.ln(), (1f32.exp() + 2f32.exp() + 3f32.exp()).ln() - 3.0];
        for (a, b) in per.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        let mean = cross_entropy(logits, labels).into_scalar::<f32>();
        assert!((mean - (expected[0] + expected[1]) / 2.0).abs() < 1e-6);
    }
}
