//! Training loops (native only: the page evaluates and attacks, it does not train):
//! supervised cross-entropy, contrastive pre-training (SimCLR, SupCon, FNC, A-FNC, IFND) with
//! the A-FNC threshold schedule, IFND's pseudo-labels and LARS, adversarial contrastive learning
//! (RoCL, ACL), the kNN monitor, and linear evaluation (standard, adversarial, TRADES);
//! wall-time budgets that stop a loop at a step boundary with a mid-epoch checkpoint ([`budget`]).

pub mod adversarial_contrastive;
pub mod budget;
pub mod contrastive;
pub mod fnc;
pub mod ifnd;
pub mod knn;
pub mod lars;
pub mod linear_eval;
pub mod mixed_precision;
pub mod presets;
pub mod schedule;
pub mod supervised;
pub mod trades;

/// Column sums of per-step statistics (each row one step's values, same length), summed on
/// the device and read back in one transfer: the training loops' one read-back per logging
/// interval. Empty for no rows.
pub(crate) fn read_sums(rows: Vec<burn::tensor::Tensor<1>>) -> Vec<f64> {
    if rows.is_empty() {
        return Vec::new();
    }
    burn::tensor::Tensor::stack::<2>(rows, 0)
        .sum_dim(0)
        .into_data()
        .try_into_vec_as::<f64>()
        .expect("the statistics read back as floats")
}

/// SGD as `torch.optim.SGD`: momentum with dampening 0 (Burn's default is 0.1), L2 weight
/// decay added to the gradient. Shared by supervised training, contrastive pre-training and
/// linear evaluation.
pub fn sgd(momentum: f64, weight_decay: f64) -> burn::optim::ModuleOptimizer {
    use burn::optim::decay::WeightDecayConfig;
    use burn::optim::momentum::MomentumConfig;
    burn::optim::SgdConfig::new()
        .with_momentum(Some(MomentumConfig::new().with_momentum(momentum).with_dampening(0.0)))
        .with_weight_decay((weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay as f32)))
        .init()
}

pub use adversarial_contrastive::{AclVariant, AdversarialConfig};
pub use budget::{Budget, BudgetSpent, PartialEpoch, Pause, Start};
pub use contrastive::{ContrastiveConfig, ContrastiveEpoch, ContrastiveMethod, ContrastiveModel, KnnMonitor, OptimizerKind, PretrainingRun, train_contrastive};
pub use fnc::FncSchedule;
pub use presets::{Method, PRESETS, PlanOverrides, Scale, TABLE4_PRESETS, TrainPlan};
pub use mixed_precision::{AmpStep, Compute, HalfPrecision, LossScaler, MixedPrecision, train_step};
pub use linear_eval::{HeadRecipe, LinearEvalConfig, LinearEvalMode, LinearEvalReport, TrainingAttack, linear_eval};
pub use schedule::LrSchedule;
pub use supervised::{EpochReport, StepProgress, SupervisedConfig, train_supervised, train_supervised_from};
