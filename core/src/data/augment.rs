//! The standard CIFAR training augmentation: random crop with zero padding 4, horizontal flip
//! (He et al. 2016; torchvision `RandomCrop(32, padding=4)` + `RandomHorizontalFlip()`).
//! Applied to bytes on the host: for 32x32 images this is far cheaper than a training step.

use rand::Rng;

use super::ImageSet;

/// Returns a randomly cropped and flipped copy of `set` (same size as the input).
pub fn crop_flip(set: &ImageSet, padding: usize, rng: &mut impl Rng) -> ImageSet {
    let (h, w) = (set.height, set.width);
    let mut pixels = vec![0u8; set.pixels.len()];
    for i in 0..set.len() {
        let src = set.image(i);
        let dst = &mut pixels[i * h * w * 3..(i + 1) * h * w * 3];
        // Offsets into the zero-padded image: crop origin in [0, 2 * padding].
        let dy = rng.random_range(0..=2 * padding) as isize - padding as isize;
        let dx = rng.random_range(0..=2 * padding) as isize - padding as isize;
        let flip = rng.random_bool(0.5);
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
