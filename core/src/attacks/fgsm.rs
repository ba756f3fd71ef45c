//! FGSM (Goodfellow et al. 2015): `x' = clip_[0,1](x + eps * sign(grad_x CE(f(x), y)))`; with the
//! `ce-t` loss (`fgsm:linf:EPS:ce-t`) the labels are target classes and the step descends their
//! cross-entropy instead (Kurakin et al. 2017's targeted variant).

use burn::tensor::{Int, Tensor};

use super::gradient::ascent_gradient;
use super::{Attack, AttackSpec};
use crate::models::Classifier;

/// One signed-gradient step of size eps.
pub struct Fgsm {
    spec: AttackSpec,
}

impl Fgsm {
    /// FGSM with the radius of `spec`.
    pub fn new(spec: AttackSpec) -> Self {
        Self { spec }
    }
}

impl Attack for Fgsm {
    fn spec(&self) -> &AttackSpec {
        &self.spec
    }

    fn run(&self, model: &Classifier, images: Tensor<4>, labels: Tensor<1, Int>, _seed: u64) -> Tensor<4> {
        let grad = ascent_gradient(model, images.clone(), labels, self.spec.loss);
        (images + grad.sign() * self.spec.eps).clamp(0.0, 1.0)
    }
}
