//! Scalar metrics of the paper's tables.

use burn::tensor::{Bool, Int, Tensor};

use crate::models::Classifier;

/// Predicted classes (`argmax` of the logits), shape `[N]`.
pub fn predictions(logits: Tensor<2>) -> Tensor<1, Int> {
    logits.argmax(1).flatten::<1>(0, 1)
}

/// Which predictions equal their labels, `[N]`, on the device.
pub fn correct(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1, Bool> {
    predictions(logits).equal(labels)
}

/// Number of `true` entries (reads one number back from the device).
pub fn count(mask: Tensor<1, Bool>) -> usize {
    mask.int().sum().into_scalar::<i64>() as usize
}

/// Number of positions where predictions equal labels (reads one number back from the device).
pub fn count_correct(logits: Tensor<2>, labels: Tensor<1, Int>) -> usize {
    count(correct(logits, labels))
}

/// Number of samples classified correctly both clean (`clean_correct`, from [`correct`]) and
/// after the attack (one read-back): the robust count of AutoAttack and torchattacks, where a
/// misclassified image stays misclassified even if an attack's random start happens to fix it.
pub fn count_robust(clean_correct: Tensor<1, Bool>, adversarial_logits: Tensor<2>, labels: Tensor<1, Int>) -> usize {
    count(clean_correct.bool_and(correct(adversarial_logits, labels)))
}

/// Correctly classified samples (`true`) of a batch, read back to the host.
pub fn correct_mask(model: &Classifier, x: Tensor<4>, y: &Tensor<1, Int>) -> Vec<bool> {
    let ok = correct(model.forward(x), y.clone()).int();
    ok.into_data().convert::<i64>().try_into_vec::<i64>().unwrap_or_default().into_iter().map(|v| v != 0).collect()
}

/// Relative accuracy drop `P_drop = (clean - adversarial) / clean` (paper, Section 4).
/// Zero when the clean accuracy is zero.
pub fn relative_drop(clean: f64, adversarial: f64) -> f64 {
    if clean > 0.0 { (clean - adversarial) / clean } else { 0.0 }
}

/// Indices of the `k` largest `values`, largest first; equal values keep their order (the
/// host-side top-k of one image's probabilities, for the CLI's and the page's top-5 lists).
pub fn top_k(values: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    order.truncate(k);
    order
}

/// The l_inf and l_2 norms of the perturbation `adversarial - clean` (host values).
pub fn perturbation_norms(adversarial: &[f32], clean: &[f32]) -> (f32, f32) {
    let (linf, squares) = adversarial.iter().zip(clean).map(|(a, b)| a - b).fold((0f32, 0f32), |(m, s), d| (m.max(d.abs()), s + d * d));
    (linf, squares.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn robust_counts_need_both_clean_and_adversarial_correct() {
        let d = Device::flex();
        // Labels 0, 1, 0, 1. Clean predictions 0, 0, 0, 1 (sample 1 wrong); adversarial 0, 1, 1, 1
        // (sample 1 "fixed", sample 2 fooled).
        let logits = |winners: [usize; 4]| {
            let v: Vec<f32> = winners.iter().flat_map(|&w| if w == 0 { [1.0, 0.0] } else { [0.0, 1.0] }).collect();
            Tensor::<2>::from_data(TensorData::new(v, [4, 2]), &d)
        };
        let labels = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1, 0, 1], [4]), &d);
        assert_eq!(count_correct(logits([0, 1, 1, 1]), labels.clone()), 3);
        assert_eq!(count_robust(correct(logits([0, 0, 0, 1]), labels.clone()), logits([0, 1, 1, 1]), labels), 2);
    }

    #[test]
    fn counts_and_drops() {
        let device = Device::flex();
        let logits = Tensor::<2>::from_data(TensorData::from([[0.1f32, 0.9], [0.8, 0.2], [0.3, 0.7]]), &device);
        let labels = Tensor::<1, Int>::from_data(TensorData::from([1i64, 1, 1]), &device);
        assert_eq!(count_correct(logits, labels), 2);
        assert!((relative_drop(0.8, 0.2) - 0.75).abs() < 1e-12);
        assert_eq!(relative_drop(0.0, 0.0), 0.0);
    }

    #[test]
    fn top_k_and_perturbation_norms() {
        assert_eq!(top_k(&[0.1, 0.5, 0.2, 0.5], 3), vec![1, 3, 2]);
        assert_eq!(top_k(&[0.3], 5), vec![0]);
        let (linf, l2) = perturbation_norms(&[0.5, 0.1, 0.9], &[0.2, 0.5, 0.9]);
        assert!((linf - 0.4).abs() < 1e-6 && (l2 - 0.5).abs() < 1e-6);
    }
}
