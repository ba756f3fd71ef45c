//! AutoAttack (Croce & Hein 2020): a fixed list of parameter-free attacks, each run only on the
//! points that are still robust; a sample counts as robust only if no attack fools it, so the
//! robust accuracy is the per-sample worst case over the components.
//!
//! Versions ([`super::spec`]): "standard" is APGD-CE, APGD-T (9 targets), FAB-T (9 targets)
//! and Square (5000 queries), with 100 iterations for the APGD and FAB components and one
//! restart each, as published. "rand" runs APGD-CE and APGD-DLR; custom lists name components
//! joined by `+` (`apgd-ce`, `apgd-dlr`, `apgd-t`, `fab`, `fab-t`, `square`, each optionally
//! with `@N` iterations or queries).
//!
//! [`Attack::perturb`] here is browser-safe: it runs every component on the whole batch and keeps,
//! per sample, the first adversarial point (tensor masks, no host reads), which gives the same
//! robust accuracy as running each component only on the robust subset. The native evaluation
//! ([`crate::evaluate`]) instead gathers the still-robust samples between components on the host
//! and runs each component on those only, which is much faster.

use burn::tensor::{Int, Tensor, TensorData};

use super::gradient::select_samples;
use super::{Apgd, Attack, AttackKind, AttackSpec, Fab, build};
use crate::metrics::{correct_mask, predictions};
use crate::models::Classifier;

/// AutoAttack with the components of its spec.
pub struct AutoAttack {
    spec: AttackSpec,
    components: Vec<(AttackKind, Box<dyn Attack>)>,
}

impl AutoAttack {
    /// AutoAttack with the version or component list of `spec`.
    pub fn new(spec: AttackSpec) -> Self {
        let components = spec.components.iter().map(|&k| (k, build(&spec.component(k)))).collect();
        Self { spec, components }
    }

    /// The component attacks, in the order they run.
    pub fn components(&self) -> impl Iterator<Item = &dyn Attack> {
        self.components.iter().map(|(_, a)| a.as_ref())
    }

    /// The seed a component gets (shared by the masked and the native compacting paths).
    pub fn component_seed(seed: u64, index: usize) -> u64 {
        seed ^ (index as u64 + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93)
    }

    /// The compacting schedule (native evaluation and `bench`): each component in order on the
    /// samples of `x` still marked `robust` (gathered on the host, in chunks of at most
    /// `batch_size`), clearing `robust` for every sample it fools. `after_component(i,
    /// component, robust)` runs after component `i`. `robust` starts as the clean-correct mask.
    #[allow(clippy::too_many_arguments)]
    pub fn run_on_robust(
        &self,
        model: &Classifier,
        x: &Tensor<4>,
        y: &Tensor<1, Int>,
        robust: &mut [bool],
        batch_size: usize,
        seed: u64,
        mut after_component: impl FnMut(usize, &dyn Attack, &[bool]),
    ) {
        for (i, component) in self.components().enumerate() {
            attack_robust_samples(model, component, x, y, robust, batch_size, Self::component_seed(seed, i));
            after_component(i, component, robust);
        }
    }
}

impl Attack for AutoAttack {
    fn spec(&self) -> &AttackSpec {
        &self.spec
    }

    fn run(&self, model: &Classifier, x: Tensor<4>, labels: Tensor<1, Int>, seed: u64) -> Tensor<4> {
        let mut fooled = predictions(model.forward(x.clone())).not_equal(labels.clone());
        let mut out = x.clone();
        for (i, attack) in self.components().enumerate() {
            let adv = attack.perturb(model, x.clone(), labels.clone(), Self::component_seed(seed, i));
            let wrong = predictions(model.forward(adv.clone())).not_equal(labels.clone());
            out = select_samples(fooled.clone().bool_not().bool_and(wrong.clone()), adv, out);
            fooled = fooled.bool_or(wrong);
        }
        out
    }
}

/// One run of an attack on a batch of still-robust samples and their labels.
type AttackRun<'a> = Box<dyn Fn(Tensor<4>, Tensor<1, Int>) -> Tensor<4> + 'a>;

/// One run per target rank `1..=count` of a targeted attack (APGD-T, FAB-T), all sharing `run`.
fn per_target<'a>(count: usize, run: impl Fn(Tensor<4>, Tensor<1, Int>, usize) -> Tensor<4> + 'a) -> Vec<AttackRun<'a>> {
    let run = std::rc::Rc::new(run);
    (1..=count)
        .map(|rank| {
            let run = run.clone();
            Box::new(move |xs, ys| run(xs, ys, rank)) as AttackRun<'a>
        })
        .collect()
}

/// Runs one AutoAttack component on the samples of `x` still marked `robust` (gathered on the
/// host, in batches of at most `batch_size`) and clears `robust` for every sample it fools.
/// APGD-T and FAB-T run target by target, each target on the samples still robust, as
/// torchattacks does.
pub fn attack_robust_samples(
    model: &Classifier,
    component: &dyn Attack,
    x: &Tensor<4>,
    y: &Tensor<1, Int>,
    robust: &mut [bool],
    batch_size: usize,
    seed: u64,
) {
    let classes = model.config().num_classes;
    let runs: Vec<AttackRun<'_>> = match component.spec().kind {
        AttackKind::ApgdT => {
            let apgd = Apgd::new(component.spec().clone());
            per_target(apgd.target_count(classes), move |xs, ys, rank| apgd.perturb_rank(model, xs, ys, Some(rank), seed))
        }
        AttackKind::FabT => {
            let fab = Fab::new(component.spec().clone());
            per_target(fab.target_count(classes), move |xs, ys, rank| fab.perturb_rank(model, xs, ys, Some(rank), seed))
        }
        _ => vec![Box::new(move |xs, ys| component.perturb(model, xs, ys, seed))],
    };
    let chunks: Vec<Vec<i64>> = robust
        .iter()
        .enumerate()
        .filter(|(_, r)| **r)
        .map(|(j, _)| j as i64)
        .collect::<Vec<_>>()
        .chunks(batch_size.max(1))
        .map(<[i64]>::to_vec)
        .collect();
    for chunk in chunks {
        for run in &runs {
            let idx: Vec<i64> = chunk.iter().copied().filter(|&j| robust[j as usize]).collect();
            if idx.is_empty() {
                break;
            }
            // Bucketed shapes: the still-robust samples are padded (repeating the first) up to
            // the next power of two (at most `batch_size`), so a GPU's autotuner and kernel
            // fusion see a handful of batch sizes, not one per count. Every attack draws its
            // randomness sample by sample in order, so the real samples' results do not change;
            // the padding's are ignored.
            let k = idx.len();
            let padded = bucket(k, batch_size);
            let rows: Vec<i64> = idx.iter().copied().chain(std::iter::repeat_n(idx[0], padded - k)).collect();
            let sel = Tensor::<1, Int>::from_data(TensorData::new(rows, [padded]), &x.device());
            let (xs, ys) = (x.clone().select(0, sel.clone()), y.clone().select(0, sel));
            let adv = run(xs, ys.clone());
            for (j, ok) in idx.iter().zip(correct_mask(model, adv, &ys)) {
                robust[*j as usize] = ok;
            }
        }
    }
}

/// The batch size a chunk of `k` still-robust samples runs at: the next power of two, capped at
/// `batch_size` (and at least `k`).
fn bucket(k: usize, batch_size: usize) -> usize {
    k.next_power_of_two().min(batch_size.max(k))
}

#[cfg(test)]
mod tests {
    use super::bucket;

    #[test]
    fn chunks_run_at_power_of_two_sizes_up_to_the_batch() {
        assert_eq!([1, 2, 3, 5, 9, 100, 128].map(|k| bucket(k, 128)), [1, 2, 4, 8, 16, 128, 128]);
        assert_eq!(bucket(100, 100), 100);
        assert_eq!(bucket(70, 100), 100);
        assert_eq!(bucket(7, 0), 7);
    }
}
