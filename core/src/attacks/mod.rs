//! Adversarial attacks: one file per attack behind one small interface ([`Attack`]), in the
//! style of torchattacks. Every attack takes a classifier (used in eval mode via `valid()`, so
//! BatchNorm uses and keeps its running statistics), a batch in [0, 1] and its labels, and
//! returns an adversarial batch in [0, 1] within the attack's norm ball.

pub mod fgsm;
pub mod gradient;
pub mod pgd_l2;
pub mod pgd_linf;
pub mod spec;

use burn::tensor::{Int, Tensor};

use crate::models::Classifier;

pub use fgsm::Fgsm;
pub use pgd_l2::PgdL2;
pub use pgd_linf::PgdLinf;
pub use spec::{AttackKind, AttackSpec, Norm};

/// An evasion attack on a classifier.
pub trait Attack {
    /// The specification string this attack was built from (e.g. `pgd:linf:8/255:10`).
    fn spec(&self) -> &AttackSpec;

    /// Adversarial versions of `images` (`[N, 3, H, W]`, in [0, 1]) for true `labels`.
    ///
    /// `seed` drives any randomness (random starts); the same seed gives the same result on any
    /// device because random numbers are drawn on the host.
    fn perturb(&self, model: &Classifier, images: Tensor<4>, labels: Tensor<1, Int>, seed: u64) -> Tensor<4>;
}

/// Builds the attack named by `spec`.
pub fn build(spec: &AttackSpec) -> Box<dyn Attack> {
    match spec.kind {
        AttackKind::Fgsm => Box::new(Fgsm::new(spec.clone())),
        AttackKind::Pgd => match spec.norm {
            Norm::Linf => Box::new(PgdLinf::new(spec.clone())),
            Norm::L2 => Box::new(PgdL2::new(spec.clone())),
        },
    }
}
