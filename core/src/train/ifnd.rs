//! Incremental false negative detection (IFND; Chen, Hung, Tseng, Chien & Yang, ICLR 2022,
//! method section): the false negatives of an anchor are the negatives that share an accepted
//! k-means pseudo-label with it, and they are eliminated from the denominator of the one
//! masked contrastive loss ([`crate::losses::contrastive`], [`crate::losses::contrastive::Detector::Pairs`]).
//!
//! - **Pseudo-labels**: k-means ([`crate::geometry::kmeans`], on the device) on
//!   the unit projections of the whole training set (eval mode, unaugmented images), once per
//!   cluster count of the hierarchy (`clusters`, e.g. 10, 20, 40: the "hierarchical semantic
//!   definition"). Two images are flagged when they share a label at **any** level at which
//!   both are accepted.
//! - **Confidence**: a sample's margin, the squared distance to its second-nearest centre minus
//!   that to its own (similarity to its own centroid relative to the others); at each level the
//!   `round(rate * N)` most confident samples are accepted.
//! - **Incremental acceptance**: the acceptance rate rises linearly per epoch from
//!   0 (epoch 1: plain NT-Xent, the embedding is still random) to 1 at the last epoch, as the
//!   encoder and its clusters improve.
//! - **Schedule**: the pseudo-labels are recomputed at the first epoch with a positive
//!   acceptance rate and then every `every` epochs (default 1: clustering at every epoch);
//!   between recomputations the stored confidences are re-ranked at each epoch's rate.
//!
//! The state between recomputations ([`IfndState`]: labels and confidences per level) is part
//! of a run's checkpoint, so a resumed run continues with the same pseudo-labels.
//!
//! Our choices where the reference repository (tsaishien-chen/IFND) could not be read for this
//! implementation (the project's reference notes mark these details unverified): the margin as
//! the confidence, per-level acceptance of the most confident samples, flagging a pair at any
//! level, the linear shape of the acceptance schedule, clustering every epoch, the default
//! hierarchy 10, 20, 40 (CIFAR-10 has 10 classes), k-means++ with three restarts of 20 Lloyd
//! steps. Elimination is the default (the paper's L_elim; attraction, its L_attr, is
//! `:attract`).

use burn::module::Module;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::contrastive::ContrastiveModel;
use crate::data::ImageSet;
use crate::data::batch::{BatchOrder, gather, labels_tensor};
use crate::geometry::kmeans::{KMeansConfig, assign, kmeans, one_hot};
use crate::losses::contrastive::CancelMode;

/// Most levels of the hierarchy.
pub const MAX_LEVELS: usize = 8;

/// The default hierarchy of cluster counts.
pub const DEFAULT_CLUSTERS: [usize; 3] = [10, 20, 40];

/// The cluster counts of the hierarchy: 1 to [`MAX_LEVELS`] distinct counts, each at least 2.
/// Stored inline so that the FNC setting stays `Copy`; serialised as a list.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<usize>", into = "Vec<usize>")]
pub struct ClusterCounts {
    counts: [usize; MAX_LEVELS],
    len: usize,
}

impl ClusterCounts {
    /// Checks and stores `counts` (the error says why they cannot be used).
    pub fn new(counts: &[usize]) -> Result<Self, String> {
        let bad = |why: String| Err(format!("cluster counts {counts:?}: {why}"));
        if counts.is_empty() || counts.len() > MAX_LEVELS {
            return bad(format!("need 1 to {MAX_LEVELS} levels"));
        }
        if let Some(k) = counts.iter().find(|&&k| k < 2) {
            return bad(format!("{k} clusters cannot separate anything (need >= 2)"));
        }
        if (1..counts.len()).any(|i| counts[..i].contains(&counts[i])) {
            return bad("a count is repeated".into());
        }
        let mut stored = [0; MAX_LEVELS];
        stored[..counts.len()].copy_from_slice(counts);
        Ok(Self { counts: stored, len: counts.len() })
    }

    /// The counts, in the order given.
    pub fn as_slice(&self) -> &[usize] {
        &self.counts[..self.len]
    }
}

impl std::fmt::Debug for ClusterCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl TryFrom<Vec<usize>> for ClusterCounts {
    type Error = String;
    fn try_from(v: Vec<usize>) -> Result<Self, String> {
        Self::new(&v)
    }
}

impl From<ClusterCounts> for Vec<usize> {
    fn from(c: ClusterCounts) -> Self {
        c.as_slice().to_vec()
    }
}

/// The IFND setting of a run (`ifnd[:K1,K2,...][:every=N][:attract]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ifnd {
    /// Cluster counts of the hierarchy.
    pub clusters: ClusterCounts,
    /// Epochs between recomputations of the pseudo-labels.
    pub every: usize,
    /// Elimination (the paper's L_elim) or attraction of the flagged pairs.
    pub mode: CancelMode,
    /// The clustering.
    #[serde(default)]
    pub kmeans: KMeansConfig,
}

impl Default for Ifnd {
    fn default() -> Self {
        Self {
            clusters: ClusterCounts::new(&DEFAULT_CLUSTERS).expect("valid defaults"),
            every: 1,
            mode: CancelMode::Elimination,
            kmeans: KMeansConfig::default(),
        }
    }
}

impl Ifnd {
    /// The setting spelled by the words after `ifnd:` (each optional, in any order): a comma
    /// list of cluster counts, `every=N`, `attract`. The error says which word is wrong.
    pub fn from_words(words: &[&str]) -> Result<Self, String> {
        let mut s = Self::default();
        for word in words {
            let w = word.trim().to_ascii_lowercase();
            if w == "attract" {
                s.mode = CancelMode::Attraction;
            } else if let Some(n) = w.strip_prefix("every=") {
                s.every = n.parse().ok().filter(|&n| n >= 1).ok_or_else(|| format!("'{n}' is not a whole number of epochs >= 1"))?;
            } else if w.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                let counts = w.split(',').map(|k| k.trim().parse::<usize>()).collect::<Result<Vec<_>, _>>().map_err(|_| format!("'{w}' is not a list of cluster counts"))?;
                s.clusters = ClusterCounts::new(&counts)?;
            } else {
                return Err(format!("unknown word '{w}'"));
            }
        }
        Ok(s)
    }

    /// The acceptance rate of `epoch` (1-based) of `epochs`: `(epoch - 1) / (epochs - 1)`, from 0
    /// at the first epoch to 1 at the last (0 throughout a one-epoch run).
    pub fn acceptance_rate(&self, epoch: usize, epochs: usize) -> f32 {
        if epochs <= 1 {
            return 0.0;
        }
        (epoch.saturating_sub(1).min(epochs - 1)) as f32 / (epochs - 1) as f32
    }

    /// Whether the pseudo-labels are (re)computed at the start of `epoch`: the first epoch with
    /// a positive acceptance rate, then every `every` epochs.
    pub fn recomputes_at(&self, epoch: usize, epochs: usize) -> bool {
        let first = 2; // epoch 1 accepts nothing
        epochs > 1 && epoch >= first && epoch <= epochs && (epoch - first) % self.every.max(1) == 0
    }

    /// The epoch whose pseudo-labels are in use during `epoch` (`None` before the first).
    pub fn labels_from(&self, epoch: usize, epochs: usize) -> Option<usize> {
        (1..=epoch.min(epochs)).rev().find(|&e| self.recomputes_at(e, epochs))
    }
}

/// One level's pseudo-labels over the training set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PseudoLabels {
    /// Cluster count.
    pub clusters: usize,
    /// Cluster of every training image.
    pub labels: Vec<u32>,
    /// Confidence of every label (its margin).
    pub confidence: Vec<f32>,
}

/// What IFND carries between epochs (checkpointed with the weights).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IfndState {
    /// Epoch (1-based) at whose start the pseudo-labels were computed; 0: none yet.
    pub epoch: usize,
    /// One entry per cluster count.
    pub levels: Vec<PseudoLabels>,
}

/// `[N, d]` unit projections of every image of `set` (eval mode, no augmentation): the
/// embedding IFND clusters.
pub fn embed_set(model: &ContrastiveModel, set: &ImageSet, batch_size: usize, device: &Device) -> Tensor<2> {
    let model = model.valid();
    let order = BatchOrder::sequential(set.len(), batch_size);
    Tensor::cat(order.batches().map(|indices| model.project(gather(set, indices, device).0)).collect(), 0)
}

impl IfndState {
    /// Pseudo-labels and confidences of the `[N, d]` `embeddings` at every level of `settings`,
    /// computed at `epoch`; the clustering of level `l` is seeded from `seed`, `epoch` and `l`.
    pub fn compute(embeddings: Tensor<2>, settings: &Ifnd, seed: u64, epoch: usize) -> crate::Result<Self> {
        let levels = settings
            .clusters
            .as_slice()
            .iter()
            .enumerate()
            .map(|(l, &k)| {
                let level_seed = seed.wrapping_mul(1_000_003).wrapping_add((epoch as u64) << 8).wrapping_add(l as u64);
                let clustering = kmeans(embeddings.clone(), k, &settings.kmeans, level_seed)?;
                let a = assign(embeddings.clone(), clustering.centroids);
                Ok(PseudoLabels {
                    clusters: k,
                    labels: a.labels.into_data().iter::<i64>().map(|v| v as u32).collect(),
                    confidence: a.margin.into_data().iter::<f32>().collect(),
                })
            })
            .collect::<crate::Result<Vec<_>>>()?;
        Ok(Self { epoch, levels })
    }

    /// Checks that a state read back from a checkpoint fits `settings` and `n` training images.
    pub fn check(&self, settings: &Ifnd, n: usize) -> crate::Result<()> {
        if self.levels.is_empty() {
            return Ok(());
        }
        let counts: Vec<usize> = self.levels.iter().map(|l| l.clusters).collect();
        if counts != settings.clusters.as_slice() {
            return Err(crate::Error::Train(format!("IFND pseudo-labels for cluster counts {counts:?}, but the run uses {:?}", settings.clusters)));
        }
        for l in &self.levels {
            if l.labels.len() != n || l.confidence.len() != n || l.labels.iter().any(|&c| c as usize >= l.clusters) {
                return Err(crate::Error::Train(format!(
                    "IFND pseudo-labels at {} clusters do not describe {n} training images",
                    l.clusters
                )));
            }
        }
        Ok(())
    }

    /// The pseudo-labels accepted at `rate`, encoded for pair tests on `device`: `[N, L]`, the
    /// label where accepted and `-1 - i` (unique to image `i`) where not. `None` before the
    /// first computation.
    pub fn encode(&self, rate: f32, device: &Device) -> Option<Tensor<2, Int>> {
        if self.levels.is_empty() {
            return None;
        }
        let n = self.levels[0].labels.len();
        let unique = Tensor::<1, Int>::arange(1..n as i64 + 1, device).neg();
        let columns = self
            .levels
            .iter()
            .map(|l| {
                let labels = Tensor::<1, Int>::from_data(TensorData::new(l.labels.iter().map(|&v| v as i64).collect::<Vec<_>>(), [n]), device);
                labels.mask_where(accepted(&l.confidence, rate, device).bool_not(), unique.clone())
            })
            .collect();
        Some(Tensor::stack(columns, 1))
    }

    /// The acceptance and the pseudo-labels' precision at `rate` against the true `classes`
    /// (`[N]`, values below `num_classes`): per level, the accepted images and, over the pairs
    /// of accepted images in one cluster, the fraction that share a class. One read-back.
    pub fn report(&self, rate: f32, classes: &[usize], num_classes: usize, recomputed: bool, device: &Device) -> IfndEpoch {
        let mut report = IfndEpoch { acceptance_rate: rate, recomputed, labels_from_epoch: self.epoch, accepted_fraction: 0.0, precision: None, levels: Vec::new() };
        if self.levels.is_empty() {
            return report;
        }
        let n = classes.len();
        let truth = one_hot(labels_tensor(classes, device), num_classes.max(1));
        let stats: Vec<Tensor<1>> = self
            .levels
            .iter()
            .map(|l| {
                let labels = Tensor::<1, Int>::from_data(TensorData::new(l.labels.iter().map(|&v| v as i64).collect::<Vec<_>>(), [n]), device);
                let keep = accepted(&l.confidence, rate, device).float().reshape([n, 1]);
                let members = one_hot(labels, l.clusters) * keep.clone();
                let table = members.transpose().matmul(truth.clone()); // [K, C] accepted images per cluster and class
                let sizes = table.clone().sum_dim(1);
                let pairs = (sizes.clone() * (sizes - 1.0)).sum();
                let same = (table.clone() * (table - 1.0)).sum();
                Tensor::cat(vec![keep.sum(), pairs, same], 0)
            })
            .collect();
        let values: Vec<f64> = Tensor::cat(stats, 0).into_data().iter::<f32>().map(f64::from).collect();
        let (mut pairs, mut same) = (0.0, 0.0);
        for (l, v) in self.levels.iter().zip(values.chunks(3)) {
            pairs += v[1];
            same += v[2];
            report.levels.push(IfndLevel { clusters: l.clusters, accepted: v[0] as usize, precision: (v[1] > 0.0).then(|| v[2] / v[1]) });
        }
        report.accepted_fraction = report.levels.iter().map(|l| l.accepted as f64).sum::<f64>() / (n.max(1) * self.levels.len()) as f64;
        report.precision = (pairs > 0.0).then(|| same / pairs);
        report
    }
}

/// `[N]` whether each of the `confidence` values is among the `round(rate * N)` largest (ties
/// at the cut are all accepted).
pub fn accepted(confidence: &[f32], rate: f32, device: &Device) -> Tensor<1, Bool> {
    let n = confidence.len();
    let take = ((rate.clamp(0.0, 1.0) * n as f32).round() as usize).min(n);
    let values = Tensor::<1>::from_data(TensorData::new(confidence.to_vec(), [n]), device);
    match take {
        0 => Tensor::<1, Int>::zeros([n], device).equal_elem(1),
        t if t == n => Tensor::<1, Int>::zeros([n], device).equal_elem(0),
        t => {
            let cut = values.clone().topk(t, 0).narrow(0, t - 1, 1);
            values.greater_equal(cut.expand([n]))
        }
    }
}

/// `[B, B]` whether images `indices[a]` and `indices[b]` share an accepted pseudo-label at any
/// level, from [`IfndState::encode`]'s encoding (all false without one).
pub fn flagged_pairs(encoded: Option<&Tensor<2, Int>>, indices: &[usize], device: &Device) -> Tensor<2, Bool> {
    let b = indices.len();
    let Some(encoded) = encoded else {
        return Tensor::<2, Int>::zeros([b, b], device).equal_elem(1);
    };
    let rows = encoded.clone().select(0, labels_tensor(indices, device));
    let levels = rows.dims()[1];
    (0..levels)
        .map(|l| {
            let column = rows.clone().narrow(1, l, 1);
            column.clone().expand([b, b]).equal(column.reshape([1, b]).expand([b, b]))
        })
        .reduce(|a, c| a.bool_or(c))
        .expect("at least one level")
}

/// IFND's line in a contrastive run's metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IfndEpoch {
    /// The scheduled acceptance rate of the epoch.
    pub acceptance_rate: f32,
    /// Whether the pseudo-labels were recomputed at the start of the epoch.
    pub recomputed: bool,
    /// Epoch whose embeddings gave the pseudo-labels in use (0: none yet).
    pub labels_from_epoch: usize,
    /// Accepted images over all levels, as a fraction of images x levels.
    pub accepted_fraction: f64,
    /// Over all levels, of the pairs of accepted images sharing a pseudo-label, the fraction
    /// that share a class.
    pub precision: Option<f64>,
    /// Per cluster count.
    pub levels: Vec<IfndLevel>,
}

/// One level of [`IfndEpoch`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IfndLevel {
    /// Cluster count.
    pub clusters: usize,
    /// Accepted images.
    pub accepted: usize,
    /// Precision of the level's accepted pairs.
    pub precision: Option<f64>,
}

/// IFND inside a training loop: the state, its device encoding, and the per-epoch schedule.
pub struct IfndRun {
    settings: Ifnd,
    state: IfndState,
    encoded: Option<Tensor<2, Int>>,
    /// The epoch resumed partway (a budget stopped it), whose pseudo-labels `state` already
    /// holds: its start keeps them instead of recomputing them from mid-epoch weights.
    resumed_inside: Option<usize>,
}

impl IfndRun {
    /// Starts (or, with the checkpoint's `state`, resumes before `first_epoch`) IFND on `train`.
    /// Errors when a cluster count exceeds the training images or the state does not fit.
    pub fn new(settings: Ifnd, state: Option<IfndState>, train: &ImageSet, first_epoch: usize, epochs: usize) -> crate::Result<Self> {
        Self::start(settings, state, train, first_epoch, epochs, false)
    }

    /// Resumes IFND inside `epoch`, which a budget stopped partway: `state` (saved with the
    /// mid-epoch checkpoint) holds the pseudo-labels the epoch began with, and the epoch goes on
    /// with them, as an uninterrupted run does. Errors as [`Self::new`].
    pub fn inside(settings: Ifnd, state: Option<IfndState>, train: &ImageSet, epoch: usize, epochs: usize) -> crate::Result<Self> {
        Self::start(settings, state, train, epoch, epochs, true)
    }

    fn start(settings: Ifnd, state: Option<IfndState>, train: &ImageSet, first_epoch: usize, epochs: usize, inside: bool) -> crate::Result<Self> {
        if let Some(&k) = settings.clusters.as_slice().iter().find(|&&k| k > train.len()) {
            return Err(crate::Error::Train(format!("IFND: {k} clusters for {} training images", train.len())));
        }
        let state = state.unwrap_or_default();
        state.check(&settings, train.len())?;
        let before = if inside { first_epoch } else { first_epoch.saturating_sub(1) };
        let expected = settings.labels_from(before, epochs).unwrap_or(0);
        if state.epoch != expected {
            let at = if inside { "inside" } else { "at" };
            return Err(crate::Error::Train(format!(
                "the checkpoint's IFND pseudo-labels are from epoch {}, but a run resumed {at} epoch {first_epoch} needs those of epoch {expected}",
                state.epoch
            )));
        }
        Ok(Self { settings, state, encoded: None, resumed_inside: inside.then_some(first_epoch) })
    }

    /// Prepares `epoch`: recomputes the pseudo-labels from `model` when the schedule says so,
    /// accepts the epoch's share of them, and reports acceptance and precision.
    #[allow(clippy::too_many_arguments)]
    pub fn begin_epoch(
        &mut self,
        model: &ContrastiveModel,
        train: &ImageSet,
        epoch: usize,
        epochs: usize,
        seed: u64,
        device: &Device,
        train_device: &Device,
    ) -> crate::Result<IfndEpoch> {
        let rate = self.settings.acceptance_rate(epoch, epochs);
        let recompute = self.settings.recomputes_at(epoch, epochs);
        // The epoch resumed partway already has its pseudo-labels (from its start).
        let resumed = self.resumed_inside.take() == Some(epoch);
        if recompute && !resumed {
            let embeddings = embed_set(model, train, 256, device);
            self.state = IfndState::compute(embeddings, &self.settings, seed, epoch)?;
        }
        self.encoded = self.state.encode(rate, train_device);
        let classes = train.class_names.len().max(train.labels.iter().max().map_or(0, |m| m + 1));
        Ok(self.state.report(rate, &train.labels, classes, recompute, device))
    }

    /// The `[B, B]` false-negative pairs of the batch at `indices` this epoch.
    pub fn flagged_pairs(&self, indices: &[usize], train_device: &Device) -> Tensor<2, Bool> {
        flagged_pairs(self.encoded.as_ref(), indices, train_device)
    }

    /// The state to checkpoint.
    pub fn state(&self) -> &IfndState {
        &self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_parse_and_bad_ones_explain() {
        let d = Ifnd::from_words(&[]).unwrap();
        assert_eq!((d.clusters.as_slice(), d.every, d.mode), (&DEFAULT_CLUSTERS[..], 1, CancelMode::Elimination));
        let s = Ifnd::from_words(&["5,10", "every=3", "attract"]).unwrap();
        assert_eq!((s.clusters.as_slice(), s.every, s.mode), (&[5, 10][..], 3, CancelMode::Attraction));
        assert_eq!(Ifnd::from_words(&["7"]).unwrap().clusters.as_slice(), &[7]);
        for bad in [&["1,10"][..], &["10,10"], &["every=0"], &["every=x"], &["10,x"], &["sometimes"], &["1,2,3,4,5,6,7,8,9"]] {
            let err = Ifnd::from_words(bad).unwrap_err();
            assert!(!err.is_empty() && !err.contains('\n') && !err.contains("--"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn cluster_counts_round_trip_as_a_list_and_reject_bad_lists() {
        let s = Ifnd::from_words(&["4,8,16"]).unwrap();
        let json = serde_json::to_value(s).unwrap();
        assert_eq!(json["clusters"], serde_json::json!([4, 8, 16]));
        assert_eq!(serde_json::from_value::<Ifnd>(json).unwrap(), s);
        assert!(serde_json::from_value::<ClusterCounts>(serde_json::json!([1])).is_err());
    }

    /// The acceptance rate rises linearly per epoch from 0 to 1, and the labels are recomputed
    /// at epoch 2 (the first with a positive rate) and every `every` epochs after it.
    #[test]
    fn acceptance_rises_linearly_and_recomputation_follows_every() {
        let s = Ifnd::from_words(&["every=3"]).unwrap();
        let rates: Vec<f32> = (1..=5).map(|e| s.acceptance_rate(e, 5)).collect();
        assert_eq!(rates, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(s.acceptance_rate(1, 1), 0.0);
        let at: Vec<usize> = (1..=10).filter(|&e| s.recomputes_at(e, 10)).collect();
        assert_eq!(at, vec![2, 5, 8]);
        assert_eq!((s.labels_from(1, 10), s.labels_from(4, 10), s.labels_from(10, 10)), (None, Some(2), Some(8)));
        assert!(!s.recomputes_at(1, 1), "a one-epoch run never clusters");
    }

    #[test]
    fn acceptance_keeps_the_most_confident_share() {
        let device = Device::flex();
        let confidence = [0.5f32, 3.0, 1.0, 2.0];
        let take = |rate: f32| accepted(&confidence, rate, &device).into_data().iter::<bool>().collect::<Vec<_>>();
        assert_eq!(take(0.0), vec![false; 4]);
        assert_eq!(take(0.25), vec![false, true, false, false]);
        assert_eq!(take(0.5), vec![false, true, false, true]);
        assert_eq!(take(0.74), vec![false, true, true, true]);
        assert_eq!(take(1.0), vec![true; 4]);
    }
}
