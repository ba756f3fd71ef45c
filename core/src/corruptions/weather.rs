//! Weather corruptions (Hendrycks & Dietterich 2019; CIFAR parameters of `make_cifar_c.py`).

use rand::Rng;
use rand::rngs::StdRng;

use super::blur::{clipped_zoom, magick_motion_blur_bytes};
use super::{normal, to_bytes_trunc, to_unit, uniform};

/// Snow `(mean, std, zoom, threshold, blur radius, blur sigma, blend)` per severity.
pub const SNOW: [(f64, f64, f64, f64, f64, f64, f64); 5] = [
    (0.1, 0.2, 1.0, 0.6, 8.0, 3.0, 0.95),
    (0.1, 0.2, 1.0, 0.5, 10.0, 4.0, 0.9),
    (0.15, 0.3, 1.75, 0.55, 10.0, 4.0, 0.9),
    (0.25, 0.3, 2.25, 0.6, 12.0, 6.0, 0.85),
    (0.3, 0.3, 1.25, 0.65, 14.0, 12.0, 0.8),
];
/// Frost `(image weight, frost weight)` per severity.
pub const FROST: [(f64, f64); 5] = [(1.0, 0.2), (1.0, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)];
/// Fog `(strength, wibble decay)` per severity.
pub const FOG: [(f64, f64); 5] = [(0.2, 3.0), (0.5, 3.0), (0.75, 2.5), (1.0, 2.0), (1.5, 1.75)];

/// The reference's `plasma_fractal` (diamond-square, a modification of FLHerne/mapgen): a
/// `size x size` map (`size` a power of two, wrapping around as `np.roll` does), corner 0,
/// `wibble` starting at 100 and divided by `decay` after each level, every new point the mean of
/// its four neighbours plus `wibble * U(-wibble, wibble)` (sic: the spread is wibble squared);
/// normalised to [0, 1]. Row-major.
pub fn plasma_fractal(size: usize, decay: f64, rng: &mut StdRng) -> Vec<f64> {
    assert!(size.is_power_of_two(), "plasma fractal size must be a power of two");
    let mut m = vec![0.0f64; size * size];
    let mut step = size;
    let mut wibble = 100.0f64;
    while step >= 2 {
        let n = size / step;
        let half = step / 2;
        let at = |i: usize, j: usize| i * size + j;
        // Squares: centre = mean of the four corners.
        for i in 0..n {
            for j in 0..n {
                let (i1, j1) = ((i + 1) % n, (j + 1) % n);
                let sum = m[at(i * step, j * step)] + m[at(i1 * step, j * step)] + m[at(i * step, j1 * step)] + m[at(i1 * step, j1 * step)];
                m[at(i * step + half, j * step + half)] = sum / 4.0 + wibble * uniform(rng, -wibble, wibble);
            }
        }
        // Diamonds: first the points between horizontal corner pairs, then between vertical ones.
        let mut top = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                let ip = (i + n - 1) % n;
                let j1 = (j + 1) % n;
                let sum = m[at(i * step + half, j * step + half)] + m[at(ip * step + half, j * step + half)] + m[at(i * step, j * step)] + m[at(i * step, j1 * step)];
                top[i * n + j] = sum / 4.0 + wibble * uniform(rng, -wibble, wibble);
            }
        }
        let mut left = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                let jp = (j + n - 1) % n;
                let i1 = (i + 1) % n;
                let sum = m[at(i * step + half, j * step + half)] + m[at(i * step + half, jp * step + half)] + m[at(i * step, j * step)] + m[at(i1 * step, j * step)];
                left[i * n + j] = sum / 4.0 + wibble * uniform(rng, -wibble, wibble);
            }
        }
        for i in 0..n {
            for j in 0..n {
                m[at(i * step, j * step + half)] = top[i * n + j];
            }
        }
        for i in 0..n {
            for j in 0..n {
                m[at(i * step + half, j * step)] = left[i * n + j];
            }
        }
        step /= 2;
        wibble /= decay;
    }
    let (lo, hi) = m.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let range = if hi > lo { hi - lo } else { 1.0 };
    m.into_iter().map(|v| (v - lo) / range).collect()
}

fn plasma_for(h: usize, w: usize, decay: f64, rng: &mut StdRng) -> Vec<f64> {
    let size = h.max(w).next_power_of_two().max(2);
    let full = plasma_fractal(size, decay, rng);
    let mut out = Vec::with_capacity(h * w);
    for y in 0..h {
        out.extend_from_slice(&full[y * size..y * size + w]);
    }
    out
}

/// `fog` with (strength, decay) = (.2,3) (.5,3) (.75,2.5) (1,2) (1.5,1.75):
/// `clip((x + c * plasma) * max(x) / (max(x) + c))`, the same plasma added to every channel.
/// Exact up to the random generator.
pub fn fog(image: &[u8], h: usize, w: usize, s: usize, rng: &mut StdRng) -> Vec<u8> {
    let (c, decay) = FOG[s];
    let x = to_unit(image);
    let max = x.iter().cloned().fold(0.0, f64::max);
    let plasma = plasma_for(h, w, decay, rng);
    let out: Vec<f64> = x.iter().enumerate().map(|(i, &v)| (v + c * plasma[i / 3]) * max / (max + c)).collect();
    to_bytes_trunc(&out)
}

/// `snow` with the (mean, std, zoom, threshold, radius, sigma, blend) rows of [`SNOW`]: a
/// one-channel layer of `N(mean, std)`, [`clipped_zoom`]ed, zeroed below the threshold, clipped
/// and stored as bytes (truncated), motion-blurred by ImageMagick's algorithm
/// ([`magick_motion_blur_bytes`], angle uniform in [-135, -45), bit-exact with ImageMagick 6);
/// the image becomes `blend * x + (1 - blend) * max(x, 1.5 * gray + 0.5)` (OpenCV gray:
/// .299 R + .587 G + .114 B) and the layer plus its 180-degree rotation is added, clipped.
/// Exact up to the random generator (given the ImageMagick re-implementation).
pub fn snow(image: &[u8], h: usize, w: usize, s: usize, rng: &mut StdRng) -> Vec<u8> {
    let (mean, std, zoom, threshold, radius, sigma, blend) = SNOW[s];
    let layer: Vec<f64> = (0..h * w).map(|_| mean + std * normal(rng)).collect();
    let layer = clipped_zoom(&layer, h, w, 1, zoom);
    let layer: Vec<u8> = layer.into_iter().map(|v| if v < threshold { 0.0 } else { v }).map(|v| (v.clamp(0.0, 1.0) * 255.0) as u8).collect();
    let angle = uniform(rng, -135.0, -45.0);
    let layer: Vec<f64> = magick_motion_blur_bytes(&layer, h, w, 1, radius, sigma, angle).into_iter().map(|v| v as f64 / 255.0).collect();
    let x: Vec<f32> = image.iter().map(|&v| (v as f64 / 255.0) as f32).collect();
    let mut out = vec![0.0f64; x.len()];
    for p in 0..h * w {
        let (r, g, b) = (x[3 * p], x[3 * p + 1], x[3 * p + 2]);
        let gray = 0.299f32 * r + 0.587 * g + 0.114 * b;
        let (y, xx) = (p / w, p % w);
        let flake = layer[p] + layer[(h - 1 - y) * w + (w - 1 - xx)];
        for c in 0..3 {
            let v = x[3 * p + c];
            let mixed = blend as f32 * v + (1.0 - blend as f32) * v.max(gray * 1.5 + 0.5);
            out[3 * p + c] = mixed as f64 + flake;
        }
    }
    to_bytes_trunc(&out)
}

/// Statistics of 32 x 32 crops of the reference's frost photographs `frost1..frost5` (frost6 is
/// never drawn: `randint(5)`), scaled by 0.2 with `cv2.resize` as the reference does, measured by
/// `scripts/measure_frost.py`: per-channel mean, mean within-crop standard deviation, standard
/// deviation of the crop means, and the lag-1 autocorrelation of the gray crop (0.53, 0.38,
/// 0.38, 0.23, 0.35: OpenCV's bilinear downscaling does not anti-alias, so the crops are grainy).
pub const FROST_STYLES: [([f64; 3], [f64; 3], [f64; 3], f64); 5] = [
    ([0.305, 0.582, 0.647], [0.084, 0.052, 0.049], [0.067, 0.037, 0.030], 0.53),
    ([0.776, 0.794, 0.830], [0.070, 0.072, 0.074], [0.031, 0.034, 0.036], 0.38),
    ([0.777, 0.794, 0.831], [0.070, 0.071, 0.074], [0.033, 0.036, 0.038], 0.38),
    ([0.559, 0.617, 0.667], [0.101, 0.101, 0.105], [0.041, 0.041, 0.044], 0.23),
    ([0.407, 0.451, 0.497], [0.134, 0.133, 0.130], [0.069, 0.066, 0.062], 0.35),
];

/// Lag-1 autocorrelation of a standardised 32 x 32 plasma fractal of decay 1.2 (measured).
const PLASMA_LAG1: f64 = 0.81;

/// A procedural `[h, w, 3]` frost texture in [0, 1] in the style `FROST_STYLES[style]`: a
/// crop-level colour shift `N(0, 1) * jitter`, and a texture with the style's within-crop
/// deviation that mixes a plasma fractal (decay 1.2) and per-pixel noise so that its lag-1
/// autocorrelation is the style's; the same texture in every channel.
pub fn frost_texture_style(h: usize, w: usize, style: usize, rng: &mut StdRng) -> Vec<f64> {
    let (mean, std, jitter, lag1) = FROST_STYLES[style];
    let smooth = (lag1 / PLASMA_LAG1).min(1.0);
    let z = normal(rng);
    let t = plasma_for(h, w, 1.2, rng);
    let m = t.iter().sum::<f64>() / t.len() as f64;
    let sd = (t.iter().map(|v| (v - m).powi(2)).sum::<f64>() / t.len() as f64).sqrt().max(1e-12);
    let mut out = Vec::with_capacity(h * w * 3);
    for &v in &t {
        let grain = smooth.sqrt() * (v - m) / sd + (1.0 - smooth).sqrt() * normal(rng);
        for c in 0..3 {
            out.push((mean[c] + jitter[c] * z + std[c] * grain).clamp(0.0, 1.0));
        }
    }
    out
}

/// [`frost_texture_style`] of a style drawn uniformly, like the reference's choice of photograph.
pub fn frost_texture(h: usize, w: usize, rng: &mut StdRng) -> Vec<f64> {
    let style = rng.random_range(0..FROST_STYLES.len());
    frost_texture_style(h, w, style, rng)
}

/// `frost` with (a, b) = (1,.2) (1,.3) (.9,.4) (.85,.4) (.75,.45): `clip(a * x + b * frost)`.
/// **Approximate**: the reference adds a random 32 x 32 crop of one of five frost photographs
/// (shipped with `make_cifar_c.py`, scaled by 0.2); we add [`frost_texture`], which matches
/// their per-channel mean, within-crop and between-crop spread and lag-1 autocorrelation
/// (test `corruptions_frost_texture_matches_the_photographs_statistics`), but not their
/// ice-crystal structure.
pub fn frost(image: &[u8], h: usize, w: usize, s: usize, rng: &mut StdRng) -> Vec<u8> {
    let (a, b) = FROST[s];
    let f = frost_texture(h, w, rng);
    let out: Vec<f64> = to_unit(image).iter().zip(&f).map(|(&x, &t)| a * x + b * ((t * 255.0) as u8) as f64 / 255.0).collect();
    to_bytes_trunc(&out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn corruptions_plasma_is_normalised_and_seeded() {
        let mut rng = StdRng::seed_from_u64(1);
        let p = plasma_fractal(32, 2.0, &mut rng);
        assert_eq!(p.len(), 32 * 32);
        let (lo, hi) = p.iter().fold((1.0f64, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
        assert_eq!((lo, hi), (0.0, 1.0));
        let q = plasma_fractal(32, 2.0, &mut StdRng::seed_from_u64(1));
        assert_eq!(p, q);
        // A larger decay damps the fine levels: neighbouring values are closer.
        let rough = |decay: f64| {
            let mut r = StdRng::seed_from_u64(5);
            let mut t = 0.0;
            for _ in 0..20 {
                let p = plasma_fractal(32, decay, &mut r);
                t += (0..32 * 31).map(|i| (p[i + 32] - p[i]).abs()).sum::<f64>();
            }
            t
        };
        assert!(rough(3.0) < rough(1.2));
    }

    #[test]
    fn corruptions_frost_texture_matches_the_photographs_statistics() {
        let mut rng = StdRng::seed_from_u64(11);
        for (style, &(mean, std, jitter, lag1)) in FROST_STYLES.iter().enumerate() {
            let (mut m, mut within, mut lag) = ([0.0f64; 3], [0.0f64; 3], 0.0);
            let mut crop_means = vec![];
            let n = 300;
            for _ in 0..n {
                let t = frost_texture_style(32, 32, style, &mut rng);
                let mut cm = [0.0f64; 3];
                for c in 0..3 {
                    let v: Vec<f64> = t.iter().skip(c).step_by(3).copied().collect();
                    let mu = v.iter().sum::<f64>() / v.len() as f64;
                    cm[c] = mu;
                    m[c] += mu / n as f64;
                    within[c] += (v.iter().map(|x| (x - mu).powi(2)).sum::<f64>() / v.len() as f64).sqrt() / n as f64;
                }
                crop_means.push(cm[0]);
                let g: Vec<f64> = t.chunks(3).map(|p| (p[0] + p[1] + p[2]) / 3.0).collect();
                let gm = g.iter().sum::<f64>() / g.len() as f64;
                let var = g.iter().map(|x| (x - gm).powi(2)).sum::<f64>();
                let cov: f64 = (0..32).flat_map(|y| (0..31).map(move |x| y * 32 + x)).map(|i| (g[i] - gm) * (g[i + 1] - gm)).sum();
                lag += cov / var * (1024.0 / 992.0) / n as f64;
            }
            let cm_mean = crop_means.iter().sum::<f64>() / n as f64;
            let between = (crop_means.iter().map(|x| (x - cm_mean).powi(2)).sum::<f64>() / n as f64).sqrt();
            for c in 0..3 {
                assert!((m[c] - mean[c]).abs() < 0.015, "style {style} channel {c}: mean {} vs {}", m[c], mean[c]);
                assert!((within[c] / std[c] - 1.0).abs() < 0.12, "style {style} channel {c}: within sd {} vs {}", within[c], std[c]);
            }
            assert!((between / jitter[0] - 1.0).abs() < 0.2, "style {style}: crop-mean sd {between} vs {}", jitter[0]);
            assert!((lag - lag1).abs() < 0.08, "style {style}: lag-1 autocorrelation {lag} vs {lag1}");
        }
    }
}
