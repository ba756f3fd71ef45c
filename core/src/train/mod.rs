//! Training loops (native only: the page evaluates and attacks, it does not train).

pub mod schedule;
pub mod supervised;

pub use schedule::LrSchedule;
pub use supervised::{EpochReport, StepProgress, SupervisedConfig, train_supervised};
