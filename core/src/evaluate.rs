//! Robustness evaluation: clean accuracy and accuracy under each attack over a dataset, in the
//! layout of the paper's Table 1 (accuracy and relative drop per attack and epsilon).

use burn::module::Module;
use burn::tensor::Device;
use serde::Serialize;
use web_time::Instant;

use crate::attacks::{self, AttackSpec};
use crate::data::ImageSet;
use crate::data::batch::{BatchOrder, gather};
use crate::metrics::{count_correct, relative_drop};
use crate::models::Classifier;

/// Accuracy under one attack.
#[derive(Debug, Clone, Serialize)]
pub struct AttackResult {
    /// The specification as given.
    pub spec: String,
    /// Attack family (`fgsm`, `pgd`).
    pub attack: attacks::AttackKind,
    /// Norm (`linf`).
    pub norm: attacks::Norm,
    /// Radius.
    pub eps: f32,
    /// Iterations.
    pub steps: usize,
    /// Top-1 accuracy on the adversarial images, in [0, 1].
    pub accuracy: f64,
    /// `(clean - accuracy) / clean`.
    pub p_drop: f64,
    /// Wall time spent in this attack (including its forward passes).
    pub seconds: f64,
}

/// The result of `hypersphere eval` (its JSON is part of the CLI contract).
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// Number of images evaluated.
    pub images: usize,
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
#[derive(Debug, Clone, Copy)]
pub struct EvalProgress {
    /// Batches finished.
    pub batches_done: usize,
    /// Batches in all.
    pub batches: usize,
    /// Images finished.
    pub images_done: usize,
}

/// Evaluates `model` on every image of `set`, clean and under every attack in `specs`.
pub fn evaluate(
    model: &Classifier,
    set: &ImageSet,
    specs: &[AttackSpec],
    config: &EvalConfig,
    device: &Device,
    mut progress: impl FnMut(EvalProgress),
) -> EvalReport {
    let model = model.valid();
    let attacks: Vec<_> = specs.iter().map(attacks::build).collect();
    let order = BatchOrder::sequential(set.len(), config.batch_size);
    let mut clean_correct = 0;
    let mut correct = vec![0usize; attacks.len()];
    let mut seconds = vec![0f64; attacks.len()];
    let mut images_done = 0;
    for (b, indices) in order.batches().enumerate() {
        let (x, y) = gather(set, indices, device);
        clean_correct += count_correct(model.forward(x.clone()), y.clone());
        for (a, attack) in attacks.iter().enumerate() {
            let start = Instant::now();
            let seed = config.seed ^ ((b as u64) << 32) ^ (a as u64).wrapping_mul(0x9E37_79B9);
            let adv = attack.perturb(&model, x.clone(), y.clone(), seed);
            correct[a] += count_correct(model.forward(adv), y.clone());
            seconds[a] += start.elapsed().as_secs_f64();
        }
        images_done += indices.len();
        progress(EvalProgress { batches_done: b + 1, batches: order.len(), images_done });
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
                accuracy,
                p_drop: relative_drop(clean_accuracy, accuracy),
                seconds: seconds[a],
            }
        })
        .collect();
    EvalReport { images: set.len(), clean_accuracy, attacks }
}

impl EvalReport {
    /// The report as a Markdown table: one row per attack, accuracy (%) and relative drop.
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "| attack | eps | steps | accuracy (%) | P_drop (%) | seconds |\n|---|---|---|---|---|---|\n| clean | - | - | {:.2} | - | - |\n",
            100.0 * self.clean_accuracy
        );
        for r in &self.attacks {
            out += &format!(
                "| {} | {:.4} ({:.1}/255) | {} | {:.2} | {:.1} | {:.1} |\n",
                r.spec,
                r.eps,
                r.eps * 255.0,
                r.steps,
                100.0 * r.accuracy,
                100.0 * r.p_drop,
                r.seconds
            );
        }
        out
    }
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
