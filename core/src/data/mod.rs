//! Datasets as decoded 8-bit images in memory, and their batching into `[N, 3, H, W]` tensors.
//!
//! Every source ends as an [`ImageSet`]: an image-folder tree or a `.tar.gz` of one
//! ([`image_folder`]), the official CIFAR-10/100 binary release ([`cifar_binary`]), or the
//! seeded [`procedural`] dataset that tests and the default main job use; labelled test images
//! written by the project's Python scripts load from `.safetensors` ([`safetensors_images`]).
//! [`fetch`] (feature `fetch`) downloads, verifies and unpacks the published CIFAR-10/100 and
//! CIFAR-10-C archives.

pub mod augment;
pub mod batch;
pub mod cifar_binary;
pub mod decode;
pub mod device_views;
#[cfg(feature = "fetch")]
pub mod fetch;
pub mod image_folder;
pub mod imagenet;
pub mod procedural;
pub mod safetensors_images;
pub mod source;
pub mod views;

pub use batch::{BatchOrder, to_tensor};
pub use source::{DataSource, Split};

/// Labelled RGB images of one size, stored row-major as `[N, H, W, 3]` bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSet {
    /// Pixel bytes, `len = N * height * width * 3`.
    pub pixels: Vec<u8>,
    /// Class index of each image.
    pub labels: Vec<usize>,
    /// Class names; `labels` index into this list.
    pub class_names: Vec<String>,
    /// Image height in pixels.
    pub height: usize,
    /// Image width in pixels.
    pub width: usize,
}

impl ImageSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set has no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes of one image.
    pub fn image_len(&self) -> usize {
        self.height * self.width * 3
    }

    /// The pixels of image `i` as `[H, W, 3]` bytes.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// The images at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> ImageSet {
        let mut pixels = Vec::with_capacity(indices.len() * self.image_len());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
        }
        ImageSet {
            pixels,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            class_names: self.class_names.clone(),
            height: self.height,
            width: self.width,
        }
    }

    /// A class-stratified subset of at most `n` images chosen with `seed` (every class keeps
    /// its share), in a seeded random order. Returns the whole set, shuffled, when `n >= len`.
    pub fn subset(&self, n: usize, seed: u64) -> ImageSet {
        use rand::SeedableRng;
        use rand::seq::SliceRandom;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(&mut rng);
        if n >= self.len() {
            return self.select(&order);
        }
        // Round-robin over classes in the shuffled order keeps the class balance.
        let classes = self.class_names.len().max(1);
        let mut per_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
        for &i in &order {
            per_class[self.labels[i].min(classes - 1)].push(i);
        }
        let mut chosen = Vec::with_capacity(n);
        let mut cursor = vec![0usize; classes];
        while chosen.len() < n {
            for c in 0..classes {
                if chosen.len() == n {
                    break;
                }
                if let Some(&i) = per_class[c].get(cursor[c]) {
                    chosen.push(i);
                    cursor[c] += 1;
                }
            }
        }
        chosen.shuffle(&mut rng);
        self.select(&chosen)
    }

    /// Checks the invariants that the rest of the crate relies on.
    pub fn validate(&self) -> crate::Result<()> {
        if self.pixels.len() != self.len() * self.image_len() {
            return Err(crate::Error::Data(format!(
                "{} images of {}x{} need {} bytes, found {}",
                self.len(),
                self.height,
                self.width,
                self.len() * self.image_len(),
                self.pixels.len()
            )));
        }
        if let Some(&bad) = self.labels.iter().find(|&&l| l >= self.class_names.len()) {
            return Err(crate::Error::Data(format!(
                "label {bad} but only {} classes",
                self.class_names.len()
            )));
        }
        Ok(())
    }
}
