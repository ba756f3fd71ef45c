//! The input gradient every gradient-based attack ascends, and the PGD loop.

use burn::tensor::{Int, Tensor};

use super::norm::{ball_start, project};
use super::objective::{Objective, kl_from_clean};
use super::{AttackSpec, Norm};
use crate::losses::cross_entropy_per_sample;
use crate::models::Classifier;

/// Gradient of the summed cross-entropy with respect to the input images.
///
/// `model` must be in eval mode (`valid()`): its parameters are constants, only the input is
/// tracked, so BatchNorm uses its running statistics and never updates them. Summing (not
/// averaging) keeps each sample's gradient independent of the batch size.
pub fn input_gradient(model: &Classifier, images: Tensor<4>, labels: Tensor<1, Int>) -> Tensor<4> {
    let x = images.detach().autodiff().require_grad();
    let loss = cross_entropy_per_sample(model.forward(x.clone()), labels).sum();
    let grads = loss.backward();
    x.grad(&grads).expect("the input is a tracked leaf, so it has a gradient")
}

/// One forward and backward pass of an attack objective: the input gradient of the summed
/// per-sample objective, the per-sample objective values `[N]` and the logits `[N, C]` (both
/// without autodiff). `model` must be in eval mode, as for [`input_gradient`].
pub fn objective_gradient(
    model: &Classifier,
    images: Tensor<4>,
    objective: Objective,
    labels: Tensor<1, Int>,
    targets: Option<&Tensor<1, Int>>,
) -> (Tensor<4>, Tensor<1>, Tensor<2>) {
    let x = images.detach().autodiff().require_grad();
    let logits = model.forward(x.clone());
    let loss = objective.per_sample(logits.clone(), labels, targets);
    let grads = loss.clone().sum().backward();
    let grad = x.grad(&grads).expect("the input is a tracked leaf, so it has a gradient");
    (grad, loss.without_autodiff(), logits.without_autodiff())
}

/// The input gradient of `objective` (summed over the batch) at `images`: [`input_gradient`]
/// for the cross-entropy, [`objective_gradient`] for the others. `model` must be in eval mode.
pub(crate) fn ascent_gradient(model: &Classifier, images: Tensor<4>, labels: Tensor<1, Int>, objective: Objective) -> Tensor<4> {
    match objective {
        Objective::Ce => input_gradient(model, images, labels),
        other => objective_gradient(model, images, other, labels, None).0,
    }
}

/// The loop every PGD variant shares (Madry et al. 2018): start at `x` or, given a seed, at
/// [`ball_start`] (a random point of the `norm` ball of the spec's eps); then the spec's `steps`
/// times take the input gradient of the spec's loss on the eval-mode `model`, move by `alpha`
/// times the ascent direction `direction(grad, adv)` and [`project`] back onto the ball and [0, 1].
#[allow(clippy::too_many_arguments)]
pub(crate) fn projected_ascent(
    model: &Classifier,
    x: &Tensor<4>,
    labels: Tensor<1, Int>,
    norm: Norm,
    spec: &AttackSpec,
    random_start: Option<u64>,
    alpha: f32,
    direction: impl Fn(Tensor<4>, &Tensor<4>) -> Tensor<4>,
) -> Tensor<4> {
    let start = match random_start {
        Some(seed) => ball_start(norm, x, spec.eps, seed),
        None => x.clone(),
    };
    let gradient = |adv: Tensor<4>| ascent_gradient(model, adv, labels.clone(), spec.loss);
    ascend(x, start, norm, spec.eps, spec.steps, alpha, gradient, direction)
}

/// The iteration of [`projected_ascent`] for any objective: from `start`, `steps` times move by
/// `alpha` times `direction(gradient(adv), adv)` and [`project`] onto the `norm` ball of radius
/// `eps` around `x` and [0, 1]. TRADES's inner maximisation (`crate::train::trades`) runs it on
/// [`kl_input_gradient`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn ascend(
    x: &Tensor<4>,
    start: Tensor<4>,
    norm: Norm,
    eps: f32,
    steps: usize,
    alpha: f32,
    gradient: impl Fn(Tensor<4>) -> Tensor<4>,
    direction: impl Fn(Tensor<4>, &Tensor<4>) -> Tensor<4>,
) -> Tensor<4> {
    let mut adv = start;
    for _ in 0..steps {
        let grad = gradient(adv.clone());
        let step = direction(grad, &adv) * alpha;
        adv = project(norm, adv + step, x, eps);
    }
    adv
}

/// Input gradient of TRADES's inner objective summed over the batch,
/// `sum_i KL(softmax(clean_i) || softmax(f(x_i)))` ([`kl_from_clean`]), at `images`;
/// `clean_logits` (the model's logits of the clean images) are constants. `model` must be in
/// eval mode, as for [`input_gradient`].
pub fn kl_input_gradient(model: &Classifier, images: Tensor<4>, clean_logits: Tensor<2>) -> Tensor<4> {
    let x = images.detach().autodiff().require_grad();
    let loss = kl_from_clean(clean_logits.without_autodiff().autodiff(), model.forward(x.clone())).sum();
    let grads = loss.backward();
    x.grad(&grads).expect("the input is a tracked leaf, so it has a gradient")
}

/// Where `mask` (`[N]`) is true take `a`'s sample, else `b`'s.
pub(crate) fn select_samples(mask: Tensor<1, burn::tensor::Bool>, a: Tensor<4>, b: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = a.dims();
    b.mask_where(mask.reshape([n, 1, 1, 1]).expand([n, c, h, w]), a)
}
