//! The geometry of each threat model, in one place: per-sample norms, the random starts
//! (drawn on the host from the seed, so every device starts from the same point) and the
//! projections onto the norm ball around the clean image intersected with the box [0, 1].
//!
//! | norm | [`ball_start`] (PGD) | [`sphere_start`] (APGD, FAB) | [`project`] |
//! |---|---|---|---|
//! | l_inf | uniform in `[-eps, eps]` per coordinate | uniform direction scaled to the corner | clip to `x +- eps` |
//! | l_2 | Gaussian direction, radius uniform in `[0, eps]` | Gaussian direction | rescale into the ball |
//! | l_1 | Laplace direction, radius uniform in `[0, eps]`, then [`project_l1_box`] | — | [`project_l1_box`] |
//!
//! Every start and projection ends clipped to [0, 1], except TRADES's [`gaussian_start`].

use burn::tensor::{Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::Norm;

/// One standard normal number (Box-Muller, cosine branch; two uniform draws per number).
pub(crate) fn gaussian(rng: &mut StdRng) -> f32 {
    let (u, v): (f32, f32) = (rng.random_range(f32::EPSILON..1.0), rng.random());
    (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
}

/// One standard Laplace number (an exponential with a random sign).
fn laplace(rng: &mut StdRng) -> f32 {
    let e = -rng.random_range(f32::EPSILON..1.0f32).ln();
    if rng.random::<bool>() { e } else { -e }
}

/// A tensor of shape `dims` on `like`'s device whose values are drawn on the host, sample
/// after sample, by `sample(rng, values_per_sample)` from one generator seeded with `seed`.
fn on_host(dims: [usize; 4], seed: u64, like: &Tensor<4>, mut sample: impl FnMut(&mut StdRng, usize) -> Vec<f32>) -> Tensor<4> {
    let mut rng = StdRng::seed_from_u64(seed);
    let per = dims[1] * dims[2] * dims[3];
    let values: Vec<f32> = (0..dims[0]).flat_map(|_| sample(&mut rng, per)).collect();
    Tensor::from_data(TensorData::new(values, dims), &like.device())
}

/// Independent numbers from `draw`, one per coordinate.
fn coordinates(dims: [usize; 4], seed: u64, like: &Tensor<4>, mut draw: impl FnMut(&mut StdRng) -> f32) -> Tensor<4> {
    on_host(dims, seed, like, |rng, per| (0..per).map(|_| draw(&mut *rng)).collect())
}

/// Per sample, a direction drawn by `draw`, normalised by `length` (floored at 1e-12) and scaled
/// to a radius drawn uniformly in [0, eps] after it.
fn radial(
    dims: [usize; 4],
    eps: f32,
    seed: u64,
    like: &Tensor<4>,
    draw: impl Fn(&mut StdRng) -> f32,
    length: impl Fn(&[f32]) -> f32,
) -> Tensor<4> {
    on_host(dims, seed, like, |rng, per| {
        let dir: Vec<f32> = (0..per).map(|_| draw(&mut *rng)).collect();
        let norm = length(&dir).max(1e-12);
        let radius = rng.random_range(0.0..=eps);
        dir.iter().map(|d| d / norm * radius).collect()
    })
}

/// Per-sample norms of a batch, shape `[N, 1, 1, 1]`, floored at 1e-12.
pub(crate) fn norms(norm: Norm, t: Tensor<4>) -> Tensor<4> {
    match norm {
        Norm::Linf => t.abs().max_dim(1).max_dim(2).max_dim(3).clamp_min(1e-12),
        Norm::L2 => t.powi_scalar(2).sum_dims(&[1, 2, 3]).sqrt().clamp_min(1e-12),
        Norm::L1 => t.abs().sum_dims(&[1, 2, 3]).clamp_min(1e-12),
    }
}

/// Each sample of `t` divided by its norm (unit norm unless it is zero).
pub(crate) fn unit(norm: Norm, t: Tensor<4>) -> Tensor<4> {
    t.clone() / norms(norm, t)
}

/// The steepest-ascent direction of a gradient step of unit norm: `sign(g)` for l_inf,
/// `g / ||g||_2` for l_2. (l_1's sparse direction depends on the iterate and a sparsity:
/// [`super::pgd_l1::sparse_direction`].)
pub(crate) fn steepest_ascent(norm: Norm, grad: Tensor<4>) -> Tensor<4> {
    match norm {
        Norm::Linf => grad.sign(),
        Norm::L2 => unit(Norm::L2, grad),
        Norm::L1 => unreachable!("the l_1 step is pgd_l1::sparse_direction"),
    }
}

/// PGD's random start: `x` plus a random point of the ball of radius `eps` (see the module
/// table), clipped to [0, 1].
pub(crate) fn ball_start(norm: Norm, x: &Tensor<4>, eps: f32, seed: u64) -> Tensor<4> {
    let dims = x.dims();
    let delta = match norm {
        Norm::Linf => coordinates(dims, seed, x, |rng| rng.random_range(-eps..=eps)),
        Norm::L2 => radial(dims, eps, seed, x, gaussian, |d| d.iter().map(|d| d * d).sum::<f32>().sqrt()),
        Norm::L1 => {
            let start = radial(dims, eps, seed, x, laplace, |d| d.iter().map(|d| d.abs()).sum::<f32>());
            project_l1_box(start, x, eps)
        }
    };
    (x.clone() + delta).clamp(0.0, 1.0)
}

/// TRADES's start (yaodongyu/TRADES `trades.py`): `x + sigma * N(0, 1)` per coordinate, neither
/// clipped to [0, 1] nor projected (the first ascent step projects it). A non-zero start is what
/// makes TRADES's objective move: its gradient vanishes at `x`, where the KL is at its minimum.
pub fn gaussian_start(x: &Tensor<4>, sigma: f32, seed: u64) -> Tensor<4> {
    x.clone() + coordinates(x.dims(), seed, x, gaussian) * sigma
}

/// The random start of APGD and FAB: `x` plus a random direction at norm `radius` (l_inf: uniform
/// numbers in [-1, 1) scaled to the ball's corner; l_2: a Gaussian direction), clipped to [0, 1].
pub(crate) fn sphere_start(norm: Norm, x: &Tensor<4>, radius: f32, seed: u64) -> Tensor<4> {
    let dims = x.dims();
    let t = match norm {
        Norm::Linf => coordinates(dims, seed, x, |rng| rng.random_range(-1.0f32..1.0)),
        Norm::L2 => coordinates(dims, seed, x, gaussian),
        Norm::L1 => unreachable!("APGD and FAB are l_inf and l_2 attacks; the spec parser rejects l_1"),
    };
    (x.clone() + unit(norm, t) * radius).clamp(0.0, 1.0)
}

/// Projects `adv` onto the ball of radius `eps` around `x` (in `norm`), intersected with [0, 1].
pub(crate) fn project(norm: Norm, adv: Tensor<4>, x: &Tensor<4>, eps: f32) -> Tensor<4> {
    match norm {
        Norm::Linf => adv.max_pair(x.clone() - eps).min_pair(x.clone() + eps).clamp(0.0, 1.0),
        Norm::L2 => {
            let delta = adv - x.clone();
            let factor = (norms(Norm::L2, delta.clone()).recip() * eps).clamp_max(1.0);
            (x.clone() + delta * factor).clamp(0.0, 1.0)
        }
        Norm::L1 => (x.clone() + project_l1_box(adv - x.clone(), x, eps)).clamp(0.0, 1.0),
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

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

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
        let mut rng = StdRng::seed_from_u64(5);
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
        let mut rng = StdRng::seed_from_u64(9);
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
