//! A procedural 10-class image dataset, generated from a seed: the embedded default of the main
//! job and the data of most tests (no download, no files).
//!
//! Class `c` is one of five texture families (`c / 2`: horizontal stripes, vertical stripes,
//! checkerboard, concentric rings, diagonal cross-hatch) at a coarse (even `c`, 3 cycles per
//! image) or fine (odd `c`, 6 cycles) scale. Every family is mapped onto itself by a horizontal
//! flip and by shifts, so the standard crop + flip augmentation keeps labels correct. Colours,
//! phase, ring centre and pixel noise are random per image and carry no class information: a
//! CNN must learn texture and scale, and small perturbations can flip its decision.

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

const FAMILIES: [&str; 5] = ["horizontal", "vertical", "checkerboard", "rings", "crosshatch"];

/// The class names of the procedural dataset.
pub fn class_names() -> Vec<String> {
    (0..10).map(|c| format!("{}-{}", FAMILIES[c / 2], if c % 2 == 0 { "coarse" } else { "fine" })).collect()
}

/// The pattern of class `label` at pixel (x, y), in [0, 1].
fn pattern(label: usize, x: f32, y: f32, size: f32, phase: f32, centre: (f32, f32)) -> f32 {
    use std::f32::consts::{FRAC_1_SQRT_2, TAU};
    let k = TAU * if label % 2 == 0 { 3.0 } else { 6.0 } / size;
    let v = match label / 2 {
        0 => (k * y + phase).sin(),
        1 => (k * x + phase).sin(),
        2 => (k * x + phase).sin() * (k * y + phase).sin(),
        3 => (k * ((x - centre.0).powi(2) + (y - centre.1).powi(2)).sqrt() + phase).sin(),
        _ => 0.5 * ((k * (x + y) * FRAC_1_SQRT_2 + phase).sin() + (k * (x - y) * FRAC_1_SQRT_2 + phase).sin()),
    };
    0.5 + 0.5 * v
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
        let phase: f32 = rng.random_range(0.0..std::f32::consts::TAU);
        let centre: (f32, f32) = (rng.random_range(0.0..s as f32), rng.random_range(0.0..s as f32));
        let fg: [f32; 3] = [rng.random(), rng.random(), rng.random()];
        let bg: [f32; 3] = [rng.random(), rng.random(), rng.random()];
        for y in 0..s {
            for x in 0..s {
                let w = pattern(label, x as f32, y as f32, s as f32, phase, centre);
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
    fn stripes_vary_along_one_axis_only() {
        // Class 0 (horizontal stripes) is constant along rows, class 2 (vertical) along columns.
        let set = generate(&ProceduralConfig { images: 10, noise: 0.0, ..Default::default() });
        let variation = |i: usize| {
            let img = set.image(i);
            let px = |x: usize, y: usize| img[(y * 32 + x) * 3] as i32 + img[(y * 32 + x) * 3 + 1] as i32;
            let along_x: i32 = (0..31).map(|x| (px(x + 1, 5) - px(x, 5)).abs()).sum();
            let along_y: i32 = (0..31).map(|y| (px(5, y + 1) - px(5, y)).abs()).sum();
            (along_x, along_y)
        };
        let (hx, hy) = variation(0);
        assert!(hx == 0 && hy > 0, "horizontal stripes: {hx} {hy}");
        let (vx, vy) = variation(2);
        assert!(vy == 0 && vx > 0, "vertical stripes: {vx} {vy}");
    }
}
