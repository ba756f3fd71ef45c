//! The input gradient every gradient-based attack ascends.

use burn::module::Module;
use burn::tensor::{Int, Tensor};

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

/// The loop every PGD variant shares (Madry et al. 2018): start at `x + noise` clipped to
/// [0, 1] (or at `x` without noise), then `steps` times take the input gradient on the
/// eval-mode model and apply `step(adv, grad)`, the norm's ascent step followed by its
/// projection.
pub(crate) fn projected_ascent(
    model: &Classifier,
    x: &Tensor<4>,
    noise: Option<Tensor<4>>,
    labels: Tensor<1, Int>,
    steps: usize,
    step: impl Fn(Tensor<4>, Tensor<4>) -> Tensor<4>,
) -> Tensor<4> {
    let model = model.valid();
    let mut adv = match noise {
        Some(noise) => (x.clone() + noise).clamp(0.0, 1.0),
        None => x.clone(),
    };
    for _ in 0..steps {
        let grad = input_gradient(&model, adv.clone(), labels.clone());
        adv = step(adv, grad);
    }
    adv
}
