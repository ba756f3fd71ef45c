//! The objectives attacks ascend, all per sample (shape `[N]`) so that every sample's gradient is
//! independent of the batch:
//!
//! - cross-entropy `CE(z, y) = -log softmax(z)_y`;
//! - targeted cross-entropy `-CE(z, t)`: ascending it descends the cross-entropy of a chosen
//!   target class `t` (the targeted FGSM/PGD of Kurakin et al. 2017); the attack's `labels` are
//!   then the *targets*, and the attack succeeds when the prediction equals them;
//! - DLR, the difference of logits ratio of Croce & Hein (2020, "Reliable evaluation of
//!   adversarial robustness with an ensemble of diverse parameter-free attacks", Eq. 5):
//!   `DLR(z, y) = -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3 + 1e-12)` where `z_pi1 >= z_pi2 >= ...`
//!   are the sorted logits (needs at least 3 classes);
//! - targeted DLR (their Eq. 6): `-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12)` (needs 4);
//! - the Carlini & Wagner (2017) margin `max_{i != y} z_i - z_y` (their f_6 without the kappa
//!   clamp).
//!
//! - the Kullback-Leibler divergence of a prediction from the clean one,
//!   `KL(softmax(z_clean) || softmax(z)) = sum_c p_c (log p_c - log softmax(z)_c)`, the inner
//!   objective of TRADES (Zhang et al. 2019, *Theoretically Principled Trade-off between
//!   Robustness and Accuracy*, Eq. 5) and its regulariser ([`kl_from_clean`]). It is no
//!   [`Objective`] variant: it compares with the clean logits, not with labels.
//!
//! All are to be *maximised* by an attack; a sample is misclassified exactly when its CW margin is
//! positive. Only `gather`, `topk`, `max_dim` and comparison masks are used (no `one_hot`, `sort`
//! or host reads), so the objectives run in the browser too.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Bool, Int, Tensor};
use serde::Serialize;

use crate::losses::cross_entropy_per_sample;

/// Which objective an attack ascends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// Cross-entropy (the default of FGSM, PGD and APGD-CE).
    #[default]
    Ce,
    /// Targeted cross-entropy `-CE(z, t)`, with the labels read as target classes.
    #[serde(rename = "ce-t")]
    CeTargeted,
    /// Untargeted difference of logits ratio.
    Dlr,
    /// Targeted difference of logits ratio (needs target labels).
    #[serde(rename = "dlr-t")]
    DlrTargeted,
    /// Carlini-Wagner margin.
    Cw,
}

impl Objective {
    /// Parses `ce`, `ce-t`, `dlr`, `dlr-t` or `cw`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "ce" | "xent" | "cross-entropy" => Some(Self::Ce),
            "ce-t" | "ce_t" | "cet" => Some(Self::CeTargeted),
            "dlr" => Some(Self::Dlr),
            "dlr-t" | "dlr_t" | "dlrt" => Some(Self::DlrTargeted),
            "cw" | "margin" => Some(Self::Cw),
            _ => None,
        }
    }

    /// The short name used in specs and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ce => "ce",
            Self::CeTargeted => "ce-t",
            Self::Dlr => "dlr",
            Self::DlrTargeted => "dlr-t",
            Self::Cw => "cw",
        }
    }

    /// Per-sample objective values, shape `[N]`. `targets` is required by [`Objective::DlrTargeted`]
    /// and ignored by the others.
    ///
    /// # Panics
    /// When `DlrTargeted` gets no targets, or DLR gets fewer than 3 (targeted: 4) classes.
    pub fn per_sample(self, logits: Tensor<2>, labels: Tensor<1, Int>, targets: Option<&Tensor<1, Int>>) -> Tensor<1> {
        match self {
            Self::Ce => cross_entropy_per_sample(logits, labels),
            Self::CeTargeted => cross_entropy_per_sample(logits, labels).neg(),
            Self::Dlr => dlr(logits, labels),
            Self::DlrTargeted => dlr_targeted(logits, labels, targets.expect("targeted DLR needs target labels").clone()),
            Self::Cw => margin(logits, labels).neg(),
        }
    }
}

/// `[N, C]` mask that is true at each row's label.
pub fn label_mask(labels: Tensor<1, Int>, classes: usize) -> Tensor<2, Bool> {
    let [n] = labels.dims();
    let device = labels.device();
    Tensor::<1, Int>::arange(0..classes as i64, &device)
        .reshape([1, classes])
        .expand([n, classes])
        .equal(labels.reshape([n, 1]).expand([n, classes]))
}

/// The logit of each row's class `z_y`, shape `[N]`.
pub fn logit_of(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let [n, _] = logits.dims();
    logits.gather(1, labels.reshape([n, 1])).flatten::<1>(0, 1)
}

/// The largest logit of another class than the label, `max_{i != y} z_i`, shape `[N]`.
pub fn best_other_logit(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let [_, c] = logits.dims();
    logits.mask_fill(label_mask(labels, c), -1e9).max_dim(1).flatten::<1>(0, 1)
}

/// The classification margin `z_y - max_{i != y} z_i`, shape `[N]`: positive exactly when the
/// sample is classified correctly (ties count as wrong, as in Square's `margin <= 0`).
pub fn margin(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    logit_of(logits.clone(), labels.clone()) - best_other_logit(logits, labels)
}

/// Untargeted DLR (Croce & Hein 2020, Eq. 5).
pub fn dlr(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let [n, c] = logits.dims();
    assert!(c >= 3, "the DLR loss needs at least 3 classes, got {c}");
    let top = logits.clone().topk(3, 1);
    let scale = top.clone().slice([0..n, 0..1]) - top.slice([0..n, 2..3]);
    margin(logits, labels).neg() / (scale.flatten::<1>(0, 1) + 1e-12)
}

/// Targeted DLR (Croce & Hein 2020, Eq. 6) towards `targets`.
pub fn dlr_targeted(logits: Tensor<2>, labels: Tensor<1, Int>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [n, c] = logits.dims();
    assert!(c >= 4, "the targeted DLR loss needs at least 4 classes, got {c}");
    let top = logits.clone().topk(4, 1);
    let scale = top.clone().slice([0..n, 0..1]) - (top.clone().slice([0..n, 2..3]) + top.slice([0..n, 3..4])) * 0.5;
    let diff = logit_of(logits.clone(), labels) - logit_of(logits, targets);
    diff.neg() / (scale.flatten::<1>(0, 1) + 1e-12)
}

/// Per-sample `KL(softmax(clean) || softmax(logits)) = sum_c p_c (log p_c - log q_c)` with
/// `p = softmax(clean)`, `q = softmax(logits)`, shape `[N]`: what the reference TRADES code
/// (yaodongyu/TRADES `trades.py`) computes with `nn.KLDivLoss(size_average=False)(
/// F.log_softmax(model(x_adv)), F.softmax(model(x_natural)))`, before its sum over the batch.
/// Log-probabilities come from `log_softmax` (no `log(0)`); gradients flow into both arguments
/// (the attack passes constant clean logits, TRADES's outer loss tracked ones).
pub fn kl_from_clean(clean: Tensor<2>, logits: Tensor<2>) -> Tensor<1> {
    let log_p = log_softmax(clean, 1);
    let p = log_p.clone().exp();
    (p * (log_p - log_softmax(logits, 1))).sum_dim(1).flatten::<1>(0, 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn vals(t: Tensor<1>) -> Vec<f32> {
        t.into_data().try_into_vec::<f32>().unwrap()
    }

    #[test]
    fn hand_computed_values() {
        let device = Device::flex();
        let z = Tensor::<2>::from_data(TensorData::from([[1.0f32, 4.0, 2.0, 0.0], [3.0, -1.0, 0.5, 2.0]]), &device);
        let y = Tensor::<1, Int>::from_data(TensorData::from([2i64, 0]), &device);
        let t = Tensor::<1, Int>::from_data(TensorData::from([0i64, 3]), &device);
        // Row 0: z_y = 2, best other 4, sorted 4,2,1,0. Row 1: z_y = 3, best other 2, sorted 3,2,0.5,-1.
        let m = vals(margin(z.clone(), y.clone()));
        assert_eq!(m, vec![-2.0, 1.0]);
        let d = vals(dlr(z.clone(), y.clone()));
        let expected = [2.0 / 3.0, -1.0 / 2.5];
        for (a, b) in d.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "dlr {a} vs {b}");
        }
        let dt = vals(dlr_targeted(z.clone(), y.clone(), t.clone()));
        let expected = [-(2.0f32 - 1.0) / (4.0 - 0.5), -(3.0f32 - 2.0) / (3.0 - (0.5 - 1.0) / 2.0)];
        for (a, b) in dt.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "targeted dlr {a} vs {b}");
        }
        let cw = vals(Objective::Cw.per_sample(z.clone(), y.clone(), None));
        assert_eq!(cw, vec![2.0, -1.0]);
        assert_eq!(vals(Objective::DlrTargeted.per_sample(z, y, Some(&t))), dt);
    }

    #[test]
    fn kl_from_clean_by_hand() {
        let device = Device::flex();
        // p = softmax(0, ln 3) = (1/4, 3/4), q = softmax(0, 0) = (1/2, 1/2):
        // KL = 1/4 ln(1/2) + 3/4 ln(3/2); and KL(p || p) = 0.
        let clean = Tensor::<2>::from_data(TensorData::from([[0.0f32, 3f32.ln()], [1.0, -2.0]]), &device);
        let logits = Tensor::<2>::from_data(TensorData::from([[0.0f32, 0.0], [1.0, -2.0]]), &device);
        let kl = vals(kl_from_clean(clean, logits));
        let want = 0.25 * 0.5f32.ln() + 0.75 * 1.5f32.ln();
        assert!((kl[0] - want).abs() < 1e-6, "{} vs {want}", kl[0]);
        assert!(kl[1].abs() < 1e-7, "KL of a distribution from itself: {}", kl[1]);
    }

    #[test]
    fn parse_round_trips() {
        for o in [Objective::Ce, Objective::Dlr, Objective::DlrTargeted, Objective::Cw] {
            assert_eq!(Objective::parse(o.name()), Some(o));
        }
        assert_eq!(Objective::parse("nope"), None);
    }
}
