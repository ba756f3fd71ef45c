//! Learning-rate schedules, evaluated per optimisation step.

use serde::{Deserialize, Serialize};

/// Linear warm-up followed by cosine decay to zero (SGDR without restarts, Loshchilov & Hutter
/// 2017; the schedule of SimCLR and SupCon). With no warm-up this is PyTorch's
/// `CosineAnnealingLR(eta_min=0)` stepped once per iteration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    /// Peak learning rate.
    pub base: f64,
    /// Steps of linear warm-up from `base / warmup` to `base`.
    pub warmup_steps: usize,
    /// Total number of steps.
    pub total_steps: usize,
}

impl LrSchedule {
    /// The learning rate at step `step` (0-based).
    pub fn at(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.base * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let t = (step - self.warmup_steps).min(span) as f64 / span as f64;
        self.base * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine() {
        let s = LrSchedule { base: 0.1, warmup_steps: 4, total_steps: 14 };
        assert!((s.at(0) - 0.025).abs() < 1e-12);
        assert!((s.at(3) - 0.1).abs() < 1e-12);
        assert!((s.at(4) - 0.1).abs() < 1e-12);
        assert!((s.at(9) - 0.05).abs() < 1e-12, "half way: {}", s.at(9));
        assert!(s.at(14).abs() < 1e-12);
        let values: Vec<f64> = (4..15).map(|i| s.at(i)).collect();
        assert!(values.windows(2).all(|w| w[1] <= w[0]));
    }
}
