//! PGD in the l_2 ball (Madry et al. 2018; torchattacks `PGDL2`): random start at a uniformly
//! random radius in a random direction, then `steps` ascent steps along the per-sample
//! l_2-normalised gradient of size `alpha = 2.5 * eps / steps`, each followed by projection
//! onto the l_2 ball of radius eps and onto [0, 1]. The ascended objective is the spec's LOSS.

use burn::tensor::{Int, Tensor};

use super::gradient::projected_ascent;
use super::norm::steepest_ascent;
use super::{Attack, AttackSpec, Norm};
use crate::models::Classifier;

/// l_2 PGD with random start.
pub struct PgdL2 {
    spec: AttackSpec,
    /// Start from a random point in the ball (true) or from the clean image.
    pub random_start: bool,
}

impl PgdL2 {
    /// PGD with the radius and steps of `spec` and a random start.
    pub fn new(spec: AttackSpec) -> Self {
        Self { spec, random_start: true }
    }
}

impl Attack for PgdL2 {
    fn spec(&self) -> &AttackSpec {
        &self.spec
    }

    fn run(&self, model: &Classifier, x: Tensor<4>, labels: Tensor<1, Int>, seed: u64) -> Tensor<4> {
        let alpha = 2.5 * self.spec.eps / self.spec.steps as f32;
        let start = self.random_start.then_some(seed);
        projected_ascent(model, &x, labels, Norm::L2, &self.spec, start, alpha, |grad, _| steepest_ascent(Norm::L2, grad))
    }
}
