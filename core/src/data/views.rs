//! The contrastive augmentation: two (or more) random views of every image (SimCLR, Chen et al.
//! 2020, Appendix A; google-research/simclr `data_util.py` with torchvision semantics).
//!
//! Per view, in order: random resized crop (area fraction `crop_scale`, aspect ratio
//! `crop_ratio`, bilinear resize back to the input size), horizontal flip (p = 0.5), colour
//! jitter with probability `jitter_p` (brightness, contrast, saturation and hue factors drawn
//! uniformly, applied in a random order, clipped to [0, 1] after each), random grayscale
//! (`grayscale_p`). SimCLR's CIFAR setting uses colour strength s = 0.5 (jitter 0.8 s / 0.8 s
//! / 0.8 s / 0.2 s) and no blur; SupCon's crops keep at least 20% of the image.
//!
//! Views are produced on the host in `f32`, several images at once on all cores, straight
//! into the `[views * N, 3, H, W]` layout the contrastive loss expects (row `v * N + i` is
//! view `v` of image `i`). Each view's randomness comes from its own seeded generator, so a
//! batch is the same whatever the number of threads. `hypersphere bench` measures the cost
//! against a training step.

use burn::tensor::{Device, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::ImageSet;

/// The named view distributions: `simclr` ([`ViewConfig::simclr`]), `supcon`
/// ([`ViewConfig::supcon`]) and `supcon-ce` ([`ViewConfig::supcon_ce`]).
pub const VIEW_RECIPES: [(&str, fn() -> ViewConfig); 3] =
    [("simclr", ViewConfig::simclr), ("supcon", ViewConfig::supcon), ("supcon-ce", ViewConfig::supcon_ce)];

/// Parameters of the view distribution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ViewConfig {
    /// Range of the crop's area as a fraction of the image.
    pub crop_scale: (f32, f32),
    /// Range of the crop's aspect ratio (width / height), sampled log-uniformly.
    pub crop_ratio: (f32, f32),
    /// Probability of a horizontal flip.
    pub flip_p: f32,
    /// Probability of applying the colour jitter.
    pub jitter_p: f32,
    /// Brightness strength: factor uniform in [max(0, 1 - b), 1 + b].
    pub brightness: f32,
    /// Contrast strength.
    pub contrast: f32,
    /// Saturation strength.
    pub saturation: f32,
    /// Hue strength: shift uniform in [-h, h] (fraction of the colour circle, h <= 0.5).
    pub hue: f32,
    /// Probability of converting to grayscale.
    pub grayscale_p: f32,
}

impl ViewConfig {
    /// SimCLR on CIFAR (google-research/simclr `data_util.py`, its README's CIFAR-10 command):
    /// crop scale (0.08, 1), colour strength 0.5, no blur.
    pub fn simclr() -> Self {
        Self::with_strength((0.08, 1.0), 0.5)
    }

    /// SupContrast's CIFAR views (HobbitLong/SupContrast `main_supcon.py`): crop scale (0.2, 1),
    /// jitter 0.4/0.4/0.4/0.1 with p = 0.8, grayscale 0.2. The paper's augmentation for SupCon
    /// and SimCLR alike ("the same data augmentation strategy for all models", Section 4).
    pub fn supcon() -> Self {
        Self::with_strength((0.2, 1.0), 0.5)
    }

    /// The paper's cross-entropy augmentation, the "weaker color jittering for the supervised
    /// cross-entropy loss" (Section 4): the first author's fork of SupContrast, `main_ce.py`
    /// (commit be813aa, "weaker augmentation for crossentropy model"): crop scale (0.2, 1),
    /// flip, jitter 0.1/0.1/0.1/0.05 with p = 0.8, grayscale 0.2.
    pub fn supcon_ce() -> Self {
        Self { brightness: 0.1, contrast: 0.1, saturation: 0.1, hue: 0.05, ..Self::supcon() }
    }

    /// The named view distributions ([`VIEW_RECIPES`]).
    pub fn named(name: &str) -> crate::Result<Self> {
        VIEW_RECIPES.iter().find(|(n, _)| *n == name).map(|(_, f)| f()).ok_or_else(|| {
            let names: Vec<_> = VIEW_RECIPES.iter().map(|(n, _)| *n).collect();
            crate::Error::Train(format!("unknown view recipe '{name}' (valid: {})", names.join(", ")))
        })
    }

    /// The name of this distribution in [`VIEW_RECIPES`], if it is one of them.
    pub fn name(&self) -> Option<&'static str> {
        VIEW_RECIPES.iter().find(|(_, f)| f() == *self).map(|(n, _)| *n)
    }

    fn with_strength(crop_scale: (f32, f32), s: f32) -> Self {
        Self {
            crop_scale,
            crop_ratio: (3.0 / 4.0, 4.0 / 3.0),
            flip_p: 0.5,
            jitter_p: 0.8,
            brightness: 0.8 * s,
            contrast: 0.8 * s,
            saturation: 0.8 * s,
            hue: 0.2 * s,
            grayscale_p: 0.2,
        }
    }

    /// Rejects parameters outside their domains.
    pub fn validate(&self) -> crate::Result<()> {
        let (a, b) = self.crop_scale;
        let (r0, r1) = self.crop_ratio;
        let probability = |p: f32| (0.0..=1.0).contains(&p);
        if !(0.0 < a && a <= b && b <= 1.0) || !(0.0 < r0 && r0 <= r1) {
            return Err(crate::Error::Train(format!("bad crop scale {a}..{b} or ratio {r0}..{r1}")));
        }
        if ![self.flip_p, self.jitter_p, self.grayscale_p].into_iter().all(probability)
            || !(0.0..=0.5).contains(&self.hue)
            || [self.brightness, self.contrast, self.saturation].iter().any(|v| *v < 0.0)
        {
            return Err(crate::Error::Train("view probabilities must be in [0, 1], jitter >= 0, hue <= 0.5".into()));
        }
        Ok(())
    }

    /// Draws the parameters of one view of an `height x width` image.
    pub fn sample(&self, height: usize, width: usize, rng: &mut impl Rng) -> ViewParams {
        let crop = sample_crop(height, width, self.crop_scale, self.crop_ratio, rng);
        let flip = rng.random::<f32>() < self.flip_p;
        let jitter = (rng.random::<f32>() < self.jitter_p).then(|| {
            let mut order = [0, 1, 2, 3];
            order.shuffle(rng);
            let mut factor = |s: f32| if s > 0.0 { rng.random_range((1.0 - s).max(0.0)..=1.0 + s) } else { 1.0 };
            let (brightness, contrast, saturation) = (factor(self.brightness), factor(self.contrast), factor(self.saturation));
            let hue = if self.hue > 0.0 { rng.random_range(-self.hue..=self.hue) } else { 0.0 };
            Jitter { order, brightness, contrast, saturation, hue }
        });
        let grayscale = rng.random::<f32>() < self.grayscale_p;
        ViewParams { crop, flip, jitter, grayscale }
    }
}

/// A crop rectangle in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropBox {
    /// First row.
    pub top: usize,
    /// First column.
    pub left: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

/// Colour jitter factors and the order of the four operations (0 brightness, 1 contrast,
/// 2 saturation, 3 hue).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Jitter {
    /// Order of the operations.
    pub order: [usize; 4],
    /// Brightness factor.
    pub brightness: f32,
    /// Contrast factor.
    pub contrast: f32,
    /// Saturation factor.
    pub saturation: f32,
    /// Hue shift.
    pub hue: f32,
}

/// Everything random about one view.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewParams {
    /// The crop.
    pub crop: CropBox,
    /// Horizontal flip.
    pub flip: bool,
    /// Colour jitter, when applied.
    pub jitter: Option<Jitter>,
    /// Grayscale conversion.
    pub grayscale: bool,
}

/// torchvision's `RandomResizedCrop.get_params`: ten tries at a random area and log-uniform
/// aspect ratio, then a centre crop with the ratio clamped into range.
pub fn sample_crop(height: usize, width: usize, scale: (f32, f32), ratio: (f32, f32), rng: &mut impl Rng) -> CropBox {
    let area = (height * width) as f32;
    let (log_r0, log_r1) = (ratio.0.ln(), ratio.1.ln());
    for _ in 0..10 {
        let target = area * rng.random_range(scale.0..=scale.1);
        let r = rng.random_range(log_r0..=log_r1).exp();
        let w = (target * r).sqrt().round() as usize;
        let h = (target / r).sqrt().round() as usize;
        if 0 < w && w <= width && 0 < h && h <= height {
            let top = rng.random_range(0..=height - h);
            let left = rng.random_range(0..=width - w);
            return CropBox { top, left, height: h, width: w };
        }
    }
    let in_ratio = width as f32 / height as f32;
    let (w, h) = if in_ratio < ratio.0 {
        (width, ((width as f32 / ratio.0).round() as usize).min(height))
    } else if in_ratio > ratio.1 {
        (((height as f32 * ratio.1).round() as usize).min(width), height)
    } else {
        (width, height)
    };
    CropBox { top: (height - h) / 2, left: (width - w) / 2, height: h, width: w }
}

/// Renders one view of `image` (`[H, W, 3]` bytes) into `out` (`[3, H, W]` floats in [0, 1]).
pub fn render_view(image: &[u8], height: usize, width: usize, params: &ViewParams, out: &mut [f32]) {
    let plane = height * width;
    let c = params.crop;
    let sample = |y: f32, x: f32, ch: usize| -> f32 {
        let (y0, x0) = (y.floor() as usize, x.floor() as usize);
        let (y1, x1) = ((y0 + 1).min(c.top + c.height - 1), (x0 + 1).min(c.left + c.width - 1));
        let (fy, fx) = (y - y0 as f32, x - x0 as f32);
        let px = |yy: usize, xx: usize| image[(yy * width + xx) * 3 + ch] as f32;
        let top = px(y0, x0) * (1.0 - fx) + px(y0, x1) * fx;
        let bottom = px(y1, x0) * (1.0 - fx) + px(y1, x1) * fx;
        (top * (1.0 - fy) + bottom * fy) / 255.0
    };
    // Bilinear resize with half-pixel centres (align_corners = false), edges clamped.
    let (sy, sx) = (c.height as f32 / height as f32, c.width as f32 / width as f32);
    for y in 0..height {
        let src_y = (c.top as f32 + (y as f32 + 0.5) * sy - 0.5).clamp(c.top as f32, (c.top + c.height - 1) as f32);
        for x in 0..width {
            let xx = if params.flip { width - 1 - x } else { x };
            let src_x = (c.left as f32 + (xx as f32 + 0.5) * sx - 0.5).clamp(c.left as f32, (c.left + c.width - 1) as f32);
            for ch in 0..3 {
                out[ch * plane + y * width + x] = sample(src_y, src_x, ch);
            }
        }
    }
    if let Some(j) = params.jitter {
        for op in j.order {
            match op {
                0 => blend_with(out, plane, j.brightness, |_| 0.0),
                1 => {
                    let mean = (0..plane).map(|p| gray(out, plane, p)).sum::<f32>() / plane as f32;
                    blend_with(out, plane, j.contrast, |_| mean)
                }
                2 => {
                    let grays: Vec<f32> = (0..plane).map(|p| gray(out, plane, p)).collect();
                    blend_with(out, plane, j.saturation, |p| grays[p])
                }
                _ => shift_hue(out, plane, j.hue),
            }
        }
    }
    if params.grayscale {
        for p in 0..plane {
            let g = gray(out, plane, p);
            for ch in 0..3 {
                out[ch * plane + p] = g;
            }
        }
    }
}

/// ITU-R 601 luma, torchvision's `rgb_to_grayscale`.
fn gray(img: &[f32], plane: usize, p: usize) -> f32 {
    0.2989 * img[p] + 0.587 * img[plane + p] + 0.114 * img[2 * plane + p]
}

/// `clip(f * img + (1 - f) * other)` per pixel (torchvision's `_blend`).
fn blend_with(img: &mut [f32], plane: usize, f: f32, other: impl Fn(usize) -> f32) {
    for p in 0..plane {
        let o = other(p);
        for ch in 0..3 {
            let v = &mut img[ch * plane + p];
            *v = (f * *v + (1.0 - f) * o).clamp(0.0, 1.0);
        }
    }
}

/// Rotates the hue by `shift` turns through HSV (torchvision's `adjust_hue`).
fn shift_hue(img: &mut [f32], plane: usize, shift: f32) {
    if shift == 0.0 {
        return;
    }
    for p in 0..plane {
        let (r, g, b) = (img[p], img[plane + p], img[2 * plane + p]);
        let (h, s, v) = rgb_to_hsv(r, g, b);
        let (r, g, b) = hsv_to_rgb((h + shift).rem_euclid(1.0), s, v);
        img[p] = r;
        img[plane + p] = g;
        img[2 * plane + p] = b;
    }
}

/// RGB in [0, 1] to hue (turns), saturation and value.
pub fn rgb_to_hsv(r: f32, g: f32, b: f32) -> (f32, f32, f32) {
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let delta = max - min;
    let s = if max > 0.0 { delta / max } else { 0.0 };
    if delta == 0.0 {
        return (0.0, s, max);
    }
    let h = if max == r {
        ((g - b) / delta).rem_euclid(6.0)
    } else if max == g {
        (b - r) / delta + 2.0
    } else {
        (r - g) / delta + 4.0
    };
    (h / 6.0, s, max)
}

/// The inverse of [`rgb_to_hsv`] (computed by [`hsv_to_rgb64`], rounded to f32).
pub fn hsv_to_rgb(h: f32, s: f32, v: f32) -> (f32, f32, f32) {
    let (r, g, b) = hsv_to_rgb64(f64::from(h), f64::from(s), f64::from(v));
    (r as f32, g as f32, b as f32)
}

/// Hue (turns), saturation and value to RGB: the one HSV-to-RGB formula of the project (the
/// colour jitter's hue and the CIFAR-10-C saturate corruption, which follows scikit-image's
/// `hsv2rgb`, in f64).
pub fn hsv_to_rgb64(h: f64, s: f64, v: f64) -> (f64, f64, f64) {
    let h6 = h * 6.0;
    let sector = h6.floor();
    let f = h6 - sector;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    match (sector as i64).rem_euclid(6) {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    }
}

/// The generator of view `view` of the `position`-th image of a batch drawn with `seed` (shared
/// with the device renderer, `device_views`, so both paths draw the same views).
pub fn view_rng(seed: u64, view: usize, position: usize) -> rand::rngs::StdRng {
    let stream = ((view as u64) << 40) ^ position as u64;
    rand::rngs::StdRng::seed_from_u64(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// `views` random views of the images at `indices`, as a `[views * N, 3, H, W]` tensor
/// (view-major). The same `seed` gives the same views.
pub fn contrastive_views(
    set: &ImageSet,
    indices: &[usize],
    config: &ViewConfig,
    views: usize,
    seed: u64,
    device: &Device,
) -> Tensor<4> {
    let (h, w) = (set.height, set.width);
    let size = 3 * h * w;
    let n = indices.len();
    let mut data = vec![0f32; views * n * size];
    let threads = std::thread::available_parallelism().map(|t| t.get()).unwrap_or(1).min(16);
    let per_thread = (views * n).div_ceil(threads).max(1);
    let render_chunk = |chunk_index: usize, chunk: &mut [f32]| {
        for (k, out) in chunk.chunks_mut(size).enumerate() {
            let row = chunk_index * per_thread + k;
            let (view, position) = (row / n, row % n);
            let params = config.sample(h, w, &mut view_rng(seed, view, position));
            render_view(set.image(indices[position]), h, w, &params, out);
        }
    };
    if threads == 1 {
        // No threads in the browser (and no point in spawning one).
        render_chunk(0, &mut data);
    } else {
        std::thread::scope(|scope| {
            for (chunk_index, chunk) in data.chunks_mut(per_thread * size).enumerate() {
                scope.spawn(move || render_chunk(chunk_index, chunk));
            }
        });
    }
    Tensor::from_data(TensorData::new(data, [views * n, 3, h, w]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn colourful(h: usize, w: usize) -> Vec<u8> {
        (0..h * w).flat_map(|p| [(p * 7 % 256) as u8, (p * 13 % 256) as u8, (255 - p % 256) as u8]).collect()
    }

    fn identity_params(h: usize, w: usize) -> ViewParams {
        ViewParams { crop: CropBox { top: 0, left: 0, height: h, width: w }, flip: false, jitter: None, grayscale: false }
    }

    #[test]
    fn crop_areas_and_ratios_stay_in_bounds() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for (scale, min_area) in [((0.08, 1.0), 0.08f32), ((0.2, 1.0), 0.2)] {
            let mut areas = Vec::new();
            for _ in 0..3000 {
                let c = sample_crop(32, 32, scale, (0.75, 4.0 / 3.0), &mut rng);
                assert!(c.top + c.height <= 32 && c.left + c.width <= 32 && c.height > 0 && c.width > 0);
                let area = (c.height * c.width) as f32 / 1024.0;
                // rounding the sides to pixels moves the area by at most one row and column
                let slack = (c.height + c.width + 1) as f32 / 1024.0;
                assert!(area + slack >= min_area && area <= 1.0, "area {area} for scale {scale:?}");
                let ratio = c.width as f32 / c.height as f32;
                let rslack = 1.0 / c.height.min(c.width) as f32 + 0.02;
                assert!(ratio >= 0.75 * (1.0 - rslack) - 0.05 && ratio <= 4.0 / 3.0 * (1.0 + rslack) + 0.05, "ratio {ratio} of {c:?}");
                areas.push(area);
            }
            // the areas spread over the range (mean of U(a, 1) is (a + 1) / 2, minus tries that
            // failed for wide crops)
            let mean = areas.iter().sum::<f32>() / areas.len() as f32;
            assert!(mean > min_area + 0.2 && mean < 0.7, "mean area {mean}");
        }
    }

    #[test]
    fn flip_jitter_and_grayscale_rates() {
        // (recipe, jitter strength of brightness, contrast and saturation, hue): the values of
        // google-research/simclr (s = 0.5), HobbitLong/SupContrast and the author's CE fork
        for (cfg, strength, hue) in [(ViewConfig::simclr(), 0.4f32, 0.1f32), (ViewConfig::supcon(), 0.4, 0.1), (ViewConfig::supcon_ce(), 0.1, 0.05)] {
            let mut rng = rand::rngs::StdRng::seed_from_u64(5);
            let n = 5000;
            let params: Vec<ViewParams> = (0..n).map(|_| cfg.sample(32, 32, &mut rng)).collect();
            let rate = |f: &dyn Fn(&ViewParams) -> bool| params.iter().filter(|p| f(p)).count() as f64 / n as f64;
            let (flip, jitter, gray) = (rate(&|p| p.flip), rate(&|p| p.jitter.is_some()), rate(&|p| p.grayscale));
            assert!((flip - 0.5).abs() < 0.03, "flip rate {flip}");
            assert!((jitter - 0.8).abs() < 0.03, "jitter rate {jitter}");
            assert!((gray - 0.2).abs() < 0.03, "grayscale rate {gray}");
            let jitters: Vec<Jitter> = params.iter().filter_map(|p| p.jitter).collect();
            for j in &jitters {
                for f in [j.brightness, j.contrast, j.saturation] {
                    assert!((1.0 - strength..=1.0 + strength).contains(&f), "factor {f} beyond strength {strength}");
                }
                assert!(j.hue.abs() <= hue, "hue {} beyond {hue}", j.hue);
                let mut order = j.order;
                order.sort();
                assert_eq!(order, [0, 1, 2, 3]);
            }
            // the factors fill their range, uniformly (mean 1, quarter points at 1 -+ s / 2)
            let b: Vec<f32> = jitters.iter().map(|j| j.brightness).collect();
            let (lo, hi) = (b.iter().copied().fold(2.0, f32::min), b.iter().copied().fold(0.0, f32::max));
            assert!(lo < 1.0 - 0.98 * strength && hi > 1.0 + 0.98 * strength, "brightness range {lo}..{hi} for strength {strength}");
            let mean = b.iter().sum::<f32>() / b.len() as f32;
            assert!((mean - 1.0).abs() < 0.05 * strength, "mean brightness {mean}");
            let below = b.iter().filter(|f| **f < 1.0 - strength / 2.0).count() as f64 / b.len() as f64;
            assert!((below - 0.25).abs() < 0.03, "share below 1 - s/2: {below}");
            let h: Vec<f32> = jitters.iter().map(|j| j.hue.abs()).collect();
            assert!(h.iter().copied().fold(0.0, f32::max) > 0.98 * hue, "hue never reaches {hue}");
            // all 24 orders occur
            let orders: std::collections::HashSet<[usize; 4]> = jitters.iter().map(|j| j.order).collect();
            assert_eq!(orders.len(), 24);
        }
    }

    #[test]
    fn recipes_have_their_names_and_the_papers_values() {
        for (name, f) in VIEW_RECIPES {
            assert_eq!(ViewConfig::named(name).unwrap(), f());
            assert_eq!(f().name(), Some(name));
            f().validate().unwrap();
        }
        let err = ViewConfig::named("byol").unwrap_err().to_string();
        assert!(err.contains("'byol'") && err.contains("supcon-ce"), "{err}");
        // the paper's recipe (Section 4; HobbitLong/SupContrast, rohit-gupta/SupContrast main_ce.py)
        let (supcon, ce) = (ViewConfig::supcon(), ViewConfig::supcon_ce());
        assert_eq!((supcon.crop_scale, supcon.jitter_p, supcon.grayscale_p, supcon.flip_p), ((0.2, 1.0), 0.8, 0.2, 0.5));
        assert_eq!([supcon.brightness, supcon.contrast, supcon.saturation, supcon.hue], [0.4, 0.4, 0.4, 0.1]);
        assert_eq!((ce.crop_scale, ce.jitter_p, ce.grayscale_p, ce.flip_p), ((0.2, 1.0), 0.8, 0.2, 0.5));
        assert_eq!([ce.brightness, ce.contrast, ce.saturation, ce.hue], [0.1, 0.1, 0.1, 0.05]);
        assert_eq!(ViewConfig::simclr().crop_scale, (0.08, 1.0));
        assert_eq!(ViewConfig { hue: 0.2, ..ce }.name(), None);
    }

    #[test]
    fn identity_flip_grayscale_and_jitter_values() {
        let (h, w) = (6, 5);
        let img = colourful(h, w);
        let mut out = vec![0f32; 3 * h * w];
        render_view(&img, h, w, &identity_params(h, w), &mut out);
        let plane = h * w;
        for p in 0..plane {
            for ch in 0..3 {
                assert!((out[ch * plane + p] - img[p * 3 + ch] as f32 / 255.0).abs() < 1e-6);
            }
        }
        let mut flipped = vec![0f32; 3 * h * w];
        render_view(&img, h, w, &ViewParams { flip: true, ..identity_params(h, w) }, &mut flipped);
        assert_eq!(flipped[2], out[w - 1 - 2]);
        let mut g = vec![0f32; 3 * h * w];
        render_view(&img, h, w, &ViewParams { grayscale: true, ..identity_params(h, w) }, &mut g);
        assert!((0..plane).all(|p| g[p] == g[plane + p] && g[p] == g[2 * plane + p]));
        // brightness 0.5 halves every value; hue +1/3 turns pure red into pure green
        let jitter = Jitter { order: [0, 1, 2, 3], brightness: 0.5, contrast: 1.0, saturation: 1.0, hue: 0.0 };
        let mut dark = vec![0f32; 3 * h * w];
        render_view(&img, h, w, &ViewParams { jitter: Some(jitter), ..identity_params(h, w) }, &mut dark);
        assert!(dark.iter().zip(&out).all(|(d, o)| (d - 0.5 * o).abs() < 1e-6));
        let red = [255u8, 0, 0];
        let mut green = [0f32; 3];
        let hue = Jitter { hue: 1.0 / 3.0, brightness: 1.0, ..jitter };
        render_view(&red, 1, 1, &ViewParams { jitter: Some(hue), ..identity_params(1, 1) }, &mut green);
        assert!((green[0]).abs() < 1e-5 && (green[1] - 1.0).abs() < 1e-5 && green[2].abs() < 1e-5, "{green:?}");
        // contrast 0 gives the mean gray everywhere
        let flat = Jitter { contrast: 0.0, brightness: 1.0, ..jitter };
        let mut c = vec![0f32; 3 * h * w];
        render_view(&img, h, w, &ViewParams { jitter: Some(flat), ..identity_params(h, w) }, &mut c);
        assert!(c.iter().all(|v| (v - c[0]).abs() < 1e-6));
    }

    #[test]
    fn hsv_round_trip() {
        for (r, g, b) in [(0.2f32, 0.5, 0.9), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), (0.9, 0.1, 0.1), (0.3, 0.8, 0.3)] {
            let (h, s, v) = rgb_to_hsv(r, g, b);
            let (r2, g2, b2) = hsv_to_rgb(h, s, v);
            assert!((r - r2).abs() < 1e-6 && (g - g2).abs() < 1e-6 && (b - b2).abs() < 1e-6);
        }
    }

    #[test]
    fn batches_are_view_major_seeded_and_in_range() {
        let device = Device::flex();
        let set = ImageSet { pixels: colourful(8, 8).repeat(3), labels: vec![0, 1, 2], class_names: vec!["a".into(), "b".into(), "c".into()], height: 8, width: 8 };
        let cfg = ViewConfig::simclr();
        let a = contrastive_views(&set, &[2, 0], &cfg, 2, 9, &device);
        assert_eq!(a.dims(), [4, 3, 8, 8]);
        let va = a.into_data().try_into_vec::<f32>().unwrap();
        let vb = contrastive_views(&set, &[2, 0], &cfg, 2, 9, &device).into_data().try_into_vec::<f32>().unwrap();
        let vc = contrastive_views(&set, &[2, 0], &cfg, 2, 10, &device).into_data().try_into_vec::<f32>().unwrap();
        assert_eq!(va, vb);
        assert_ne!(va, vc);
        assert!(va.iter().all(|v| (0.0..=1.0).contains(v)));
        // the two views of an image differ
        let size = 3 * 64;
        assert_ne!(&va[..size], &va[2 * size..3 * size]);
        assert!(ViewConfig { crop_scale: (0.5, 0.2), ..cfg }.validate().is_err());
        assert!(cfg.validate().is_ok() && ViewConfig::supcon().validate().is_ok());
    }
}
