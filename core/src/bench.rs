//! Benchmark results as typed rows: what `hypersphere bench --json` writes and what
//! `scripts/bench_table.py` pairs with PyTorch's rows (same `name`, same batch) to give ratios.
//!
//! Timing rule: `warmup` untimed calls (kernel compilation, autotuning), then `iters` timed
//! calls, each ending in a read-back so the device has finished; the row reports the median.

use serde::{Deserialize, Serialize};
use web_time::Instant;

use crate::runtime::RuntimeInfo;

/// One measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchRow {
    /// What was timed, shared with the PyTorch side: `inference`, `ce-step`, `simclr-step`,
    /// `pgd10`, `pgd40`, `autoattack-standard`.
    pub name: String,
    /// Images per call.
    pub batch: usize,
    /// Median seconds per call.
    pub seconds: f64,
    /// `batch / seconds`.
    pub images_per_second: f64,
    /// Untimed calls first.
    pub warmup: usize,
    /// Timed calls.
    pub iters: usize,
    /// Free-form detail (`l_inf 8/255`, `two views, augmentations on the device`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// All rows of one `hypersphere bench` run, with the runtime they ran on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// Device, backend, compiler and precision.
    pub runtime: RuntimeInfo,
    /// Architecture and width (`resnet18-cifar width 64`).
    pub model: String,
    /// The measurements.
    pub rows: Vec<BenchRow>,
}

/// The median of `values` (the mean of the two middle ones for an even count); 0 when empty.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 { v[mid] } else { 0.5 * (v[mid - 1] + v[mid]) }
}

/// Times `work` (`warmup` untimed calls, then `iters` timed ones, at least one) and returns a row
/// with the median. `work` must wait for the device (read a result back) before returning.
pub fn measure(name: &str, detail: &str, batch: usize, warmup: usize, iters: usize, work: &mut dyn FnMut()) -> BenchRow {
    for _ in 0..warmup {
        work();
    }
    let iters = iters.max(1);
    let mut seconds = Vec::with_capacity(iters);
    for _ in 0..iters {
        let start = Instant::now();
        work();
        seconds.push(start.elapsed().as_secs_f64());
    }
    row(name, detail, batch, warmup, iters, median(&seconds))
}

/// A row from a measured median.
pub fn row(name: &str, detail: &str, batch: usize, warmup: usize, iters: usize, seconds: f64) -> BenchRow {
    BenchRow {
        name: name.to_string(),
        batch,
        seconds,
        images_per_second: if seconds > 0.0 { batch as f64 / seconds } else { 0.0 },
        warmup,
        iters,
        detail: detail.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn measure_counts_calls_and_reports_the_median() {
        let mut calls = 0;
        let r = measure("x", "", 10, 2, 5, &mut || calls += 1);
        assert_eq!(calls, 7);
        assert_eq!((r.warmup, r.iters, r.batch), (2, 5, 10));
        assert!(r.seconds >= 0.0);
        let slow = row("y", "", 100, 0, 1, 0.5);
        assert_eq!(slow.images_per_second, 200.0);
    }
}
