//! PGD in the l_1 ball with sparse steepest-ascent steps (Tramer & Boneh 2019, "Adversarial
//! training and robustness for multiple perturbations", SLIDE; the sparse step of Croce & Hein
//! 2021, APGD-l1).
//!
//! Each step keeps the `q` largest-magnitude gradient coordinates (top 5% by default) among
//! those that can still move inside [0, 1] in the gradient's direction, moves them by
//! `sign(g_i) * alpha / k` (an l_1 step of length `alpha = 2.5 * eps / steps`), and projects
//! exactly onto the l_1 ball of radius eps around the clean image intersected with the box
//! [0, 1] ([`project_l1_box`]).

use burn::tensor::{Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};

use super::gradient::projected_ascent;
use super::{Attack, AttackSpec};
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

/// Exact Euclidean projection of `x + delta` onto `{x + d : ||d||_1 <= eps, 0 <= x + d <= 1}`,
/// per sample; `x` must lie in [0, 1]. Returns the projected perturbation `d`.
///
/// Derivation: the problem `min_d ||d - v||^2 / 2 + lambda (||d||_1 - eps)` separates per
/// coordinate, and with the box `-x_i <= d_i <= 1 - x_i` its solution is the soft threshold
/// clipped to the box, `d_i = sign(v_i) * min(max(|v_i| - lambda, 0), u_i)` with
/// `u_i = 1 - x_i` where `v_i > 0` and `u_i = x_i` otherwise. `lambda = 0` when that point is
/// already in the ball; else lambda solves `g(lambda) = sum_i min(max(|v_i| - lambda, 0), u_i) = eps`,
/// `g` being continuous, piecewise linear and non-increasing. It is found without sorting (which
/// the browser backend cannot do on the device): bisection on `[0, max |v_i|]` narrows lambda to a
/// bracket, then one exact solve on the linear piece at the bracket,
/// `lambda = (sum_{free} |v_i| + sum_{capped} u_i - eps) / #free`, lands on the root.
pub fn project_l1_box(delta: Tensor<4>, x: &Tensor<4>, eps: f32) -> Tensor<4> {
    let [n, c, h, w] = delta.dims();
    let v = delta.reshape([n, c * h * w]);
    let xf = x.clone().reshape([n, c * h * w]);
    let a = v.clone().abs();
    let u = xf.clone().mask_where(v.clone().greater_elem(0.0), xf.neg() + 1.0);
    let sign = v.sign();
    let g = |lambda: Tensor<2>| (a.clone() - lambda).clamp_min(0.0).min_pair(u.clone()).sum_dim(1);
    let mut lo = Tensor::<2>::zeros([n, 1], &a.device());
    let mut hi = a.clone().max_dim(1);
    for _ in 0..40 {
        let mid = (lo.clone() + hi.clone()) * 0.5;
        let above = g(mid.clone()).greater_elem(eps);
        lo = lo.mask_where(above.clone(), mid.clone());
        hi = mid.mask_where(above, hi);
    }
    // The exact root on the linear piece around the bracket.
    let lambda = hi.clone();
    let shifted = a.clone() - lambda.clone();
    let free = shifted.clone().greater_elem(0.0).bool_and(shifted.clone().lower(u.clone()));
    let capped = shifted.greater_equal(u.clone());
    let free_sum = a.clone().mask_fill(free.clone().bool_not(), 0.0).sum_dim(1);
    let capped_sum = u.clone().mask_fill(capped.bool_not(), 0.0).sum_dim(1);
    let count = free.float().sum_dim(1);
    let exact = (free_sum + capped_sum - eps) / count.clone().clamp_min(1.0);
    let exact = exact.max_pair(lo.clone()).min_pair(hi.clone());
    let lambda = lambda.mask_where(count.greater_elem(0.0), exact);
    // No shrinkage when the clipped point is already inside the ball.
    let inside = g(Tensor::zeros([n, 1], &a.device())).lower_equal_elem(eps);
    let lambda = lambda.mask_fill(inside, 0.0);
    let d = sign * (a - lambda).clamp_min(0.0).min_pair(u);
    d.reshape([n, c, h, w])
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

/// A random start: Laplace directions (uniform on the l_1 sphere after normalisation), scaled to a
/// radius uniform in [0, eps]; drawn on the host from `seed`.
fn random_start(dims: [usize; 4], eps: f32, seed: u64, like: &Tensor<4>) -> Tensor<4> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let per = dims[1] * dims[2] * dims[3];
    let mut values = Vec::with_capacity(dims[0] * per);
    for _ in 0..dims[0] {
        let dir: Vec<f32> = (0..per)
            .map(|_| {
                let e = -rng.random_range(f32::EPSILON..1.0f32).ln();
                if rng.random::<bool>() { e } else { -e }
            })
            .collect();
        let norm = dir.iter().map(|d| d.abs()).sum::<f32>().max(1e-12);
        let radius = rng.random_range(0.0..=eps);
        values.extend(dir.iter().map(|d| d / norm * radius));
    }
    Tensor::from_data(TensorData::new(values, dims), &like.device())
}

impl Attack for PgdL1 {
    fn spec(&self) -> &AttackSpec {
        &self.spec
    }

    fn perturb(&self, model: &Classifier, images: Tensor<4>, labels: Tensor<1, Int>, seed: u64) -> Tensor<4> {
        let x = images.without_autodiff();
        let eps = self.spec.eps;
        if eps == 0.0 {
            return x;
        }
        let [_, c, h, w] = x.dims();
        let k = ((self.sparsity * (c * h * w) as f32).ceil() as usize).clamp(1, c * h * w);
        let alpha = 2.5 * eps / self.spec.steps as f32;
        let noise = self.random_start.then(|| {
            let start = random_start(x.dims(), eps, seed, &x);
            project_l1_box(start, &x, eps)
        });
        projected_ascent(model, &x, noise, labels, self.spec.steps, self.spec.loss, |adv, grad| {
            let step = sparse_direction(grad, &adv, k) * alpha;
            (x.clone() + project_l1_box(adv + step - x.clone(), &x, eps)).clamp(0.0, 1.0)
        })
    }
}

/// Per-sample l_1 norms `[N]` (for tests and reports).
pub fn l1_norms(d: Tensor<4>) -> Tensor<1> {
    let [n, ..] = d.dims();
    d.abs().sum_dims(&[1, 2, 3]).reshape([n])
}


#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;
    use rand::Rng;

    /// Reference projection by a different method: enumerate the breakpoints of
    /// `g(lambda) = sum_i min(max(|v_i| - lambda, 0), u_i)` on the host, find the linear piece that
    /// contains `eps` and solve it.
    fn reference(v: &[f32], x: &[f32], eps: f32) -> Vec<f32> {
        let a: Vec<f64> = v.iter().map(|t| t.abs() as f64).collect();
        let u: Vec<f64> = v.iter().zip(x).map(|(t, xi)| if *t > 0.0 { 1.0 - *xi as f64 } else { *xi as f64 }).collect();
        let g = |l: f64| a.iter().zip(&u).map(|(ai, ui)| (ai - l).max(0.0).min(*ui)).sum::<f64>();
        let lambda = if g(0.0) <= eps as f64 {
            0.0
        } else {
            let mut bps: Vec<f64> = a.iter().zip(&u).flat_map(|(ai, ui)| [*ai, (ai - ui).max(0.0)]).collect();
            bps.push(0.0);
            bps.sort_by(|p, q| p.partial_cmp(q).unwrap());
            // g is non-increasing: the root lies between consecutive breakpoints lo < hi with
            // g(lo) >= eps >= g(hi), where g is linear.
            let mut root = 0.0;
            for w in bps.windows(2) {
                let (lo, hi) = (w[0], w[1]);
                if g(lo) >= eps as f64 && g(hi) <= eps as f64 && hi > lo {
                    root = lo + (g(lo) - eps as f64) / (g(lo) - g(hi)) * (hi - lo);
                    break;
                }
            }
            root
        };
        v.iter().zip(a.iter().zip(&u)).map(|(t, (ai, ui))| (t.signum() as f64 * (ai - lambda).max(0.0).min(*ui)) as f32).collect()
    }

    #[test]
    fn l1_box_projection_matches_a_breakpoint_reference() {
        let device = Device::flex();
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for trial in 0..40 {
            let k = 1 + trial % 7;
            let x: Vec<f32> = (0..k).map(|_| if rng.random::<f32>() < 0.2 { 0.0 } else { rng.random() }).collect();
            let v: Vec<f32> = (0..k).map(|_| rng.random_range(-1.5f32..1.5)).collect();
            let eps = rng.random_range(0.01f32..2.0);
            let xt = Tensor::<4>::from_data(TensorData::new(x.clone(), [1, 1, 1, k]), &device);
            let vt = Tensor::<4>::from_data(TensorData::new(v.clone(), [1, 1, 1, k]), &device);
            let got = project_l1_box(vt, &xt, eps).into_data().try_into_vec::<f32>().unwrap();
            let want = reference(&v, &x, eps);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-5, "trial {trial}: {got:?} vs {want:?} (v {v:?}, x {x:?}, eps {eps})");
            }
            let l1: f32 = got.iter().map(|d| d.abs()).sum();
            assert!(l1 <= eps + 1e-5, "l1 {l1} > eps {eps}");
            assert!(got.iter().zip(&x).all(|(d, xi)| (-1e-6..=1.0 + 1e-6).contains(&(xi + d))), "box");
        }
    }

    #[test]
    fn projection_is_optimal_among_random_feasible_points() {
        // No feasible point (in the l1 ball and the box) is closer to the target than the projection.
        let device = Device::flex();
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let (k, eps) = (4usize, 0.7f32);
        let x: Vec<f32> = (0..k).map(|_| rng.random()).collect();
        let v: Vec<f32> = (0..k).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let xt = Tensor::<4>::from_data(TensorData::new(x.clone(), [1, 1, 1, k]), &device);
        let vt = Tensor::<4>::from_data(TensorData::new(v.clone(), [1, 1, 1, k]), &device);
        let p = project_l1_box(vt, &xt, eps).into_data().try_into_vec::<f32>().unwrap();
        let dist = |d: &[f32]| d.iter().zip(&v).map(|(a, b)| (a - b) * (a - b)).sum::<f32>();
        let best = dist(&p);
        for _ in 0..20000 {
            let d: Vec<f32> = x.iter().map(|xi| rng.random_range(-xi..=1.0 - xi)).collect();
            let l1: f32 = d.iter().map(|t| t.abs()).sum();
            if l1 <= eps {
                assert!(dist(&d) >= best - 1e-6, "{d:?} is closer than the projection {p:?}");
            }
        }
    }
}
