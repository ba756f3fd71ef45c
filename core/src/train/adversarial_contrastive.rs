//! Adversarial contrastive learning: RoCL (Kim et al., *Adversarial Self-Supervised Contrastive
//! Learning*, NeurIPS 2020) and ACL (Jiang et al., *Robust Pre-Training by Adversarial
//! Contrastive Learning*, NeurIPS 2020), with the paper's A-FNC on their contrastive terms
//! (A-RoCL, A-ACL: the paper's Table 5).
//!
//! Each step draws two SimCLR views `t1`, `t2` of every image (seeded like every contrastive
//! run), builds instance-wise adversarial views with [`InstanceAttack`] on the model in eval
//! mode (its random starts seeded from the step's seed, so a resumed run replays them), then
//! trains on ([`crate::losses::adversarial`]):
//! - RoCL: `adv` = PGD of `t1` against `t2`; the three-view loss of `[t1, t2, adv]` plus
//!   `1/lambda` times NT-Xent of `[adv, t2]` (a second forward, as the reference);
//! - ACL A2A: both views attacked, NT-Xent of `[adv1, adv2]`; A2S: `t1` attacked against a
//!   clean `t2`, NT-Xent of `[adv1, t2]`; DS: both views attacked through the "pgd" BatchNorm,
//!   `[NT-Xent(t1, t2) via "normal" + NT-Xent(adv1, adv2) via "pgd"] / 2`.
//!
//! The epochs themselves (schedule, statistics, kNN monitor, checkpoints through `on_epoch`,
//! budget stops with mid-epoch checkpoints through `on_pause`) are the contrastive loop's ([`super::contrastive`]). Training runs in f32 (mixed precision is
//! refused by [`ContrastiveConfig::validate`]).

use burn::optim::ModuleOptimizer;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use web_time::Instant;

use super::contrastive::{
    ContrastiveConfig, ContrastiveEpoch, ContrastiveMethod, ContrastiveModel, PretrainingRun, StepOutput, ViewBackend, pretraining_epochs,
};
use super::budget::Pause;
use super::ifnd::IfndState;
use super::mixed_precision::train_step;
use super::StepProgress;
use crate::attacks::InstanceAttack;
use crate::data::ImageSet;
use crate::data::batch::labels_tensor;
use crate::losses::adversarial::{ROCL_LAMBDA, acl_ds_loss, rocl_loss};
use crate::losses::contrastive::{ContrastiveObjective, ContrastiveOutput, contrastive_loss};
use crate::models::BnSet;

/// ACL's variants (Jiang et al. 2020, Figure 1 (b)-(d)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AclVariant {
    /// Adversarial to adversarial: both views attacked, one BatchNorm.
    A2a,
    /// Adversarial to standard: the first view attacked against the clean second one.
    A2s,
    /// Dual stream: a clean pair through the "normal" BatchNorm and an adversarial pair
    /// through the "pgd" BatchNorm (the reference's `--ACL_DS`, its best).
    #[default]
    Ds,
}

impl std::str::FromStr for AclVariant {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "a2a" => Ok(Self::A2a),
            "a2s" => Ok(Self::A2s),
            "ds" => Ok(Self::Ds),
            _ => Err(crate::Error::Train(format!("unknown ACL variant '{s}' (valid: a2a, a2s, ds)"))),
        }
    }
}

/// Settings of adversarial contrastive learning.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdversarialConfig {
    /// ACL's variant (method `acl`).
    pub acl_variant: AclVariant,
    /// RoCL's weight: the regulariser is scaled by `1 / lambda` (method `rocl`).
    pub lambda: f32,
    /// The instance-wise attack that makes the adversarial views.
    pub attack: InstanceAttack,
    /// The BatchNorm set an ACL-DS model evaluates with (kNN monitor, linear probe, attacks):
    /// "pgd", as ACL's adversarial fine-tuning loads it (`--bnNameCnt 1`); "normal" is its
    /// clean linear probe's.
    pub eval_batch_norm: BnSet,
}

impl Default for AdversarialConfig {
    fn default() -> Self {
        Self::acl(AclVariant::Ds)
    }
}

impl AdversarialConfig {
    /// RoCL's settings: lambda 256, its training attack ([`InstanceAttack::rocl`]).
    pub fn rocl() -> Self {
        Self { acl_variant: AclVariant::Ds, lambda: ROCL_LAMBDA, attack: InstanceAttack::rocl(), eval_batch_norm: BnSet::Pgd }
    }

    /// ACL's settings in `variant`: its training attack ([`InstanceAttack::acl`]).
    pub fn acl(variant: AclVariant) -> Self {
        Self { acl_variant: variant, lambda: ROCL_LAMBDA, attack: InstanceAttack::acl(), eval_batch_norm: BnSet::Pgd }
    }

    /// Rejects settings that cannot train.
    pub fn validate(&self) -> crate::Result<()> {
        if !(self.lambda > 0.0 && self.lambda.is_finite()) {
            return Err(crate::Error::Train(format!("RoCL's lambda must be a positive number (got {})", self.lambda)));
        }
        self.attack.validate()
    }
}

/// The seed of a step's random starts: derived from the step's seed (run seed, epoch, step),
/// apart from the views' streams.
fn attack_seed(step_seed: u64) -> u64 {
    step_seed ^ 0xAD5E_C0DE_0000_0001
}

/// One optimisation step of RoCL or ACL (see the module documentation) on the images at
/// `indices`: views drawn from `seed` and rendered by `backend`, adversarial views, the loss
/// with `objective`'s temperature and cancellation, backward, `optim` at `lr`. Shared by
/// training and `bench-contrastive`.
#[allow(clippy::too_many_arguments)]
pub fn adversarial_step(
    model: ContrastiveModel,
    optim: &mut ModuleOptimizer,
    train: &ImageSet,
    indices: &[usize],
    objective: &ContrastiveObjective,
    config: &ContrastiveConfig,
    backend: ViewBackend,
    seed: u64,
    lr: f64,
    train_device: &Device,
) -> crate::Result<StepOutput> {
    let t = Instant::now();
    let images = backend.views(train, indices, &config.views, 2, seed, train_device);
    let labels: Vec<usize> = indices.iter().map(|&i| train.labels[i]).collect();
    let labels = labels_tensor(&labels, train_device);
    let augment_seconds = t.elapsed().as_secs_f64();
    let n = indices.len();
    let [_, c, h, w] = images.dims();
    let t1 = images.clone().slice([0..n, 0..c, 0..h, 0..w]);
    let t2 = images.slice([n..2 * n, 0..c, 0..h, 0..w]);
    let settings = &config.adversarial;
    let attack = settings.attack;
    let (set, attacked) = match (config.method, settings.acl_variant) {
        (ContrastiveMethod::Rocl, _) | (ContrastiveMethod::Acl, AclVariant::A2s) => (BnSet::Normal, [true, false]),
        (ContrastiveMethod::Acl, AclVariant::A2a) => (BnSet::Normal, [true, true]),
        (ContrastiveMethod::Acl, AclVariant::Ds) => (BnSet::Pgd, [true, true]),
        (other, _) => return Err(crate::Error::Train(format!("{other:?} is not an adversarial contrastive method"))),
    };
    let adv = attack.perturb(&model.encoder, &model.head, set, &[t1.clone(), t2.clone()], &attacked, attack_seed(seed));
    // Back onto the training device, as constants.
    let (a1, a2) = (adv[0].clone().autodiff(), adv[1].clone().autodiff());
    let (model, out) = train_step(None, optim, lr, model, |m, _| {
        let out = match (config.method, settings.acl_variant) {
            (ContrastiveMethod::Rocl, _) => {
                let three = m.project(Tensor::cat(vec![t1, t2.clone(), a1.clone()], 0));
                let regularizer = m.project(Tensor::cat(vec![a1, t2], 0));
                rocl_loss(three, regularizer, Some(labels), objective, settings.lambda)?
            }
            (_, AclVariant::A2a) => contrastive_loss(m.project(Tensor::cat(vec![a1, a2], 0)), Some(labels), objective)?,
            (_, AclVariant::A2s) => contrastive_loss(m.project(Tensor::cat(vec![a1, t2], 0)), Some(labels), objective)?,
            (_, AclVariant::Ds) => {
                let clean = m.project_with(Tensor::cat(vec![t1, t2], 0), BnSet::Normal);
                let adversarial = m.project_with(Tensor::cat(vec![a1, a2], 0), BnSet::Pgd);
                acl_ds_loss(clean, adversarial, Some(labels), objective)?
            }
        };
        Ok::<_, crate::Error>((out.loss.clone(), out))
    })?;
    let output = ContrastiveOutput { loss: out.loss.detach(), ..out };
    Ok(StepOutput { model, output, augment_seconds })
}

/// Trains a RoCL or ACL run (the arguments and callbacks of
/// [`super::contrastive::train_contrastive`], which calls this for these methods; IFND is
/// refused for them, so `run.ifnd` is ignored).
pub fn train_adversarial_contrastive<E: From<crate::Error>>(
    model: ContrastiveModel,
    optim: &mut ModuleOptimizer,
    run: PretrainingRun<'_>,
    on_step: impl FnMut(StepProgress),
    on_epoch: impl FnMut(&ContrastiveEpoch, &ContrastiveModel, &ModuleOptimizer, Option<&IfndState>) -> Result<(), E>,
    on_pause: impl FnMut(&Pause, &ContrastiveModel, &ModuleOptimizer, Option<&IfndState>) -> E,
) -> Result<ContrastiveModel, E> {
    let config = run.config;
    if !config.method.is_adversarial() {
        return Err(crate::Error::Train(format!("{:?} is not an adversarial contrastive method", config.method)).into());
    }
    if config.dual_batch_norm().is_some() != model.encoder.has_dual_batch_norm() {
        return Err(crate::Error::Train(format!(
            "ACL-DS needs a backbone with two BatchNorm sets and the other methods one (this backbone has {})",
            if model.encoder.has_dual_batch_norm() { "two" } else { "one" }
        ))
        .into());
    }
    let train = run.train;
    let train_device = run.device.clone().autodiff();
    let view_backend = config.view_backend.resolve(run.device);
    let run = PretrainingRun { ifnd: None, ..run };
    pretraining_epochs(model, optim, run, on_step, on_epoch, on_pause, |model, optim, plan| {
        adversarial_step(model, optim, train, plan.indices, &plan.objective, config, view_backend, plan.seed, plan.lr, &train_device)
    })
}
