//! PGD in the l_1 ball with sparse steepest-ascent steps (Tramer & Boneh 2019, "Adversarial
//! training and robustness for multiple perturbations", SLIDE; the sparse step of Croce & Hein
//! 2021, APGD-l1).
//!
//! Each step keeps the `q` largest-magnitude gradient coordinates (top 5% by default) among
//! those that can still move inside [0, 1] in the gradient's direction, moves them by
//! `sign(g_i) * alpha / k` (an l_1 step of length `alpha = 2.5 * eps / steps`), and projects
//! exactly onto the l_1 ball of radius eps around the clean image intersected with the box
//! [0, 1] ([`project_l1_box`]).

use burn::tensor::{Int, Tensor};

use super::gradient::projected_ascent;
pub use super::norm::project_l1_box;
use super::{Attack, AttackSpec, Norm};
use crate::models::Classifier;

/// l_1 PGD with sparse steps.
pub struct PgdL1 {
    spec: AttackSpec,
    /// Fraction of coordinates moved per step (SLIDE's `1 - q/100`), in (0, 1].
    pub sparsity: f32,
    /// Start from a random point of the ball (true) or from the clean image (false, default).
    pub random_start: bool,
}

impl PgdL1 {
    /// l_1 PGD with the radius and steps of `spec`, top-5% steps and no random start.
    pub fn new(spec: AttackSpec) -> Self {
        Self { spec, sparsity: 0.05, random_start: false }
    }
}

/// The sparse steepest-ascent direction: `sign(g)` on the `k` largest `|g_i|` among coordinates
/// that can still move in `g`'s direction inside [0, 1], divided by `k` (unit l_1 norm when
/// k coordinates qualify).
pub(crate) fn sparse_direction(grad: Tensor<4>, adv: &Tensor<4>, k: usize) -> Tensor<4> {
    let [n, c, h, w] = grad.dims();
    let blocked = grad
        .clone()
        .greater_elem(0.0)
        .bool_and(adv.clone().greater_equal_elem(1.0))
        .bool_or(grad.clone().lower_elem(0.0).bool_and(adv.clone().lower_equal_elem(0.0)));
    let g = grad.mask_fill(blocked, 0.0).reshape([n, c * h * w]);
    let mag = g.clone().abs();
    let kth = mag.clone().topk(k, 1).slice([0..n, k - 1..k]);
    let chosen = mag.greater_equal(kth).float().mask_fill(g.clone().equal_elem(0.0), 0.0);
    (g.sign() * chosen / k as f32).reshape([n, c, h, w])
}

impl Attack for PgdL1 {
    fn spec(&self) -> &AttackSpec {
        &self.spec
    }

    fn run(&self, model: &Classifier, x: Tensor<4>, labels: Tensor<1, Int>, seed: u64) -> Tensor<4> {
        let [_, c, h, w] = x.dims();
        let k = ((self.sparsity * (c * h * w) as f32).ceil() as usize).clamp(1, c * h * w);
        let alpha = 2.5 * self.spec.eps / self.spec.steps as f32;
        let start = self.random_start.then_some(seed);
        projected_ascent(model, &x, labels, Norm::L1, &self.spec, start, alpha, |grad, adv| sparse_direction(grad, adv, k))
    }
}

/// Per-sample l_1 norms `[N]` (for tests and reports).
pub fn l1_norms(d: Tensor<4>) -> Tensor<1> {
    let [n, ..] = d.dims();
    d.abs().sum_dims(&[1, 2, 3]).reshape([n])
}
