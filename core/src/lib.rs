//! hypersphere core: everything the CLI (`native/`) and the browser page (`web/`) share.
//!
//! Rooms (see `docs/architecture.md`): [`data`] (sources, batching, augmentation), [`models`]
//! (CIFAR ResNet-18 and ResNet-50, a small CNN, foreign weights), [`losses`], [`attacks`] (one
//! file per attack behind [`attacks::Attack`]), [`corruptions`] (the 15 CIFAR-10-C corruptions),
//! [`metrics`], [`evaluate`] (robustness tables), [`geometry`] (class separation, alignment,
//! uniformity, t-SNE), [`runtime`] (which device, backend, compiler and precision ran) and,
//! natively, [`train`] and [`report`] (the study's HTML/Markdown report). Nothing here parses a
//! command line or touches a path it was not handed.

pub mod attacks;
pub mod bench;
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
pub mod results;
pub mod runtime;
#[cfg(feature = "train")]
pub mod train;

pub use error::{Error, Result};
