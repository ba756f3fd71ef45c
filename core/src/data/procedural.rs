//! A procedural 10-class image dataset, generated from a seed: the embedded default of the main
//! job and the data of most tests (no download, no files).
//!
//! Class `c` is a sinusoidal grating at orientation `36° * (c mod 5)` with 3 (c < 5) or 6
//! (c >= 5) cycles per image. Colours, phase and pixel noise are random per image and carry no
//! class information, so a CNN must learn orientation and frequency, and small perturbations can
//! flip its decision.

use rand::{Rng, SeedableRng};

use super::ImageSet;

/// Settings of the procedural dataset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProceduralConfig {
    /// Number of images (classes are balanced: image `i` has label `i mod 10`).
    pub images: usize,
    /// Side of the square images.
    pub size: usize,
    /// Standard deviation of the additive pixel noise, in [0, 1] units.
    pub noise: f32,
    /// Seed: the same seed gives the same bytes.
    pub seed: u64,
}

impl Default for ProceduralConfig {
    fn default() -> Self {
        Self { images: 2000, size: 32, noise: 0.08, seed: 0 }
    }
}

/// The class names of the procedural dataset.
pub fn class_names() -> Vec<String> {
    (0..10)
        .map(|c| format!("{}deg-{}", 36 * (c % 5), if c < 5 { "coarse" } else { "fine" }))
        .collect()
}

/// Generates the dataset described by `config`.
pub fn generate(config: &ProceduralConfig) -> ImageSet {
    let s = config.size;
    let mut pixels = Vec::with_capacity(config.images * s * s * 3);
    let mut labels = Vec::with_capacity(config.images);
    for i in 0..config.images {
        let label = i % 10;
        let mut rng = rand::rngs::StdRng::seed_from_u64(
            config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(i as u64),
        );
        let theta = std::f32::consts::PI * (label % 5) as f32 / 5.0;
        let cycles = if label < 5 { 3.0 } else { 6.0 };
        let phase: f32 = rng.random_range(0.0..std::f32::consts::TAU);
        let fg: [f32; 3] = [rng.random(), rng.random(), rng.random()];
        let bg: [f32; 3] = [rng.random(), rng.random(), rng.random()];
        let (ct, st) = (theta.cos(), theta.sin());
        for y in 0..s {
            for x in 0..s {
                let u = (x as f32 * ct + y as f32 * st) / s as f32;
                let w = 0.5 + 0.5 * (std::f32::consts::TAU * cycles * u + phase).sin();
                for c in 0..3 {
                    // Sum of 4 uniforms: approximately Gaussian with the requested deviation.
                    let noise: f32 = (0..4).map(|_| rng.random::<f32>() - 0.5).sum::<f32>()
                        * config.noise
                        * 3.0f32.sqrt();
                    let v = w * fg[c] + (1.0 - w) * bg[c] + noise;
                    pixels.push((v.clamp(0.0, 1.0) * 255.0).round() as u8);
                }
            }
        }
        labels.push(label);
    }
    ImageSet { pixels, labels, class_names: class_names(), height: s, width: s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let cfg = ProceduralConfig { images: 20, ..Default::default() };
        let a = generate(&cfg);
        assert_eq!(a, generate(&cfg));
        assert_ne!(a.pixels, generate(&ProceduralConfig { seed: 1, ..cfg }).pixels);
        assert_eq!(a.labels[..12], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
        a.validate().unwrap();
    }

    #[test]
    fn classes_differ_in_orientation() {
        // Horizontal gratings (class 2 is 72deg, class 0 is 0deg) vary along x for class 0 only:
        // mean absolute difference between neighbouring columns is large, rows small.
        let set = generate(&ProceduralConfig { images: 10, noise: 0.0, ..Default::default() });
        let img = set.image(0);
        let px = |x: usize, y: usize| img[(y * 32 + x) * 3] as i32;
        let along_x: i32 = (0..31).map(|x| (px(x + 1, 5) - px(x, 5)).abs()).sum();
        let along_y: i32 = (0..31).map(|y| (px(5, y + 1) - px(5, y)).abs()).sum();
        assert_eq!(along_y, 0);
        assert!(along_x > 0);
    }
}
