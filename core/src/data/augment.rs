//! The standard CIFAR training augmentation: random crop with zero padding 4, horizontal flip
//! (He et al. 2016; torchvision `RandomCrop(32, padding=4)` + `RandomHorizontalFlip()`).
//!
//! The randomness of an image is a [`CropFlip`] (offsets and flip), drawn on the host in a
//! fixed order ([`sample_crop_flips`]); it is applied either to bytes on the host
//! ([`crop_flip`], [`crop_flip_with`]) or to a batch tensor on the device
//! ([`crop_flip_tensor`]: one gather with indices computed on the device), with the same
//! result.

use burn::tensor::ops::PadMode;
use burn::tensor::{Int, Tensor, TensorData};
use rand::Rng;

use super::ImageSet;

/// The random part of one image's crop and flip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropFlip {
    /// Vertical offset of the crop, in `-padding..=padding`.
    pub dy: isize,
    /// Horizontal offset of the crop, in `-padding..=padding`.
    pub dx: isize,
    /// Horizontal flip (after the crop).
    pub flip: bool,
}

/// Draws the crops and flips of `n` images, in the order [`crop_flip`] always drew them
/// (per image: vertical offset, horizontal offset, flip).
pub fn sample_crop_flips(n: usize, padding: usize, rng: &mut impl Rng) -> Vec<CropFlip> {
    (0..n)
        .map(|_| {
            // Offsets into the zero-padded image: crop origin in [0, 2 * padding].
            let dy = rng.random_range(0..=2 * padding) as isize - padding as isize;
            let dx = rng.random_range(0..=2 * padding) as isize - padding as isize;
            let flip = rng.random_bool(0.5);
            CropFlip { dy, dx, flip }
        })
        .collect()
}

/// Returns a randomly cropped and flipped copy of `set` (same size as the input).
pub fn crop_flip(set: &ImageSet, padding: usize, rng: &mut impl Rng) -> ImageSet {
    crop_flip_with(set, &sample_crop_flips(set.len(), padding, rng))
}

/// `set` with image `i` cropped and flipped as `params[i]` says (zeros outside the image).
pub fn crop_flip_with(set: &ImageSet, params: &[CropFlip]) -> ImageSet {
    assert_eq!(params.len(), set.len(), "one crop per image");
    let (h, w) = (set.height, set.width);
    let mut pixels = vec![0u8; set.pixels.len()];
    for (i, &CropFlip { dy, dx, flip }) in params.iter().enumerate() {
        let src = set.image(i);
        let dst = &mut pixels[i * h * w * 3..(i + 1) * h * w * 3];
        for y in 0..h {
            let sy = y as isize + dy;
            if sy < 0 || sy >= h as isize {
                continue;
            }
            for x in 0..w {
                let xx = if flip { w - 1 - x } else { x };
                let sx = xx as isize + dx;
                if sx < 0 || sx >= w as isize {
                    continue;
                }
                let s = (sy as usize * w + sx as usize) * 3;
                let d = (y * w + x) * 3;
                dst[d..d + 3].copy_from_slice(&src[s..s + 3]);
            }
        }
    }
    ImageSet { pixels, ..set.clone_meta() }
}

/// [`crop_flip_with`] on the device: `images` (`[B, C, H, W]`, any values) with image `b`
/// cropped and flipped as `params[b]` says, zeros outside the image (`padding` must bound the
/// offsets). Zero padding, then one `gather` whose source index
/// `(y + dy + padding) * (W + 2 padding) + (x' + dx + padding)`, `x' = W - 1 - x` when flipped,
/// is computed on the device from a `[B, 3]` integer table, so the values are copied exactly.
pub fn crop_flip_tensor(images: Tensor<4>, params: &[CropFlip], padding: usize) -> Tensor<4> {
    let [b, c, h, w] = images.dims();
    assert_eq!(params.len(), b, "one crop per image");
    assert!(params.iter().all(|p| p.dy.unsigned_abs() <= padding && p.dx.unsigned_abs() <= padding), "offsets beyond the padding");
    let device = images.device();
    let (hp, wp) = (h + 2 * padding, w + 2 * padding);
    let pad = padding as i64;
    let flat = images.pad([(padding, padding), (padding, padding)], PadMode::Constant(0.0)).reshape([b, c, hp * wp]);
    let table: Vec<i64> = params.iter().flat_map(|p| [p.dy as i64 + pad, p.dx as i64 + pad, p.flip as i64]).collect();
    let table = Tensor::<2, Int>::from_data(TensorData::new(table, [b, 3]), &device);
    let column = |k: usize| table.clone().narrow(1, k, 1).reshape([b, 1, 1]);
    let ys = Tensor::<1, Int>::arange(0..h as i64, &device).reshape([1, h, 1]);
    let xs = Tensor::<1, Int>::arange(0..w as i64, &device).reshape([1, 1, w]);
    // x + flip * (W - 1 - 2x)
    let xx = xs.clone().add(column(2).mul(xs.mul_scalar(-2).add_scalar(w as i64 - 1)));
    let index = ys.add(column(0)).mul_scalar(wp as i64).add(xx).add(column(1));
    let index = index.reshape([b, 1, h * w]).expand([b, c, h * w]);
    flat.gather(2, index).reshape([b, c, h, w])
}

impl ImageSet {
    /// A copy of everything but the pixels (which are left empty).
    fn clone_meta(&self) -> ImageSet {
        ImageSet {
            pixels: Vec::new(),
            labels: self.labels.clone(),
            class_names: self.class_names.clone(),
            height: self.height,
            width: self.width,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn gradient_image() -> ImageSet {
        let pixels = (0..32 * 32).flat_map(|p| [(p % 32) as u8 * 8, (p / 32) as u8 * 8, 1]).collect();
        ImageSet { pixels, labels: vec![0], class_names: vec!["a".into()], height: 32, width: 32 }
    }

    #[test]
    fn crops_are_shifted_copies_and_flips_happen_half_the_time() {
        let img = gradient_image();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut flips = 0;
        let trials = 400;
        for _ in 0..trials {
            let out = crop_flip(&img, 4, &mut rng);
            // the centre pixel exists in every crop; its x-coordinate reveals shift and flip
            let c = out.image(0);
            let centre = (16 * 32 + 16) * 3;
            let (sx, sy) = (c[centre] as i32 / 8, c[centre + 1] as i32 / 8);
            assert!((sy - 16).abs() <= 4, "vertical shift out of range: {sy}");
            let right = (16 * 32 + 17) * 3;
            if c[right + 2] == 1 && (c[right] as i32 / 8) < sx {
                flips += 1;
                assert!((sx - 15).abs() <= 4, "flipped shift out of range: {sx}");
            } else {
                assert!((sx - 16).abs() <= 4, "shift out of range: {sx}");
            }
            // padding shows up as zero bytes, never as garbage
            assert!(c.chunks(3).all(|p| p[2] == 1 || p == [0, 0, 0]));
        }
        let rate = flips as f64 / trials as f64;
        assert!((rate - 0.5).abs() < 0.1, "flip rate {rate}");
    }
}
