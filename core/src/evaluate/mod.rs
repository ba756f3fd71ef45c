//! Robustness evaluation: clean accuracy and accuracy under each attack over a dataset, in the
//! layout of the paper's Table 1 (accuracy and relative drop per attack and epsilon).
//!
//! Work is done per (batch, attack) cell; a [`CellCache`] lets a caller skip cells finished in an
//! earlier, interrupted run (the CLI keeps them in a results file). AutoAttack runs each component
//! only on the samples still robust after the previous ones (gathered on the host between
//! components), and reports the robust accuracy after each component.

use std::collections::BTreeMap;

use burn::module::Module;
use burn::tensor::{Bool, Device, Int, Tensor};
use serde::{Deserialize, Serialize};
use web_time::Instant;

use crate::attacks::{self, Attack, AttackKind, AttackSpec, AutoAttack, Objective};
use crate::data::ImageSet;
use crate::data::batch::{BatchOrder, gather};
pub use crate::attacks::autoattack::attack_robust_samples;
use crate::metrics::{self, count, count_correct, count_robust, relative_drop};
pub use crate::metrics::correct_mask;
use crate::models::Classifier;

pub mod imagenet_table;
pub mod stats;
mod table;
pub use stats::gap_closed;
pub use table::{ComparisonTable, ModelRow, model_name};

/// Accuracy under one attack. Read leniently: what the spec determines may be missing from a
/// file (see [`crate::results`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "crate::results::AttackResultFile")]
pub struct AttackResult {
    /// The specification as given.
    pub spec: String,
    /// Attack family (`fgsm`, `pgd`, `apgd-ce`, `apgd-t`, `square`, `autoattack`, ...).
    pub attack: attacks::AttackKind,
    /// Norm (`linf`, `l2`, `l1`).
    pub norm: attacks::Norm,
    /// Radius.
    pub eps: f32,
    /// Iterations (queries for Square).
    pub steps: usize,
    /// Objective the attack ascends (`ce`, `dlr`, `dlr-t`, `cw`).
    pub loss: Objective,
    /// Top-1 accuracy on the adversarial images, in [0, 1].
    pub accuracy: f64,
    /// `(clean - accuracy) / clean`.
    pub p_drop: f64,
    /// Wall time spent in this attack (including its forward passes).
    pub seconds: f64,
    /// AutoAttack only: the components run, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<AttackKind>,
    /// AutoAttack only: robust accuracy after each component (the last equals `accuracy`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accuracy_after: Vec<f64>,
}

/// The result of `hypersphere eval` (its JSON is part of the CLI contract). Files written
/// before `runtime` and `normalization` existed still load (as `None`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalReport {
    /// Number of images evaluated.
    #[serde(default)]
    pub images: usize,
    /// The device, backend, kernel compiler and precision the evaluation ran on (`None` only
    /// for a report read from a file that does not record it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<crate::runtime::RuntimeInfo>,
    /// The input normalisation inside the model (`null`: it sees raw [0, 1] pixels; also `None`
    /// when read from a file written before this field).
    #[serde(default)]
    pub normalization: Option<crate::models::Normalization>,
    /// Clean top-1 accuracy, in [0, 1].
    pub clean_accuracy: f64,
    /// One entry per attack, in the order given.
    pub attacks: Vec<AttackResult>,
}

/// Settings of an evaluation run.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    /// Images per batch.
    pub batch_size: usize,
    /// Seed for the attacks' randomness.
    pub seed: u64,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self { batch_size: 128, seed: 0 }
    }
}

/// What the evaluation is doing, for progress bars.
#[derive(Debug, Clone)]
pub struct EvalProgress {
    /// Batches finished.
    pub batches_done: usize,
    /// Batches in all.
    pub batches: usize,
    /// Images finished.
    pub images_done: usize,
    /// The attack about to run on the current batch (`None` at the end of a batch).
    pub attack: Option<String>,
    /// Whether the current cell came from the cache.
    pub cached: bool,
}

/// The outcome of one attack (or the clean pass) on one batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Correctly classified images of the batch.
    pub correct: usize,
    /// Seconds spent.
    pub seconds: f64,
    /// AutoAttack: correct images after each component.
    #[serde(default)]
    pub after: Vec<usize>,
}

/// Finished (batch, column) cells; `column` is `"clean"` or `"{index}:{spec}"`.
pub trait CellCache {
    /// A finished cell, if any.
    fn get(&self, batch: usize, column: &str) -> Option<Cell>;
    /// Records a finished cell.
    fn put(&mut self, batch: usize, column: &str, cell: &Cell);
}

/// An in-memory cache (also the no-op cache of [`evaluate`] when empty).
impl CellCache for BTreeMap<(usize, String), Cell> {
    fn get(&self, batch: usize, column: &str) -> Option<Cell> {
        BTreeMap::get(self, &(batch, column.to_string())).cloned()
    }
    fn put(&mut self, batch: usize, column: &str, cell: &Cell) {
        self.insert((batch, column.to_string()), cell.clone());
    }
}

/// Evaluates `model` on every image of `set`, clean and under every attack in `specs`.
pub fn evaluate(
    model: &Classifier,
    set: &ImageSet,
    specs: &[AttackSpec],
    config: &EvalConfig,
    device: &Device,
    progress: impl FnMut(EvalProgress),
) -> EvalReport {
    evaluate_resumable(model, set, specs, config, device, &mut BTreeMap::new(), progress)
        .expect("images decoded from bytes are always in [0, 1]")
}

/// The seed of attack `index` on batch `batch`.
pub fn cell_seed(seed: u64, batch: usize, index: usize) -> u64 {
    seed ^ ((batch as u64) << 32) ^ (index as u64).wrapping_mul(0x9E37_79B9)
}

/// The column name of attack `index` in a [`CellCache`].
pub fn column(index: usize, spec: &AttackSpec) -> String {
    format!("{index}:{}", spec.spec)
}

/// Fails when a batch has pixels outside [0, 1] (attacks and models assume that range; a
/// normalised input would make every epsilon meaningless).
pub fn check_unit_range(x: &Tensor<4>) -> crate::Result<()> {
    let lo = x.clone().min().into_scalar::<f32>();
    let hi = x.clone().max().into_scalar::<f32>();
    if !(lo >= 0.0 && hi <= 1.0) {
        return Err(crate::Error::Attack(format!(
            "inputs must lie in [0, 1] (normalisation belongs inside the model), got values in [{lo}, {hi}]"
        )));
    }
    Ok(())
}


/// AutoAttack on one batch, each component only on the samples still robust (gathered on the
/// host between components); `correct` is the number of samples no component fooled and `after`
/// the count after each component.
pub fn autoattack_cell(model: &Classifier, aa: &AutoAttack, x: &Tensor<4>, y: &Tensor<1, Int>, seed: u64) -> Cell {
    let start = Instant::now();
    let mut robust = correct_mask(model, x.clone(), y);
    let mut after = Vec::new();
    let n = robust.len();
    aa.run_on_robust(model, x, y, &mut robust, n, seed, |_, _, robust| after.push(robust.iter().filter(|r| **r).count()));
    Cell { correct: robust.iter().filter(|r| **r).count(), seconds: start.elapsed().as_secs_f64(), after }
}

/// [`evaluate`] that skips the cells `cache` already holds and records each new one in it, and
/// checks every batch is in [0, 1].
pub fn evaluate_resumable(
    model: &Classifier,
    set: &ImageSet,
    specs: &[AttackSpec],
    config: &EvalConfig,
    device: &Device,
    cache: &mut dyn CellCache,
    mut progress: impl FnMut(EvalProgress),
) -> crate::Result<EvalReport> {
    enum Runner {
        Plain(Box<dyn Attack>),
        Auto(AutoAttack),
    }
    model.check_input_size(set.height, set.width)?;
    let model = model.valid();
    let runners: Vec<Runner> = specs
        .iter()
        .map(|s| match s.kind {
            AttackKind::AutoAttack => Runner::Auto(AutoAttack::new(s.clone())),
            _ => Runner::Plain(attacks::build(s)),
        })
        .collect();
    let order = BatchOrder::sequential(set.len(), config.batch_size);
    let mut clean_correct = 0;
    let mut correct = vec![0usize; specs.len()];
    let mut after: Vec<Vec<usize>> = specs.iter().map(|s| vec![0; s.components.len()]).collect();
    let mut seconds = vec![0f64; specs.len()];
    let mut images_done = 0;
    for (b, indices) in order.batches().enumerate() {
        let mut batch: Option<(Tensor<4>, Tensor<1, Int>)> = None;
        let load = |batch: &mut Option<(Tensor<4>, Tensor<1, Int>)>| -> crate::Result<(Tensor<4>, Tensor<1, Int>)> {
            if batch.is_none() {
                let (x, y) = gather(set, indices, device);
                check_unit_range(&x)?;
                *batch = Some((x, y));
            }
            Ok(batch.clone().unwrap())
        };
        // The batch's clean-correct mask, computed once (on the device) for the clean cell and
        // every plain attack's robust count.
        let mut clean_ok: Option<Tensor<1, Bool>> = None;
        let mut clean_mask = |batch: &mut Option<(Tensor<4>, Tensor<1, Int>)>| -> crate::Result<Tensor<1, Bool>> {
            if clean_ok.is_none() {
                let (x, y) = load(batch)?;
                clean_ok = Some(metrics::correct(model.forward(x), y));
            }
            Ok(clean_ok.clone().unwrap())
        };
        let clean = match cache.get(b, "clean") {
            Some(cell) => cell,
            None => {
                let cell = Cell { correct: count(clean_mask(&mut batch)?), seconds: 0.0, after: vec![] };
                cache.put(b, "clean", &cell);
                cell
            }
        };
        clean_correct += clean.correct;
        for (a, runner) in runners.iter().enumerate() {
            let col = column(a, &specs[a]);
            let cached = cache.get(b, &col);
            progress(EvalProgress {
                batches_done: b,
                batches: order.len(),
                images_done,
                attack: Some(specs[a].spec.clone()),
                cached: cached.is_some(),
            });
            let cell = match cached {
                Some(cell) => cell,
                None => {
                    let (x, y) = load(&mut batch)?;
                    let seed = cell_seed(config.seed, b, a);
                    let cell = match runner {
                        Runner::Auto(aa) => autoattack_cell(&model, aa, &x, &y, seed),
                        Runner::Plain(attack) => {
                            let start = Instant::now();
                            let adv = attack.perturb(&model, x, y.clone(), seed);
                            // Robust = correct clean and after the attack (fra31, torchattacks).
                            let correct = count_robust(clean_mask(&mut batch)?, model.forward(adv), y);
                            Cell { correct, seconds: start.elapsed().as_secs_f64(), after: vec![] }
                        }
                    };
                    cache.put(b, &col, &cell);
                    cell
                }
            };
            correct[a] += cell.correct;
            seconds[a] += cell.seconds;
            for (t, c) in after[a].iter_mut().zip(&cell.after) {
                *t += c;
            }
        }
        images_done += indices.len();
        progress(EvalProgress { batches_done: b + 1, batches: order.len(), images_done, attack: None, cached: false });
    }
    let n = set.len().max(1) as f64;
    let clean_accuracy = clean_correct as f64 / n;
    let attacks = specs
        .iter()
        .enumerate()
        .map(|(a, s)| {
            let accuracy = correct[a] as f64 / n;
            AttackResult {
                spec: s.spec.clone(),
                attack: s.kind,
                norm: s.norm,
                eps: s.eps,
                steps: s.steps,
                loss: s.loss,
                accuracy,
                p_drop: relative_drop(clean_accuracy, accuracy),
                seconds: seconds[a],
                components: s.components.clone(),
                accuracy_after: after[a].iter().map(|&c| c as f64 / n).collect(),
            }
        })
        .collect();
    Ok(EvalReport {
        images: set.len(),
        runtime: Some(crate::runtime::RuntimeInfo::of(device)),
        normalization: model.config().normalization,
        clean_accuracy,
        attacks,
    })
}

/// Clean top-1 accuracy of `model` (in eval mode) on `set`.
pub fn clean_accuracy(model: &Classifier, set: &ImageSet, batch_size: usize, device: &Device) -> f64 {
    let model = model.valid();
    let order = BatchOrder::sequential(set.len(), batch_size);
    let correct: usize = order
        .batches()
        .map(|indices| {
            let (x, y) = gather(set, indices, device);
            count_correct(model.forward(x), y)
        })
        .sum();
    correct as f64 / set.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn inputs_outside_the_unit_range_are_an_error() {
        let device = Device::flex();
        let ok = Tensor::<4>::from_data(TensorData::new(vec![0.0f32, 0.5, 1.0, 0.2], [1, 1, 2, 2]), &device);
        assert!(check_unit_range(&ok).is_ok());
        let normalised = Tensor::<4>::from_data(TensorData::new(vec![-1.9f32, 0.5, 2.1, 0.2], [1, 1, 2, 2]), &device);
        let err = check_unit_range(&normalised).unwrap_err().to_string();
        assert!(err.contains("must lie in [0, 1]") && err.contains("-1.9"), "{err}");
    }
}
