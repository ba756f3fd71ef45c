//! PGD in the l_inf ball (Madry et al. 2018): uniform random start in the ball, then `steps`
//! signed-gradient ascent steps of size `alpha = 2.5 * eps / steps` (Madry's rule), each
//! followed by projection onto the ball and onto [0, 1]. The ascended objective is the spec's
//! LOSS (cross-entropy unless `pgd:linf:EPS:STEPS:dlr` or `:cw`).

use burn::tensor::{Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};

use super::gradient::projected_ascent;
use super::{Attack, AttackSpec};
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

/// Uniform noise in `[-eps, eps]` drawn on the host from `seed`, so every device agrees.
pub(crate) fn uniform_noise(dims: [usize; 4], eps: f32, seed: u64, like: &Tensor<4>) -> Tensor<4> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let n: usize = dims.iter().product();
    let values: Vec<f32> = (0..n).map(|_| rng.random_range(-eps..=eps)).collect();
    Tensor::from_data(TensorData::new(values, dims), &like.device())
}

/// Projects `adv` onto the l_inf ball of radius `eps` around `x`, intersected with [0, 1].
pub(crate) fn project_linf(adv: Tensor<4>, x: &Tensor<4>, eps: f32) -> Tensor<4> {
    adv.max_pair(x.clone() - eps).min_pair(x.clone() + eps).clamp(0.0, 1.0)
}

impl Attack for PgdLinf {
    fn spec(&self) -> &AttackSpec {
        &self.spec
    }

    fn perturb(&self, model: &Classifier, images: Tensor<4>, labels: Tensor<1, Int>, seed: u64) -> Tensor<4> {
        let x = images.without_autodiff();
        let eps = self.spec.eps;
        if eps == 0.0 {
            return x;
        }
        let alpha = self.step_size();
        let noise = self.random_start.then(|| uniform_noise(x.dims(), eps, seed, &x));
        projected_ascent(model, &x, noise, labels, self.spec.steps, self.spec.loss, |adv, grad| {
            project_linf(adv + grad.sign() * alpha, &x, eps)
        })
    }
}
