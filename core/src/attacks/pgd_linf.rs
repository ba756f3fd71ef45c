//! PGD in the l_inf ball (Madry et al. 2018): uniform random start in the ball, then `steps`
//! signed-gradient ascent steps of size `alpha = 2.5 * eps / steps` (Madry's rule), each
//! followed by projection onto the ball and onto [0, 1]. The ascended objective is the spec's
//! LOSS (cross-entropy unless `pgd:linf:EPS:STEPS:dlr` or `:cw`).

use burn::tensor::{Int, Tensor};

use super::gradient::projected_ascent;
use super::norm::steepest_ascent;
use super::{Attack, AttackSpec, Norm};
use crate::models::Classifier;

/// l_inf PGD with random start.
pub struct PgdLinf {
    spec: AttackSpec,
    /// Step size; `None` means `2.5 * eps / steps`.
    pub alpha: Option<f32>,
    /// Start from a uniform random point in the ball (true) or from the clean image.
    pub random_start: bool,
}

impl PgdLinf {
    /// PGD with the radius and steps of `spec`, the default step size and a random start.
    pub fn new(spec: AttackSpec) -> Self {
        Self { spec, alpha: None, random_start: true }
    }

    fn step_size(&self) -> f32 {
        self.alpha.unwrap_or(2.5 * self.spec.eps / self.spec.steps as f32)
    }
}

impl Attack for PgdLinf {
    fn spec(&self) -> &AttackSpec {
        &self.spec
    }

    fn run(&self, model: &Classifier, x: Tensor<4>, labels: Tensor<1, Int>, seed: u64) -> Tensor<4> {
        let start = self.random_start.then_some(seed);
        projected_ascent(model, &x, labels, Norm::Linf, &self.spec, start, self.step_size(), |grad, _| steepest_ascent(Norm::Linf, grad))
    }
}
