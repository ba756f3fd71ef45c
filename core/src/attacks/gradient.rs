//! The input gradient every gradient-based attack ascends.

use burn::tensor::{Int, Tensor};

use super::objective::Objective;
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

/// The loop every PGD variant shares (Madry et al. 2018): start at `x + noise` clipped to
/// [0, 1] (or at `x` without noise), then `steps` times take the input gradient of `objective`
/// on the eval-mode model and apply `step(adv, grad)`, the norm's ascent step followed by its
/// projection.
pub(crate) fn projected_ascent(
    model: &Classifier,
    x: &Tensor<4>,
    noise: Option<Tensor<4>>,
    labels: Tensor<1, Int>,
    steps: usize,
    objective: Objective,
    step: impl Fn(Tensor<4>, Tensor<4>) -> Tensor<4>,
) -> Tensor<4> {
    use burn::module::Module;
    let model = model.valid();
    let mut adv = match noise {
        Some(noise) => (x.clone() + noise).clamp(0.0, 1.0),
        None => x.clone(),
    };
    for _ in 0..steps {
        let grad = match objective {
            Objective::Ce => input_gradient(&model, adv.clone(), labels.clone()),
            other => objective_gradient(&model, adv.clone(), other, labels.clone(), None).0,
        };
        adv = step(adv, grad);
    }
    adv
}

/// Per-sample l_2 norms of a batch, shape `[N, 1, 1, 1]`, floored at 1e-12.
pub(crate) fn l2_norms(x: Tensor<4>) -> Tensor<4> {
    x.powi_scalar(2).sum_dims(&[1, 2, 3]).sqrt().clamp_min(1e-12)
}

/// Where `mask` (`[N]`) is true take `a`'s sample, else `b`'s.
pub(crate) fn select_samples(mask: Tensor<1, burn::tensor::Bool>, a: Tensor<4>, b: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = a.dims();
    b.mask_where(mask.reshape([n, 1, 1, 1]).expand([n, c, h, w]), a)
}
