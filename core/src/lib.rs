//! hypersphere core: everything the CLI (`native/`) and the browser page (`web/`) share.
//!
//! Rooms (see `docs/architecture.md`): [`data`] (sources, batching, augmentation), [`models`]
//! (CIFAR ResNet-18, a small CNN, foreign weights), [`losses`], [`attacks`] (one file per attack
//! behind [`attacks::Attack`]), [`metrics`], [`evaluate`] (robustness tables), [`geometry`] (class separation, alignment,
//! uniformity) and, natively,
//! [`train`]. Nothing here parses a command line or touches a path it was not handed.

pub mod attacks;
pub mod corruptions;
pub mod data;
pub mod error;
pub mod evaluate;
pub mod geometry;
pub mod losses;
pub mod metrics;
pub mod models;
#[cfg(feature = "report")]
pub mod report;
#[cfg(feature = "train")]
pub mod train;

pub use error::{Error, Result};
