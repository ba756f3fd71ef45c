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

pub use contrastive::{ContrastiveConfig, ContrastiveEpoch, ContrastiveMethod, ContrastiveModel, KnnMonitor, OptimizerKind, train_contrastive};
pub use fnc::FncSchedule;
pub use presets::{Method, PRESETS, Scale, TrainPlan};
pub use linear_eval::{LinearEvalConfig, LinearEvalReport, linear_eval};
pub use schedule::LrSchedule;
pub use supervised::{EpochReport, StepProgress, SupervisedConfig, train_supervised, train_supervised_from};
