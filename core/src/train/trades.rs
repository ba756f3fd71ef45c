//! TRADES fine-tuning (Zhang et al. 2019, *Theoretically Principled Trade-off between
//! Robustness and Accuracy*, ICML, Eq. 5; yaodongyu/TRADES `trades.py` `trades_loss`), as ACL
//! fine-tunes its pre-trained models with it (Jiang et al. 2020, Section 4.1, "adversarial full
//! fine-tuning"): the whole classifier, backbone and head, is trained on
//!
//! `CE(f(x), y) + beta * (1/N) sum_i KL(softmax(f(x_i)) || softmax(f(x_adv_i)))`
//!
//! where `x_adv` maximises the KL term in the l_inf ball of radius eps around `x`: from
//! `x + 0.001 * N(0, 1)`, `steps` signed-gradient steps of `step`, each projected onto the ball
//! and [0, 1] (the attack machinery's loop, [`crate::attacks::gradient`]; its objective is
//! [`kl_from_clean`]).
//!
//! As the reference: the inner maximisation runs on the model in eval mode (BatchNorm with its
//! running statistics, untouched); the outer step in train mode (BatchNorm with batch statistics,
//! updating its running statistics); the KL is `sum_c p_clean (log p_clean - log p_adv)`
//! averaged over the batch, with gradient through both distributions. One difference, on
//! purpose: the clean logits of the outer loss are computed once and used by both terms (the
//! reference runs the clean batch through the model twice in train mode, which gives the same
//! loss and gradients but moves the BatchNorm running statistics one more time).

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::tensor::{Int, Tensor};

use super::linear_eval::TrainingAttack;
use super::mixed_precision::train_step;
use crate::attacks::Norm;
use crate::attacks::gradient::{ascend, kl_input_gradient};
use crate::attacks::norm::{gaussian_start, steepest_ascent};
use crate::attacks::objective::kl_from_clean;
use crate::losses::cross_entropy;
use crate::models::Classifier;

/// TRADES's trade-off weight in ACL's fine-tuning (and TRADES's CIFAR-10 setting): 6.
pub const TRADES_BETA: f32 = 6.0;

/// The standard deviation of TRADES's Gaussian start (`0.001 * torch.randn`).
pub const TRADES_START_SIGMA: f32 = 0.001;

/// The terms of the TRADES loss, each a one-element tensor.
#[derive(Debug, Clone)]
pub struct TradesLoss {
    /// `CE + beta * KL`, what is minimised.
    pub loss: Tensor<1>,
    /// Mean cross-entropy of the clean logits.
    pub cross_entropy: Tensor<1>,
    /// Batch mean of `KL(softmax(clean) || softmax(adversarial))`.
    pub kl: Tensor<1>,
}

/// The TRADES outer loss of clean and adversarial logits (`[N, C]` each) for `labels`:
/// `CE(clean, y) + beta * mean_i KL(softmax(clean_i) || softmax(adversarial_i))`, the reference's
/// `loss_natural + beta * (1 / batch_size) * criterion_kl(log_softmax(adv), softmax(clean))`.
pub fn trades_loss(clean: Tensor<2>, adversarial: Tensor<2>, labels: Tensor<1, Int>, beta: f32) -> TradesLoss {
    let cross_entropy = cross_entropy(clean.clone(), labels);
    let kl = kl_from_clean(clean, adversarial).mean();
    TradesLoss { loss: cross_entropy.clone() + kl.clone() * beta, cross_entropy, kl }
}

/// TRADES's inner maximisation: `x_adv` in the l_inf ball of `attack.eps` around `x` (and in
/// [0, 1]) that raises `KL(softmax(f(x)) || softmax(f(x_adv)))`, from `x + 0.001 * N(0, 1)`
/// (drawn on the host from `seed`) by `attack.steps` signed steps of `attack.step`. `model` is
/// used in eval mode whatever mode it is in; the result has no autodiff.
pub fn trades_perturb(model: &Classifier, x: Tensor<4>, attack: &TrainingAttack, seed: u64) -> Tensor<4> {
    let model = model.valid();
    let x = x.without_autodiff();
    let clean = model.forward(x.clone());
    let start = gaussian_start(&x, TRADES_START_SIGMA, seed);
    ascend(
        &x,
        start,
        Norm::Linf,
        attack.eps,
        attack.steps,
        attack.step,
        |adv| kl_input_gradient(&model, adv, clean.clone()),
        |grad, _| steepest_ascent(Norm::Linf, grad),
    )
}

/// One TRADES step on `model` (parameters on an autodiff device, in train mode) for the batch
/// `x` (`[N, 3, H, W]` in [0, 1], any device flavour), `labels` on the autodiff device:
/// [`trades_perturb`] in eval mode, then the outer loss through the model in train mode, and
/// one step of `optim` at `lr`. Returns the stepped model and the loss terms (detached).
#[allow(clippy::too_many_arguments)]
pub fn trades_step(
    model: Classifier,
    optim: &mut ModuleOptimizer,
    lr: f64,
    x: Tensor<4>,
    labels: Tensor<1, Int>,
    attack: &TrainingAttack,
    beta: f32,
    seed: u64,
) -> (Classifier, TradesLoss) {
    let adversarial = trades_perturb(&model, x.clone(), attack, seed);
    let (x, adversarial) = (x.without_autodiff().autodiff(), adversarial.autodiff());
    let Ok(stepped) = train_step(None, optim, lr, model, |m, _| {
        let terms = trades_loss(m.forward(x), m.forward(adversarial), labels, beta);
        let detached = TradesLoss { loss: terms.loss.clone().detach(), cross_entropy: terms.cross_entropy.detach(), kl: terms.kl.detach() };
        Ok::<_, std::convert::Infallible>((terms.loss, detached))
    });
    stepped
}
