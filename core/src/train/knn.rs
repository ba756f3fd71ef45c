//! The weighted k-nearest-neighbour monitor of contrastive pre-training (Wu et al. 2018,
//! Section 3.4; k = 200, cosine similarity, votes weighted by `exp(s / 0.1)`): no training,
//! so it tracks representation quality every epoch.

use burn::tensor::{Device, Int, Tensor};

use crate::geometry::extract_features;
use crate::data::ImageSet;
use crate::data::batch::labels_tensor;
use crate::losses::l2_normalize;
use crate::metrics::predictions;
use crate::models::Classifier;

/// kNN settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KnnConfig {
    /// Neighbours.
    pub k: usize,
    /// Temperature of the vote weights.
    pub temperature: f32,
}

impl Default for KnnConfig {
    fn default() -> Self {
        Self { k: 200, temperature: 0.1 }
    }
}

/// Top-1 accuracy on `test` of a weighted kNN vote among the backbone features of `bank`.
pub fn knn_accuracy(model: &Classifier, bank: &ImageSet, test: &ImageSet, config: &KnnConfig, device: &Device) -> f64 {
    let classes = bank.class_names.len().max(bank.labels.iter().max().map_or(0, |m| m + 1));
    let bank_features = l2_normalize(extract_features(model, bank, 256, device));
    let bank_labels = labels_tensor(&bank.labels, device);
    let k = config.k.clamp(1, bank.len().max(1));
    let mut correct = 0usize;
    for start in (0..test.len()).step_by(256) {
        let indices: Vec<usize> = (start..(start + 256).min(test.len())).collect();
        let sub = test.select(&indices);
        let f = l2_normalize(extract_features(model, &sub, 256, device));
        let predicted = knn_predict(f, bank_features.clone(), bank_labels.clone(), classes, k, config.temperature);
        correct += predicted.equal(labels_tensor(&sub.labels, device)).int().sum().into_scalar::<i64>() as usize;
    }
    correct as f64 / test.len().max(1) as f64
}

/// Predicted classes of unit-norm `queries` `[B, d]` by a weighted vote of their `k` most
/// similar rows of unit-norm `bank` `[M, d]` with labels `bank_labels`.
pub fn knn_predict(queries: Tensor<2>, bank: Tensor<2>, bank_labels: Tensor<1, Int>, classes: usize, k: usize, temperature: f32) -> Tensor<1, Int> {
    let [b, _] = queries.dims();
    let m = bank.dims()[0];
    let similarity = queries.matmul(bank.transpose());
    let (values, indices) = similarity.topk_with_indices(k, 1);
    let neighbour_labels = bank_labels.reshape([1, m]).expand([b, m]).gather(1, indices);
    // Shifting by the row maximum keeps exp() finite for small temperatures; votes scale alike.
    let weights = ((values.clone() - values.max_dim(1)) / temperature).exp();
    let votes: Vec<Tensor<2>> = (0..classes)
        .map(|c| (neighbour_labels.clone().equal_elem(c as i64).float() * weights.clone()).sum_dim(1))
        .collect();
    predictions(Tensor::cat(votes, 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn votes_follow_the_nearest_weighted_neighbours() {
        let device = Device::flex();
        // bank: two class-0 points near (1, 0), one class-1 point at (0, 1)
        let bank = Tensor::<2>::from_data(TensorData::from([[1.0f32, 0.0], [0.96, 0.28], [0.0, 1.0]]), &device);
        let labels = Tensor::<1, Int>::from_data(TensorData::from([0i64, 0, 1]), &device);
        let queries = Tensor::<2>::from_data(TensorData::from([[0.8f32, 0.6], [0.0, 1.0], [0.5, 0.866]]), &device);
        let k1 = knn_predict(queries.clone(), bank.clone(), labels.clone(), 2, 1, 0.1).into_data().iter::<i64>().collect::<Vec<_>>();
        assert_eq!(k1, vec![0, 1, 1]);
        // with k = 3 and a flat temperature, two class-0 votes outweigh one class-1 vote
        let k3 = knn_predict(queries.clone(), bank.clone(), labels.clone(), 2, 3, 100.0).into_data().iter::<i64>().collect::<Vec<_>>();
        assert_eq!(k3, vec![0, 0, 0]);
        // a sharp temperature lets the single closest neighbour decide again
        let sharp = knn_predict(queries, bank, labels, 2, 3, 0.01).into_data().iter::<i64>().collect::<Vec<_>>();
        assert_eq!(sharp, vec![0, 1, 1]);
    }
}
