//! Auto-PGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble
//! of diverse parameter-free attacks", Algorithm 1), in l_inf and l_2, with the cross-entropy
//! (APGD-CE), the untargeted DLR loss (APGD-DLR) or the targeted DLR loss against the 2nd to
//! 10th most likely clean classes (APGD-T, one run per target).
//!
//! Schedule, as published and in the reference code: N iterations, initial step `eta = 2 eps`,
//! random start (l_inf: uniform direction scaled to the ball's corner, `x + eps t / ||t||_inf`;
//! l_2: Gaussian direction at radius eps), the momentum update
//! `z = P(x_k + eta s(g))`, `x_{k+1} = P(x_k + a (z - x_k) + (1 - a)(x_k - x_{k-1}))` with
//! `a = 0.75` (1 at the first step; `s` = sign for l_inf, `g / ||g||_2` for l_2), and
//! checkpoints `w_0 = 0`, `w_1 = ceil(0.22 N)`, each later interval 0.03 N shorter down to
//! 0.06 N. At a checkpoint a sample halves `eta` and restarts from its best point when (a) its
//! loss increased in at most 75% of the interval's steps, or (b) `eta` was not halved at the
//! previous checkpoint and its best loss did not improve since. Every decision is a per-sample
//! tensor mask (no host reads); random numbers are drawn on the host from the seed.
//!
//! Deviation: the first loss-increase comparison of the first interval is against the random
//! start's loss (the reference code compares with an unset history entry, 0).
//!
//! The output is, per sample, the last adversarial iterate found, or the point of highest loss
//! when none was found.

use burn::tensor::{Bool, Int, Tensor};

use super::gradient::{objective_gradient, select_samples};
use super::norm::{project, sphere_start, steepest_ascent};
use super::objective::Objective;
use super::{Attack, AttackKind, AttackSpec, prepared, ranked_class, run_seed};
use crate::metrics::predictions;
use crate::models::Classifier;

/// APGD-CE, APGD-DLR or APGD-T.
pub struct Apgd {
    spec: AttackSpec,
    /// Independent runs (restarts) per target; AutoAttack "standard" uses 1.
    pub restarts: usize,
    /// Target classes of APGD-T (the 2nd to (n+1)-th most likely clean classes); 9 in AutoAttack.
    pub target_classes: usize,
    /// Momentum weight `a` (0.75).
    pub momentum: f32,
    /// Oscillation threshold rho (0.75).
    pub rho: f32,
}

impl Apgd {
    /// APGD with the published defaults (1 restart, 9 target classes, a = rho = 0.75).
    pub fn new(spec: AttackSpec) -> Self {
        Self { spec, restarts: 1, target_classes: 9, momentum: 0.75, rho: 0.75 }
    }
}

/// The checkpoint iterations of an `n`-iteration run (Croce & Hein 2020, Sec. 3.2, as in the
/// reference code: first interval `max(0.22 n, 1)`, shrinking by `max(0.03 n, 1)` per
/// checkpoint, never below `max(0.06 n, 1)`). Returns the iteration counts after which each
/// checkpoint is evaluated (1-based).
pub fn checkpoints(n: usize) -> Vec<usize> {
    let first = ((0.22 * n as f64) as usize).max(1);
    let min = ((0.06 * n as f64) as usize).max(1);
    let decr = ((0.03 * n as f64) as usize).max(1);
    let (mut out, mut at, mut k) = (Vec::new(), 0, first);
    while at + k <= n {
        at += k;
        out.push(at);
        k = k.saturating_sub(decr).max(min);
    }
    out
}

impl Apgd {
    /// One APGD run from a random start. Returns the output images and the per-sample
    /// "an adversarial point was found" mask.
    fn single_run(
        &self,
        model: &Classifier,
        x: &Tensor<4>,
        labels: &Tensor<1, Int>,
        targets: Option<&Tensor<1, Int>>,
        seed: u64,
    ) -> (Tensor<4>, Tensor<1, Bool>) {
        let (norm, eps, n_iter) = (self.spec.norm, self.spec.eps, self.spec.steps);
        let objective = match (self.spec.kind, targets) {
            (_, Some(_)) => Objective::DlrTargeted,
            (AttackKind::ApgdDlr, None) => Objective::Dlr,
            _ => Objective::Ce,
        };
        let n = x.dims()[0];
        let mut x_adv = sphere_start(norm, x, eps, seed);
        let (mut grad, loss, logits) = objective_gradient(model, x_adv.clone(), objective, labels.clone(), targets);
        let mut fooled = predictions(logits).not_equal(labels.clone());
        let mut x_best_adv = x_adv.clone();
        let mut x_best = x_adv.clone();
        let mut grad_best = grad.clone();
        let mut loss_best = loss.clone();
        let mut loss_prev = loss;
        let mut loss_best_last = loss_best.clone();
        let mut reduced_last = Tensor::<1>::ones([n], &x.device()).greater_elem(0.0);
        let mut increases = Tensor::<1>::zeros([n], &x.device());
        let mut step = Tensor::<4>::full([n, 1, 1, 1], 2.0 * eps, &x.device());
        let mut x_old = x_adv.clone();
        let checks = checkpoints(n_iter);
        let mut last_check = 0;
        for i in 0..n_iter {
            let a = if i == 0 { 1.0 } else { self.momentum };
            let previous = x_adv.clone() - x_old;
            x_old = x_adv.clone();
            let direction = steepest_ascent(norm, grad);
            let z = project(norm, x_adv.clone() + direction * step.clone(), x, eps);
            x_adv = project(norm, x_adv.clone() + (z - x_adv.clone()) * a + previous * (1.0 - a), x, eps);
            let (g, loss, logits) = objective_gradient(model, x_adv.clone(), objective, labels.clone(), targets);
            grad = g;
            let wrong = predictions(logits).not_equal(labels.clone());
            x_best_adv = select_samples(wrong.clone(), x_adv.clone(), x_best_adv);
            fooled = fooled.bool_or(wrong);
            let improved = loss.clone().greater(loss_best.clone());
            x_best = select_samples(improved.clone(), x_adv.clone(), x_best);
            grad_best = select_samples(improved.clone(), grad.clone(), grad_best);
            loss_best = loss_best.mask_where(improved, loss.clone());
            increases = increases + loss.clone().greater(loss_prev).float();
            loss_prev = loss;
            if checks.contains(&(i + 1)) {
                let interval = (i + 1 - last_check) as f32;
                last_check = i + 1;
                let oscillating = increases.clone().lower_equal_elem(interval * self.rho);
                let stalled = reduced_last.bool_not().bool_and(loss_best_last.greater_equal(loss_best.clone()));
                let halve = oscillating.bool_or(stalled);
                reduced_last = halve.clone();
                loss_best_last = loss_best.clone();
                step = step.clone().mask_where(halve.clone().reshape([n, 1, 1, 1]), step * 0.5);
                x_adv = select_samples(halve.clone(), x_best.clone(), x_adv);
                grad = select_samples(halve, grad_best.clone(), grad);
                increases = increases.zeros_like();
            }
        }
        (select_samples(fooled.clone(), x_best_adv, x_best), fooled)
    }
}

impl Apgd {
    /// The number of APGD-T target classes for a `classes`-way model (`min(9, classes - 1)`).
    pub fn target_count(&self, classes: usize) -> usize {
        self.target_classes.min(classes - 1)
    }

    /// Runs the restarts for one target (or the untargeted attack) and merges them into
    /// `merged` (output, fooled): a sample keeps its first adversarial point, and a sample not
    /// yet fooled takes the latest run's output. Run `r` is seeded [`run_seed`]`(seed, r)`.
    fn runs_into(&self, model: &Classifier, x: &Tensor<4>, labels: &Tensor<1, Int>, target: Option<&Tensor<1, Int>>, seed: u64, merged: &mut (Tensor<4>, Tensor<1, Bool>)) {
        for r in 0..self.restarts as u64 {
            let (adv, found) = self.single_run(model, x, labels, target, run_seed(seed, r));
            let (out, fooled) = merged;
            *out = select_samples(fooled.clone().bool_not(), adv, out.clone());
            *fooled = fooled.clone().bool_or(found);
        }
    }

    /// One target of APGD-T (the `rank`-th most likely clean class, 1-based: 1 is the runner-up)
    /// or, with `rank = None`, the untargeted run, with all restarts; `seed` is the attack's seed
    /// as given to [`Attack::perturb`]. Running every rank on the samples still robust after the
    /// previous ones gives the same samples fooled as [`Attack::perturb`] (which runs them all on
    /// the whole batch), at a fraction of the cost; [`crate::evaluate`] does that.
    pub fn perturb_rank(&self, model: &Classifier, images: Tensor<4>, labels: Tensor<1, Int>, rank: Option<usize>, seed: u64) -> Tensor<4> {
        prepared(&self.spec, model, images, |model, x| {
            let target = rank.map(|t| ranked_class(model, &x, t));
            let mut merged = (x.clone(), predictions(model.forward(x.clone())).not_equal(labels.clone()));
            let first_run = rank.map_or(0, |t| (t as u64 - 1) * self.restarts as u64);
            self.runs_into(model, &x, &labels, target.as_ref(), run_seed(seed, first_run), &mut merged);
            merged.0
        })
    }
}

impl Attack for Apgd {
    fn spec(&self) -> &AttackSpec {
        &self.spec
    }

    fn run(&self, model: &Classifier, x: Tensor<4>, labels: Tensor<1, Int>, seed: u64) -> Tensor<4> {
        let mut merged = (x.clone(), predictions(model.forward(x.clone())).not_equal(labels.clone()));
        let targets: Vec<Option<Tensor<1, Int>>> = if self.spec.kind == AttackKind::ApgdT {
            let [n, c] = [x.dims()[0], model.config().num_classes];
            let count = self.target_count(c);
            let (_, order) = model.forward(x.clone()).topk_with_indices(count + 1, 1);
            (1..=count).map(|t| Some(order.clone().slice([0..n, t..t + 1]).reshape([n]))).collect()
        } else {
            vec![None]
        };
        for (i, target) in targets.iter().enumerate() {
            let first_run = i as u64 * self.restarts as u64;
            self.runs_into(model, &x, &labels, target.as_ref(), run_seed(seed, first_run), &mut merged);
        }
        merged.0
    }
}

#[cfg(test)]
mod tests {
    use super::checkpoints;

    #[test]
    fn checkpoints_follow_the_published_schedule() {
        // 100 iterations: 22, then intervals 19, 16, 13, 10, 7, 6, 6 ... (reference code).
        let c = checkpoints(100);
        assert_eq!(&c[..6], &[22, 41, 57, 70, 80, 87]);
        assert!(c.windows(2).all(|w| w[1] - w[0] >= 6));
        assert!(*c.last().unwrap() <= 100);
        assert_eq!(checkpoints(10), vec![2, 3, 4, 5, 6, 7, 8, 9, 10]);
    }
}
