//! Linear evaluation (SimCLR Section 4, "linear evaluation protocol"): the backbone is frozen,
//! a linear classifier is trained on its features (computed once, in eval mode, without
//! augmentation), and the backbone with this head is the model `eval` attacks.
//! SGD with momentum, cosine decay, zero-initialised head (google-research/simclr).

use burn::module::Module;
use burn::nn::{Initializer, LinearConfig};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use web_time::Instant;

use super::LrSchedule;
use crate::geometry::extract_features;
use crate::data::ImageSet;
use crate::data::batch::{BatchOrder, labels_tensor};
use crate::evaluate::clean_accuracy;
use crate::losses::cross_entropy;
use crate::models::Classifier;

/// Hyper-parameters of the linear classifier.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinearEvalConfig {
    /// Passes over the training features.
    pub epochs: usize,
    /// Features per step.
    pub batch_size: usize,
    /// Peak learning rate (cosine decay to 0).
    pub lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// Seed of the batch order.
    pub seed: u64,
}

impl Default for LinearEvalConfig {
    fn default() -> Self {
        Self { epochs: 100, batch_size: 256, lr: 0.1, momentum: 0.9, weight_decay: 0.0, seed: 0 }
    }
}

/// What linear evaluation measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinearEvalReport {
    /// Accuracy of the linear head on the (unaugmented) training features.
    pub train_accuracy: f64,
    /// Top-1 test accuracy of backbone + head on images.
    pub test_accuracy: f64,
    /// Training images.
    pub train_images: usize,
    /// Test images.
    pub test_images: usize,
    /// Wall time, feature extraction included.
    pub seconds: f64,
}

/// Trains a linear head on the frozen backbone of `encoder`; returns the backbone with that
/// head and the accuracies. `on_epoch(epoch, mean loss)` reports progress.
pub fn linear_eval(
    encoder: &Classifier,
    train: &ImageSet,
    test: &ImageSet,
    config: &LinearEvalConfig,
    device: &Device,
    mut on_epoch: impl FnMut(usize, f64),
) -> crate::Result<(Classifier, LinearEvalReport)> {
    if train.is_empty() || test.is_empty() {
        return Err(crate::Error::Train("linear evaluation needs training and test images".into()));
    }
    let start = Instant::now();
    let classes = train.class_names.len();
    let ad = device.clone().autodiff();
    let plain_features = extract_features(encoder, train, 256, device);
    let features = plain_features.clone().autodiff();
    let labels = labels_tensor(&train.labels, &ad);
    let dim = features.dims()[1];
    let mut head = LinearConfig::new(dim, classes).with_initializer(Initializer::Zeros).init(&ad);
    let steps = train.len().div_ceil(config.batch_size.max(1));
    let schedule = LrSchedule { base: config.lr, warmup_steps: 0, total_steps: config.epochs * steps };
    let mut optim = super::sgd(config.momentum, config.weight_decay);
    let mut step = 0;
    for epoch in 1..=config.epochs {
        let order = BatchOrder::shuffled(train.len(), config.batch_size, config.seed.wrapping_add(epoch as u64));
        let mut losses = Vec::with_capacity(steps);
        for indices in order.batches() {
            let rows: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
            let rows = Tensor::<1, Int>::from_data(TensorData::new(rows, [indices.len()]), &ad);
            let logits = head.forward(features.clone().select(0, rows.clone()));
            let loss = cross_entropy(logits, labels.clone().select(0, rows));
            losses.push(loss.clone().detach());
            let grads = GradientsParams::from_grads(loss.backward(), &head);
            head = optim.step(schedule.at(step), head, grads);
            step += 1;
        }
        on_epoch(epoch, Tensor::cat(losses, 0).mean().into_scalar::<f64>());
    }
    let head = head.valid();
    let train_predictions = head.forward(plain_features).argmax(1).flatten::<1>(0, 1);
    let train_correct = train_predictions.equal(labels_tensor(&train.labels, device)).int().sum().into_scalar::<i64>();
    let model = encoder.clone().with_head(head);
    let test_accuracy = clean_accuracy(&model, test, 256, device);
    Ok((
        model,
        LinearEvalReport {
            train_accuracy: train_correct as f64 / train.len() as f64,
            test_accuracy,
            train_images: train.len(),
            test_images: test.len(),
            seconds: start.elapsed().as_secs_f64(),
        },
    ))
}
