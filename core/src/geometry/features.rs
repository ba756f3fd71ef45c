//! Backbone features of a whole dataset (eval mode, no augmentation), for the kNN monitor and
//! linear evaluation.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::data::ImageSet;
use crate::data::batch::{BatchOrder, gather};
use crate::models::Classifier;

/// `[N, d]` backbone features of every image of `set`, on `device`.
pub fn extract_features(model: &Classifier, set: &ImageSet, batch_size: usize, device: &Device) -> Tensor<2> {
    let model = model.valid();
    let order = BatchOrder::sequential(set.len(), batch_size);
    let parts: Vec<Tensor<2>> = order.batches().map(|indices| model.features(gather(set, indices, device).0)).collect();
    Tensor::cat(parts, 0)
}
