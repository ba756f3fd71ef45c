//! Blur corruptions (Hendrycks & Dietterich 2019; CIFAR parameters of `make_cifar_c.py`).

use rand::Rng;
use rand::rngs::StdRng;

use super::{Border, gaussian_2d, to_bytes_trunc, to_unit, uniform};

/// `(radius, alias_blur)` per severity.
pub const DEFOCUS: [(f64, f64); 5] = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1)];
/// `(sigma, max_delta, iterations)` per severity.
pub const GLASS: [(f64, isize, usize); 5] = [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)];
/// ImageMagick `(radius, sigma)` per severity; the angle is uniform in [-45, 45) degrees.
pub const MOTION: [(f64, f64); 5] = [(6.0, 1.0), (6.0, 1.5), (6.0, 2.0), (8.0, 2.0), (9.0, 2.5)];
/// Number of zoom factors per severity: `np.arange(1, e, 0.01)` for e = 1.06 1.11 1.16 1.21
/// 1.26 has 7, 12, 16, 21 and 26 elements (floating-point rounding makes the first two include
/// their end point), factors `1 + i * (1.01 - 1.0)`.
pub const ZOOM_COUNTS: [usize; 5] = [7, 12, 16, 21, 26];

/// The anti-aliased disk of `make_cifar_c.py`: the indicator of `x^2 + y^2 <= r^2` on the
/// 17 x 17 grid -8..=8, normalised to sum 1, then blurred by OpenCV's 3 x 3 Gaussian
/// (`sigma = alias_blur`, `BORDER_REFLECT_101`). Row-major, 17 x 17.
pub fn disk_kernel(radius: f64, alias_blur: f64) -> Vec<f64> {
    // In float32 like the reference (`dtype=np.float32`, OpenCV's CV_32F Gaussian): the weights
    // of an f64 kernel differ in the last bits, which flips a truncation on ~5% of bytes.
    const N: usize = 17;
    let mut disk = vec![0.0f32; N * N];
    for y in 0..N {
        for x in 0..N {
            let (dy, dx) = (y as f64 - 8.0, x as f64 - 8.0);
            if dx * dx + dy * dy <= radius * radius {
                disk[y * N + x] = 1.0;
            }
        }
    }
    let sum: f32 = disk.iter().sum();
    disk.iter_mut().for_each(|v| *v /= sum);
    // cv2.getGaussianKernel(3, sigma): exp(-x^2 / (2 sigma^2)) at x = -1, 0, 1, normalised in
    // f64, stored as f32.
    let g: Vec<f64> = (-1..=1).map(|x: i32| (-((x * x) as f64) / (2.0 * alias_blur * alias_blur)).exp()).collect();
    let gs: f64 = g.iter().sum();
    let g: Vec<f32> = g.iter().map(|v| (v / gs) as f32).collect();
    let pass = |src: &[f32], vertical: bool| -> Vec<f32> {
        let mut out = vec![0.0f32; N * N];
        for y in 0..N {
            for x in 0..N {
                let mut acc = 0.0f32;
                for (k, &w) in g.iter().enumerate() {
                    let d = k as isize - 1;
                    let (yy, xx) = if vertical {
                        (Border::Reflect101.index(y as isize + d, N), x)
                    } else {
                        (y, Border::Reflect101.index(x as isize + d, N))
                    };
                    acc += w * src[yy * N + xx];
                }
                out[y * N + x] = acc;
            }
        }
        out
    };
    let blurred = pass(&pass(&disk, false), true);
    blurred.into_iter().map(|v| v as f64).collect()
}

/// `defocus_blur`: every channel correlated (`cv2.filter2D`, `BORDER_REFLECT_101`) with
/// [`disk_kernel`] for (radius, alias blur) = (.3,.4) (.4,.5) (.5,.6) (1,.2) (1.5,.1). Exact.
pub fn defocus_blur(image: &[u8], h: usize, w: usize, s: usize) -> Vec<u8> {
    let (radius, alias) = DEFOCUS[s];
    let kernel = disk_kernel(radius, alias);
    let x = to_unit(image);
    let mut out = vec![0.0; x.len()];
    // Only the non-zero support matters (zeros contribute nothing whatever the border).
    let taps: Vec<(isize, isize, f64)> =
        (0..17 * 17).filter(|&i| kernel[i] != 0.0).map(|i| ((i / 17) as isize - 8, (i % 17) as isize - 8, kernel[i])).collect();
    for y in 0..h {
        for xx in 0..w {
            for c in 0..3 {
                let mut acc = 0.0;
                for &(dy, dx, k) in &taps {
                    let yy = Border::Reflect101.index(y as isize + dy, h);
                    let xs = Border::Reflect101.index(xx as isize + dx, w);
                    acc += k * x[(yy * w + xs) * 3 + c];
                }
                out[(y * w + xx) * 3 + c] = acc;
            }
        }
    }
    to_bytes_trunc(&out)
}

/// `glass_blur` with (sigma, delta, iterations) = (.05,1,1) (.25,1,1) (.4,1,1) (.25,1,2)
/// (.4,1,2): scikit-image Gaussian blur (truncate 4, `nearest` border), truncated to bytes,
/// then for every pixel (h, w) from `(H - delta, W - delta)` down to `(delta + 1, delta + 1)`
/// an offset `(dx, dy)` of `np.random.randint(-delta, delta)` (so in `[-delta, delta)`: -1 or 0
/// for delta 1) and the reference's "swap" `x[h, w], x[h', w'] = x[h', w'], x[h, w]` -- which on
/// NumPy views is a copy of pixel (h', w') into (h, w), reproduced as such -- then the blur
/// again. Exact up to the random generator.
pub fn glass_blur(image: &[u8], h: usize, w: usize, s: usize, rng: &mut StdRng) -> Vec<u8> {
    let (sigma, delta, iterations) = GLASS[s];
    let mut x = to_bytes_trunc(&gaussian_2d(&to_unit(image), h, w, 3, sigma, Border::Nearest, 4.0));
    for _ in 0..iterations {
        for hh in ((delta + 1)..=(h as isize - delta)).rev() {
            for ww in ((delta + 1)..=(w as isize - delta)).rev() {
                let dx = rng.random_range(-delta as i64..delta as i64) as isize;
                let dy = rng.random_range(-delta as i64..delta as i64) as isize;
                let (hp, wp) = ((hh + dy) as usize, (ww + dx) as usize);
                let (src, dst) = ((hp * w + wp) * 3, (hh as usize * w + ww as usize) * 3);
                for c in 0..3 {
                    x[dst + c] = x[src + c];
                }
            }
        }
    }
    to_bytes_trunc(&gaussian_2d(&to_unit(&x), h, w, 3, sigma, Border::Nearest, 4.0))
}

/// ImageMagick's `MotionBlurImage(radius, sigma, angle)` on a `[h, w, c]` buffer, re-implemented
/// from its algorithm: a one-sided kernel of `2 * ceil(radius) + 1` taps with weights
/// `exp(-i^2 / (2 sigma^2))` (normalised), tap `i` reading the pixel at offset
/// `(ceil(i cos(angle) - 0.5), ceil(i sin(angle) - 0.5))` (x right, y down, degrees), edge
/// pixels repeated outside the image. The result is not rounded.
pub fn magick_motion_blur(x: &[f64], h: usize, w: usize, c: usize, radius: f64, sigma: f64, angle_deg: f64) -> Vec<f64> {
    let width = (2.0 * radius.ceil() + 1.0) as usize;
    let kernel: Vec<f64> = (0..width).map(|i| (-((i * i) as f64) / (2.0 * sigma * sigma)).exp()).collect();
    let norm: f64 = kernel.iter().sum();
    let a = angle_deg.to_radians();
    let (px, py) = (width as f64 * a.sin(), width as f64 * a.cos());
    let hyp = px.hypot(py);
    let offsets: Vec<(isize, isize)> =
        (0..width).map(|i| ((i as f64 * py / hyp - 0.5).ceil() as isize, (i as f64 * px / hyp - 0.5).ceil() as isize)).collect();
    let mut out = vec![0.0; x.len()];
    for y in 0..h {
        for xx in 0..w {
            for (k, &(ox, oy)) in kernel.iter().zip(&offsets) {
                let ys = Border::Nearest.index(y as isize + oy, h);
                let xs = Border::Nearest.index(xx as isize + ox, w);
                for ch in 0..c {
                    out[(y * w + xx) * c + ch] += k / norm * x[(ys * w + xs) * c + ch];
                }
            }
        }
    }
    out
}

/// ImageMagick 6 (Q16) blur of 8-bit values as the reference's PNG round trip sees it: the bytes
/// become 16-bit quanta (`v * 257`), the blurred quanta are rounded, and the PNG writer keeps
/// `q / 257` (integer division). Bit-exact against `convert -motion-blur` (ImageMagick
/// 6.9.11-60 Q16) at fixed angles: test `corruptions_motion_blur_matches_imagemagick`.
pub fn magick_motion_blur_bytes(image: &[u8], h: usize, w: usize, c: usize, radius: f64, sigma: f64, angle_deg: f64) -> Vec<u8> {
    let q: Vec<f64> = image.iter().map(|&v| v as f64 * 257.0).collect();
    magick_motion_blur(&q, h, w, c, radius, sigma, angle_deg).into_iter().map(|v| (v.round().clamp(0.0, 65535.0) as u32 / 257) as u8).collect()
}

/// `motion_blur` with ImageMagick (radius, sigma) = (6,1) (6,1.5) (6,2) (8,2) (9,2.5) and an
/// angle uniform in [-45, 45): [`magick_motion_blur_bytes`], bit-exact with ImageMagick 6 for a
/// given angle; the random angle comes from our generator.
pub fn motion_blur(image: &[u8], h: usize, w: usize, s: usize, rng: &mut StdRng) -> Vec<u8> {
    let (radius, sigma) = MOTION[s];
    let angle = uniform(rng, -45.0, 45.0);
    magick_motion_blur_bytes(image, h, w, 3, radius, sigma, angle)
}

/// The reference's `clipped_zoom` on a `[h, w, c]` buffer: crop the central
/// `ceil(n / zoom)` pixels of each axis, zoom them with SciPy's `zoom(order=1)` (output size
/// `round(crop * zoom)`, corners aligned: output `o` samples input `o * (crop - 1) / (out - 1)`,
/// bilinear), and keep the central `n` pixels.
pub fn clipped_zoom(x: &[f64], h: usize, w: usize, c: usize, zoom: f64) -> Vec<f64> {
    // For each axis: the source coordinate (in the full image) of every kept output pixel.
    let axis = |n: usize| -> Vec<f64> {
        let crop = (n as f64 / zoom).ceil() as usize;
        let top = (n - crop) / 2;
        let out = (crop as f64 * zoom).round_ties_even() as usize;
        let trim = (out - n) / 2;
        let scale = if out > 1 { (crop as f64 - 1.0) / (out as f64 - 1.0) } else { 0.0 };
        (trim..trim + n).map(|o| top as f64 + (o as f64 * scale).min(crop as f64 - 1.0)).collect()
    };
    let (ys, xs) = (axis(h), axis(w));
    let lerp = |coord: f64, n: usize| -> (usize, usize, f64) {
        let i0 = coord.floor() as usize;
        let i1 = (i0 + 1).min(n - 1);
        (i0, i1, coord - i0 as f64)
    };
    let mut out = vec![0.0; x.len()];
    for (oy, &cy) in ys.iter().enumerate() {
        let (y0, y1, fy) = lerp(cy, h);
        for (ox, &cx) in xs.iter().enumerate() {
            let (x0, x1, fx) = lerp(cx, w);
            for ch in 0..c {
                let p = |yy: usize, xx: usize| x[(yy * w + xx) * c + ch];
                let top = p(y0, x0) * (1.0 - fx) + p(y0, x1) * fx;
                let bottom = p(y1, x0) * (1.0 - fx) + p(y1, x1) * fx;
                out[(oy * w + ox) * c + ch] = top * (1.0 - fy) + bottom * fy;
            }
        }
    }
    out
}

/// The zoom factors of severity index `s`, computed as `np.arange` does.
pub fn zoom_factors(s: usize) -> Vec<f64> {
    let step = 1.01f64 - 1.0;
    (0..ZOOM_COUNTS[s]).map(|i| 1.0 + i as f64 * step).collect()
}

/// `zoom_blur`: the mean of the image and its [`clipped_zoom`]s by `1, 1.01, ...` (7, 12, 16, 21
/// or 26 factors, see [`ZOOM_COUNTS`]), in float32 as the reference. Exact.
pub fn zoom_blur(image: &[u8], h: usize, w: usize, s: usize) -> Vec<u8> {
    let x32: Vec<f32> = image.iter().map(|&v| (v as f64 / 255.0) as f32).collect();
    let x64: Vec<f64> = x32.iter().map(|&v| v as f64).collect();
    let factors = zoom_factors(s);
    let mut acc = vec![0.0f32; x32.len()];
    for &z in &factors {
        for (a, v) in acc.iter_mut().zip(clipped_zoom(&x64, h, w, 3, z)) {
            *a += v as f32;
        }
    }
    let n = (factors.len() + 1) as f32;
    x32.iter().zip(&acc).map(|(&x, &a)| (((x + a) / n).clamp(0.0, 1.0) * 255.0) as u8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corruptions_defocus_kernel_sums_to_one_and_is_symmetric() {
        for &(r, a) in &DEFOCUS {
            let k = disk_kernel(r, a);
            assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-6, "radius {r}");
            for y in 0..17 {
                for x in 0..17 {
                    assert!((k[y * 17 + x] - k[x * 17 + y]).abs() < 1e-7);
                    assert!((k[y * 17 + x] - k[(16 - y) * 17 + (16 - x)]).abs() < 1e-7);
                }
            }
        }
        // Radius .3: the disk is the centre alone, so the kernel is the 3 x 3 Gaussian (sigma .4).
        let k = disk_kernel(0.3, 0.4);
        let g1 = (-1.0f64 / (2.0 * 0.16)).exp() / (1.0 + 2.0 * (-1.0f64 / 0.32).exp());
        let g0 = 1.0 / (1.0 + 2.0 * (-1.0f64 / 0.32).exp());
        assert!((k[8 * 17 + 8] - g0 * g0).abs() < 1e-7 && (k[8 * 17 + 9] - g0 * g1).abs() < 1e-7);
        assert_eq!(k[8 * 17 + 10], 0.0);
        // Radius 1.5 covers the 3 x 3 block (9 cells), radius 1 the cross (5 cells).
        let before_blur = |r: f64| (0..17 * 17).filter(|&i| ((i / 17) as f64 - 8.0).powi(2) + ((i % 17) as f64 - 8.0).powi(2) <= r * r).count();
        assert_eq!((before_blur(1.0), before_blur(1.5)), (5, 9));
    }

    #[test]
    fn corruptions_zoom_factor_counts_follow_numpy_arange() {
        assert_eq!(zoom_factors(0).len(), 7);
        assert!((zoom_factors(0)[6] - 1.06).abs() < 1e-12);
        assert!((zoom_factors(4)[25] - 1.25).abs() < 1e-12);
        // round(26 * 1.2500000000000002) is 33 (NumPy's arange step is 1.01 - 1.0).
        assert_eq!((26.0 * zoom_factors(4)[25]).round_ties_even(), 33.0);
    }

    #[test]
    fn corruptions_clipped_zoom_of_one_is_identity() {
        let x: Vec<f64> = (0..5 * 4 * 2).map(|i| (i * 7 % 11) as f64).collect();
        assert_eq!(clipped_zoom(&x, 5, 4, 2, 1.0), x);
    }

    #[test]
    fn corruptions_motion_blur_streak_is_one_sided() {
        // A single bright pixel, angle 0: the kernel reads pixels to the right, so the streak
        // extends to the left of the dot with decreasing weights.
        let (h, w) = (1, 20);
        let mut x = vec![0.0; w];
        x[15] = 1.0;
        let out = magick_motion_blur(&x, h, w, 1, 6.0, 2.0, 0.0);
        assert!(out[16..].iter().all(|&v| v == 0.0));
        assert!(out[15] > out[14] && out[14] > out[10] && out[10] > 0.0);
        assert_eq!(out[2], 0.0); // 13 taps: reaches 12 pixels
        assert!(out[3] > 0.0);
        let total: f64 = magick_motion_blur(&vec![1.0; w], h, w, 1, 6.0, 2.0, 30.0).iter().sum();
        assert!((total - w as f64).abs() < 1e-9, "weights sum to one");
    }
}
