//! Wall-time budgets: long runs that progress in short windows (issue 17: GPU time comes in
//! windows of about ten minutes, the paper's recipe needs hours).
//!
//! A [`Budget`] is a deadline plus a running measurement of the work's pace. The training loops
//! ask it at every step boundary whether the next step still fits, together with what stopping
//! after it costs (the steps still queued on the device, then a checkpoint), and before the
//! end-of-epoch work (test or kNN pass, then the epoch's checkpoint) whether that fits. When not,
//! the loop hands its state to the caller as a [`Pause`] — the epoch in progress and its
//! [`PartialEpoch`] statistics — which the caller saves as a mid-epoch checkpoint before
//! stopping with [`BudgetSpent`]. Shuffling, crops and views are seeded per epoch and per step,
//! so a run started again from that checkpoint takes exactly the steps it would have taken, and
//! the statistics still pending on the device are restored as they were, so even the epoch's
//! mean loss is summed in the same order: the resumed run ends with the numbers of an
//! uninterrupted one (on a deterministic backend, bit for bit).
//!
//! The pace is measured, never assumed: the seconds per step between two read-backs (the loops
//! read statistics back every 20 steps, so the host time between read-backs includes the
//! device's work), the seconds the last checkpoint and the last end-of-epoch pass took. Before
//! the first measurement a checkpoint is estimated from its size and the end-of-epoch pass from
//! the step time. A safety margin of 1 s plus 2% of the budget (at most 30 s) is kept back.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use web_time::Instant;

/// The exit status of a command stopped by its budget (75, `EX_TEMPFAIL` of sysexits.h:
/// "try again later"), distinct from a failure (1).
pub const EXIT_CODE: i32 = 75;

/// Bytes per second assumed for writing a checkpoint before one has been timed.
const ASSUMED_WRITE_BYTES_PER_SECOND: f64 = 200e6;

/// Parses a duration: `90s`, `10m`, `1h`, `1h30m`, `2.5m`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> crate::Result<Duration> {
    let bad = || crate::Error::Train(format!("'{text}' is not a duration (use e.g. 90s, 10m, 1h or 1h30m)"));
    let t = text.trim();
    if t.is_empty() {
        return Err(bad());
    }
    if let Ok(seconds) = t.parse::<f64>() {
        return if seconds.is_finite() && seconds >= 0.0 && seconds < 1e9 { Ok(Duration::from_secs_f64(seconds)) } else { Err(bad()) };
    }
    let mut total = 0.0;
    let mut number = String::new();
    for c in t.chars() {
        match c {
            '0'..='9' | '.' => number.push(c),
            'h' | 'm' | 's' => {
                let value: f64 = number.parse().map_err(|_| bad())?;
                total += value * match c {
                    'h' => 3600.0,
                    'm' => 60.0,
                    _ => 1.0,
                };
                number.clear();
            }
            _ => return Err(bad()),
        }
    }
    if !number.is_empty() || !total.is_finite() || total >= 1e9 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(total))
}

/// A duration as `parse_duration` reads it back (`1h2m3s`, `45s`, `0s`), to whole seconds.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out += &format!("{h}h");
    }
    if m > 0 {
        out += &format!("{m}m");
    }
    if s > 0 || out.is_empty() {
        out += &format!("{s}s");
    }
    out
}

/// Why a command stopped before its work was done: its budget ran out. The message names where
/// it stopped and how to continue; the CLI prints it and exits with [`EXIT_CODE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetSpent {
    /// Where the work stopped, e.g. `after epoch 3 step 40`.
    pub at: String,
    /// How to continue, e.g. `run the same command again to continue`.
    pub resume: String,
}

impl BudgetSpent {
    /// Stopped after step `step` of epoch `epoch` (both 1-based; epoch 0 step 0: before the
    /// first step), continued by running the same command again.
    pub fn after(epoch: usize, step: usize) -> Self {
        Self { at: format!("after epoch {epoch} step {step}"), resume: "run the same command again to continue".into() }
    }
}

impl std::fmt::Display for BudgetSpent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stopped at budget {}; {}", self.at, self.resume)
    }
}

impl std::error::Error for BudgetSpent {}

/// The state of an epoch stopped partway, enough to finish it exactly as an uninterrupted run
/// would (with the weights and optimizer state saved beside it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartialEpoch {
    /// The epoch in progress (1-based).
    pub epoch: usize,
    /// Steps of it already taken (the next is step `steps_done + 1`); equal to `steps` when only
    /// the end of the epoch (evaluation, checkpoint) is left.
    pub steps_done: usize,
    /// Steps per epoch of the run (a resume with another batch size or data is refused).
    pub steps: usize,
    /// Training images of the epoch seen so far.
    pub seen: usize,
    /// The loop's running sums read back so far (its own order and meaning), as the bits of
    /// their `f64` values, so that they pass through JSON unchanged.
    pub sums: Vec<u64>,
    /// Per-step statistics still waiting to be summed on the device (one row per step, `f32`
    /// bits), restored as they were so the epoch's sums add up in the same order.
    pub pending: Vec<Vec<u32>>,
    /// Seconds of training and of producing views the epoch had taken before it stopped.
    pub train_seconds: f64,
    /// Seconds spent producing views (contrastive runs).
    pub augment_seconds: f64,
}

impl PartialEpoch {
    /// Where the run stands: (epoch, step) of the last step taken (the end of the previous
    /// epoch when no step of this one was taken).
    pub fn position(&self) -> (usize, usize) {
        if self.steps_done == 0 { (self.epoch - 1, if self.epoch > 1 { self.steps } else { 0 }) } else { (self.epoch, self.steps_done) }
    }

    /// The running sums as `f64`.
    pub fn sums(&self) -> Vec<f64> {
        self.sums.iter().map(|&b| f64::from_bits(b)).collect()
    }

    /// Rejects a partial epoch that does not belong to a run with `steps` steps per epoch or
    /// that a loop with `sums` running sums could not continue.
    pub fn check(&self, steps: usize, sums: usize) -> crate::Result<()> {
        if self.steps != steps || self.steps_done > steps || self.sums.len() != sums || self.epoch == 0 {
            return Err(crate::Error::Train(format!(
                "the mid-epoch checkpoint (epoch {}, {} of {} steps, {} sums) does not fit this run ({steps} steps per epoch, {sums} sums)",
                self.epoch,
                self.steps_done,
                self.steps,
                self.sums.len()
            )));
        }
        Ok(())
    }

    /// Per-step statistics rows (device tensors) as host bits.
    pub(crate) fn rows_to_host(rows: &[burn::tensor::Tensor<1>]) -> Vec<Vec<u32>> {
        if rows.is_empty() {
            return Vec::new();
        }
        let width = rows[0].dims()[0];
        let values = burn::tensor::Tensor::stack::<2>(rows.to_vec(), 0).into_data().try_into_vec_as::<f32>().expect("the statistics read back as floats");
        values.chunks(width).map(|row| row.iter().map(|v| v.to_bits()).collect()).collect()
    }

    /// The pending rows as device tensors on `device`, in their order.
    pub(crate) fn rows_on(&self, device: &burn::tensor::Device) -> Vec<burn::tensor::Tensor<1>> {
        self.pending
            .iter()
            .map(|row| {
                let values: Vec<f32> = row.iter().map(|&b| f32::from_bits(b)).collect();
                let n = values.len();
                burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(values, [n]), device)
            })
            .collect()
    }
}

/// Where a training loop starts: the first epoch to run and, when a budget stopped that epoch
/// partway, its state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Start {
    /// First epoch to run (1-based).
    pub epoch: usize,
    /// The state of `epoch` when it was stopped partway.
    pub partial: Option<PartialEpoch>,
}

impl From<usize> for Start {
    /// From the beginning of `epoch`.
    fn from(epoch: usize) -> Self {
        Self { epoch, partial: None }
    }
}

impl From<PartialEpoch> for Start {
    /// Inside the partial epoch.
    fn from(partial: PartialEpoch) -> Self {
        Self { epoch: partial.epoch, partial: Some(partial) }
    }
}

/// What a loop hands its caller when the budget stops it: the epoch's state, and whether
/// anything changed since the last checkpoint (false: stopping needs no new checkpoint).
#[derive(Debug, Clone)]
pub struct Pause {
    /// The epoch in progress.
    pub partial: PartialEpoch,
    /// Whether a step or an epoch's end ran since the run's last checkpoint.
    pub changed: bool,
}

/// `model` with its BatchNorm running statistics brought up to date before it is saved: Burn
/// keeps a module's latest running-statistics update aside until the next update or a sync
/// (`RunningState`), and a record taken without one holds the value of one step earlier.
/// `valid()` syncs the shared state (its eval copy is dropped); the numbers do not change.
pub fn synced<M: burn::module::Module>(model: M) -> M {
    let _ = model.valid();
    model
}

/// A wall-time budget and the measured pace of the work inside it.
#[derive(Debug, Clone)]
pub struct Budget {
    deadline: Option<Instant>,
    limit: Duration,
    /// Stop after this many steps (tests: deterministic stopping points).
    step_limit: Option<usize>,
    steps_taken: usize,
    /// Seconds per step, measured between read-backs.
    step_seconds: Option<f64>,
    /// Host seconds per step since the last read-back (a lower bound while work is queued).
    interval: Option<(Instant, usize)>,
    checkpoint_seconds: Option<f64>,
    checkpoint_bytes: usize,
    epoch_end_seconds: Option<f64>,
}

impl Default for Budget {
    fn default() -> Self {
        Self::unlimited()
    }
}

impl Budget {
    /// No limit: the loops never pause.
    pub fn unlimited() -> Self {
        Self {
            deadline: None,
            limit: Duration::ZERO,
            step_limit: None,
            steps_taken: 0,
            step_seconds: None,
            interval: None,
            checkpoint_seconds: None,
            checkpoint_bytes: 0,
            epoch_end_seconds: None,
        }
    }

    /// `limit` from now.
    pub fn new(limit: Duration) -> Self {
        Self::starting(limit, Instant::now())
    }

    /// `limit` from `start`.
    pub fn starting(limit: Duration, start: Instant) -> Self {
        Self { deadline: Some(start + limit), limit, ..Self::unlimited() }
    }

    /// The same budget, also spent after `steps` training steps (however fast they are): the
    /// test hook that stops runs at chosen steps.
    pub fn with_step_limit(mut self, steps: usize) -> Self {
        self.step_limit = Some(steps);
        self
    }

    /// Whether there is a limit at all.
    pub fn is_limited(&self) -> bool {
        self.deadline.is_some() || self.step_limit.is_some()
    }

    /// Time left (`None` without a time limit).
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// The margin kept back: 1 s plus 2% of the budget, at most 30 s.
    pub fn safety(&self) -> f64 {
        (1.0 + 0.02 * self.limit.as_secs_f64()).min(30.0)
    }

    /// Tells the budget how large a checkpoint is, for its first estimate of writing one.
    pub fn expect_checkpoint_bytes(&mut self, bytes: usize) {
        self.checkpoint_bytes = bytes;
    }

    /// Seconds a checkpoint is expected to take: 1.5x the last one timed, else its size at
    /// 200 MB/s plus 0.2 s.
    pub fn checkpoint_estimate(&self) -> f64 {
        self.checkpoint_seconds.map_or(0.2 + self.checkpoint_bytes as f64 / ASSUMED_WRITE_BYTES_PER_SECOND, |s| 1.5 * s)
    }

    /// Seconds per training step as measured (`None` before the first step).
    pub fn step_estimate(&self) -> Option<f64> {
        self.step_estimate_at(Instant::now())
    }

    fn step_estimate_at(&self, now: Instant) -> Option<f64> {
        let host = self.interval.and_then(|(t, n)| (n > 0).then(|| now.saturating_duration_since(t).as_secs_f64() / n as f64));
        match (self.step_seconds, host) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// Marks the start of a stretch of steps (an epoch, or a resumed part of one).
    pub fn begin_steps(&mut self) {
        self.interval = Some((Instant::now(), 0));
    }

    /// One step was queued.
    pub fn step_taken(&mut self) {
        self.steps_taken += 1;
        match &mut self.interval {
            Some((_, n)) => *n += 1,
            None => self.interval = Some((Instant::now(), 1)),
        }
    }

    /// The queued steps finished (their statistics were read back): measures the step time.
    pub fn synced(&mut self) {
        self.synced_at(Instant::now());
    }

    fn synced_at(&mut self, now: Instant) {
        if let Some((t, n)) = self.interval
            && n > 0
        {
            self.step_seconds = Some(now.saturating_duration_since(t).as_secs_f64() / n as f64);
        }
        self.interval = Some((now, 0));
    }

    /// A checkpoint took `seconds`.
    pub fn checkpoint_took(&mut self, seconds: f64) {
        self.checkpoint_seconds = Some(seconds);
    }

    /// The end-of-epoch pass (test accuracy or kNN monitor) took `seconds`.
    pub fn epoch_end_took(&mut self, seconds: f64) {
        self.epoch_end_seconds = Some(seconds);
    }

    /// Seconds the end-of-epoch pass over `images` images is expected to take: the last one
    /// timed (x1.2), else a forward pass at a third of a training image's cost, doubled.
    pub fn epoch_end_estimate(&self, images: usize, images_per_step: usize) -> f64 {
        match (self.epoch_end_seconds, self.step_estimate()) {
            (Some(s), _) => 1.2 * s,
            (None, Some(step)) => 2.0 * images as f64 * step / images_per_step.max(1) as f64 / 3.0,
            (None, None) => 0.0,
        }
    }

    /// Whether `seconds` of work followed by a checkpoint fit in what is left.
    pub fn fits(&self, seconds: f64) -> bool {
        self.fits_at(Instant::now(), seconds)
    }

    fn fits_at(&self, now: Instant, seconds: f64) -> bool {
        if self.step_limit.is_some_and(|n| self.steps_taken >= n) {
            return false;
        }
        let Some(deadline) = self.deadline else { return true };
        let left = deadline.saturating_duration_since(now).as_secs_f64();
        left > seconds + self.checkpoint_estimate() + self.safety()
    }

    /// At a step boundary with `queued` steps not yet read back: whether the run must stop
    /// before the next step, because that step, the queued ones and a checkpoint would not all
    /// finish in time. Before any step was measured, only the checkpoint has to fit.
    pub fn must_pause(&self, queued: usize) -> bool {
        self.must_pause_at(Instant::now(), queued)
    }

    fn must_pause_at(&self, now: Instant, queued: usize) -> bool {
        let work = self.step_estimate_at(now).map_or(0.0, |s| s * (queued + 1) as f64);
        !self.fits_at(now, work)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        let secs = |t: &str| parse_duration(t).unwrap().as_secs_f64();
        assert_eq!(secs("90s"), 90.0);
        assert_eq!(secs("10m"), 600.0);
        assert_eq!(secs("1h"), 3600.0);
        assert_eq!(secs("1h30m"), 5400.0);
        assert_eq!(secs("2.5m"), 150.0);
        assert_eq!(secs("45"), 45.0);
        assert_eq!(secs(" 9m "), 540.0);
        for bad in ["", "10x", "m", "1h30", "-5", "NaN", "1e12", "10 m", "inf"] {
            let e = parse_duration(bad).unwrap_err().to_string();
            assert!(e.contains("not a duration"), "{bad}: {e}");
        }
        for t in ["0s", "45s", "10m", "1h", "1h30m", "2h0m5s"] {
            let d = parse_duration(t).unwrap();
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d, "{t}");
        }
        assert_eq!(format_duration(Duration::from_secs(3725)), "1h2m5s");
        assert_eq!(format_duration(Duration::from_millis(900)), "0s");
    }

    #[test]
    fn the_message_names_the_place_and_the_way_on() {
        assert_eq!(BudgetSpent::after(3, 40).to_string(), "stopped at budget after epoch 3 step 40; run the same command again to continue");
        let p = PartialEpoch { epoch: 4, steps_done: 0, steps: 50, seen: 0, sums: vec![], pending: vec![], train_seconds: 0.0, augment_seconds: 0.0 };
        assert_eq!(p.position(), (3, 50));
        assert_eq!(PartialEpoch { steps_done: 7, ..p.clone() }.position(), (4, 7));
        assert_eq!(PartialEpoch { epoch: 1, ..p.clone() }.position(), (0, 0));
        assert!(p.check(50, 0).is_ok());
        assert!(p.check(49, 0).unwrap_err().to_string().contains("does not fit"));
        assert!(PartialEpoch { steps_done: 51, ..p.clone() }.check(50, 0).is_err());
        assert!(p.check(50, 2).is_err());
    }

    #[test]
    fn an_unlimited_budget_never_pauses() {
        let b = Budget::unlimited();
        assert!(!b.is_limited());
        assert!(!b.must_pause(1000));
        assert!(b.fits(1e12));
        assert_eq!(b.remaining(), None);
    }

    /// The decisions on a budget of 100 s with a synthetic clock: 1 s per step measured
    /// between read-backs, a checkpoint of 2 s timed; safety 1 + 2 = 3 s.
    #[test]
    fn steps_continue_while_the_step_the_queue_and_a_checkpoint_fit() {
        let t0 = Instant::now();
        let mut b = Budget::starting(Duration::from_secs(100), t0);
        assert_eq!(b.safety(), 3.0);
        // Nothing measured yet: only the checkpoint estimate (0.2 s + 400 MB at 200 MB/s) counts.
        b.expect_checkpoint_bytes(400_000_000);
        assert!((b.checkpoint_estimate() - 2.2).abs() < 1e-9);
        assert!(!b.must_pause_at(t0, 0));
        assert!(!b.must_pause_at(t0 + Duration::from_secs(94), 0), "94 s + 2.2 + 3 < 100");
        assert!(b.must_pause_at(t0 + Duration::from_secs(95), 0), "95 s + 2.2 + 3 > 100");
        // Ten steps queued in 10 s, then read back: 1 s per step.
        b.interval = Some((t0, 0));
        for _ in 0..10 {
            b.step_taken();
        }
        b.synced_at(t0 + Duration::from_secs(10));
        assert_eq!(b.step_seconds, Some(1.0));
        b.checkpoint_took(2.0);
        assert_eq!(b.checkpoint_estimate(), 3.0);
        // At 90 s with nothing queued: 1 step + 3 s checkpoint + 3 s safety = 7 s < 10 s left.
        assert!(!b.must_pause_at(t0 + Duration::from_secs(90), 0));
        // With 3 steps queued: 4 + 3 + 3 = 10 s, not less than the 10 s left: stop.
        b.interval = Some((t0 + Duration::from_secs(90), 0));
        assert!(b.must_pause_at(t0 + Duration::from_secs(90), 3));
        // Queued steps that take longer on the host than measured raise the estimate.
        b.interval = Some((t0 + Duration::from_secs(50), 5));
        assert_eq!(b.step_estimate_at(t0 + Duration::from_secs(60)), Some(2.0));
        // The end of an epoch: 1,200 images at a forward third of 100 images per 1 s step, x2.
        b.interval = None;
        assert!((b.epoch_end_estimate(1200, 100) - 8.0).abs() < 1e-9);
        b.epoch_end_took(5.0);
        assert_eq!(b.epoch_end_estimate(1200, 100), 6.0);
        // Past the deadline nothing fits.
        assert!(!b.fits_at(t0 + Duration::from_secs(101), 0.0));
    }

    #[test]
    fn a_step_limit_stops_after_that_many_steps() {
        let mut b = Budget::unlimited().with_step_limit(2);
        assert!(b.is_limited());
        assert!(!b.must_pause(0));
        b.step_taken();
        assert!(!b.must_pause(1));
        b.step_taken();
        assert!(b.must_pause(0));
        assert!(!b.fits(0.0));
    }
}
