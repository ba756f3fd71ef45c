//! Batching: seeded epoch orders and `[N, 3, H, W]` float tensors in [0, 1].

use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use super::ImageSet;

/// Converts `[N, H, W, 3]` bytes into an `[N, 3, H, W]` tensor with values in [0, 1].
pub fn to_tensor(pixels: &[u8], n: usize, height: usize, width: usize, device: &Device) -> Tensor<4> {
    let plane = height * width;
    let mut data = vec![0f32; n * 3 * plane];
    for i in 0..n {
        let img = &pixels[i * 3 * plane..(i + 1) * 3 * plane];
        let out = &mut data[i * 3 * plane..(i + 1) * 3 * plane];
        for p in 0..plane {
            for c in 0..3 {
                out[c * plane + p] = img[p * 3 + c] as f32 / 255.0;
            }
        }
    }
    Tensor::from_data(TensorData::new(data, [n, 3, height, width]), device)
}

/// Converts `[N, 3, H, W]` floats in [0, 1] (as read back from a tensor) to `[N, H, W, 3]` bytes.
pub fn to_bytes(values: &[f32], n: usize, height: usize, width: usize) -> Vec<u8> {
    let plane = height * width;
    let mut out = vec![0u8; n * 3 * plane];
    for i in 0..n {
        for c in 0..3 {
            for p in 0..plane {
                let v = values[(i * 3 + c) * plane + p];
                out[(i * plane + p) * 3 + c] = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
            }
        }
    }
    out
}

/// Labels as an integer tensor.
pub fn labels_tensor(labels: &[usize], device: &Device) -> Tensor<1, Int> {
    let data: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    Tensor::from_data(TensorData::new(data, [labels.len()]), device)
}

/// The order in which one epoch visits a dataset, cut into batches.
#[derive(Debug, Clone)]
pub struct BatchOrder {
    indices: Vec<usize>,
    batch_size: usize,
}

impl BatchOrder {
    /// Visits `0..len` in order (evaluation).
    pub fn sequential(len: usize, batch_size: usize) -> Self {
        Self { indices: (0..len).collect(), batch_size: batch_size.max(1) }
    }

    /// Visits `0..len` in an order drawn from `seed` (one seed per epoch).
    pub fn shuffled(len: usize, batch_size: usize, seed: u64) -> Self {
        let mut indices: Vec<usize> = (0..len).collect();
        indices.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
        Self { indices, batch_size: batch_size.max(1) }
    }

    /// Number of batches (the last one may be smaller).
    pub fn len(&self) -> usize {
        self.indices.len().div_ceil(self.batch_size)
    }

    /// Whether there are no batches.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// The image indices of each batch.
    pub fn batches(&self) -> impl Iterator<Item = &[usize]> {
        self.indices.chunks(self.batch_size)
    }
}

/// Gathers the images at `indices` into a tensor and their labels.
pub fn gather(set: &ImageSet, indices: &[usize], device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let subset = set.select(indices);
    (
        to_tensor(&subset.pixels, indices.len(), set.height, set.width, device),
        labels_tensor(&subset.labels, device),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_layout_is_nchw_in_unit_range() {
        let device = Device::flex();
        // one 1x2 image: pixel0 = (255, 0, 51), pixel1 = (0, 255, 102)
        let t = to_tensor(&[255, 0, 51, 0, 255, 102], 1, 1, 2, &device);
        assert_eq!(t.dims(), [1, 3, 1, 2]);
        let v = t.into_data().try_into_vec::<f32>().unwrap();
        assert_eq!(v, vec![1.0, 0.0, 0.0, 1.0, 0.2, 0.4]);
        assert_eq!(to_bytes(&v, 1, 1, 2), vec![255, 0, 51, 0, 255, 102]);
    }

    #[test]
    fn shuffled_order_is_a_seeded_permutation() {
        let a = BatchOrder::shuffled(10, 4, 7);
        let b = BatchOrder::shuffled(10, 4, 7);
        let c = BatchOrder::shuffled(10, 4, 8);
        let flat = |o: &BatchOrder| o.batches().flatten().copied().collect::<Vec<_>>();
        assert_eq!(flat(&a), flat(&b));
        assert_ne!(flat(&a), flat(&c));
        let mut sorted = flat(&a);
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        assert_eq!(a.batches().map(<[usize]>::len).collect::<Vec<_>>(), vec![4, 4, 2]);
    }
}
