//! Linear evaluation and its robust variants, the three ways the paper's models get a classifier
//! ([`LinearEvalMode`]):
//!
//! - standard (SimCLR Section 4, "linear evaluation protocol"): the backbone is frozen, a linear
//!   classifier is trained on its features (computed once, in eval mode, without augmentation);
//! - adversarial (RoCL, Kim et al. 2020, Section 4, "robust linear evaluation";
//!   Kim-Minseon/RoCL `linear_eval.py` with adversarial training): the backbone stays frozen in
//!   eval mode (BatchNorm with its running statistics, untouched), but every training batch of the
//!   head is replaced by l_inf PGD examples against backbone + head's cross-entropy
//!   ([`TrainingAttack::perturb`]), so the features are recomputed each step; only the head learns;
//! - TRADES (ACL's adversarial full fine-tuning, Jiang et al. 2020): backbone and head are
//!   trained together on the TRADES loss ([`super::trades`]).
//!
//! The backbone with its head is the model `eval` attacks. SGD with momentum, cosine decay,
//! zero-initialised head (google-research/simclr) in every mode. A dual-BatchNorm (ACL-DS)
//! backbone runs every mode through the set its configuration names (`--eval-batch-norm`).

use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use web_time::Instant;

use super::LrSchedule;
use super::trades::{TRADES_BETA, trades_step};
use crate::attacks::spec::MAX_STEPS;
use crate::attacks::{Attack, AttackKind, AttackSpec, Norm, PgdLinf};
use crate::data::ImageSet;
use crate::data::batch::{BatchOrder, gather, labels_tensor};
use crate::evaluate::clean_accuracy;
use crate::geometry::extract_features;
use crate::losses::cross_entropy;
use crate::models::Classifier;

/// Hyper-parameters of the linear classifier.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinearEvalConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Peak learning rate (cosine decay to 0).
    pub lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// Seed of the batch order (and of the attacks' random starts).
    pub seed: u64,
    /// Standard, adversarial or TRADES, with the attack's settings (files written before the
    /// modes existed read as standard).
    #[serde(default)]
    pub mode: LinearEvalMode,
}

impl Default for LinearEvalConfig {
    fn default() -> Self {
        Self { epochs: 100, batch_size: 256, lr: 0.1, momentum: 0.9, weight_decay: 0.0, seed: 0, mode: LinearEvalMode::Standard }
    }
}

/// How the classifier on a pre-trained backbone is trained.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LinearEvalMode {
    /// Frozen backbone, linear head on clean features (SimCLR's protocol).
    #[default]
    Standard,
    /// Frozen backbone, linear head on PGD examples of every batch (RoCL's robust linear
    /// evaluation).
    Adversarial {
        /// The PGD attack of each batch.
        attack: TrainingAttack,
    },
    /// Backbone and head fine-tuned with TRADES (ACL's adversarial full fine-tuning).
    Trades {
        /// The inner maximisation's budget.
        attack: TrainingAttack,
        /// Weight of the KL term.
        beta: f32,
    },
}

impl LinearEvalMode {
    /// The mode's name on the command line: `standard`, `adversarial` or `trades`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Adversarial { .. } => "adversarial",
            Self::Trades { .. } => "trades",
        }
    }

    /// The mode named `name` with the published defaults ([`TrainingAttack::default`], beta
    /// [`TRADES_BETA`]).
    pub fn from_name(name: &str) -> crate::Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "standard" => Ok(Self::Standard),
            "adversarial" => Ok(Self::Adversarial { attack: TrainingAttack::default() }),
            "trades" => Ok(Self::Trades { attack: TrainingAttack::default(), beta: TRADES_BETA }),
            _ => Err(crate::Error::Train(format!("unknown linear evaluation mode '{name}' (valid: standard, adversarial, trades)"))),
        }
    }

    /// One phrase saying how the classifier is trained, with the attack's budget in /255 units,
    /// e.g. "adversarial linear evaluation (RoCL: frozen backbone, linear head on l_inf PGD
    /// examples, eps 8/255, 10 steps of 2/255)".
    pub fn describe(&self) -> String {
        // In /255 units to two decimals, trailing zeros dropped (8/255, not 8.000001/255).
        let units = |x: f32| format!("{:.2}", x * 255.0).trim_end_matches('0').trim_end_matches('.').to_string();
        let budget = |a: &TrainingAttack| format!("eps {}/255, {} steps of {}/255", units(a.eps), a.steps, units(a.step));
        match self {
            Self::Standard => "standard linear evaluation (frozen backbone, linear head on clean features)".into(),
            Self::Adversarial { attack } => format!("adversarial linear evaluation (RoCL: frozen backbone, linear head on l_inf PGD examples, {})", budget(attack)),
            Self::Trades { attack, beta } => format!("TRADES fine-tuning (ACL: backbone and head, beta {beta}, l_inf {})", budget(attack)),
        }
    }

    /// The attack of an adversarial mode.
    pub fn attack(&self) -> Option<&TrainingAttack> {
        match self {
            Self::Standard => None,
            Self::Adversarial { attack } | Self::Trades { attack, .. } => Some(attack),
        }
    }

    /// Rejects settings that cannot run.
    pub fn validate(&self) -> crate::Result<()> {
        if let Some(attack) = self.attack() {
            attack.validate()?;
        }
        if let Self::Trades { beta, .. } = self
            && !(beta.is_finite() && *beta >= 0.0)
        {
            return Err(crate::Error::Train(format!("TRADES beta must be a finite number >= 0, got {beta}")));
        }
        Ok(())
    }
}

/// How a study trains the classifiers of finished runs again (`reproduce --table5-head`,
/// `--table5-head-epochs`; written as `table5-head.json`): the mode, and its epochs when they
/// replace those of the runs' own linear evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HeadRecipe {
    /// Standard, adversarial or TRADES.
    pub mode: LinearEvalMode,
    /// Epochs (`None`: the run's linear-evaluation epochs).
    #[serde(default)]
    pub epochs: Option<usize>,
}

impl HeadRecipe {
    /// The runs' own classifiers: their standard linear evaluation, with its epochs.
    pub const RUNS_OWN: Self = Self { mode: LinearEvalMode::Standard, epochs: None };

    /// The recipe in words: [`LinearEvalMode::describe`] and its epochs.
    pub fn describe(&self) -> String {
        match self.epochs {
            Some(e) => format!("{}, {e} epochs", self.mode.describe()),
            None => format!("{}, the runs' linear-evaluation epochs", self.mode.describe()),
        }
    }
}

/// An l_inf PGD budget of adversarial training: radius `eps`, `steps` signed-gradient steps of
/// size `step`. Defaults: 8/255, 2/255, 10 steps (RoCL's robust linear evaluation, ACL's TRADES
/// fine-tuning).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainingAttack {
    /// Radius of the l_inf ball, in [0, 1] pixel units.
    pub eps: f32,
    /// Step size.
    pub step: f32,
    /// Ascent steps.
    pub steps: usize,
}

impl Default for TrainingAttack {
    fn default() -> Self {
        Self { eps: 8.0 / 255.0, step: 2.0 / 255.0, steps: 10 }
    }
}

impl TrainingAttack {
    /// Rejects budgets that cannot run: eps outside [0, 1], a negative or non-finite step, no
    /// steps or more than [`MAX_STEPS`].
    pub fn validate(&self) -> crate::Result<()> {
        if !(self.eps.is_finite() && (0.0..=1.0).contains(&self.eps)) {
            return Err(crate::Error::Train(format!("attack eps must be in [0, 1] (l_inf, pixel units), got {}", self.eps)));
        }
        if !(self.step.is_finite() && self.step >= 0.0) {
            return Err(crate::Error::Train(format!("attack step must be a finite number >= 0, got {}", self.step)));
        }
        if self.steps == 0 || self.steps > MAX_STEPS {
            return Err(crate::Error::Train(format!("attack steps must be between 1 and {MAX_STEPS}, got {}", self.steps)));
        }
        Ok(())
    }

    /// The PGD attack of this budget: l_inf, cross-entropy, step size `step`, uniform random
    /// start in the ball (RoCL's `attack_lib.py` `FastGradientSignUntargeted` with
    /// `random_start`).
    pub fn pgd(&self) -> crate::Result<PgdLinf> {
        self.validate()?;
        let spec = AttackSpec::new(AttackKind::Pgd, Norm::Linf, self.eps)?.with_steps(self.steps)?;
        let mut pgd = PgdLinf::new(spec);
        pgd.alpha = Some(self.step);
        Ok(pgd)
    }

    /// PGD examples of `images` (in [0, 1]) for `labels` against `model` in eval mode: the batch
    /// adversarial linear evaluation trains the head on. Without autodiff, in the eps ball and
    /// [0, 1]; `seed` draws the random start.
    pub fn perturb(&self, model: &Classifier, images: Tensor<4>, labels: Tensor<1, Int>, seed: u64) -> crate::Result<Tensor<4>> {
        Ok(self.pgd()?.perturb(model, images, labels, seed))
    }
}

/// What linear evaluation measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinearEvalReport {
    /// Clean accuracy of the classifier on the (unaugmented) training images.
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

/// The seed of step `step` of epoch `epoch`: the attacks' random starts (as the supervised loop
/// seeds its steps).
fn step_seed(seed: u64, epoch: usize, step: usize) -> u64 {
    seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64).wrapping_add((step as u64) << 32)
}

/// Trains a classifier on the backbone of `encoder` in `config.mode`; returns the backbone
/// with its head (for TRADES, the fine-tuned backbone) and the accuracies. `on_epoch(epoch,
/// mean loss)` reports progress. `encoder` may be in either mode; its weights are not changed.
pub fn linear_eval(
    encoder: &Classifier,
    train: &ImageSet,
    test: &ImageSet,
    config: &LinearEvalConfig,
    device: &Device,
    on_epoch: impl FnMut(usize, f64),
) -> crate::Result<(Classifier, LinearEvalReport)> {
    if train.is_empty() || test.is_empty() {
        return Err(crate::Error::Train("linear evaluation needs training and test images".into()));
    }
    config.mode.validate()?;
    let start = Instant::now();
    let encoder = encoder.valid();
    let (model, train_accuracy) = match &config.mode {
        LinearEvalMode::Standard => standard(&encoder, train, config, device, on_epoch),
        LinearEvalMode::Adversarial { attack } => {
            let model = adversarial(&encoder, train, config, attack, device, on_epoch)?;
            let accuracy = clean_accuracy(&model, train, 256, device);
            (model, accuracy)
        }
        LinearEvalMode::Trades { attack, beta } => {
            let model = trades(&encoder, train, config, attack, *beta, device, on_epoch);
            let accuracy = clean_accuracy(&model, train, 256, device);
            (model, accuracy)
        }
    };
    let test_accuracy = clean_accuracy(&model, test, 256, device);
    Ok((
        model,
        LinearEvalReport {
            train_accuracy,
            test_accuracy,
            train_images: train.len(),
            test_images: test.len(),
            seconds: start.elapsed().as_secs_f64(),
        },
    ))
}

/// A zero-initialised head for `encoder`'s features and `classes` classes on `device`.
fn zero_head(encoder: &Classifier, classes: usize, device: &Device) -> Linear {
    LinearConfig::new(encoder.feature_dim(), classes).with_initializer(Initializer::Zeros).init(device)
}

/// Standard linear evaluation: features computed once, head trained on them. Returns the model
/// and the head's accuracy on the training features.
fn standard(encoder: &Classifier, train: &ImageSet, config: &LinearEvalConfig, device: &Device, on_epoch: impl FnMut(usize, f64)) -> (Classifier, f64) {
    let ad = device.clone().autodiff();
    let plain_features = extract_features(encoder, train, 256, device);
    let features = plain_features.clone().autodiff();
    let labels = labels_tensor(&train.labels, &ad);
    let head = train_head(encoder, train, config, device, on_epoch, |indices, _, _| {
        let rows: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
        let rows = Tensor::<1, Int>::from_data(TensorData::new(rows, [indices.len()]), &ad);
        (features.clone().select(0, rows.clone()), labels.clone().select(0, rows))
    });
    let train_predictions = head.forward(plain_features).argmax(1).flatten::<1>(0, 1);
    let train_correct = train_predictions.equal(labels_tensor(&train.labels, device)).int().sum().into_scalar::<i64>();
    (encoder.clone().with_head(head), train_correct as f64 / train.len() as f64)
}

/// Adversarial linear evaluation (RoCL): each batch replaced by PGD examples against the frozen
/// backbone with the current head, whose features (eval mode) train the head.
fn adversarial(
    encoder: &Classifier,
    train: &ImageSet,
    config: &LinearEvalConfig,
    attack: &TrainingAttack,
    device: &Device,
    on_epoch: impl FnMut(usize, f64),
) -> crate::Result<Classifier> {
    let pgd = attack.pgd()?;
    let ad = device.clone().autodiff();
    let head = train_head(encoder, train, config, device, on_epoch, |indices, head, seed| {
        let (x, y) = gather(train, indices, device);
        let model = encoder.clone().with_head(head.valid());
        let adversarial = pgd.perturb(&model, x, y.clone(), seed);
        let labels: Vec<usize> = indices.iter().map(|&i| train.labels[i]).collect();
        (encoder.features(adversarial).autodiff(), labels_tensor(&labels, &ad))
    });
    Ok(encoder.clone().with_head(head))
}

/// The head's training loop shared by standard and adversarial linear evaluation: a zero head
/// on the autodiff device, SGD with momentum and cosine decay over `config.epochs` epochs of
/// shuffled batches; `batch(indices, current head, step seed)` gives the features (autodiff,
/// constants) and labels of a batch. Returns the head without autodiff.
fn train_head(
    encoder: &Classifier,
    train: &ImageSet,
    config: &LinearEvalConfig,
    device: &Device,
    mut on_epoch: impl FnMut(usize, f64),
    mut batch: impl FnMut(&[usize], &Linear, u64) -> (Tensor<2>, Tensor<1, Int>),
) -> Linear {
    let ad = device.clone().autodiff();
    let mut head = zero_head(encoder, train.class_names.len(), &ad);
    let steps = train.len().div_ceil(config.batch_size.max(1));
    let schedule = LrSchedule { base: config.lr, warmup_steps: 0, total_steps: config.epochs * steps };
    let mut optim = super::sgd(config.momentum, config.weight_decay);
    let mut step = 0;
    for epoch in 1..=config.epochs {
        let order = BatchOrder::shuffled(train.len(), config.batch_size, config.seed.wrapping_add(epoch as u64));
        let mut losses = Vec::with_capacity(steps);
        for (i, indices) in order.batches().enumerate() {
            let (features, labels) = batch(indices, &head, step_seed(config.seed, epoch, i));
            let loss = cross_entropy(head.forward(features), labels);
            losses.push(loss.clone().detach());
            let grads = GradientsParams::from_grads(loss.backward(), &head);
            head = optim.step(schedule.at(step), head, grads);
            step += 1;
        }
        on_epoch(epoch, Tensor::cat(losses, 0).mean().into_scalar::<f64>());
    }
    head.valid()
}

/// TRADES fine-tuning of backbone and a zero head: full batches of a reshuffled order (the
/// backbone's BatchNorm trains on batch statistics, so batches keep one size, as the
/// supervised loop), SGD with momentum and cosine decay.
fn trades(
    encoder: &Classifier,
    train: &ImageSet,
    config: &LinearEvalConfig,
    attack: &TrainingAttack,
    beta: f32,
    device: &Device,
    mut on_epoch: impl FnMut(usize, f64),
) -> Classifier {
    let ad = device.clone().autodiff();
    let head = zero_head(encoder, train.class_names.len(), device);
    let mut model = encoder.clone().with_head(head).train();
    let steps = crate::data::batch::steps_per_epoch(train.len(), config.batch_size);
    let schedule = LrSchedule { base: config.lr, warmup_steps: 0, total_steps: config.epochs * steps };
    let mut optim = super::sgd(config.momentum, config.weight_decay);
    let mut step = 0;
    for epoch in 1..=config.epochs {
        let order = BatchOrder::shuffled(train.len(), config.batch_size, config.seed.wrapping_add(epoch as u64));
        let mut losses = Vec::with_capacity(steps);
        for (i, indices) in order.full_batches().enumerate() {
            let (x, _) = gather(train, indices, device);
            let labels: Vec<usize> = indices.iter().map(|&i| train.labels[i]).collect();
            let (stepped, terms) =
                trades_step(model, &mut optim, schedule.at(step), x, labels_tensor(&labels, &ad), attack, beta, step_seed(config.seed, epoch, i));
            model = stepped;
            losses.push(terms.loss);
            step += 1;
        }
        on_epoch(epoch, Tensor::cat(losses, 0).mean().into_scalar::<f64>());
    }
    model.valid()
}
