//! FAB, the fast adaptive boundary attack (Croce & Hein 2020, "Minimally distorted adversarial
//! examples with a fast adaptive boundary attack", Algorithm 1), in l_inf and l_2: a
//! minimum-norm attack that, unlike PGD, searches for the *closest* adversarial point and only at
//! the end checks it against the threat model's eps.
//!
//! Each iteration linearises the classifier at the current iterate `x_k` into the hyperplane
//! `pi = {z : f(x_k) + <grad f(x_k), z - x_k> = 0}`, where `f` is a logit difference
//! `z_t - z_y`, and projects onto `pi ∩ [0, 1]^d` both `x_k` (giving `d_1`) and the clean image
//! `x_0` (giving `d_2`), in the attack's norm (their Eq. 4 and Sec. 3.1). The next iterate is the
//! biased step (their Eq. 7-8)
//! `x_{k+1} = clip((x_k + eta d_1)(1 - a) + (x_0 + eta d_2) a)` with
//! `a = min(||d_1|| / (||d_1|| + ||d_2||), alpha_max)`, `eta = 1.05` (overshoot),
//! `alpha_max = 0.1`. When `x_{k+1}` is misclassified it is recorded if it is the closest
//! adversarial point so far, and the iterate steps back towards the clean image,
//! `x_{k+1} <- x_0 + beta (x_{k+1} - x_0)` with `beta = 0.9` (their Eq. 9).
//!
//! - **FAB-T** (`fab-t`), the targeted version of AutoAttack "standard": `f = z_t - z_y` for one
//!   target `t` per run, the 2nd to 10th most likely clean classes (9 targets), one restart each.
//! - **FAB** (`fab`), untargeted: each iteration takes, of the hyperplanes of all classes
//!   `k != y`, the one closest in the attack's norm, `|f_k| / ||grad f_k||_q` (`q` the dual
//!   norm: l_1 for l_inf, l_2 for l_2); this costs one gradient per class and iteration.
//!
//! As in the reference implementations (fra31/auto-attack `fab_base.py`, torchattacks `FAB`):
//! only clean-correct points are attacked; the first restart starts at the clean image (so one
//! restart is deterministic) and later ones at a random point at half the radius eps; a point
//! counts as fooled only when the closest adversarial point found lies within eps, and
//! otherwise the clean image is returned for it.
//!
//! The projection onto the hyperplane ∩ box ([`project_hyperplane_box`]) runs on the device
//! without sorting (the reference sorts the breakpoints): a bisection brackets the root of a
//! monotone piecewise-linear function, then an exact solve on the bracket's linear piece lands
//! on it. Everything here is tensor masks, so FAB also runs in the browser.

use burn::tensor::{Bool, Int, Tensor};

use super::gradient::select_samples;
use super::norm::sphere_start;
use super::objective::logit_of;
use super::{Attack, AttackKind, AttackSpec, Norm, prepared, ranked_class, run_seed};
use crate::metrics::predictions;
use crate::models::Classifier;

/// The distance recorded for a sample with no adversarial point yet (as in the reference).
const NOT_FOUND: f32 = 1e10;

/// FAB (untargeted) or FAB-T.
pub struct Fab {
    spec: AttackSpec,
    /// Runs per target (untargeted: in all); every run after the first starts at a random point.
    /// AutoAttack "standard" uses 1.
    pub restarts: usize,
    /// Target classes of FAB-T (the 2nd to (n+1)-th most likely clean classes); 9 in AutoAttack.
    pub target_classes: usize,
    /// Largest weight of the step from the clean image, `alpha_max` (0.1).
    pub alpha_max: f32,
    /// Overshoot of each projection step, `eta` (1.05).
    pub eta: f32,
    /// Backward step towards the clean image after a success, `beta` (0.9).
    pub beta: f32,
}

impl Fab {
    /// FAB with the published defaults (1 restart, 9 target classes, alpha_max 0.1, eta 1.05,
    /// beta 0.9) and the iterations (`steps`) of `spec`.
    pub fn new(spec: AttackSpec) -> Self {
        Self { spec, restarts: 1, target_classes: 9, alpha_max: 0.1, eta: 1.05, beta: 0.9 }
    }

    /// The number of FAB-T target classes for a `classes`-way model (`min(9, classes - 1)`).
    pub fn target_count(&self, classes: usize) -> usize {
        self.target_classes.min(classes - 1)
    }
}

/// Per-sample norm of a flattened batch `[N, D]` (shape `[N, 1]`): l_inf or l_2.
fn norms(norm: Norm, d: Tensor<2>) -> Tensor<2> {
    match norm {
        Norm::Linf => d.abs().max_dim(1),
        _ => d.powi_scalar(2).sum_dim(1).sqrt(),
    }
}

/// Minimal-norm perturbation `d` (`[N, D]`) with `<w, p + d> = <w, p> - c`, i.e. `<w, d> = -c`,
/// and `p + d` in the box [0, 1], per sample (Croce & Hein 2020, Sec. 3.1; fra31/auto-attack
/// `fab_projections.py`); `p`, `w` are `[N, D]` and `c` is `[N, 1]`. When the hyperplane does
/// not meet the box, `d` goes to the box corner closest to it.
///
/// With the sign of `w` flipped so that `c >= 0`, the solution moves every coordinate against
/// `w` as far as the box allows: `d_i = -sign(w_i) min(s_i lambda, u_i)`, where `u_i` is the room
/// to the box in that direction (`p_i` if `w_i > 0`, else `1 - p_i`) and the speed is `s_i = 1`
/// for l_inf (every coordinate moves by `lambda` until it hits the box) and `s_i = |w_i|` for
/// l_2 (`d` is `-lambda w` clipped to the box, the KKT point). `lambda` is the root of
/// `g(lambda) = sum_i |w_i| min(s_i lambda, u_i) = c`, continuous, piecewise linear and
/// non-decreasing, with breakpoints `u_i / s_i`. It lies between the all-free solution
/// `c / sum_i |w_i| s_i` and the largest breakpoint; a geometric bisection (the breakpoints of
/// l_2 span many orders of magnitude) brackets it, and the exact solve on the bracket's linear
/// piece, `lambda = (c - sum_{capped} |w_i| u_i) / sum_{free} |w_i| s_i`, lands on it.
/// Coordinates with `w_i = 0` (l_2: `|w_i| < 1e-8`, as in the reference) do not move.
pub fn project_hyperplane_box(norm: Norm, p: Tensor<2>, w: Tensor<2>, c: Tensor<2>) -> Tensor<2> {
    let flip = c.clone().lower_elem(0.0);
    let w = w.clone().mask_where(flip.clone(), w.neg());
    let c = c.clone().mask_where(flip, c.neg());
    let a = w.clone().abs();
    let active = match norm {
        Norm::Linf => a.clone().greater_elem(0.0),
        _ => a.clone().greater_equal_elem(1e-8),
    };
    let room = p.clone().mask_where(w.clone().lower_equal_elem(0.0), p.neg() + 1.0);
    let room = room.mask_fill(active.clone().bool_not(), 0.0);
    let speed = match norm {
        Norm::Linf => a.ones_like(),
        _ => a.clone(),
    };
    let speed = speed.mask_fill(active.bool_not(), 1.0);
    let breakpoints = room.clone() / speed.clone();
    let g = |lambda: Tensor<2>| (speed.clone() * lambda).min_pair(room.clone()).mul(a.clone()).sum_dim(1);
    let mut hi = breakpoints.clone().max_dim(1);
    let all_free = c.clone() / (a.clone() * speed.clone()).sum_dim(1).clamp_min(1e-30);
    let mut lo = all_free.min_pair(hi.clone()).clamp_min(1e-30);
    for _ in 0..40 {
        let mid = (lo.clone() * hi.clone()).sqrt();
        let reached = g(mid.clone()).greater_equal(c.clone());
        hi = hi.mask_where(reached.clone(), mid.clone());
        lo = mid.mask_where(reached, lo);
    }
    // The exact root on the linear piece around the bracket (coordinates capped at its middle).
    let capped = breakpoints.lower_equal((lo.clone() + hi.clone()) * 0.5);
    let capped_sum = (a.clone() * room.clone()).mask_fill(capped.clone().bool_not(), 0.0).sum_dim(1);
    let free_rate = (a.clone() * speed.clone()).mask_fill(capped, 0.0).sum_dim(1);
    let exact = ((c.clone() - capped_sum) / free_rate.clone().clamp_min(1e-30)).max_pair(lo).min_pair(hi.clone());
    let lambda = hi.mask_where(free_rate.greater_elem(0.0), exact).mask_fill(c.equal_elem(0.0), 0.0);
    let shift = (speed * lambda).min_pair(room);
    shift * w.sign().neg()
}

impl Fab {
    /// The linearised decision boundary at `x`: per sample the logit gap `f = z_k - z_y` (`[N, 1]`)
    /// and its input gradient (`[N, D]`) for the target `k` (FAB-T) or, untargeted, for the class
    /// whose hyperplane is closest, `argmin_{k != y} |f_k| / ||grad f_k||_q`.
    fn boundary(&self, model: &Classifier, x: &Tensor<4>, labels: &Tensor<1, Int>, target: Option<&Tensor<1, Int>>) -> (Tensor<2>, Tensor<2>) {
        let gap_gradient = |other: &Tensor<1, Int>| {
            let xt = x.clone().detach().autodiff().require_grad();
            let logits = model.forward(xt.clone());
            let gap = logit_of(logits.clone(), other.clone()) - logit_of(logits, labels.clone());
            let grads = gap.clone().sum().backward();
            let grad = xt.grad(&grads).expect("the input is a tracked leaf, so it has a gradient");
            let n = grad.dims()[0];
            (gap.without_autodiff().reshape([n, 1]), grad.flatten::<2>(1, 3))
        };
        if let Some(target) = target {
            return gap_gradient(target);
        }
        let n = labels.dims()[0];
        let mut best: Option<(Tensor<2>, Tensor<2>, Tensor<2>)> = None;
        for k in 0..model.config().num_classes {
            let class = Tensor::<1, Int>::full([n], k as i64, &x.device());
            let (gap, grad) = gap_gradient(&class);
            let dual = match self.spec.norm {
                Norm::Linf => grad.clone().abs().sum_dim(1),
                _ => grad.clone().powi_scalar(2).sum_dim(1).sqrt(),
            };
            let distance = (gap.clone().abs() / (dual + 1e-12)).mask_fill(labels.clone().equal_elem(k as i64).reshape([n, 1]), f32::MAX);
            best = Some(match best {
                None => (distance, gap, grad),
                Some((d, f, g)) => {
                    let closer = distance.clone().lower(d.clone());
                    let rows = closer.clone().expand(g.dims());
                    (d.mask_where(closer.clone(), distance), f.mask_where(closer, gap), g.mask_where(rows, grad))
                }
            });
        }
        let (_, gap, grad) = best.expect("a classifier has at least two classes");
        (gap, grad)
    }

    /// One FAB run on the clean-correct samples (`attacked`) from `start` (the clean image when
    /// `None`). Returns, per sample, the closest adversarial point found and its distance to the
    /// clean image ([`NOT_FOUND`] and the clean image when none was found).
    fn single_run(
        &self,
        model: &Classifier,
        x: &Tensor<4>,
        labels: &Tensor<1, Int>,
        attacked: &Tensor<1, Bool>,
        target: Option<&Tensor<1, Int>>,
        start: Option<Tensor<4>>,
    ) -> (Tensor<4>, Tensor<1>) {
        let dims = x.dims();
        let n = dims[0];
        let norm = self.spec.norm;
        let x0 = x.clone().flatten::<2>(1, 3);
        let mut x1 = start.unwrap_or_else(|| x.clone());
        let mut best = x.clone();
        let mut best_distance = Tensor::<1>::full([n], NOT_FOUND, &x.device());
        for _ in 0..self.spec.steps {
            let (gap, w) = self.boundary(model, &x1, labels, target);
            let x1f = x1.clone().flatten::<2>(1, 3);
            // Distances of x_k and x_0 to the hyperplane, f + <w, p - x_k>.
            let offset_clean = (w.clone() * (x0.clone() - x1f.clone())).sum_dim(1);
            let both = project_hyperplane_box(
                norm,
                Tensor::cat(vec![x1f.clone(), x0.clone()], 0),
                Tensor::cat(vec![w.clone(), w], 0),
                Tensor::cat(vec![gap.clone(), gap + offset_clean], 0),
            );
            let lengths = norms(norm, both.clone()).clamp_min(1e-8);
            let dim = both.dims()[1];
            let (d1, d2) = (both.clone().slice([0..n, 0..dim]), both.slice([n..2 * n, 0..dim]));
            let (a1, a2) = (lengths.clone().slice([0..n, 0..1]), lengths.slice([n..2 * n, 0..1]));
            let alpha = (a1.clone() / (a1 + a2)).clamp(0.0, self.alpha_max);
            let next = ((x1f + d1 * self.eta) * (alpha.clone().neg() + 1.0) + (x0.clone() + d2 * self.eta) * alpha).clamp(0.0, 1.0);
            x1 = next.reshape(dims);
            let adversarial = predictions(model.forward(x1.clone())).not_equal(labels.clone()).bool_and(attacked.clone());
            let distance = norms(norm, (x1.clone() - x.clone()).flatten::<2>(1, 3)).reshape([n]);
            let closer = adversarial.clone().bool_and(distance.clone().lower(best_distance.clone()));
            best = select_samples(closer.clone(), x1.clone(), best);
            best_distance = best_distance.mask_where(closer, distance);
            x1 = select_samples(adversarial, x.clone() + (x1.clone() - x.clone()) * self.beta, x1);
        }
        (best, best_distance)
    }

    /// Runs the restarts for one target (or the untargeted attack) and merges them into
    /// `merged` (output, fooled): a sample takes the first adversarial point within eps. Run `r`
    /// draws its random start from `seed + r * 0x9E3779B97F4A7C15`.
    fn runs_into(
        &self,
        model: &Classifier,
        x: &Tensor<4>,
        labels: &Tensor<1, Int>,
        target: Option<&Tensor<1, Int>>,
        seed: u64,
        merged: &mut (Tensor<4>, Tensor<1, Bool>),
    ) {
        let attacked = predictions(model.forward(x.clone())).equal(labels.clone());
        for r in 0..self.restarts as u64 {
            // Later restarts start at half the radius eps, as in the reference.
            let start = (r > 0).then(|| sphere_start(self.spec.norm, x, 0.5 * self.spec.eps, run_seed(seed, r)));
            let (adv, distance) = self.single_run(model, x, labels, &attacked, target, start);
            let found = distance.lower_equal_elem(self.spec.eps);
            let (out, fooled) = merged;
            *out = select_samples(fooled.clone().bool_not().bool_and(found.clone()), adv, out.clone());
            *fooled = fooled.clone().bool_or(found);
        }
    }

    /// One target of FAB-T (the `rank`-th most likely clean class, 1-based) or, with
    /// `rank = None`, the untargeted attack, with all restarts; `seed` is the attack's seed as
    /// given to [`Attack::perturb`]. Running every rank on the samples still robust after the
    /// previous ones fools the same samples as [`Attack::perturb`] on the whole batch;
    /// [`crate::evaluate`] does that.
    pub fn perturb_rank(&self, model: &Classifier, images: Tensor<4>, labels: Tensor<1, Int>, rank: Option<usize>, seed: u64) -> Tensor<4> {
        prepared(&self.spec, model, images, |model, x| {
            let mut merged = (x.clone(), predictions(model.forward(x.clone())).not_equal(labels.clone()));
            let target = rank.map(|t| ranked_class(model, &x, t));
            let first_run = rank.map_or(0, |t| (t as u64 - 1) * self.restarts as u64);
            self.runs_into(model, &x, &labels, target.as_ref(), run_seed(seed, first_run), &mut merged);
            merged.0
        })
    }
}

impl Attack for Fab {
    fn spec(&self) -> &AttackSpec {
        &self.spec
    }

    fn run(&self, model: &Classifier, x: Tensor<4>, labels: Tensor<1, Int>, seed: u64) -> Tensor<4> {
        let mut merged = (x.clone(), predictions(model.forward(x.clone())).not_equal(labels.clone()));
        if self.spec.kind == AttackKind::FabT {
            for rank in 1..=self.target_count(model.config().num_classes) {
                let target = ranked_class(model, &x, rank);
                let first_run = (rank as u64 - 1) * self.restarts as u64;
                self.runs_into(model, &x, &labels, Some(&target), run_seed(seed, first_run), &mut merged);
            }
        } else {
            self.runs_into(model, &x, &labels, None, seed, &mut merged);
        }
        merged.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn rows(t: Tensor<2>) -> Vec<f32> {
        t.into_data().try_into_vec::<f32>().unwrap()
    }

    fn tensor(v: Vec<f32>, dims: [usize; 2]) -> Tensor<2> {
        Tensor::from_data(TensorData::new(v, dims), &Device::flex())
    }

    #[test]
    fn linf_projection_matches_hand_computed_cases() {
        // Row 0: <w, d> = -c = -0.3 with w = (1, 1): every coordinate moves down by 0.15.
        // Row 1: w = (1, -2), c = 0.9: coordinate 0 moves down (room 0.2), coordinate 1 up (room
        // 0.9): g(l) = min(l, 0.2) + 2 min(l, 0.9) = 0.9 at l = 0.35 (coordinate 0 capped).
        // Row 2: the hyperplane is beyond the box (c = 5): the closest corner.
        // Row 3: c < 0 flips the direction.
        let p = tensor(vec![0.5, 0.5, 0.2, 0.1, 0.3, 0.6, 0.5, 0.5], [4, 2]);
        let w = tensor(vec![1.0, 1.0, 1.0, -2.0, 1.0, 1.0, 1.0, 0.0], [4, 2]);
        let c = tensor(vec![0.3, 0.9, 5.0, -0.2], [4, 1]);
        let d = rows(project_hyperplane_box(Norm::Linf, p, w, c));
        let expected = [-0.15, -0.15, -0.2, 0.35, -0.3, -0.6, 0.2, 0.0];
        for (i, (a, b)) in d.iter().zip(expected).enumerate() {
            assert!((a - b).abs() < 1e-5, "coordinate {i}: {a} vs {b}");
        }
    }

    #[test]
    fn l2_projection_is_the_clipped_kkt_point() {
        // Row 0: w = (3, 4), c = 5, unconstrained: d = -c w / ||w||^2 = (-0.6, -0.8), inside the
        // box from p = (0.9, 0.9). Row 1: same from p = (0.2, 0.9): coordinate 0 caps at -0.2,
        // then 4 * d_1 = -(5 - 0.6) gives d_1 = -1.1, beyond its room 0.9: the corner.
        // Row 2: p = (0.5, 0.9), c = 2: free solution (-0.24, -0.32) stays inside.
        // Row 3: w = (1, 1), c = 0.5 from (0.1, 0.8): d_0 caps at -0.1, d_1 = -0.4.
        let p = tensor(vec![0.9, 0.9, 0.2, 0.9, 0.5, 0.9, 0.1, 0.8], [4, 2]);
        let w = tensor(vec![3.0, 4.0, 3.0, 4.0, 3.0, 4.0, 1.0, 1.0], [4, 2]);
        let c = tensor(vec![5.0, 5.0, 2.0, 0.5], [4, 1]);
        let d = rows(project_hyperplane_box(Norm::L2, p, w, c));
        let expected = [-0.6, -0.8, -0.2, -0.9, -0.24, -0.32, -0.1, -0.4];
        for (i, (a, b)) in d.iter().zip(expected).enumerate() {
            assert!((a - b).abs() < 1e-5, "coordinate {i}: {a} vs {b}");
        }
    }

    #[test]
    fn projections_reach_the_hyperplane_on_random_inputs() {
        // Random points, normals and offsets reachable inside the box: <w, d> = -c exactly, d
        // within the box, and for l_2 no shorter feasible point along any free coordinate pair
        // (checked through the KKT form: free coordinates are proportional to w).
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let (n, dim) = (16, 300);
        let p: Vec<f32> = (0..n * dim).map(|_| rng.random()).collect();
        let w: Vec<f32> = (0..n * dim).map(|_| rng.random_range(-1.0f32..1.0) * 10f32.powi(rng.random_range(-3..2))).collect();
        let c: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        for norm in [Norm::Linf, Norm::L2] {
            let d = rows(project_hyperplane_box(norm, tensor(p.clone(), [n, dim]), tensor(w.clone(), [n, dim]), tensor(c.clone(), [n, 1])));
            for i in 0..n {
                let r = i * dim..(i + 1) * dim;
                let dot: f32 = d[r.clone()].iter().zip(&w[r.clone()]).map(|(a, b)| a * b).sum();
                let scale: f32 = w[r.clone()].iter().map(|v| v.abs()).sum::<f32>().max(1.0);
                assert!((dot + c[i]).abs() < 1e-4 * scale, "{norm:?} row {i}: <w, d> = {dot}, c = {}", c[i]);
                for (di, pi) in d[r.clone()].iter().zip(&p[r.clone()]) {
                    assert!((-1e-6..=1.0 + 1e-6).contains(&(pi + di)), "{norm:?} row {i}: outside the box");
                }
            }
        }
    }
}
