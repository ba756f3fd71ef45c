//! PGD in the l_2 ball (Madry et al. 2018; torchattacks `PGDL2`): random start at a uniformly
//! random radius in a random direction, then `steps` ascent steps along the per-sample
//! l_2-normalised gradient of size `alpha = 2.5 * eps / steps`, each followed by projection
//! onto the l_2 ball of radius eps and onto [0, 1]. The ascended objective is the spec's LOSS.

use burn::tensor::{Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};

use super::gradient::{l2_norms, projected_ascent};
use super::{Attack, AttackSpec};
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


/// Scales each sample of `delta` down to l_2 norm at most `eps`.
pub(crate) fn project_l2(delta: Tensor<4>, eps: f32) -> Tensor<4> {
    let factor = (l2_norms(delta.clone()).recip() * eps).clamp_max(1.0);
    delta * factor
}

/// A random start: Gaussian directions (from `seed`, drawn on the host) scaled to a radius drawn
/// uniformly in [0, eps] per sample.
fn random_start(dims: [usize; 4], eps: f32, seed: u64, like: &Tensor<4>) -> Tensor<4> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let per = dims[1] * dims[2] * dims[3];
    let mut values = Vec::with_capacity(dims[0] * per);
    for _ in 0..dims[0] {
        // Box-Muller Gaussian directions.
        let dir: Vec<f32> = (0..per)
            .map(|_| {
                let (u, v): (f32, f32) = (rng.random_range(f32::EPSILON..1.0), rng.random());
                (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
            })
            .collect();
        let norm = dir.iter().map(|d| d * d).sum::<f32>().sqrt().max(1e-12);
        let radius = rng.random_range(0.0..=eps);
        values.extend(dir.iter().map(|d| d / norm * radius));
    }
    Tensor::from_data(TensorData::new(values, dims), &like.device())
}

impl Attack for PgdL2 {
    fn spec(&self) -> &AttackSpec {
        &self.spec
    }

    fn perturb(&self, model: &Classifier, images: Tensor<4>, labels: Tensor<1, Int>, seed: u64) -> Tensor<4> {
        let x = images.without_autodiff();
        let eps = self.spec.eps;
        if eps == 0.0 {
            return x;
        }
        let alpha = 2.5 * eps / self.spec.steps as f32;
        let noise = self.random_start.then(|| random_start(x.dims(), eps, seed, &x));
        projected_ascent(model, &x, noise, labels, self.spec.steps, self.spec.loss, |adv, grad| {
            let step = grad.clone() / l2_norms(grad) * alpha;
            (x.clone() + project_l2(adv + step - x.clone(), eps)).clamp(0.0, 1.0)
        })
    }
}
