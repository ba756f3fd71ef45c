//! Training loops (native only: the page evaluates and attacks, it does not train):
//! supervised cross-entropy, contrastive pre-training (SimCLR, SupCon, FNC, A-FNC) with the
//! A-FNC threshold schedule and LARS, the kNN monitor, and linear evaluation.

pub mod contrastive;
pub mod fnc;
pub mod knn;
pub mod lars;
pub mod linear_eval;
pub mod presets;
pub mod schedule;
pub mod supervised;

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

pub use contrastive::{ContrastiveConfig, ContrastiveEpoch, ContrastiveMethod, ContrastiveModel, KnnMonitor, OptimizerKind, train_contrastive};
pub use fnc::FncSchedule;
pub use presets::{Method, PRESETS, PlanOverrides, Scale, TrainPlan};
pub use linear_eval::{LinearEvalConfig, LinearEvalReport, linear_eval};
pub use schedule::LrSchedule;
pub use supervised::{EpochReport, StepProgress, SupervisedConfig, train_supervised, train_supervised_from};
