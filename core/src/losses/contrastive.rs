//! The masked contrastive loss: one implementation behind NT-Xent (SimCLR; Chen et al. 2020,
//! Eq. 1; the paper's Eq. 1), SupCon (Khosla et al. 2020, Eq. 2) and false-negative
//! cancellation (FNC, Huynh et al. 2022; the paper's A-FNC, Section 5).
//!
//! Every variant is the same per-anchor objective with two masks over the `M x M` similarity
//! matrix of `M = views * N` L2-normalised embeddings:
//!
//! ```text
//! L = 1/M  sum_i  -1/|P(i)|  sum_{p in P(i)}  log( exp(z_i.z_p / tau) / sum_{k in D(i)} exp(z_i.z_k / tau) )
//! ```
//!
//! - `P(i)`, the positives: the other views of the same image (SimCLR), or every other view of
//!   every image of the same class (SupCon). Anchors without positives contribute 0 but count
//!   in the mean (HobbitLong/SupContrast semantics).
//! - `D(i)`, the denominator: every `k != i` (SimCLR, SupCon), minus the *cancelled* negatives
//!   under FNC elimination. A negative is cancelled when a detector flags it as a false
//!   negative: its cosine similarity to the anchor (detached) exceeds the threshold `rho`, or,
//!   as an analysis oracle, it shares the anchor's class, or the caller flags the pair of
//!   images (IFND, Chen et al. 2022: the two share an accepted k-means pseudo-label; the pairs
//!   come from `train::ifnd`). The positive pair is never
//!   cancelled, so the loss stays finite (0 when every negative is cancelled). Under FNC
//!   *attraction* the cancelled negatives join `P(i)` instead and `D(i)` keeps them.
//!
//! Rows are view-major: row `v * N + i` is view `v` of image `i` (`torch.cat(torch.unbind(f,
//! 1))` in SupContrast). The loss is the mean over the `M` anchors, the convention of the
//! PyTorch ports; google-research/simclr reports twice this value for two views.

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// What the loss treats as a positive pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Positives {
    /// Other views of the same image (SimCLR's NT-Xent; labels unused).
    Instances,
    /// Other samples of the same class (SupCon; labels required).
    Classes,
}

/// How a detected false negative is treated (Huynh et al. 2022, Section 3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CancelMode {
    /// Removed from the denominator (the paper's A-FNC).
    Elimination,
    /// Added to the positives (numerator), kept in the denominator.
    Attraction,
}

/// How false negatives are detected.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Detector {
    /// Cosine similarity of the normalised embeddings above `rho` (the paper's test).
    Threshold(f32),
    /// Same class as the anchor (labels required): the ideal detector, for analysis.
    Oracle,
    /// Pairs of images flagged by the caller ([`contrastive_loss_with`]'s `[N, N]` mask): IFND's
    /// shared accepted pseudo-labels.
    Pairs,
}

/// False-negative cancellation settings for one step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Cancellation {
    /// The detector.
    pub detector: Detector,
    /// What happens to the detected pairs.
    pub mode: CancelMode,
}

/// A contrastive objective: temperature, layout, positives and optional cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ContrastiveObjective {
    /// Temperature `tau`.
    pub temperature: f32,
    /// Views per image (2 for SimCLR and SupCon training).
    pub views: usize,
    /// Positive pairs.
    pub positives: Positives,
    /// False-negative cancellation (`None`: plain NT-Xent / SupCon).
    pub cancellation: Option<Cancellation>,
}

impl ContrastiveObjective {
    /// NT-Xent (SimCLR) with `views` views per image.
    pub fn nt_xent(temperature: f32, views: usize) -> Self {
        Self { temperature, views, positives: Positives::Instances, cancellation: None }
    }

    /// SupCon with `views` views per image.
    pub fn supcon(temperature: f32, views: usize) -> Self {
        Self { temperature, views, positives: Positives::Classes, cancellation: None }
    }

    /// The same objective with false negatives cancelled above `rho` (eliminated).
    pub fn with_threshold(mut self, rho: f32) -> Self {
        self.cancellation = Some(Cancellation { detector: Detector::Threshold(rho), mode: CancelMode::Elimination });
        self
    }
}

/// The loss and what the cancellation did, as device scalars (read them back when needed).
#[derive(Debug, Clone)]
pub struct ContrastiveOutput {
    /// The loss (shape `[1]`).
    pub loss: Tensor<1>,
    /// Number of (anchor, negative) pairs, cancelled or not.
    pub negatives: Tensor<1>,
    /// Number of (anchor, negative) pairs cancelled.
    pub cancelled: Tensor<1>,
    /// Number of cancelled pairs whose two images share a class (when labels were given).
    pub cancelled_same_class: Option<Tensor<1>>,
}

/// The per-anchor masked objective of the module documentation: `z` is `[M, d]` with unit
/// rows, `positives` and `denominator` are `[M, M]` 0/1 masks, `denominator` contains the
/// positives and never the diagonal.
pub fn masked_contrastive_loss(z: Tensor<2>, positives: Tensor<2>, denominator: Tensor<2>, temperature: f32) -> Tensor<1> {
    let logits = z.clone().matmul(z.transpose()) / temperature;
    // Subtracting the (detached) row maximum changes nothing but keeps exp() finite.
    let logits = logits.clone() - logits.detach().max_dim(1);
    let sums = (logits.clone().exp() * denominator.clone()).sum_dim(1);
    // An anchor with an empty denominator (no positive, every negative cancelled) gets log(1).
    let empty = denominator.sum_dim(1).equal_elem(0.0).float();
    let log_prob = logits - (sums + empty).log();
    let count = positives.clone().sum_dim(1);
    let per_anchor = (log_prob * positives).sum_dim(1) / count.clamp_min(1.0);
    per_anchor.neg().mean()
}

/// The loss of `objective` on `[views * N, d]` embeddings `z` (L2-normalised rows, view-major).
/// `labels` (`[N]`) are required by SupCon and the oracle detector; when given, the output
/// also counts how many cancelled pairs share a class (the precision of the removal).
pub fn contrastive_loss(
    z: Tensor<2>,
    labels: Option<Tensor<1, Int>>,
    objective: &ContrastiveObjective,
) -> crate::Result<ContrastiveOutput> {
    contrastive_loss_with(z, labels, None, objective)
}

/// [`contrastive_loss`] with the `[N, N]` mask of image pairs that [`Detector::Pairs`] flags as
/// false negatives (every view of image `a` against every view of image `b`; the diagonal and
/// the positives are ignored). Required by that detector, ignored by the others.
pub fn contrastive_loss_with(
    z: Tensor<2>,
    labels: Option<Tensor<1, Int>>,
    flagged_pairs: Option<Tensor<2, Bool>>,
    objective: &ContrastiveObjective,
) -> crate::Result<ContrastiveOutput> {
    let [m, _] = z.dims();
    let views = objective.views.max(1);
    if m % views != 0 {
        return Err(crate::Error::Train(format!("{m} embeddings are not {views} views of the same images")));
    }
    let n = m / views;
    let needs_labels = objective.positives == Positives::Classes
        || matches!(objective.cancellation, Some(Cancellation { detector: Detector::Oracle, .. }));
    if needs_labels && labels.is_none() {
        return Err(crate::Error::Train("SupCon and the oracle detector need labels".into()));
    }
    if let Some(l) = &labels
        && l.dims()[0] != n
    {
        return Err(crate::Error::Train(format!("{} labels for {n} images", l.dims()[0])));
    }
    let flagged_pairs = match (objective.cancellation, flagged_pairs) {
        (Some(Cancellation { detector: Detector::Pairs, .. }), Some(f)) if f.dims() == [n, n] => Some(f),
        (Some(Cancellation { detector: Detector::Pairs, .. }), Some(f)) => {
            return Err(crate::Error::Train(format!("a {:?} mask of flagged pairs for {n} images", f.dims())));
        }
        (Some(Cancellation { detector: Detector::Pairs, .. }), None) => {
            return Err(crate::Error::Train("the pair detector (IFND) needs its mask of flagged pairs".into()));
        }
        _ => None,
    };
    let device = z.device();
    let not_self = Tensor::<2, Bool>::diag_mask([m, m], 0, &device);
    let same_image = pairs_equal(instance_ids(n, views, &device)).bool_and(not_self.clone());
    let same_class = labels.map(|l| pairs_equal(l.repeat_dim(0, views)).bool_and(not_self.clone()));
    let positives = match objective.positives {
        Positives::Instances => same_image.clone(),
        Positives::Classes => same_class.clone().expect("checked above"),
    };
    let negatives = not_self.clone().bool_and(positives.clone().bool_not());
    let cancelled = objective.cancellation.map(|c| {
        let flagged = match c.detector {
            Detector::Threshold(rho) => {
                let zd = z.clone().detach();
                zd.clone().matmul(zd.transpose()).greater_elem(rho)
            }
            Detector::Oracle => same_class.clone().expect("checked above"),
            Detector::Pairs => flagged_pairs.clone().expect("checked above").repeat_dim(0, views).repeat_dim(1, views),
        };
        (flagged.bool_and(negatives.clone()), c.mode)
    });
    let zero = || Tensor::<1>::zeros([1], &device);
    let count = |mask: Tensor<2, Bool>| mask.float().sum();
    let cancelled_count = cancelled.as_ref().map(|(c, _)| count(c.clone())).unwrap_or_else(zero);
    let cancelled_same_class = same_class.map(|s| match &cancelled {
        Some((c, _)) => count(s.bool_and(c.clone())),
        None => zero(),
    });
    let negatives_count = count(negatives);
    let (positives, denominator) = match cancelled {
        None => (positives, not_self),
        Some((c, CancelMode::Elimination)) => (positives, not_self.bool_and(c.bool_not())),
        Some((c, CancelMode::Attraction)) => (positives.bool_or(c), not_self),
    };
    Ok(ContrastiveOutput {
        loss: masked_contrastive_loss(z, positives.float(), denominator.float(), objective.temperature),
        negatives: negatives_count,
        cancelled: cancelled_count,
        cancelled_same_class,
    })
}

/// NT-Xent (SimCLR) of view-major normalised embeddings.
pub fn nt_xent(z: Tensor<2>, views: usize, temperature: f32) -> Tensor<1> {
    contrastive_loss(z, None, &ContrastiveObjective::nt_xent(temperature, views))
        .expect("NT-Xent needs no labels")
        .loss
}

/// SupCon of view-major normalised embeddings and their `[N]` labels.
pub fn supcon(z: Tensor<2>, labels: Tensor<1, Int>, views: usize, temperature: f32) -> crate::Result<Tensor<1>> {
    Ok(contrastive_loss(z, Some(labels), &ContrastiveObjective::supcon(temperature, views))?.loss)
}

/// Image index of every row: `[0..N, 0..N, ...]` (`views` times).
fn instance_ids(n: usize, views: usize, device: &Device) -> Tensor<1, Int> {
    let ids: Vec<i64> = (0..views).flat_map(|_| 0..n as i64).collect();
    Tensor::from_data(TensorData::new(ids, [n * views]), device)
}

/// `out[i][j] = ids[i] == ids[j]`.
fn pairs_equal(ids: Tensor<1, Int>) -> Tensor<2, Bool> {
    let m = ids.dims()[0];
    ids.clone().reshape([m, 1]).expand([m, m]).equal(ids.reshape([1, m]).expand([m, m]))
}

/// Rescales each row of `x` to unit l2 norm (the projection head's output, SimCLR Section 2.1).
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}
