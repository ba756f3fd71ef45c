//! Supervised cross-entropy training with SGD + momentum (PyTorch semantics: dampening 0,
//! weight decay added to the gradient), a warm-up + cosine schedule and one of three
//! augmentations ([`Augmentation`]): none; the standard CIFAR random crop with padding 4 and
//! horizontal flip, whose crops and flips of an epoch are drawn on the host and applied to each
//! batch on the device ([`crop_flip_tensor`], exactly the values the host augmentation gives);
//! or one random view per image from a [`ViewConfig`] (resized crop, flip, colour jitter,
//! grayscale: the paper's recipe, Section 4), rendered on the host or on the device
//! ([`ViewBackend`]) like the contrastive views.

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::tensor::{Device, Tensor};
use rand::SeedableRng;
use serde::{Deserialize, Deserializer, Serialize};
use web_time::Instant;

use super::LrSchedule;
use super::budget::{Budget, PartialEpoch, Pause, Start, synced};
use super::mixed_precision::{HalfPrecision, MixedPrecision, train_step};
use super::contrastive::ViewBackend;
use crate::data::ImageSet;
use crate::data::augment::{CropFlip, crop_flip_tensor, sample_crop_flips};
use crate::data::views::{VIEW_RECIPES, ViewConfig};
use crate::data::batch::{BatchOrder, batch_bytes, labels_tensor, like_device, upload_pixels};
use crate::evaluate::clean_accuracy;
use crate::losses::cross_entropy;
use crate::metrics::predictions;
use crate::models::Classifier;

/// Zero padding of the random crop (torchvision `RandomCrop(32, padding=4)`).
const PADDING: usize = 4;

/// The augmentation of supervised training.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Augmentation {
    /// The training images as they are.
    None,
    /// Random crop with zero padding 4 and horizontal flip (He et al. 2016; torchvision
    /// `RandomCrop(32, padding=4)` + `RandomHorizontalFlip()`).
    PadCrop,
    /// One random view per image from this distribution (the paper's cross-entropy recipe is
    /// [`ViewConfig::supcon_ce`]).
    Views(ViewConfig),
}

impl Augmentation {
    /// The name of this augmentation: `none`, `pad-crop`, a view recipe's name, or `views` for
    /// an unnamed view distribution.
    pub fn name(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::PadCrop => "pad-crop",
            Self::Views(v) => v.name().unwrap_or("views"),
        }
    }
}

impl std::str::FromStr for Augmentation {
    type Err = crate::Error;
    /// `none`, `pad-crop`, or a view recipe ([`VIEW_RECIPES`]: `simclr`, `supcon`, `supcon-ce`).
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "none" => Ok(Self::None),
            "pad-crop" => Ok(Self::PadCrop),
            _ => ViewConfig::named(s).map(Self::Views).map_err(|_| {
                let views: Vec<_> = VIEW_RECIPES.iter().map(|(n, _)| *n).collect();
                crate::Error::Train(format!("unknown augmentation '{s}' (valid: none, pad-crop, {})", views.join(", ")))
            }),
        }
    }
}

/// Reads an [`Augmentation`], or the `true` / `false` of run folders written before it existed
/// (`true` was the pad-and-crop augmentation).
fn augmentation_or_flag<'de, D: Deserializer<'de>>(d: D) -> Result<Augmentation, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Flag(bool),
        Recipe(Augmentation),
    }
    Ok(match Stored::deserialize(d)? {
        Stored::Flag(true) => Augmentation::PadCrop,
        Stored::Flag(false) => Augmentation::None,
        Stored::Recipe(a) => a,
    })
}

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
    /// Augmentation of the training batches.
    #[serde(deserialize_with = "augmentation_or_flag")]
    pub augment: Augmentation,
    /// Where views are rendered when `augment` is [`Augmentation::Views`].
    #[serde(default)]
    pub view_backend: ViewBackend,
    /// Seed of shuffling and augmentation (initial weights use the device seed).
    pub seed: u64,
    /// Mixed-precision training in this half precision (f32 master weights; `None`: the
    /// device's own precision, f32 or tf32). A run setting, not part of the recipe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mixed_precision: Option<HalfPrecision>,
}

impl Default for SupervisedConfig {
    fn default() -> Self {
        Self {
            epochs: 15,
            batch_size: 128,
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 5e-4,
            warmup_epochs: 0,
            augment: Augmentation::PadCrop,
            view_backend: ViewBackend::Auto,
            seed: 0,
            mixed_precision: None,
        }
    }
}

/// The training batch of the images at `indices` (`[N, 3, H, W]` in [0, 1], on
/// `train_device`) under `augment`: `crops` are the epoch's crops and flips, one per training
/// image (needed for [`Augmentation::PadCrop`] only), `seed` draws the views of
/// [`Augmentation::Views`] (one per image, rendered where `backend` says).
pub fn training_batch(
    train: &ImageSet,
    indices: &[usize],
    augment: &Augmentation,
    crops: Option<&[CropFlip]>,
    backend: ViewBackend,
    seed: u64,
    train_device: &Device,
) -> Tensor<4> {
    if let Augmentation::Views(views) = augment {
        return backend.views(train, indices, views, 1, seed, train_device);
    }
    // Bytes up, scaled (and cropped) on the device, then into the autodiff graph as a constant.
    let device = train_device.clone().inner();
    let x = upload_pixels(&batch_bytes(train, indices), indices.len(), train.height, train.width, &device).div_scalar(255.0);
    let x = match (augment, crops) {
        (Augmentation::PadCrop, Some(crops)) => crop_flip_tensor(x, &indices.iter().map(|&i| crops[i]).collect::<Vec<_>>(), PADDING),
        (Augmentation::PadCrop, None) => panic!("pad-and-crop batches need the epoch's crops"),
        _ => x,
    };
    like_device(x, train_device)
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

/// Running sums of a supervised epoch kept in a [`PartialEpoch`]: loss sum, correct count.
pub const PARTIAL_SUMS: usize = 2;

/// Trains `model` (whose parameters live on an autodiff device) on `train` for
/// `config.epochs` epochs from scratch, without a budget; [`train_supervised_from`] with a
/// fresh optimizer.
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
    let pause = |_: &Pause, _: &Classifier, _: &ModuleOptimizer| -> E { unreachable!("an unlimited budget never pauses") };
    train_supervised_from(model, &mut optim, train, test, config, 1, &mut Budget::unlimited(), device, on_step, |r, m, _| on_epoch(r, m), pause)
}

/// Trains `model` (whose parameters live on an autodiff device) on `train` from `start` (an
/// epoch, 1-based, later when resuming; or the [`PartialEpoch`] a budget stopped) to
/// `config.epochs`, reporting after every epoch. Shuffling and augmentation are seeded per
/// epoch and per step, so a run resumed with the model and optimizer state of its last
/// checkpoint continues exactly. `on_epoch` receives both (to checkpoint them) and may stop
/// training by returning an error. When `budget` says the next step (or the end of the epoch)
/// no longer fits, the loop calls `on_pause` (to save a mid-epoch checkpoint) and stops with
/// the error it returns.
#[allow(clippy::too_many_arguments)]
pub fn train_supervised_from<E>(
    mut model: Classifier,
    optim: &mut ModuleOptimizer,
    train: &ImageSet,
    test: Option<&ImageSet>,
    config: &SupervisedConfig,
    start: impl Into<Start>,
    budget: &mut Budget,
    device: &Device,
    mut on_step: impl FnMut(StepProgress),
    mut on_epoch: impl FnMut(&EpochReport, &Classifier, &ModuleOptimizer) -> Result<(), E>,
    mut on_pause: impl FnMut(&Pause, &Classifier, &ModuleOptimizer) -> E,
) -> Result<Classifier, E> {
    let Start { epoch: first_epoch, mut partial } = start.into();
    // Fixed batch shapes: the ragged last batch of each (reshuffled) epoch is dropped.
    let steps_per_epoch = crate::data::batch::steps_per_epoch(train.len(), config.batch_size);
    let schedule = LrSchedule {
        base: config.lr,
        warmup_steps: config.warmup_epochs * steps_per_epoch,
        total_steps: config.epochs * steps_per_epoch,
    };
    let train_device = device.clone().autodiff();
    let mut amp = config.mixed_precision.map(MixedPrecision::new);
    let view_backend = config.view_backend.resolve(device);
    let mut global_step = (first_epoch.max(1) - 1) * steps_per_epoch;
    budget.expect_checkpoint_bytes(model.num_params() * 4 * 3);
    // Whether anything ran since the last checkpoint (the one this run started from).
    let mut changed = false;
    for epoch in first_epoch.max(1)..=config.epochs {
        let start = Instant::now();
        let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64));
        let crops = (config.augment == Augmentation::PadCrop).then(|| sample_crop_flips(train.len(), PADDING, &mut rng));
        let epoch_seed = config.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64);
        let order = BatchOrder::shuffled(train.len(), config.batch_size, config.seed.wrapping_add(epoch as u64));
        let (mut loss_sum, mut correct, mut seen) = (0f64, 0usize, 0usize);
        let mut pending = Vec::new();
        // Resuming inside this epoch: skip its steps taken, restore its sums.
        let (mut skip, mut before) = (0, 0.0);
        if let Some(p) = partial.take().filter(|p| p.epoch == epoch) {
            let sums = p.sums();
            (loss_sum, correct, seen) = (sums.first().copied().unwrap_or(0.0), sums.get(1).copied().unwrap_or(0.0).round() as usize, p.seen);
            pending = p.rows_on(&train_device);
            (skip, before) = (p.steps_done.min(steps_per_epoch), p.train_seconds);
            global_step += skip;
        }
        let mut lr = schedule.at(global_step.saturating_sub(usize::from(skip > 0)));
        budget.begin_steps();
        for (step, indices) in order.full_batches().enumerate().skip(skip) {
            if budget.must_pause(pending.len()) {
                let sums = vec![loss_sum.to_bits(), (correct as f64).to_bits()];
                let partial = PartialEpoch { epoch, steps_done: step, steps: steps_per_epoch, seen, sums, pending: PartialEpoch::rows_to_host(&pending), train_seconds: before + start.elapsed().as_secs_f64(), augment_seconds: 0.0 };
                return Err(on_pause(&Pause { partial, changed }, &synced(model), optim));
            }
            lr = schedule.at(global_step);
            // The views of a step are seeded as contrastive training seeds its steps.
            let step_seed = epoch_seed.wrapping_add((step as u64) << 32);
            let x = training_batch(train, indices, &config.augment, crops.as_deref(), view_backend, step_seed, &train_device);
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
            changed = true;
            budget.step_taken();
            if pending.len() == 20 || step + 1 == steps_per_epoch {
                // One read-back per logging interval: (loss sum, correct count) of its steps.
                let sums = super::read_sums(pending.drain(..).collect());
                budget.synced();
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
        if !pending.is_empty() {
            // Only when resumed after the last step with its statistics still pending.
            let sums = super::read_sums(pending.drain(..).collect());
            loss_sum += sums[0];
            correct += sums[1].round() as usize;
        }
        let train_seconds = before + start.elapsed().as_secs_f64();
        let test_images = test.map_or(0, |t| t.len());
        if !budget.fits(budget.epoch_end_estimate(test_images, config.batch_size)) {
            let sums = vec![loss_sum.to_bits(), (correct as f64).to_bits()];
            let partial = PartialEpoch { epoch, steps_done: steps_per_epoch, steps: steps_per_epoch, seen, sums, pending: Vec::new(), train_seconds, augment_seconds: 0.0 };
            return Err(on_pause(&Pause { partial, changed }, &synced(model), optim));
        }
        let end = Instant::now();
        let test_accuracy = test.map(|t| clean_accuracy(&model, t, config.batch_size.max(256), device));
        budget.epoch_end_took(end.elapsed().as_secs_f64());
        let report = EpochReport {
            epoch,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            test_accuracy,
            lr,
            seconds: before + start.elapsed().as_secs_f64(),
            images_per_second: seen as f64 / train_seconds.max(1e-9),
        };
        let saving = Instant::now();
        model = synced(model);
        on_epoch(&report, &model, optim)?;
        budget.checkpoint_took(saving.elapsed().as_secs_f64());
        changed = false;
    }
    Ok(model)
}
