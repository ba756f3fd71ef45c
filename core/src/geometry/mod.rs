//! The geometry of representations (the paper's Section 3 and Figure 2): how far apart classes
//! are on the hypersphere, and Wang & Isola's alignment and uniformity. Computed on backbone
//! features (the encoder output, not the projection head), in row blocks on the device, so
//! they scale to the 10,000-image test set. [`kmeans`] clusters embeddings on the device (the
//! pseudo-labels of IFND).

pub mod alignment;
pub mod features;
pub mod kmeans;
pub mod separation;
pub mod tsne;

pub use alignment::{alignment, uniformity};
pub use features::extract_features;
pub use kmeans::{KMeans, KMeansConfig, kmeans};
pub use separation::{ClassSeparation, class_separation};
pub use tsne::{TsneConfig, tsne_2d};
