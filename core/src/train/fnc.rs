//! The false-negative cancellation setting of a run and the threshold schedule of Adaptive FNC
//! (the paper's Section 5: rho decays from `rho_initial` to `rho_final` during training; its
//! best setting is 0.99 -> 0.7).
//!
//! Spelling (command line and presets): `none`, `fixed:RHO`, `adaptive:RHO_INITIAL:RHO_FINAL`,
//! `oracle` (cancel every same-class negative: the ideal detector, for analysis), each followed
//! by optional words: `linear` (default) or `cosine` decay, per `epoch` (default) or `step`,
//! and `attract` to add the detected pairs to the positives instead of eliminating them.
//! The paper does not state its schedule's shape; linear per epoch is our documented default.
//! `ifnd[:K1,K2,...][:every=N][:attract]` is incremental false negative detection (Chen et al.
//! 2022; the paper's Table 4 comparison): k-means pseudo-labels instead of a threshold, see
//! [`super::ifnd`].

use serde::{Deserialize, Serialize};

use super::ifnd::Ifnd;
use crate::losses::contrastive::{CancelMode, Cancellation, Detector};

/// How the threshold moves between its end points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decay {
    /// `rho_i - (rho_i - rho_f) t`.
    Linear,
    /// `rho_f + (rho_i - rho_f) (1 + cos(pi t)) / 2`.
    Cosine,
}

/// When the threshold is updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    /// Once per epoch: `t = epoch / (epochs - 1)`.
    Epoch,
    /// Every step: `t = step / (steps - 1)`.
    Step,
}

/// Which false negatives a run cancels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum FncSchedule {
    /// Plain NT-Xent / SupCon.
    None,
    /// Cancel pairs with cosine similarity above `rho` (FNC with a fixed threshold).
    Fixed {
        /// The threshold.
        rho: f32,
        /// Elimination or attraction.
        mode: CancelMode,
    },
    /// A-FNC: the threshold decays from `initial` to `last`.
    Adaptive {
        /// Threshold at the start.
        initial: f32,
        /// Threshold at the end.
        last: f32,
        /// Shape of the decay.
        decay: Decay,
        /// Update granularity.
        per: Granularity,
        /// Elimination or attraction.
        mode: CancelMode,
    },
    /// Cancel every same-class negative (labels as an oracle detector).
    Oracle {
        /// Elimination or attraction.
        mode: CancelMode,
    },
    /// IFND: cancel negatives that share an accepted k-means pseudo-label with the anchor.
    Ifnd(Ifnd),
}

/// The accepted spellings, for error messages.
pub const FNC_SPELLINGS: &str =
    "none, fixed:RHO, adaptive:RHO_INITIAL:RHO_FINAL, oracle; optionally followed by :linear|:cosine, :epoch|:step, :attract; or ifnd[:K1,K2,...][:every=N][:attract]";

impl std::str::FromStr for FncSchedule {
    type Err = crate::Error;

    fn from_str(text: &str) -> crate::Result<Self> {
        let bad = |why: String| crate::Error::Train(format!("FNC schedule '{text}': {why} (valid: {FNC_SPELLINGS})"));
        let mut parts = text.trim().split(':');
        let kind = parts.next().unwrap_or_default().to_ascii_lowercase();
        let rest: Vec<&str> = parts.collect();
        if kind == "ifnd" {
            return Ifnd::from_words(&rest).map(Self::Ifnd).map_err(bad);
        }
        let numbers: Vec<f32> = rest.iter().map_while(|p| p.parse::<f32>().ok()).collect();
        let (mut mode, mut decay, mut per) = (CancelMode::Elimination, Decay::Linear, Granularity::Epoch);
        for word in &rest[numbers.len()..] {
            match word.to_ascii_lowercase().as_str() {
                "attract" => mode = CancelMode::Attraction,
                "linear" => decay = Decay::Linear,
                "cosine" => decay = Decay::Cosine,
                "epoch" => per = Granularity::Epoch,
                "step" => per = Granularity::Step,
                other => return Err(bad(format!("unknown word '{other}'"))),
            }
        }
        let check = |rho: f32| {
            if (-1.0..=1.0).contains(&rho) { Ok(rho) } else { Err(bad(format!("threshold {rho} is not a cosine similarity in [-1, 1]"))) }
        };
        let schedule = match (kind.as_str(), numbers.as_slice()) {
            ("none", []) => Self::None,
            ("fixed", [rho]) => Self::Fixed { rho: check(*rho)?, mode },
            ("adaptive", [a, b]) => {
                let (initial, last) = (check(*a)?, check(*b)?);
                if initial < last {
                    return Err(crate::Error::Train(format!(
                        "FNC schedule '{text}': the A-FNC threshold must not increase, but RHO_INITIAL {initial} is below RHO_FINAL {last} (the paper's best is adaptive:0.99:0.7)"
                    )));
                }
                Self::Adaptive { initial, last, decay, per, mode }
            }
            ("oracle", []) => Self::Oracle { mode },
            _ => return Err(bad("wrong kind or number of thresholds".into())),
        };
        if schedule == Self::None && !rest.is_empty() {
            return Err(bad("'none' takes no options".into()));
        }
        Ok(schedule)
    }
}

impl FncSchedule {
    /// The threshold at `step` (0-based, over the whole run) of a run of `epochs` epochs of
    /// `steps_per_epoch` steps; `None` when nothing is cancelled by similarity. An adaptive
    /// schedule starts at `initial` (epoch 0, or step 0 per step) and reaches `last` at the last
    /// epoch (or step); a run of a single epoch (per step: a single step) trains at `initial`.
    pub fn rho(&self, step: usize, epochs: usize, steps_per_epoch: usize) -> Option<f32> {
        match *self {
            Self::None | Self::Oracle { .. } | Self::Ifnd(_) => None,
            Self::Fixed { rho, .. } => Some(rho),
            Self::Adaptive { initial, last, decay, per, .. } => {
                let (position, span) = match per {
                    Granularity::Epoch => (step / steps_per_epoch.max(1), epochs),
                    Granularity::Step => (step, epochs * steps_per_epoch),
                };
                let t = if span > 1 { (position.min(span - 1)) as f32 / (span - 1) as f32 } else { 0.0 };
                Some(match decay {
                    Decay::Linear => initial - (initial - last) * t,
                    Decay::Cosine => last + (initial - last) * 0.5 * (1.0 + (std::f32::consts::PI * t).cos()),
                })
            }
        }
    }

    /// The IFND setting, when this is IFND.
    pub fn ifnd(&self) -> Option<&Ifnd> {
        match self {
            Self::Ifnd(s) => Some(s),
            _ => None,
        }
    }

    /// The loss's cancellation at `step` (see [`rho`](Self::rho)).
    pub fn cancellation(&self, step: usize, epochs: usize, steps_per_epoch: usize) -> Option<Cancellation> {
        let mode = match *self {
            Self::None => return None,
            Self::Fixed { mode, .. } | Self::Adaptive { mode, .. } | Self::Oracle { mode } | Self::Ifnd(Ifnd { mode, .. }) => mode,
        };
        let detector = match self {
            Self::Oracle { .. } => Detector::Oracle,
            Self::Ifnd(_) => Detector::Pairs,
            _ => Detector::Threshold(self.rho(step, epochs, steps_per_epoch)?),
        };
        Some(Cancellation { detector, mode })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_parse_and_bad_ones_explain() {
        assert_eq!("none".parse::<FncSchedule>().unwrap(), FncSchedule::None);
        assert_eq!("fixed:0.9".parse::<FncSchedule>().unwrap(), FncSchedule::Fixed { rho: 0.9, mode: CancelMode::Elimination });
        assert_eq!(
            "adaptive:0.99:0.7:cosine:step:attract".parse::<FncSchedule>().unwrap(),
            FncSchedule::Adaptive { initial: 0.99, last: 0.7, decay: Decay::Cosine, per: Granularity::Step, mode: CancelMode::Attraction }
        );
        assert_eq!("ifnd".parse::<FncSchedule>().unwrap(), FncSchedule::Ifnd(Ifnd::default()));
        let ifnd: FncSchedule = "ifnd:4,8:every=2:attract".parse().unwrap();
        assert_eq!(ifnd.ifnd().map(|s| (s.clusters.as_slice().to_vec(), s.every)), Some((vec![4, 8], 2)));
        assert_eq!(ifnd.cancellation(0, 1, 1), Some(Cancellation { detector: Detector::Pairs, mode: CancelMode::Attraction }));
        assert_eq!(ifnd.rho(0, 1, 1), None);
        let back: FncSchedule = serde_json::from_str(&serde_json::to_string(&ifnd).unwrap()).unwrap();
        assert_eq!(back, ifnd);
        for bad in ["fixed", "fixed:2", "adaptive:0.9", "sometimes", "fixed:0.9:sideways", "none:linear", "ifnd:1", "ifnd:every=0", "ifnd:cosine"] {
            let err = bad.parse::<FncSchedule>().unwrap_err().to_string();
            assert!(err.contains("valid:"), "{bad}: {err}");
            assert!(!err.contains("--"), "core's errors name no command-line flag: {err}");
        }
    }

    /// A-FNC lowers the threshold; an increasing one (`adaptive:A:B` with A < B) is rejected
    /// with one line that names the value and both thresholds. A constant one (A = B) is allowed.
    #[test]
    fn an_increasing_adaptive_threshold_is_rejected() {
        for text in ["adaptive:0.7:0.99", "adaptive:-0.5:0.5:cosine:step"] {
            let err = text.parse::<FncSchedule>().unwrap_err().to_string();
            assert!(err.contains(text) && err.contains("must not increase"), "{text}: {err}");
            assert!(!err.contains('\n') && !err.contains("--"), "{text}: one line, no flag: {err}");
        }
        let constant: FncSchedule = "adaptive:0.8:0.8".parse().unwrap();
        assert_eq!(constant.rho(5, 10, 3), Some(0.8));
        assert!("adaptive:0.99:0.7".parse::<FncSchedule>().is_ok());
    }

    /// Every schedule starts at `initial`: epoch 0 of any run, and the whole of a one-epoch run
    /// (per step: step 0, and a one-step run). Before the fix a span of one gave `t = 1`, so a
    /// one-epoch run trained at the final threshold.
    #[test]
    fn schedules_start_at_the_initial_threshold_and_one_epoch_runs_train_there() {
        for text in ["adaptive:0.99:0.7", "adaptive:0.99:0.7:cosine", "adaptive:0.99:0.7:step", "adaptive:0.99:0.7:cosine:step"] {
            let s: FncSchedule = text.parse().unwrap();
            for epochs in [1, 2, 5] {
                assert_eq!(s.rho(0, epochs, 7), Some(0.99), "{text}, {epochs} epochs, step 0");
            }
            assert_eq!(s.rho(0, 1, 1), Some(0.99), "{text}: a one-step run");
        }
        let per_epoch: FncSchedule = "adaptive:0.99:0.7".parse().unwrap();
        for step in 0..7 {
            assert_eq!(per_epoch.rho(step, 1, 7), Some(0.99), "one epoch of 7 steps, step {step}");
            assert_eq!(
                per_epoch.cancellation(step, 1, 7).unwrap().detector,
                Detector::Threshold(0.99),
                "the loss of a one-epoch run cancels at rho_initial"
            );
        }
        // Two epochs still reach the end.
        assert!((per_epoch.rho(7, 2, 7).unwrap() - 0.7).abs() < 1e-6);
    }

    #[test]
    fn linear_per_epoch_hits_both_ends_and_holds_within_an_epoch() {
        let s: FncSchedule = "adaptive:0.99:0.7".parse().unwrap();
        let (epochs, steps) = (4, 10);
        assert_eq!(s.rho(0, epochs, steps), Some(0.99));
        assert_eq!(s.rho(9, epochs, steps), Some(0.99));
        assert!((s.rho(10, epochs, steps).unwrap() - (0.99 - 0.29 / 3.0)).abs() < 1e-6);
        assert!((s.rho(39, epochs, steps).unwrap() - 0.7).abs() < 1e-6);
        let per_step: FncSchedule = "adaptive:0.9:0.5:step".parse().unwrap();
        let values: Vec<f32> = (0..40).map(|i| per_step.rho(i, epochs, steps).unwrap()).collect();
        assert!(values.windows(2).all(|w| w[1] < w[0]));
        assert!((values[39] - 0.5).abs() < 1e-6);
        let cosine: FncSchedule = "adaptive:0.9:0.5:cosine".parse().unwrap();
        // the cosine decay is slower than linear at the start
        assert!(cosine.rho(10, epochs, steps).unwrap() > "adaptive:0.9:0.5".parse::<FncSchedule>().unwrap().rho(10, epochs, steps).unwrap());
        assert!((cosine.rho(39, epochs, steps).unwrap() - 0.5).abs() < 1e-6);
        assert_eq!(FncSchedule::None.cancellation(0, 1, 1), None);
        assert_eq!(
            "oracle".parse::<FncSchedule>().unwrap().cancellation(0, 1, 1).unwrap().detector,
            Detector::Oracle
        );
    }
}
