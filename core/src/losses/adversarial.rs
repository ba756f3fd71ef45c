//! The objectives of adversarial contrastive learning, each a sum of terms of the one masked
//! contrastive loss ([`super::contrastive::contrastive_loss`]), so that false-negative
//! cancellation (FNC, the paper's A-FNC: A-RoCL and A-ACL, Table 5) applies to every
//! contrastive term through the same mask.
//!
//! - **RoCL** (Kim et al. 2020, Eq. 7; Kim-Minseon/RoCL `rocl_train.py`, `loss.py`,
//!   `attack_lib.py`): `L = NT-Xent_3(t1, t2, adv) + (1/lambda) NT-Xent(adv, t2)`, lambda = 256.
//!   The reference's three-view NT-Xent (`NT_xent(..., 'Rep')`) sums the six positive pairs of
//!   every image, (1,2), (1,3), (2,3) in both directions, and divides by `3N`: twice the mean
//!   over anchors of [`contrastive_loss`] with 3 views (each anchor has 2 positives). Its
//!   regulariser is the two-view NT-Xent of a separate forward of `[adv, t2]` (train mode), the
//!   mean over `2N` anchors. The reference's `pairwise_similarity` detaches the transposed
//!   operand (only anchor rows carry gradient); this implementation differentiates the loss
//!   itself.
//! - **ACL** (Jiang et al. 2020, Section 3.2; VITA-Group/Adversarial-Contrastive-Learning
//!   `train_simCLR.py`): A2A = NT-Xent of two adversarial views, A2S = NT-Xent of an adversarial
//!   and a clean view (both plain [`contrastive_loss`] on the pair), and DS (dual stream, the
//!   best) = `[NT-Xent(t1, t2) through the "normal" BatchNorm + NT-Xent(adv1, adv2) through the
//!   "pgd" BatchNorm] / 2` ([`acl_ds_loss`]). ACL's `nt_xent` is the mean over `2N` anchors.

use burn::tensor::{Int, Tensor};

use super::contrastive::{ContrastiveObjective, ContrastiveOutput, contrastive_loss};

/// RoCL's default weight `lambda` of the regulariser (`--lamda 256`).
pub const ROCL_LAMBDA: f32 = 256.0;

/// `sum_k weight_k * loss_k`, with the cancellation counts of all terms added.
fn weighted(terms: Vec<(f32, ContrastiveOutput)>) -> ContrastiveOutput {
    let mut terms = terms.into_iter();
    let (w, first) = terms.next().expect("at least one term");
    let mut out = ContrastiveOutput { loss: first.loss * w, ..first };
    for (w, t) in terms {
        out.loss = out.loss + t.loss * w;
        out.negatives = out.negatives + t.negatives;
        out.cancelled = out.cancelled + t.cancelled;
        out.cancelled_same_class = match (out.cancelled_same_class, t.cancelled_same_class) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
    }
    out
}

/// RoCL's loss. `three_views` is `[3N, d]` (unit rows, view-major: t1, t2, adv) from one
/// forward; `regularizer` is `[2N, d]` (adv, t2) from a second forward. `objective` gives the
/// temperature and cancellation (its positives must be instances; its view count is ignored).
pub fn rocl_loss(
    three_views: Tensor<2>,
    regularizer: Tensor<2>,
    labels: Option<Tensor<1, Int>>,
    objective: &ContrastiveObjective,
    lambda: f32,
) -> crate::Result<ContrastiveOutput> {
    if !(lambda > 0.0) {
        return Err(crate::Error::Train(format!("RoCL's lambda must be > 0 (got {lambda})")));
    }
    let three = contrastive_loss(three_views, labels.clone(), &ContrastiveObjective { views: 3, ..*objective })?;
    let two = contrastive_loss(regularizer, labels, &ContrastiveObjective { views: 2, ..*objective })?;
    Ok(weighted(vec![(2.0, three), (1.0 / lambda, two)]))
}

/// ACL-DS's loss: the mean of NT-Xent of the clean pair (`[2N, d]`, "normal" BatchNorm) and of
/// the adversarial pair (`[2N, d]`, "pgd" BatchNorm), both with `objective`'s temperature and
/// cancellation.
pub fn acl_ds_loss(
    clean: Tensor<2>,
    adversarial: Tensor<2>,
    labels: Option<Tensor<1, Int>>,
    objective: &ContrastiveObjective,
) -> crate::Result<ContrastiveOutput> {
    let pair = ContrastiveObjective { views: 2, ..*objective };
    let clean = contrastive_loss(clean, labels.clone(), &pair)?;
    let adversarial = contrastive_loss(adversarial, labels, &pair)?;
    Ok(weighted(vec![(0.5, clean), (0.5, adversarial)]))
}
