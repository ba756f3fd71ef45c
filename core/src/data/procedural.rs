//! A procedural 10-class image dataset, generated from a seed: the embedded default of the main
//! job and the data of most tests (no download, no files).
//!
//! Class `c` is one of five texture families (`c / 2`: horizontal stripes, vertical stripes,
//! checkerboard, concentric rings, diagonal cross-hatch) at a coarse (even `c`, 2.4 cycles per
//! image) or fine (odd `c`, 7 cycles) scale. The classes survive the training augmentations,
//! so that every training method of the study can learn them:
//! * every family is mapped onto itself by a horizontal flip and by shifts (crop + flip);
//! * the two scales differ by a factor of at least 2.6 (each image's frequency varies by 5%),
//!   more than a resized crop keeping 20% of the image zooms (2.24x, at most 2.58x along one
//!   side with aspect ratio 3/4), so a crop of a fine image never looks like a coarse one;
//! * colours carry no class information and little instance information: the two colours of
//!   an image are one of four fixed pairs (either way round), tinted by at most 0.05, and
//!   pulled towards their mean by a random contrast factor in [0.25, 1]. Unique random colours
//!   per image would be the easiest way to tell images apart, and self-supervised training
//!   (SimCLR) would learn colour instead of texture (with such colours the tiny study's SimCLR
//!   models stayed at 12-15% accuracy); the colour jitter of the views only partly hides
//!   colours that differ this much.
//!
//! Phase, ring centre, frequency within its class's range, tint, contrast and pixel noise are
//! random per image: a CNN must learn texture and scale, and low-contrast images keep small
//! perturbations able to flip its decision.

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

/// Cycles per image of the coarse and fine scales (before the per-image factor in
/// `1 -+ FREQUENCY_SPREAD`).
const CYCLES: [f32; 2] = [2.4, 7.0];
/// Relative spread of an image's frequency around its scale's.
const FREQUENCY_SPREAD: f32 = 0.05;
/// The smallest contrast factor: an image's colours are `m -+ c (fg - bg) / 2` around their
/// mean `m`, with `c` uniform in `[MIN_CONTRAST, 1]`.
const MIN_CONTRAST: f32 = 0.25;

/// The colour pairs of the images (sRGB in [0, 1]): dark on light, and three pairs of
/// contrasting hues; an image uses one pair, either way round.
const PALETTE: [[[f32; 3]; 2]; 4] = [
    [[0.1, 0.1, 0.12], [0.9, 0.88, 0.82]],
    [[0.8, 0.15, 0.15], [0.15, 0.6, 0.85]],
    [[0.95, 0.8, 0.2], [0.25, 0.2, 0.55]],
    [[0.2, 0.65, 0.3], [0.85, 0.45, 0.75]],
];

/// The pattern of class `label` at pixel (x, y), in [0, 1]; `cycles` across the image.
fn pattern(label: usize, x: f32, y: f32, size: f32, cycles: f32, phase: f32, centre: (f32, f32)) -> f32 {
    use std::f32::consts::{FRAC_1_SQRT_2, TAU};
    let k = TAU * cycles / size;
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
        let cycles = CYCLES[label % 2] * rng.random_range(1.0 - FREQUENCY_SPREAD..=1.0 + FREQUENCY_SPREAD);
        let pair = PALETTE[rng.random_range(0..PALETTE.len())];
        let swap = rng.random_bool(0.5) as usize;
        let mut tint = || -> [f32; 3] { [(); 3].map(|_| rng.random_range(-0.05..=0.05)) };
        let (t0, t1) = (tint(), tint());
        let contrast = rng.random_range(MIN_CONTRAST..=1.0);
        let fg: [f32; 3] = std::array::from_fn(|c| pair[swap][c] + t0[c]);
        let bg: [f32; 3] = std::array::from_fn(|c| pair[1 - swap][c] + t1[c]);
        let mean: [f32; 3] = std::array::from_fn(|c| 0.5 * (fg[c] + bg[c]));
        let fg: [f32; 3] = std::array::from_fn(|c| mean[c] + contrast * (fg[c] - mean[c]));
        let bg: [f32; 3] = std::array::from_fn(|c| mean[c] + contrast * (bg[c] - mean[c]));
        for y in 0..s {
            for x in 0..s {
                let w = pattern(label, x as f32, y as f32, s as f32, cycles, phase, centre);
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
    fn scales_stay_apart_under_a_crop_zoom_and_colours_come_from_the_palette() {
        let set = generate(&ProceduralConfig { images: 200, noise: 0.0, ..Default::default() });
        // Cycles of a horizontal-stripe image (classes 0 and 1): the peak of the Fourier
        // transform of a column, searched in steps of 0.01 cycles.
        let cycles = |i: usize| {
            let img = set.image(i);
            let column: Vec<f32> = (0..32).map(|y| img[(y * 32 + 7) * 3..(y * 32 + 7) * 3 + 3].iter().map(|&v| v as f32).sum()).collect();
            let mean = column.iter().sum::<f32>() / 32.0;
            let power = |f: f32| {
                let (mut re, mut im) = (0.0f32, 0.0f32);
                for (y, v) in column.iter().enumerate() {
                    let a = std::f32::consts::TAU * f * y as f32 / 32.0;
                    re += (v - mean) * a.cos();
                    im += (v - mean) * a.sin();
                }
                re * re + im * im
            };
            (100..1000).map(|f| f as f32 / 100.0).max_by(|a, b| power(*a).total_cmp(&power(*b))).unwrap()
        };
        let coarse: Vec<f32> = (0..200).step_by(10).map(cycles).collect();
        let fine: Vec<f32> = (1..200).step_by(10).map(cycles).collect();
        assert!(coarse.iter().all(|c| (2.1..=2.7).contains(c)) && fine.iter().all(|c| (6.4..=7.5).contains(c)), "{coarse:?} {fine:?}");
        // a crop of 20% of the area with aspect 3/4 zooms one side by 1 / sqrt(0.2 * 3 / 4):
        // the slowest fine image stays faster than the fastest coarse one
        let zoom = 1.0 / (0.2f32 * 0.75).sqrt();
        assert!(CYCLES[1] * (1.0 - FREQUENCY_SPREAD) / zoom > CYCLES[0] * (1.0 + FREQUENCY_SPREAD));
        // Without noise every pixel blends the image's two colours, which lie symmetrically
        // around the mean of a palette pair (tinted by at most 0.05): the lightest and darkest
        // pixels of coarse stripes (classes 0 and 2, 12.8 pixels per cycle or more: their
        // samples come within 1.5% of each colour) average to such a mean, to within 0.05 +
        // 0.015 + a rounding, and differ by 25-100% of a pair's difference (+- 0.12).
        let spread = |a: [f32; 3], b: [f32; 3]| (0..3).map(|c| (a[c] - b[c]).abs()).fold(0.0, f32::max);
        let fulls: Vec<f32> = PALETTE.iter().map(|p| spread(p[0], p[1])).collect();
        let (least, most) = (fulls.iter().copied().fold(1.0, f32::min), fulls.iter().copied().fold(0.0, f32::max));
        let mut contrasts = Vec::new();
        for i in (0..200).filter(|i| i % 10 == 0 || i % 10 == 2) {
            let img = set.image(i);
            let luma = |p: &[u8]| p[0] as u32 * 3 + p[1] as u32 * 6 + p[2] as u32;
            let pixels: Vec<&[u8]> = img.chunks(3).collect();
            let (hi, lo) = (pixels.iter().max_by_key(|p| luma(p)).unwrap(), pixels.iter().min_by_key(|p| luma(p)).unwrap());
            let (hi, lo): ([f32; 3], [f32; 3]) = (std::array::from_fn(|c| hi[c] as f32 / 255.0), std::array::from_fn(|c| lo[c] as f32 / 255.0));
            let middle: [f32; 3] = std::array::from_fn(|c| 0.5 * (hi[c] + lo[c]));
            let nearest = PALETTE.iter().map(|p| spread(middle, std::array::from_fn(|c| 0.5 * (p[0][c] + p[1][c])))).fold(1.0, f32::min);
            assert!(nearest <= 0.065 + 0.5 / 255.0, "image {i}: colours {hi:?} {lo:?} average {middle:?}, {nearest} from the palette");
            let found = spread(hi, lo);
            assert!(found >= MIN_CONTRAST * least - 0.12 && found <= most + 0.12, "image {i}: contrast {found}");
            contrasts.push(found);
        }
        let (low, high) = (contrasts.iter().copied().fold(2.0, f32::min), contrasts.iter().copied().fold(0.0, f32::max));
        assert!(low < 0.35 && high > 0.6, "contrasts spread: {low}..{high}");
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
