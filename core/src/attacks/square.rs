//! Square attack (Andriushchenko et al. 2020, "Square Attack: a query-efficient black-box
//! adversarial attack via random search"), l_inf (their Algorithm 2) and l_2 (Algorithm 3), as
//! run by AutoAttack: margin loss `z_y - max_{i != y} z_i`, `QUERIES` model evaluations (the
//! initialisation counts as one), `p_init = 0.8` and the fixed schedule halving `p` after
//! iterations 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 (`resc_schedule = False`).
//!
//! l_inf: start from vertical stripes `x +- eps` (one sign per column and channel); each
//! iteration sets one random square window of side `s = round(sqrt(p h w))` to `+- eps` (one sign
//! per channel). l_2: start from a grid of pseudo-Gaussian blocks scaled to radius eps; each
//! iteration moves the mass of a second window into a new pseudo-Gaussian pattern in the first.
//! A candidate replaces a sample's best point when it lowers the margin or misclassifies it;
//! samples already misclassified stop changing (a tensor mask, not a host branch). The window
//! position is shared by the batch (as in AutoAttack); it and every sign are drawn on the host
//! from the seed.
//!
//! Deviation: AutoAttack redraws the l_inf window signs when they would leave the window
//! unchanged (a per-sample host check); here such an iteration just wastes its query.

use burn::module::Module;
use burn::tensor::{Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::gradient::{l2_norms, select_samples};
use super::objective::margin;
use super::{Attack, AttackSpec, Norm};
use crate::models::Classifier;

/// Square attack with AutoAttack's settings.
pub struct Square {
    spec: AttackSpec,
    /// Initial fraction of pixels changed per query (0.8).
    pub p_init: f32,
}

impl Square {
    /// Square with the queries (`steps`) of `spec` and `p_init = 0.8`.
    pub fn new(spec: AttackSpec) -> Self {
        Self { spec, p_init: 0.8 }
    }
}

/// The fraction `p` of pixels changed at iteration `it` (AutoAttack's `p_selection`).
pub fn p_schedule(p_init: f32, it: usize) -> f32 {
    let div = match it {
        0..=10 => 1.0,
        11..=50 => 2.0,
        51..=200 => 4.0,
        201..=500 => 8.0,
        501..=1000 => 16.0,
        1001..=2000 => 32.0,
        2001..=4000 => 64.0,
        4001..=6000 => 128.0,
        6001..=8000 => 256.0,
        _ => 512.0,
    };
    p_init / div
}

/// Random signs `+-1` of shape `dims`, drawn on the host.
fn signs<const D: usize>(rng: &mut StdRng, dims: [usize; D], like: &Tensor<4>) -> Tensor<D> {
    let n: usize = dims.iter().product();
    let v: Vec<f32> = (0..n).map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 }).collect();
    Tensor::from_data(TensorData::new(v, dims), &like.device())
}

/// The `x` by `y` block of concentric squares weighted `1/(r+1)^2`, unit l_2 norm (Square's
/// `pseudo_gaussian_pert`).
fn pseudo_gaussian(x: usize, y: usize) -> Vec<f32> {
    let mut d = vec![0f32; x * y];
    let (xc, yc) = (x / 2 + 1, y / 2 + 1);
    let (mut c0, mut c1) = (xc as i64 - 1, yc as i64 - 1);
    for counter in 0..xc.max(yc) as i64 {
        let (r0, r1) = (c0.max(0), (c0 + 2 * counter + 1).min(x as i64));
        let (q0, q1) = (c1.max(0), (c1 + 2 * counter + 1).min(y as i64));
        for i in r0..r1 {
            for j in q0..q1 {
                d[i as usize * y + j as usize] += 1.0 / ((counter + 1) * (counter + 1)) as f32;
            }
        }
        c0 -= 1;
        c1 -= 1;
    }
    let norm = d.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
    d.iter().map(|v| v / norm).collect()
}

/// An `s` by `s` pattern: a pseudo-Gaussian block on top, its negation below, unit norm, randomly
/// transposed (Square's `meta_pseudo_gaussian_pert`).
fn meta_pseudo_gaussian(s: usize, rng: &mut StdRng) -> Vec<f32> {
    let top = pseudo_gaussian(s / 2, s);
    let bottom = pseudo_gaussian(s - s / 2, s);
    let mut d: Vec<f32> = top.into_iter().chain(bottom.into_iter().map(|v| -v)).collect();
    let norm = d.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
    d.iter_mut().for_each(|v| *v /= norm);
    if rng.random::<f32>() > 0.5 {
        let t: Vec<f32> = (0..s * s).map(|k| d[(k % s) * s + k / s]).collect();
        return t;
    }
    d
}

impl Attack for Square {
    fn spec(&self) -> &AttackSpec {
        &self.spec
    }

    fn perturb(&self, model: &Classifier, images: Tensor<4>, labels: Tensor<1, Int>, seed: u64) -> Tensor<4> {
        let x = images.without_autodiff();
        let eps = self.spec.eps;
        if eps == 0.0 {
            return x;
        }
        let model = model.valid();
        let mut rng = StdRng::seed_from_u64(seed);
        let [n, c, h, w] = x.dims();
        let device = x.device();
        let normalize = |d: Tensor<4>| d.clone() / l2_norms(d);
        // Initialisation (one query).
        let mut best = match self.spec.norm {
            Norm::Linf => (x.clone() + signs(&mut rng, [n, c, 1, w], &x) * eps).clamp(0.0, 1.0),
            _ => {
                let s = (h / 5).max(1);
                let start = (h - s * 5.min(h / s)) / 2;
                let mut delta = Tensor::<4>::zeros([n, c, h, w], &device);
                let mut vh = start;
                while vh + s <= h {
                    let mut vw = start;
                    while vw + s <= w {
                        let pattern = Tensor::<4>::from_data(TensorData::new(meta_pseudo_gaussian(s, &mut rng), [1, 1, s, s]), &device);
                        let block = pattern.expand([n, c, s, s]) * signs(&mut rng, [n, c, 1, 1], &x);
                        let region = [0..n, 0..c, vh..vh + s, vw..vw + s];
                        delta = delta.clone().slice_assign(region.clone(), delta.slice(region) + block);
                        vw += s;
                    }
                    vh += s;
                }
                (x.clone() + normalize(delta) * eps).clamp(0.0, 1.0)
            }
        };
        let mut margin_min = margin(model.forward(best.clone()), labels.clone());
        let mut loss_min = margin_min.clone();
        for it in 0..self.spec.steps.saturating_sub(1) {
            let p = p_schedule(self.p_init, it);
            let candidate = match self.spec.norm {
                Norm::Linf => {
                    let s = ((p * (h * w) as f32).sqrt().round() as usize).clamp(1, h - 1);
                    let (vh, vw) = (rng.random_range(0..(h - s).max(1)), rng.random_range(0..(w - s).max(1)));
                    let delta = best.clone() - x.clone();
                    let window = signs(&mut rng, [n, c, 1, 1], &x).expand([n, c, s, s]) * eps;
                    let delta = delta.slice_assign([0..n, 0..c, vh..vh + s, vw..vw + s], window);
                    (x.clone() + delta).clamp(0.0, 1.0)
                }
                _ => {
                    let mut s = ((p * (h * w) as f32).sqrt().round() as usize).max(3);
                    if s % 2 == 0 {
                        s += 1;
                    }
                    let s = s.min(h.min(w));
                    let (vh, vw) = (rng.random_range(0..(h - s).max(1)), rng.random_range(0..(w - s).max(1)));
                    let (vh2, vw2) = (rng.random_range(0..(h - s).max(1)), rng.random_range(0..(w - s).max(1)));
                    let r1 = [0..n, 0..c, vh..vh + s, vw..vw + s];
                    let r2 = [0..n, 0..c, vh2..vh2 + s, vw2..vw2 + s];
                    let delta = best.clone() - x.clone();
                    let norms_image = l2_norms(delta.clone());
                    let mut window_mask = Tensor::<4>::zeros([1, 1, h, w], &device);
                    window_mask = window_mask.clone().slice_assign([0..1, 0..1, vh..vh + s, vw..vw + s], Tensor::ones([1, 1, s, s], &device));
                    window_mask = window_mask.clone().slice_assign([0..1, 0..1, vh2..vh2 + s, vw2..vw2 + s], Tensor::ones([1, 1, s, s], &device));
                    let norms_windows = l2_norms(delta.clone() * window_mask);
                    let old = delta.clone().slice(r1.clone());
                    let norms_window_1 = old.clone().powi_scalar(2).sum_dims(&[2, 3]).sqrt();
                    let pattern = Tensor::<4>::from_data(TensorData::new(meta_pseudo_gaussian(s, &mut rng), [1, 1, s, s]), &device);
                    let fresh = pattern.expand([n, c, s, s]) * signs(&mut rng, [n, c, 1, 1], &x) + old / (norms_window_1 + 1e-12);
                    let fresh_norm = fresh.clone().powi_scalar(2).sum_dims(&[2, 3]).sqrt().clamp_min(1e-12);
                    let budget = ((norms_image.powi_scalar(2).neg() + eps * eps).clamp_min(0.0) / c as f32 + norms_windows.powi_scalar(2)).sqrt();
                    let fresh = fresh / fresh_norm * budget;
                    let delta = delta.slice_assign(r2, Tensor::zeros([n, c, s, s], &device));
                    let delta = delta.slice_assign(r1, fresh);
                    (x.clone() + normalize(delta) * eps).clamp(0.0, 1.0)
                }
            };
            let m = margin(model.forward(candidate.clone()), labels.clone());
            let active = margin_min.clone().greater_elem(0.0);
            let improved = m.clone().lower(loss_min.clone()).bool_and(active.clone());
            let accept = improved.clone().bool_or(m.clone().lower_equal_elem(0.0)).bool_and(active);
            loss_min = loss_min.mask_where(improved, m.clone());
            margin_min = margin_min.mask_where(accept.clone(), m);
            best = select_samples(accept, candidate, best);
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p_schedule_halves_at_the_published_iterations() {
        assert_eq!(p_schedule(0.8, 0), 0.8);
        assert_eq!(p_schedule(0.8, 10), 0.8);
        assert_eq!(p_schedule(0.8, 11), 0.4);
        assert_eq!(p_schedule(0.8, 201), 0.1);
        assert_eq!(p_schedule(0.8, 4999), 0.8 / 128.0);
        assert_eq!(p_schedule(0.8, 9000), 0.8 / 512.0);
    }

    #[test]
    fn pseudo_gaussian_patterns_have_unit_norm_and_zero_mean_halves() {
        let mut rng = StdRng::seed_from_u64(0);
        for s in [3usize, 5, 7] {
            let d = meta_pseudo_gaussian(s, &mut rng);
            let norm: f32 = d.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "{s}: {norm}");
        }
        let g = pseudo_gaussian(3, 3);
        assert!(g[4] > g[0], "the centre weighs most");
    }
}
