//! Adversarial attacks: one file per attack behind one small interface ([`Attack`]), in the
//! style of torchattacks. Every attack takes a classifier (used in eval mode via `valid()`, so
//! BatchNorm uses and keeps its running statistics), a batch in [0, 1] and its labels, and
//! returns an adversarial batch in [0, 1] within the attack's norm ball.
//!
//! | spec | attack | file |
//! |---|---|---|
//! | `fgsm:linf:EPS` | FGSM | [`fgsm`] |
//! | `pgd:{linf,l2,l1}:EPS[:STEPS[:LOSS]]` | PGD with CE, DLR or CW loss | [`pgd_linf`], [`pgd_l2`], [`pgd_l1`] |
//! | `apgd-ce`, `apgd-dlr`, `apgd-t` `:{linf,l2}:EPS[:STEPS]` | Auto-PGD | [`apgd`] |
//! | `fab`, `fab-t` `:{linf,l2}:EPS[:STEPS]` | FAB, untargeted or targeted (minimum norm) | [`fab`] |
//! | `square:{linf,l2}:EPS[:QUERIES]` | Square | [`square`] |
//! | `autoattack:{linf,l2}:EPS[:VERSION]` | AutoAttack (APGD-CE, APGD-T, FAB-T, Square) | [`autoattack`] |
//!
//! [`instance`] holds the one attack that needs no label: the instance-wise PGD of adversarial
//! contrastive learning (RoCL, ACL), which ascends the contrastive loss of a view against its
//! partners through backbone and projection head.
//!
//! Code in this module also runs in the browser: it never reads tensors back to the host
//! (no `into_data`, `into_scalar`, `sort`, `argsort`, `one_hot`); per-sample decisions are
//! tensor masks and random numbers are drawn on the host from the seed.
//!
//! Every attack implements [`Attack::run`]; the provided [`Attack::perturb`] does the opening
//! they share ([`prepared`]). The geometry of each norm (random starts, projections, norms)
//! lives in [`norm`], the input gradients and the PGD loop in [`gradient`].

pub mod apgd;
pub mod autoattack;
pub mod fab;
pub mod fgsm;
pub mod gradient;
pub mod instance;
pub mod norm;
pub mod objective;
pub mod pgd_l1;
pub mod pgd_l2;
pub mod pgd_linf;
pub mod spec;
pub mod square;

use burn::module::Module;
use burn::tensor::{Int, Tensor};

use crate::models::Classifier;

pub use apgd::Apgd;
pub use autoattack::AutoAttack;
pub use fab::Fab;
pub use fgsm::Fgsm;
pub use instance::InstanceAttack;
pub use objective::Objective;
pub use pgd_l1::PgdL1;
pub use pgd_l2::PgdL2;
pub use pgd_linf::PgdLinf;
pub use spec::{AttackKind, AttackSpec, Norm};
pub use square::Square;

/// An evasion attack on a classifier.
pub trait Attack {
    /// The specification string this attack was built from (e.g. `pgd:linf:8/255:10`).
    fn spec(&self) -> &AttackSpec;

    /// The attack proper, on the batch [`Attack::perturb`] prepares: `model` in eval mode,
    /// `images` without autodiff and the spec's eps above 0. Call [`Attack::perturb`] instead.
    fn run(&self, model: &Classifier, images: Tensor<4>, labels: Tensor<1, Int>, seed: u64) -> Tensor<4>;

    /// Adversarial versions of `images` (`[N, 3, H, W]`, in [0, 1]) for true `labels`.
    ///
    /// `seed` drives any randomness (random starts); the same seed gives the same result on any
    /// device because random numbers are drawn on the host. Runs [`Attack::run`] after the
    /// opening every attack shares ([`prepared`]).
    fn perturb(&self, model: &Classifier, images: Tensor<4>, labels: Tensor<1, Int>, seed: u64) -> Tensor<4> {
        prepared(self.spec(), model, images, |model, x| self.run(model, x, labels, seed))
    }
}

/// The opening of every attack: the images lose autodiff; at eps = 0 they are returned as they
/// are; otherwise `body` gets them with the model in eval mode (`valid()`: BatchNorm uses and
/// never updates its running statistics).
pub(crate) fn prepared(spec: &AttackSpec, model: &Classifier, images: Tensor<4>, body: impl FnOnce(&Classifier, Tensor<4>) -> Tensor<4>) -> Tensor<4> {
    let x = images.without_autodiff();
    if spec.eps == 0.0 {
        return x;
    }
    body(&model.valid(), x)
}

/// The seed of the `run`-th run of a restarting attack seeded with `seed` (APGD, FAB).
pub(crate) fn run_seed(seed: u64, run: u64) -> u64 {
    seed.wrapping_add(run.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// The `rank`-th most likely class of each image (1-based: 1 is the runner-up), the target of
/// a targeted run (APGD-T, FAB-T).
pub(crate) fn ranked_class(model: &Classifier, x: &Tensor<4>, rank: usize) -> Tensor<1, Int> {
    let n = x.dims()[0];
    let (_, order) = model.forward(x.clone()).topk_with_indices(rank + 1, 1);
    order.slice([0..n, rank..rank + 1]).reshape([n])
}

/// Whether an attack on one image succeeded: untargeted (`target` is `None`), the top-1 class
/// left the clean one; targeted, it is the target.
pub fn succeeded(target: Option<usize>, clean: usize, adversarial: usize) -> bool {
    match target {
        Some(t) => adversarial == t,
        None => adversarial != clean,
    }
}

/// Builds the attack named by `spec`.
pub fn build(spec: &AttackSpec) -> Box<dyn Attack> {
    match spec.kind {
        AttackKind::Fgsm => Box::new(Fgsm::new(spec.clone())),
        AttackKind::Pgd => match spec.norm {
            Norm::Linf => Box::new(PgdLinf::new(spec.clone())),
            Norm::L2 => Box::new(PgdL2::new(spec.clone())),
            Norm::L1 => Box::new(PgdL1::new(spec.clone())),
        },
        AttackKind::ApgdCe | AttackKind::ApgdDlr | AttackKind::ApgdT => Box::new(Apgd::new(spec.clone())),
        AttackKind::Fab | AttackKind::FabT => Box::new(Fab::new(spec.clone())),
        AttackKind::Square => Box::new(Square::new(spec.clone())),
        AttackKind::AutoAttack => Box::new(AutoAttack::new(spec.clone())),
    }
}
