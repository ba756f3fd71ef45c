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

use burn::tensor::{Int, Tensor};

use super::gradient::select_samples;
use super::{Attack, AttackKind, AttackSpec, build};
use crate::metrics::predictions;
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
