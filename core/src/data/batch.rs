//! Batching: seeded epoch orders and `[N, 3, H, W]` float tensors in [0, 1], converted on the
//! host ([`to_tensor`], [`gather`]) or uploaded as bytes and converted on the device
//! ([`upload_pixels`]).

use burn::tensor::{DType, Device, Int, Tensor, TensorData};
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

/// How bytes travel to a device: one byte per value either way, a quarter of the `f32` upload.
///
/// Burn 0.22 has integer tensors of `U8` on Flex (every dtype), CUDA and Vulkan/SPIR-V with
/// `shaderInt8` + 8-bit storage, but WGSL (wgpu's portable path, and WebGPU in the browser)
/// only has 32-bit integers (cubecl-wgpu `backend/wgsl.rs: register_types`). So the bytes go
/// up as `U8` where [`Device::supports_dtype`] says so, and otherwise four to an `I32` word,
/// unpacked on the device with shifts and masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteUpload {
    /// A `U8` integer tensor.
    U8,
    /// Little-endian groups of four bytes in `I32` words.
    PackedI32,
}

impl ByteUpload {
    /// The smallest upload `device` computes with.
    pub fn for_device(device: &Device) -> Self {
        if device.clone().without_autodiff().supports_dtype(DType::U8) { Self::U8 } else { Self::PackedI32 }
    }
}

/// `bytes` as a float tensor of their values (0 to 255) on `device` (without autodiff),
/// uploaded as `upload` says.
pub fn bytes_to_device(bytes: &[u8], upload: ByteUpload, device: &Device) -> Tensor<1> {
    let device = device.clone().without_autodiff();
    let len = bytes.len();
    match upload {
        ByteUpload::U8 => Tensor::<1, Int>::from_data(TensorData::new(bytes.to_vec(), [len]), (&device, DType::U8)).float(),
        ByteUpload::PackedI32 => {
            let words: Vec<i32> = bytes
                .chunks(4)
                .map(|c| {
                    let mut w = [0u8; 4];
                    w[..c.len()].copy_from_slice(c);
                    i32::from_le_bytes(w)
                })
                .collect();
            let count = words.len();
            let words = Tensor::<1, Int>::from_data(TensorData::new(words, [count]), (&device, DType::I32));
            // Byte k of a word: (w >> 8k) & 255 (the mask undoes the sign extension of the shift).
            let lanes: Vec<Tensor<1, Int>> =
                (0..4).map(|k| words.clone().bitwise_right_shift_scalar(8 * k).bitwise_and_scalar(255)).collect();
            Tensor::stack::<2>(lanes, 1).reshape([4 * count]).narrow(0, 0, len).float()
        }
    }
}

/// `[N, H, W, 3]` bytes as an `[N, 3, H, W]` tensor of the byte values (0 to 255, not scaled)
/// on `device` without autodiff, uploaded at one byte per value ([`ByteUpload::for_device`]).
pub fn upload_pixels(pixels: &[u8], n: usize, height: usize, width: usize, device: &Device) -> Tensor<4> {
    assert_eq!(pixels.len(), n * height * width * 3, "pixels of {n} images of {height}x{width}");
    bytes_to_device(pixels, ByteUpload::for_device(device), device).reshape([n, height, width, 3]).permute([0, 3, 1, 2])
}

/// `tensor` on the autodiff version of its device when `device` has autodiff (no copy; the
/// tensor enters the graph as a constant), as it is otherwise.
pub fn like_device<const D: usize>(tensor: Tensor<D>, device: &Device) -> Tensor<D> {
    if device.is_autodiff() { tensor.autodiff() } else { tensor }
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

    /// Training batches, all of one shape: the ragged last batch is dropped (as SimCLR's and
    /// most GPU training loops' `drop_last`), so the autotuner and kernel fusion see one batch
    /// size; a set smaller than one batch is one batch. The dropped images change every epoch,
    /// since the order is reshuffled.
    pub fn full_batches(&self) -> impl Iterator<Item = &[usize]> {
        let len = self.indices.len();
        let keep = len.min(steps_per_epoch(len, self.batch_size) * self.batch_size);
        self.indices[..keep].chunks(self.batch_size)
    }
}

/// Training steps per epoch over `len` images at `batch_size`, as the training loops take them
/// ([`BatchOrder::full_batches`]; at least 1).
pub fn steps_per_epoch(len: usize, batch_size: usize) -> usize {
    (len / batch_size.max(1)).max(1)
}

/// Gathers the images at `indices` into a tensor and their labels.
pub fn gather(set: &ImageSet, indices: &[usize], device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let subset = set.select(indices);
    (
        to_tensor(&subset.pixels, indices.len(), set.height, set.width, device),
        labels_tensor(&subset.labels, device),
    )
}

/// The `[H, W, 3]` bytes of the images at `indices`, concatenated.
pub fn batch_bytes(set: &ImageSet, indices: &[usize]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(indices.len() * set.image_len());
    for &i in indices {
        bytes.extend_from_slice(set.image(i));
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_batches_drop_the_ragged_last_one() {
        let order = BatchOrder::shuffled(10, 4, 1);
        let sizes: Vec<usize> = order.full_batches().map(<[usize]>::len).collect();
        assert_eq!((sizes, steps_per_epoch(10, 4)), (vec![4, 4], 2));
        let small = BatchOrder::shuffled(3, 4, 1);
        assert_eq!((small.full_batches().count(), steps_per_epoch(3, 4)), (1, 1));
        let exact = BatchOrder::sequential(8, 4);
        assert_eq!(exact.full_batches().flatten().copied().collect::<Vec<_>>(), (0..8).collect::<Vec<_>>());
    }

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
    fn byte_uploads_agree_with_the_host_conversion() {
        let device = Device::flex();
        // 2 images of 1x3: 18 bytes (not a multiple of 4, so the packed path pads), with bytes
        // >= 128 in the top lane of a word (a negative i32) and the extremes 0 and 255
        let pixels: Vec<u8> = vec![0, 1, 127, 128, 200, 255, 3, 254, 129, 64, 32, 255, 8, 4, 2, 250, 251, 252];
        let host = to_tensor(&pixels, 2, 1, 3, &device).into_data().try_into_vec::<f32>().unwrap();
        for upload in [ByteUpload::U8, ByteUpload::PackedI32] {
            let raw = bytes_to_device(&pixels, upload, &device).into_data().try_into_vec::<f32>().unwrap();
            assert_eq!(raw, pixels.iter().map(|&b| b as f32).collect::<Vec<_>>(), "{upload:?}");
        }
        assert_eq!(ByteUpload::for_device(&device), ByteUpload::U8);
        // the device conversion gives the host's values exactly, in the [N, 3, H, W] layout
        let x = like_device(upload_pixels(&pixels, 2, 1, 3, &device).div_scalar(255.0), &device.clone().autodiff());
        assert!(x.is_autodiff());
        assert_eq!(x.dims(), [2, 3, 1, 3]);
        assert_eq!(x.into_data().try_into_vec::<f32>().unwrap(), host);
        let set = ImageSet { pixels: pixels.clone(), labels: vec![0, 1], class_names: vec!["a".into(), "b".into()], height: 1, width: 3 };
        assert_eq!(batch_bytes(&set, &[1, 0]), [&pixels[9..], &pixels[..9]].concat());
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
