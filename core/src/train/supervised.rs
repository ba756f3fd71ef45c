//! Supervised cross-entropy training with SGD + momentum (PyTorch semantics: dampening 0,
//! weight decay added to the gradient), a warm-up + cosine schedule and the standard CIFAR
//! augmentation (random crop with padding 4, horizontal flip). The crops and flips of an epoch
//! are drawn on the host as before (the same numbers from the same seed), and each batch goes
//! to the device as bytes, where it is scaled, cropped and flipped
//! ([`crop_flip_tensor`]), with exactly the values the host augmentation gave.

use burn::optim::ModuleOptimizer;
use burn::tensor::{Device, Tensor};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use web_time::Instant;

use super::LrSchedule;
use super::mixed_precision::{HalfPrecision, MixedPrecision, train_step};
use crate::data::ImageSet;
use crate::data::augment::{crop_flip_tensor, sample_crop_flips};
use crate::data::batch::{BatchOrder, batch_bytes, labels_tensor, like_device, upload_pixels};
use crate::evaluate::clean_accuracy;
use crate::losses::cross_entropy;
use crate::metrics::predictions;
use crate::models::Classifier;

/// Zero padding of the random crop (torchvision `RandomCrop(32, padding=4)`).
const PADDING: usize = 4;

/// Hyper-parameters of supervised training.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SupervisedConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// SGD momentum (dampening 0, as `torch.optim.SGD`).
    pub momentum: f64,
    /// L2 weight decay added to the gradient.
    pub weight_decay: f64,
    /// Epochs of linear warm-up before the cosine decay.
    pub warmup_epochs: usize,
    /// Random crop (padding 4) and horizontal flip.
    pub augment: bool,
    /// Seed of shuffling and augmentation (initial weights use the device seed).
    pub seed: u64,
    /// Mixed-precision training in this half precision (f32 master weights; `None`: the
    /// device's own precision, f32 or tf32). A run setting, not part of the recipe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mixed_precision: Option<HalfPrecision>,
}

impl Default for SupervisedConfig {
    fn default() -> Self {
        Self { epochs: 15, batch_size: 128, lr: 0.1, momentum: 0.9, weight_decay: 5e-4, warmup_epochs: 0, augment: true, seed: 0, mixed_precision: None }
    }
}

/// Progress inside an epoch.
#[derive(Debug, Clone, Copy)]
pub struct StepProgress {
    /// Epoch (1-based).
    pub epoch: usize,
    /// Step within the epoch (1-based).
    pub step: usize,
    /// Steps per epoch.
    pub steps: usize,
    /// Mean loss of the epoch so far (updated every few steps).
    pub loss: f64,
    /// Current learning rate.
    pub lr: f64,
    /// Training images per second so far in this epoch.
    pub images_per_second: f64,
    /// The FNC threshold of the current step, from the run's schedule (`None` without one).
    pub rho: Option<f32>,
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochReport {
    /// Epoch (1-based).
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Training accuracy on the augmented batches, in [0, 1].
    pub train_accuracy: f64,
    /// Clean test accuracy after the epoch, when a test set was given.
    pub test_accuracy: Option<f64>,
    /// Learning rate at the end of the epoch.
    pub lr: f64,
    /// Wall time of the epoch (training and test).
    pub seconds: f64,
    /// Training throughput.
    pub images_per_second: f64,
}

impl SupervisedConfig {
    /// SGD with momentum (dampening 0) and weight decay, as `torch.optim.SGD`.
    pub fn optimizer(&self) -> ModuleOptimizer {
        super::sgd(self.momentum, self.weight_decay)
    }
}

/// Trains `model` (whose parameters live on an autodiff device) on `train` for
/// `config.epochs` epochs from scratch; [`train_supervised_from`] with a fresh optimizer.
pub fn train_supervised<E>(
    model: Classifier,
    train: &ImageSet,
    test: Option<&ImageSet>,
    config: &SupervisedConfig,
    device: &Device,
    on_step: impl FnMut(StepProgress),
    mut on_epoch: impl FnMut(&EpochReport, &Classifier) -> Result<(), E>,
) -> Result<Classifier, E> {
    let mut optim = config.optimizer();
    train_supervised_from(model, &mut optim, train, test, config, 1, device, on_step, |r, m, _| on_epoch(r, m))
}

/// Trains `model` (whose parameters live on an autodiff device) on `train` from epoch
/// `first_epoch` (1-based; later when resuming) to `config.epochs`, reporting after every
/// epoch. Shuffling and augmentation are seeded per epoch, so a run resumed with the model and
/// optimizer state of its last checkpoint continues exactly. `on_epoch` receives both (to
/// checkpoint them) and may stop training by returning an error.
#[allow(clippy::too_many_arguments)]
pub fn train_supervised_from<E>(
    mut model: Classifier,
    optim: &mut ModuleOptimizer,
    train: &ImageSet,
    test: Option<&ImageSet>,
    config: &SupervisedConfig,
    first_epoch: usize,
    device: &Device,
    mut on_step: impl FnMut(StepProgress),
    mut on_epoch: impl FnMut(&EpochReport, &Classifier, &ModuleOptimizer) -> Result<(), E>,
) -> Result<Classifier, E> {
    // Fixed batch shapes: the ragged last batch of each (reshuffled) epoch is dropped.
    let steps_per_epoch = crate::data::batch::steps_per_epoch(train.len(), config.batch_size);
    let schedule = LrSchedule {
        base: config.lr,
        warmup_steps: config.warmup_epochs * steps_per_epoch,
        total_steps: config.epochs * steps_per_epoch,
    };
    let train_device = device.clone().autodiff();
    let mut amp = config.mixed_precision.map(MixedPrecision::new);
    let mut global_step = (first_epoch.max(1) - 1) * steps_per_epoch;
    for epoch in first_epoch.max(1)..=config.epochs {
        let start = Instant::now();
        let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64));
        let crops = config.augment.then(|| sample_crop_flips(train.len(), PADDING, &mut rng));
        let order = BatchOrder::shuffled(train.len(), config.batch_size, config.seed.wrapping_add(epoch as u64));
        let (mut loss_sum, mut correct, mut seen) = (0f64, 0usize, 0usize);
        let mut pending = Vec::new();
        let mut lr = schedule.at(global_step);
        for (step, indices) in order.full_batches().enumerate() {
            lr = schedule.at(global_step);
            let x = upload_pixels(&batch_bytes(train, indices), indices.len(), train.height, train.width, device).div_scalar(255.0);
            let x = match &crops {
                Some(crops) => crop_flip_tensor(x, &indices.iter().map(|&i| crops[i]).collect::<Vec<_>>(), PADDING),
                None => x,
            };
            let x = like_device(x, &train_device);
            let labels: Vec<usize> = indices.iter().map(|&i| train.labels[i]).collect();
            let y = labels_tensor(&labels, &train_device);
            let Ok((stepped, stats)) = train_step(amp.as_mut(), optim, lr, model, |m, compute| {
                let logits = compute.output(m.forward(compute.input(x)));
                let loss = cross_entropy(logits.clone(), y.clone());
                // Keep the statistics on the device; read them back every few steps only.
                let stats = Tensor::cat(vec![loss.clone().detach() * indices.len() as f32, predictions(logits.detach()).equal(y).int().sum().float()], 0);
                Ok::<_, std::convert::Infallible>((loss, stats))
            });
            model = stepped;
            pending.push(stats);
            global_step += 1;
            seen += indices.len();
            if pending.len() == 20 || step + 1 == steps_per_epoch {
                // One read-back per logging interval: (loss sum, correct count) of its steps.
                let sums = super::read_sums(pending.drain(..).collect());
                loss_sum += sums[0];
                correct += sums[1].round() as usize;
                on_step(StepProgress {
                    epoch,
                    step: step + 1,
                    steps: steps_per_epoch,
                    loss: loss_sum / seen as f64,
                    lr,
                    images_per_second: seen as f64 / start.elapsed().as_secs_f64().max(1e-9),
                    rho: None,
                });
            }
        }
        let train_seconds = start.elapsed().as_secs_f64();
        let test_accuracy = test.map(|t| clean_accuracy(&model, t, config.batch_size.max(256), device));
        let report = EpochReport {
            epoch,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            test_accuracy,
            lr,
            seconds: start.elapsed().as_secs_f64(),
            images_per_second: seen as f64 / train_seconds.max(1e-9),
        };
        on_epoch(&report, &model, optim)?;
    }
    Ok(model)
}
