//! Contrastive pre-training: SimCLR (NT-Xent), SupCon, and SimCLR with fixed or adaptive
//! false-negative cancellation (FNC / the paper's A-FNC), one loop for all of them.
//!
//! Each step draws two views of every image of the batch, rendered on the training device
//! ([`contrastive_views_on_device`]) unless that is Flex, the CPU, where the host renderer
//! ([`contrastive_views`]) is faster ([`ViewBackend`]), embeds them with backbone + projection
//! head, and minimises the [`contrastive_loss_with`] of the run's objective; the FNC threshold
//! follows its [`FncSchedule`]; IFND's pseudo-labels ([`super::ifnd`]) are recomputed and
//! accepted at the start of each epoch. Shuffling and views are seeded per epoch, so a run
//! resumed from the checkpoint of epoch `e` (weights, head, optimizer state and IFND's
//! pseudo-labels) continues exactly as if it had not stopped.

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::tensor::{Bool, Device, Tensor};
use serde::{Deserialize, Serialize};
use web_time::Instant;

use super::adversarial_contrastive::{AclVariant, AdversarialConfig};
use super::budget::{Budget, PartialEpoch, Pause, Start, synced};
use super::fnc::FncSchedule;
use super::ifnd::{IfndEpoch, IfndRun, IfndState};
use super::mixed_precision::{HalfPrecision, MixedPrecision, train_step};
use super::knn::{KnnConfig, knn_accuracy};
use super::lars::Lars;
use super::{LrSchedule, StepProgress};
use crate::data::ImageSet;
use crate::data::batch::{BatchOrder, labels_tensor};
use crate::data::device_views::contrastive_views_on_device;
use crate::data::views::{ViewConfig, contrastive_views};
use crate::losses::contrastive::{ContrastiveObjective, ContrastiveOutput, Positives, contrastive_loss_with};
use crate::models::{BnSet, Classifier, ProjectionHead};

/// The contrastive objectives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContrastiveMethod {
    /// Self-supervised: positives are the two views of an image (Chen et al. 2020).
    SimClr,
    /// Supervised contrastive: positives share a class (Khosla et al. 2020).
    SupCon,
    /// RoCL: SimCLR with an instance-wise adversarial third view (Kim et al. 2020;
    /// [`super::adversarial_contrastive`]).
    Rocl,
    /// ACL: SimCLR on adversarial views, variants A2A, A2S and DS (Jiang et al. 2020;
    /// [`super::adversarial_contrastive`]).
    Acl,
}

impl ContrastiveMethod {
    /// Whether the method trains on instance-wise adversarial views (RoCL, ACL).
    pub fn is_adversarial(self) -> bool {
        matches!(self, Self::Rocl | Self::Acl)
    }
}

/// Optimisers for pre-training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// SGD with momentum (dampening 0, weight decay on every parameter), SupContrast style.
    Sgd,
    /// LARS (no decay or adaptation for biases and BatchNorm), SimCLR style.
    Lars,
}

/// Where the views of a step are rendered. Both draw the same view parameters from the same
/// seeds; their pixels agree to float rounding (tests/device_views.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ViewBackend {
    /// [`ViewBackend::Device`] on an accelerator, [`ViewBackend::Host`] on Flex, where the
    /// device is the host's own cores and the multi-threaded host renderer is faster (on 2
    /// cores, 512 SimCLR views of 32x32 took 31 ms on the host and 151 ms with Flex tensor
    /// ops, `hypersphere bench-contrastive --device flex --batch-size 256`).
    #[default]
    Auto,
    /// On the host, in `f32`, on all cores ([`contrastive_views`]), uploaded as floats.
    Host,
    /// On the training device with tensor ops ([`contrastive_views_on_device`]): the batch goes
    /// up as bytes plus a small parameter table, and the host never renders a pixel.
    Device,
}

impl ViewBackend {
    /// `Host` or `Device`: what `Auto` means on `device`.
    pub fn resolve(self, device: &Device) -> Self {
        match self {
            Self::Auto if *device == Device::flex() => Self::Host,
            Self::Auto => Self::Device,
            other => other,
        }
    }

    /// `views` views of the images at `indices` drawn with `seed`, `[views * N, 3, H, W]`.
    pub fn views(self, set: &ImageSet, indices: &[usize], config: &ViewConfig, views: usize, seed: u64, device: &Device) -> Tensor<4> {
        match self.resolve(device) {
            Self::Host => contrastive_views(set, indices, config, views, seed, device),
            _ => contrastive_views_on_device(set, indices, config, views, seed, device),
        }
    }
}

/// Hyper-parameters of contrastive pre-training.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContrastiveConfig {
    /// Objective.
    pub method: ContrastiveMethod,
    /// False-negative cancellation (SimCLR only in the paper; allowed for SupCon too).
    pub fnc: FncSchedule,
    /// Temperature of the loss.
    pub temperature: f32,
    /// Output size of the projection head.
    pub projection_dim: usize,
    /// View distribution.
    pub views: ViewConfig,
    /// Where views are rendered (`auto`: on the device for GPUs, on the host for Flex).
    #[serde(default)]
    pub view_backend: ViewBackend,
    /// Passes over the training set.
    pub epochs: usize,
    /// Images per step (each gives two views).
    pub batch_size: usize,
    /// Optimiser.
    pub optimizer: OptimizerKind,
    /// Peak learning rate.
    pub lr: f64,
    /// Momentum.
    pub momentum: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// Epochs of linear warm-up before the cosine decay.
    pub warmup_epochs: usize,
    /// kNN monitor settings (run every epoch when a monitor set is given).
    pub knn: KnnConfig,
    /// Seed of shuffling and views.
    pub seed: u64,
    /// Mixed-precision training in this half precision (f32 master weights; `None`: the
    /// device's own precision). A run setting, not part of the recipe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mixed_precision: Option<HalfPrecision>,
    /// Settings of adversarial contrastive learning (RoCL, ACL; unused by SimCLR and SupCon).
    #[serde(default)]
    pub adversarial: AdversarialConfig,
}

impl Default for ContrastiveConfig {
    fn default() -> Self {
        Self {
            method: ContrastiveMethod::SimClr,
            fnc: FncSchedule::None,
            temperature: 0.5,
            projection_dim: 128,
            views: ViewConfig::simclr(),
            view_backend: ViewBackend::Auto,
            epochs: 100,
            batch_size: 256,
            optimizer: OptimizerKind::Sgd,
            lr: 0.5,
            momentum: 0.9,
            weight_decay: 1e-4,
            warmup_epochs: 10,
            knn: KnnConfig::default(),
            seed: 0,
            mixed_precision: None,
            adversarial: AdversarialConfig::default(),
        }
    }
}

impl ContrastiveConfig {
    /// The optimiser of this configuration.
    pub fn optimizer(&self) -> ModuleOptimizer {
        match self.optimizer {
            OptimizerKind::Sgd => super::sgd(self.momentum, self.weight_decay),
            OptimizerKind::Lars => Lars { momentum: self.momentum, weight_decay: self.weight_decay, eta: 0.001 }.init(),
        }
    }

    /// Rejects settings that cannot train.
    pub fn validate(&self) -> crate::Result<()> {
        self.views.validate()?;
        if self.batch_size < 2 || self.temperature <= 0.0 || self.projection_dim == 0 || self.lr <= 0.0 {
            return Err(crate::Error::Train("need batch size >= 2, temperature > 0, projection size > 0 and lr > 0".into()));
        }
        if self.method.is_adversarial() {
            if let Some(half) = self.mixed_precision {
                return Err(crate::Error::Train(format!(
                    "adversarial contrastive training (RoCL, ACL) runs in f32 only, not in mixed precision ({half:?})"
                )));
            }
            if self.fnc.ifnd().is_some() {
                return Err(crate::Error::Train("IFND (--fnc ifnd) is written for SimCLR/SupCon pre-training, not for RoCL or ACL; use --fnc fixed or adaptive".into()));
            }
            self.adversarial.validate()?;
        }
        Ok(())
    }

    /// The BatchNorm sets the backbone needs: two for ACL-DS (`Some` of the set it evaluates
    /// with), one otherwise.
    pub fn dual_batch_norm(&self) -> Option<BnSet> {
        (self.method == ContrastiveMethod::Acl && self.adversarial.acl_variant == AclVariant::Ds)
            .then_some(self.adversarial.eval_batch_norm)
    }
}

/// Backbone and projection head, trained together.
#[derive(Module, Debug)]
pub struct ContrastiveModel {
    /// The backbone (its classifier head is unused until linear evaluation).
    pub encoder: Classifier,
    /// The projection head.
    pub head: ProjectionHead,
}

impl ContrastiveModel {
    /// A projection head of `projection_dim` outputs on `encoder`.
    pub fn new(encoder: Classifier, projection_dim: usize, device: &Device) -> Self {
        let head = ProjectionHead::new(encoder.feature_dim(), projection_dim, device);
        Self { encoder, head }
    }

    /// Unit-norm projections of `[N, 3, H, W]` images in [0, 1].
    pub fn project(&self, images: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.encoder.features(images))
    }

    /// Unit-norm projections through BatchNorm set `set` (dual BatchNorm, ACL-DS).
    pub fn project_with(&self, images: Tensor<4>, set: BnSet) -> Tensor<2> {
        self.head.forward(self.encoder.features_with(images, set))
    }
}

/// One line of a contrastive run's `metrics.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContrastiveEpoch {
    /// Epoch (1-based).
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Learning rate at the end of the epoch.
    pub lr: f64,
    /// FNC threshold at the end of the epoch (when cancelling by similarity).
    pub rho: Option<f32>,
    /// Fraction of (anchor, negative) pairs cancelled over the epoch (FNC runs).
    pub cancelled_fraction: Option<f64>,
    /// Fraction of cancelled pairs that share a class (the detector's precision).
    pub cancel_precision: Option<f64>,
    /// kNN top-1 accuracy on the monitor set after the epoch.
    pub knn_accuracy: Option<f64>,
    /// IFND's acceptance rate and pseudo-label precision (IFND runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ifnd: Option<IfndEpoch>,
    /// Wall time of the epoch (monitor included).
    pub seconds: f64,
    /// Seconds spent producing views.
    pub augment_seconds: f64,
    /// Training throughput (images, not views, per second).
    pub images_per_second: f64,
}

/// What one optimisation step returns.
pub struct StepOutput {
    /// The updated model.
    pub model: ContrastiveModel,
    /// Loss (detached) and cancellation counts of the step.
    pub output: ContrastiveOutput,
    /// Seconds spent producing the views.
    pub augment_seconds: f64,
}

/// One optimisation step on the images at `indices`: two views each (drawn from `seed`,
/// rendered by `backend`), projections, the loss of `objective`, backward, `optim` at learning
/// rate `lr`, in mixed precision when `amp` is given. Tensors are created on `train_device`
/// (the autodiff device). Shared by training
/// and `bench`. `augment_seconds` is host time: with [`ViewBackend::Device`] it covers drawing
/// the parameters, the upload and queueing the rendering, not the device's work.
#[allow(clippy::too_many_arguments)]
pub fn contrastive_step(
    model: ContrastiveModel,
    optim: &mut ModuleOptimizer,
    train: &ImageSet,
    indices: &[usize],
    objective: &ContrastiveObjective,
    views: &ViewConfig,
    backend: ViewBackend,
    seed: u64,
    lr: f64,
    train_device: &Device,
    amp: Option<&mut MixedPrecision>,
) -> crate::Result<StepOutput> {
    contrastive_step_with(model, optim, train, indices, objective, None, views, backend, seed, lr, train_device, amp)
}

/// [`contrastive_step`] with the `[B, B]` image pairs flagged as false negatives (IFND's shared
/// pseudo-labels; required when `objective` cancels with [`crate::losses::contrastive::Detector::Pairs`]).
#[allow(clippy::too_many_arguments)]
pub fn contrastive_step_with(
    model: ContrastiveModel,
    optim: &mut ModuleOptimizer,
    train: &ImageSet,
    indices: &[usize],
    objective: &ContrastiveObjective,
    flagged_pairs: Option<Tensor<2, Bool>>,
    views: &ViewConfig,
    backend: ViewBackend,
    seed: u64,
    lr: f64,
    train_device: &Device,
    amp: Option<&mut MixedPrecision>,
) -> crate::Result<StepOutput> {
    let t = Instant::now();
    let images = backend.views(train, indices, views, objective.views, seed, train_device);
    let labels: Vec<usize> = indices.iter().map(|&i| train.labels[i]).collect();
    let labels = labels_tensor(&labels, train_device);
    let augment_seconds = t.elapsed().as_secs_f64();
    let (model, out) = train_step(amp, optim, lr, model, |m, compute| {
        let out = contrastive_loss_with(compute.output(m.project(compute.input(images))), Some(labels), flagged_pairs, objective)?;
        Ok::<_, crate::Error>((out.loss.clone(), out))
    })?;
    let output = ContrastiveOutput { loss: out.loss.detach(), ..out };
    Ok(StepOutput { model, output, augment_seconds })
}

/// An epoch's sums (loss weighted by batch size, negative pairs, cancelled pairs, cancelled
/// pairs of one class), read back from the device a few steps at a time.
#[derive(Default)]
struct EpochSums {
    loss: f64,
    negatives: f64,
    cancelled: f64,
    same_class: f64,
}

impl EpochSums {
    /// Reads back and adds the pending step statistics, emptying `pending`.
    /// One read-back for the whole interval: the steps' four values summed on the device.
    fn absorb(&mut self, pending: &mut Vec<Tensor<1>>) {
        let sums = super::read_sums(std::mem::take(pending));
        if sums.is_empty() {
            return;
        }
        self.loss += sums[0];
        self.negatives += sums[1];
        self.cancelled += sums[2];
        self.same_class += sums[3];
    }

    /// The sums as a [`PartialEpoch`] keeps them.
    fn to_bits(&self) -> Vec<u64> {
        [self.loss, self.negatives, self.cancelled, self.same_class].iter().map(|v| v.to_bits()).collect()
    }

    /// The sums a [`PartialEpoch`] kept.
    fn from_partial(p: &PartialEpoch) -> Self {
        let v = p.sums();
        let at = |i: usize| v.get(i).copied().unwrap_or(0.0);
        Self { loss: at(0), negatives: at(1), cancelled: at(2), same_class: at(3) }
    }
}

/// Running sums of a contrastive epoch kept in a [`PartialEpoch`]: loss sum, negative pairs,
/// cancelled pairs, cancelled pairs of one class.
pub const PARTIAL_SUMS: usize = 4;

/// The monitor of a run: kNN bank (training images, unaugmented) and test images.
pub struct KnnMonitor<'a> {
    /// Labelled images whose features vote.
    pub bank: &'a ImageSet,
    /// Images classified by the vote.
    pub test: &'a ImageSet,
}

/// What a pre-training run reads besides the model and its optimizer: the training images,
/// the monitor, the settings, where it starts, the checkpoint's IFND state (resumed IFND runs)
/// and the wall-time budget.
pub struct PretrainingRun<'a> {
    /// Training images.
    pub train: &'a ImageSet,
    /// The kNN monitor evaluated after every epoch (none: no monitor).
    pub monitor: Option<KnnMonitor<'a>>,
    /// Method, loss, optimisation and view settings.
    pub config: &'a ContrastiveConfig,
    /// An epoch (1-based, greater than 1 when resuming) or the [`PartialEpoch`] a budget stopped.
    pub start: Start,
    /// IFND's pseudo-labels from a checkpoint (none: computed when the schedule says).
    pub ifnd: Option<IfndState>,
    /// Stops the loop at a step boundary before the wall-time budget is spent.
    pub budget: &'a mut Budget,
    /// The device (the parameters live on its autodiff version).
    pub device: &'a Device,
}

/// What one step of a pre-training loop is given besides the model and optimizer.
pub(crate) struct StepPlan<'a> {
    /// The images of the step.
    pub indices: &'a [usize],
    /// The loss of the step (temperature, positives, cancellation at this step).
    pub objective: ContrastiveObjective,
    /// IFND: the `[B, B]` image pairs flagged as false negatives at this step.
    pub flagged: Option<Tensor<2, Bool>>,
    /// The step's seed, from (run seed, epoch, step): views and random starts.
    pub seed: u64,
    /// The learning rate of the step.
    pub lr: f64,
}

/// Trains `model` (parameters on the autodiff version of `run.device`) from `run.start` (an
/// epoch, 1-based, greater than 1 when resuming; or the [`PartialEpoch`] a budget stopped) to
/// `run.config.epochs`, with the checkpoint's IFND state for resumed IFND runs. `on_epoch`
/// receives the model, optimizer and IFND state after every epoch (to checkpoint them) and may
/// stop training with an error. When `run.budget` says the next step (or the end of the epoch)
/// no longer fits, the loop calls `on_pause` with the same three (to save a mid-epoch
/// checkpoint; the IFND state is the pseudo-labels the stopped epoch trains with) and stops
/// with the error it returns. RoCL and ACL runs go to
/// [`super::adversarial_contrastive::train_adversarial_contrastive`].
pub fn train_contrastive<E: From<crate::Error>>(
    model: ContrastiveModel,
    optim: &mut ModuleOptimizer,
    run: PretrainingRun<'_>,
    on_step: impl FnMut(StepProgress),
    on_epoch: impl FnMut(&ContrastiveEpoch, &ContrastiveModel, &ModuleOptimizer, Option<&IfndState>) -> Result<(), E>,
    on_pause: impl FnMut(&Pause, &ContrastiveModel, &ModuleOptimizer, Option<&IfndState>) -> E,
) -> Result<ContrastiveModel, E> {
    let config = run.config;
    if config.method.is_adversarial() {
        return super::adversarial_contrastive::train_adversarial_contrastive(model, optim, run, on_step, on_epoch, on_pause);
    }
    let train = run.train;
    let train_device = run.device.clone().autodiff();
    let mut amp = config.mixed_precision.map(MixedPrecision::new);
    let view_backend = config.view_backend.resolve(run.device);
    pretraining_epochs(model, optim, run, on_step, on_epoch, on_pause, |model, optim, plan| {
        let flagged = plan.flagged.clone();
        contrastive_step_with(model, optim, train, plan.indices, &plan.objective, flagged, &config.views, view_backend, plan.seed, plan.lr, &train_device, amp.as_mut())
    })
}

/// The epochs of a pre-training run, shared by every contrastive method: validation, the
/// seeded shuffle of each epoch (fixed batch shapes), the learning-rate and FNC schedules, the
/// step statistics (read back every 20 steps), the kNN monitor, the epoch report, and the
/// budget's stops with their mid-epoch state (so every method pauses and resumes inside an
/// epoch alike). `step` performs one optimisation step.
pub(crate) fn pretraining_epochs<E: From<crate::Error>>(
    mut model: ContrastiveModel,
    optim: &mut ModuleOptimizer,
    run: PretrainingRun<'_>,
    mut on_step: impl FnMut(StepProgress),
    mut on_epoch: impl FnMut(&ContrastiveEpoch, &ContrastiveModel, &ModuleOptimizer, Option<&IfndState>) -> Result<(), E>,
    mut on_pause: impl FnMut(&Pause, &ContrastiveModel, &ModuleOptimizer, Option<&IfndState>) -> E,
    mut step: impl FnMut(ContrastiveModel, &mut ModuleOptimizer, &StepPlan) -> crate::Result<StepOutput>,
) -> Result<ContrastiveModel, E> {
    let PretrainingRun { train, monitor, config, start, ifnd, budget, device } = run;
    let Start { epoch: first_epoch, mut partial } = start;
    config.validate()?;
    if train.len() < 2 {
        return Err(crate::Error::Train("contrastive training needs at least 2 images".into()).into());
    }
    // Fixed batch shapes: the ragged last batch of each (reshuffled) epoch is dropped.
    let steps_per_epoch = crate::data::batch::steps_per_epoch(train.len(), config.batch_size);
    let schedule = LrSchedule {
        base: config.lr,
        warmup_steps: config.warmup_epochs * steps_per_epoch,
        total_steps: config.epochs * steps_per_epoch,
    };
    let positives = match config.method {
        ContrastiveMethod::SupCon => Positives::Classes,
        ContrastiveMethod::SimClr | ContrastiveMethod::Rocl | ContrastiveMethod::Acl => Positives::Instances,
    };
    let train_device = device.clone().autodiff();
    if let Some(p) = &partial {
        p.check(steps_per_epoch, PARTIAL_SUMS)?;
    }
    // IFND: resuming inside an epoch, the checkpoint's pseudo-labels are the ones that epoch
    // began with (not recomputed from the weights of its middle).
    let mut ifnd = match config.fnc.ifnd() {
        Some(s) if partial.is_some() => Some(IfndRun::inside(*s, ifnd, train, first_epoch, config.epochs)?),
        Some(s) => Some(IfndRun::new(*s, ifnd, train, first_epoch.max(1), config.epochs)?),
        None => None,
    };
    budget.expect_checkpoint_bytes(model.num_params() * 4 * 3);
    // Images through the network per step, and at the end of an epoch (kNN bank and test set).
    // RoCL/ACL steps also run their attack, so this overestimates their end-of-epoch pass
    // until one is timed (a stop comes early, never late).
    let images_per_step = 2 * config.batch_size;
    let monitor_images = monitor.as_ref().map_or(0, |m| m.bank.len() + m.test.len());
    // Whether anything ran since the last checkpoint (the one this run started from).
    let mut changed = false;
    for epoch in first_epoch.max(1)..=config.epochs {
        let start = Instant::now();
        let mut augment_seconds = 0.0;
        let epoch_seed = config.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64);
        let ifnd_report = match ifnd.as_mut() {
            Some(run) => Some(run.begin_epoch(&model, train, epoch, config.epochs, config.seed, device, &train_device)?),
            None => None,
        };
        let order = BatchOrder::shuffled(train.len(), config.batch_size, epoch_seed);
        let (mut sums, mut seen) = (EpochSums::default(), 0usize);
        let mut pending = Vec::new();
        let mut global_step = (epoch - 1) * steps_per_epoch;
        let (mut skip, mut before) = (0, 0.0);
        // Resuming inside this epoch: skip its steps taken, restore its sums.
        if let Some(p) = partial.take().filter(|p| p.epoch == epoch) {
            (sums, seen, pending) = (EpochSums::from_partial(&p), p.seen, p.rows_on(&train_device));
            (skip, before, augment_seconds) = (p.steps_done, p.train_seconds, p.augment_seconds);
            global_step += skip;
        }
        let (mut lr, mut rho) = (schedule.at(global_step), None);
        if skip > 0 {
            // The values of the last step taken, which the epoch's report names.
            (lr, rho) = (schedule.at(global_step - 1), config.fnc.rho(global_step - 1, config.epochs, steps_per_epoch));
        }
        budget.begin_steps();
        for (step_index, indices) in order.full_batches().enumerate().skip(skip) {
            // A set of one image has no negatives.
            if indices.len() < 2 {
                continue;
            }
            if budget.must_pause(pending.len()) {
                let partial = PartialEpoch {
                    epoch,
                    steps_done: step_index,
                    steps: steps_per_epoch,
                    seen,
                    sums: sums.to_bits(),
                    pending: PartialEpoch::rows_to_host(&pending),
                    train_seconds: before + start.elapsed().as_secs_f64(),
                    augment_seconds,
                };
                return Err(on_pause(&Pause { partial, changed }, &synced(model), optim, ifnd.as_ref().map(IfndRun::state)));
            }
            lr = schedule.at(global_step);
            rho = config.fnc.rho(global_step, config.epochs, steps_per_epoch);
            let objective = ContrastiveObjective {
                temperature: config.temperature,
                views: 2,
                positives,
                cancellation: config.fnc.cancellation(global_step, config.epochs, steps_per_epoch),
            };
            let seed = epoch_seed.wrapping_add((step_index as u64) << 32);
            let flagged = ifnd.as_ref().map(|run| run.flagged_pairs(indices, &train_device));
            let step_out = step(model, optim, &StepPlan { indices, objective, flagged, seed, lr })?;
            model = step_out.model;
            augment_seconds += step_out.augment_seconds;
            let out = step_out.output;
            pending.push(Tensor::cat(
                vec![out.loss * indices.len() as f32, out.negatives, out.cancelled, out.cancelled_same_class.expect("labels were given")],
                0,
            ));
            global_step += 1;
            seen += indices.len();
            changed = true;
            budget.step_taken();
            if pending.len() == 20 {
                sums.absorb(&mut pending);
                budget.synced();
                on_step(StepProgress {
                    epoch,
                    step: step_index + 1,
                    steps: steps_per_epoch,
                    loss: sums.loss / seen.max(1) as f64,
                    lr,
                    images_per_second: seen as f64 / start.elapsed().as_secs_f64().max(1e-9),
                    rho,
                });
            }
        }
        sums.absorb(&mut pending);
        budget.synced();
        let train_seconds = before + start.elapsed().as_secs_f64();
        if !budget.fits(budget.epoch_end_estimate(monitor_images, images_per_step)) {
            let partial = PartialEpoch {
                epoch,
                steps_done: steps_per_epoch,
                steps: steps_per_epoch,
                seen,
                sums: sums.to_bits(),
                pending: Vec::new(),
                train_seconds,
                augment_seconds,
            };
            return Err(on_pause(&Pause { partial, changed }, &synced(model), optim, ifnd.as_ref().map(IfndRun::state)));
        }
        let end = Instant::now();
        let knn_accuracy = monitor.as_ref().map(|m| knn_accuracy(&model.encoder, m.bank, m.test, &config.knn, device));
        budget.epoch_end_took(end.elapsed().as_secs_f64());
        let fnc = config.fnc != FncSchedule::None;
        let report = ContrastiveEpoch {
            epoch,
            train_loss: sums.loss / seen.max(1) as f64,
            lr,
            rho,
            cancelled_fraction: fnc.then(|| sums.cancelled / sums.negatives.max(1.0)),
            cancel_precision: (fnc && sums.cancelled > 0.0).then(|| sums.same_class / sums.cancelled),
            knn_accuracy,
            ifnd: ifnd_report,
            seconds: before + start.elapsed().as_secs_f64(),
            augment_seconds,
            images_per_second: seen as f64 / train_seconds.max(1e-9),
        };
        let saving = Instant::now();
        model = synced(model);
        on_epoch(&report, &model, optim, ifnd.as_ref().map(IfndRun::state))?;
        budget.checkpoint_took(saving.elapsed().as_secs_f64());
        changed = false;
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_views_render_on_the_host_for_flex_only() {
        let flex = Device::flex();
        assert_eq!(ViewBackend::default(), ViewBackend::Auto);
        assert_eq!(ViewBackend::Auto.resolve(&flex), ViewBackend::Host);
        assert_eq!(ViewBackend::Auto.resolve(&flex.clone().autodiff()), ViewBackend::Host);
        assert_eq!(ViewBackend::Device.resolve(&flex), ViewBackend::Device);
        assert_eq!(ViewBackend::Host.resolve(&flex), ViewBackend::Host);
        let names: Vec<String> = [ViewBackend::Auto, ViewBackend::Host, ViewBackend::Device].iter().map(|b| serde_json::to_string(b).unwrap()).collect();
        assert_eq!(names, ["\"auto\"", "\"host\"", "\"device\""]);
    }
}
