//! Digital corruptions (Hendrycks & Dietterich 2019; CIFAR parameters of `make_cifar_c.py`).

use rand::rngs::StdRng;

use super::{Border, gaussian_2d, to_bytes_trunc, to_unit, uniform};

/// Added to HSV value per severity.
pub const BRIGHTNESS: [f64; 5] = [0.05, 0.1, 0.15, 0.2, 0.3];
/// Contrast factor per severity.
pub const CONTRAST: [f64; 5] = [0.75, 0.5, 0.4, 0.3, 0.15];
/// Elastic `(alpha, sigma, affine)` per severity, in units of the image size (32 for CIFAR).
pub const ELASTIC: [(f64, f64, f64); 5] = [(0.0, 0.0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)];
/// Pixelate scale per severity.
pub const PIXELATE: [f64; 5] = [0.95, 0.9, 0.85, 0.75, 0.65];
/// JPEG quality per severity.
pub const JPEG_QUALITY: [u8; 5] = [80, 65, 58, 50, 40];

/// scikit-image's `rgb2hsv` of one pixel in f64 (the f32 [`crate::data::views::rgb_to_hsv`]
/// of the augmentations gives one-level differences on ~5% of bytes after truncation).
fn rgb_to_hsv64(r: f64, g: f64, b: f64) -> (f64, f64, f64) {
    let v = r.max(g).max(b);
    let delta = v - r.min(g).min(b);
    if delta == 0.0 {
        return (0.0, 0.0, v);
    }
    // scikit-image assigns red, then green, then blue: the last channel equal to the max wins.
    let h = if b == v {
        4.0 + (r - g) / delta
    } else if g == v {
        2.0 + (b - r) / delta
    } else {
        (g - b) / delta
    };
    ((h / 6.0).rem_euclid(1.0), delta / v, v)
}


/// `brightness`: HSV value `+ c` (c = .05 .1 .15 .2 .3), clipped to 1, back to RGB with
/// scikit-image's `rgb2hsv`/`hsv2rgb` formulas in f64. Exact.
pub fn brightness(image: &[u8], s: usize) -> Vec<u8> {
    let c = BRIGHTNESS[s];
    let mut out = Vec::with_capacity(image.len());
    for p in image.chunks_exact(3) {
        let (h, sat, v) = rgb_to_hsv64(p[0] as f64 / 255.0, p[1] as f64 / 255.0, p[2] as f64 / 255.0);
        let (r, g, b) = crate::data::views::hsv_to_rgb64(h, sat, (v + c).clamp(0.0, 1.0));
        out.extend([r, g, b]);
    }
    to_bytes_trunc(&out)
}

/// `contrast`: `(x - mean) * c + mean` with the per-channel mean of the image and
/// c = .75 .5 .4 .3 .15, clipped. Exact.
pub fn contrast(image: &[u8], s: usize) -> Vec<u8> {
    let c = CONTRAST[s];
    let x = to_unit(image);
    let n = (x.len() / 3).max(1) as f64;
    let mut mean = [0.0f64; 3];
    for (i, &v) in x.iter().enumerate() {
        mean[i % 3] += v;
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let out: Vec<f64> = x.iter().enumerate().map(|(i, &v)| (v - mean[i % 3]) * c + mean[i % 3]).collect();
    to_bytes_trunc(&out)
}

/// Pillow's resampling coefficients for the BOX filter (`precompute_coeffs` with support 0.5,
/// normalised, then fixed point with 22 fractional bits): per output pixel, the first input
/// pixel and the integer weights.
fn pil_box_coeffs(input: usize, output: usize) -> Vec<(usize, Vec<i64>)> {
    const PRECISION_BITS: u32 = 32 - 8 - 2;
    let scale = input as f64 / output as f64;
    let filterscale = scale.max(1.0);
    let support = 0.5 * filterscale;
    let box_filter = |x: f64| if x > -0.5 && x <= 0.5 { 1.0 } else { 0.0 };
    (0..output)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            let xmin = ((center - support + 0.5) as i64).max(0);
            let xmax = ((center + support + 0.5) as i64).min(input as i64) - xmin;
            let w: Vec<f64> = (0..xmax).map(|x| box_filter((x as f64 + xmin as f64 - center + 0.5) / filterscale)).collect();
            let total: f64 = w.iter().sum();
            let k = w
                .iter()
                .map(|&v| {
                    let v = if total != 0.0 { v / total } else { v };
                    (v * (1i64 << PRECISION_BITS) as f64 + if v < 0.0 { -0.5 } else { 0.5 }) as i64
                })
                .collect();
            (xmin as usize, k)
        })
        .collect()
}

/// Pillow's `Image.resize((out_w, out_h), Image.BOX)` of 8-bit RGB: a horizontal pass, then a
/// vertical one, each rounding to bytes in fixed point.
pub fn pil_box_resize(image: &[u8], h: usize, w: usize, out_h: usize, out_w: usize) -> Vec<u8> {
    const PRECISION_BITS: u32 = 22;
    let clip8 = |ss: i64| (ss >> PRECISION_BITS).clamp(0, 255) as u8;
    let mut tmp = image.to_vec();
    let mut tw = w;
    if out_w != w {
        let coeffs = pil_box_coeffs(w, out_w);
        let mut out = vec![0u8; h * out_w * 3];
        for y in 0..h {
            for (xx, (xmin, k)) in coeffs.iter().enumerate() {
                for c in 0..3 {
                    let mut ss = 1i64 << (PRECISION_BITS - 1);
                    for (i, &kk) in k.iter().enumerate() {
                        ss += tmp[(y * w + xmin + i) * 3 + c] as i64 * kk;
                    }
                    out[(y * out_w + xx) * 3 + c] = clip8(ss);
                }
            }
        }
        tmp = out;
        tw = out_w;
    }
    if out_h != h {
        let coeffs = pil_box_coeffs(h, out_h);
        let mut out = vec![0u8; out_h * tw * 3];
        for (yy, (ymin, k)) in coeffs.iter().enumerate() {
            for x in 0..tw {
                for c in 0..3 {
                    let mut ss = 1i64 << (PRECISION_BITS - 1);
                    for (i, &kk) in k.iter().enumerate() {
                        ss += tmp[((ymin + i) * tw + x) * 3 + c] as i64 * kk;
                    }
                    out[(yy * tw + x) * 3 + c] = clip8(ss);
                }
            }
        }
        tmp = out;
    }
    tmp
}

/// `pixelate`: Pillow BOX resize to `int(32 c)` pixels (c = .95 .9 .85 .75 .65, so 30, 28,
/// 27, 24, 20 for CIFAR) and back, in Pillow's fixed-point arithmetic. Exact.
pub fn pixelate(image: &[u8], h: usize, w: usize, s: usize) -> Vec<u8> {
    let c = PIXELATE[s];
    let (sh, sw) = (((h as f64 * c) as usize).max(1), ((w as f64 * c) as usize).max(1));
    let small = pil_box_resize(image, h, w, sh, sw);
    pil_box_resize(&small, sh, sw, h, w)
}

/// Pillow/libjpeg's default 4:2:0 chroma handling, emulated on RGB bytes: JFIF YCbCr, chroma
/// averaged over 2 x 2 blocks and brought back with libjpeg's "fancy" (triangle) upsampling
/// (3/4 of the nearer chroma sample, 1/4 of the farther, per axis), luma untouched.
fn chroma_420(image: &[u8], h: usize, w: usize) -> Vec<u8> {
    let (ch, cw) = (h.div_ceil(2), w.div_ceil(2));
    let mut ycc = vec![[0.0f64; 3]; h * w];
    for (p, px) in image.chunks_exact(3).enumerate() {
        let (r, g, b) = (px[0] as f64, px[1] as f64, px[2] as f64);
        ycc[p] = [
            0.299 * r + 0.587 * g + 0.114 * b,
            -0.168_735_892 * r - 0.331_264_108 * g + 0.5 * b,
            0.5 * r - 0.418_687_589 * g - 0.081_312_411 * b,
        ];
    }
    let mut small = vec![[0.0f64; 2]; ch * cw];
    for y in 0..ch {
        for x in 0..cw {
            let mut acc = [0.0; 2];
            for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                let p = (2 * y + dy).min(h - 1) * w + (2 * x + dx).min(w - 1);
                acc[0] += ycc[p][1];
                acc[1] += ycc[p][2];
            }
            small[y * cw + x] = [acc[0] / 4.0, acc[1] / 4.0];
        }
    }
    // Full-resolution pixel i sits at chroma coordinate (i - 0.5) / 2.
    let taps = |i: usize, n: usize| -> (usize, usize, f64) {
        let near = i / 2;
        let far = if i % 2 == 0 { near.saturating_sub(1) } else { (near + 1).min(n - 1) };
        (near, far, 0.25)
    };
    let mut out = Vec::with_capacity(image.len());
    for y in 0..h {
        let (y0, y1, fy) = taps(y, ch);
        for x in 0..w {
            let (x0, x1, fx) = taps(x, cw);
            let c = |k: usize| {
                let s = |yy: usize, xx: usize| small[yy * cw + xx][k];
                (1.0 - fy) * ((1.0 - fx) * s(y0, x0) + fx * s(y0, x1)) + fy * ((1.0 - fx) * s(y1, x0) + fx * s(y1, x1))
            };
            let (yl, cb, cr) = (ycc[y * w + x][0], c(0), c(1));
            let rgb = [yl + 1.402 * cr, yl - 0.344_136_286 * cb - 0.714_136_286 * cr, yl + 1.772 * cb];
            out.extend(rgb.map(|v| v.round().clamp(0.0, 255.0) as u8));
        }
    }
    out
}

/// `jpeg_compression` at quality 80 65 58 50 40. **Approximate**: the reference saves with
/// Pillow (libjpeg, 4:2:0 chroma subsampling by default); the `image` crate's baseline encoder
/// has the same IJG quality scaling of the same standard quantisation tables but no chroma
/// subsampling and its own DCT, so we first apply libjpeg's chroma subsampling and upsampling
/// ([`chroma_420`]) and then encode and decode at full chroma resolution. The error to the clean
/// image is close to Pillow's (see `core/tests/corruptions.rs`), not bit-exact.
pub fn jpeg_compression(image: &[u8], h: usize, w: usize, s: usize) -> Vec<u8> {
    use image::ImageEncoder;
    let subsampled = chroma_420(image, h, w);
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, JPEG_QUALITY[s])
        .write_image(&subsampled, w as u32, h as u32, image::ExtendedColorType::Rgb8)
        .expect("JPEG encoding of an in-memory RGB image");
    let decoded = image::load_from_memory_with_format(&buf, image::ImageFormat::Jpeg).expect("decoding our own JPEG");
    decoded.to_rgb8().into_raw()
}

/// Solves the affine map taking the three points `from` to `to` (`cv2.getAffineTransform`):
/// `[[a, b, c], [d, e, f]]` with `to = (a x + b y + c, d x + e y + f)`.
fn affine_from_points(from: [[f64; 2]; 3], to: [[f64; 2]; 3]) -> [[f64; 3]; 2] {
    let [[x1, y1], [x2, y2], [x3, y3]] = from;
    let det = x1 * (y2 - y3) - y1 * (x2 - x3) + (x2 * y3 - x3 * y2);
    let solve = |v: [f64; 3]| -> [f64; 3] {
        // Cramer's rule on [[x1, y1, 1], [x2, y2, 1], [x3, y3, 1]] * (p, q, r) = v.
        let a = (v[0] * (y2 - y3) - y1 * (v[1] - v[2]) + (v[1] * y3 - v[2] * y2)) / det;
        let b = (x1 * (v[1] - v[2]) - v[0] * (x2 - x3) + (x2 * v[2] - x3 * v[1])) / det;
        let c = (x1 * (y2 * v[2] - y3 * v[1]) - y1 * (x2 * v[2] - x3 * v[1]) + v[0] * (x2 * y3 - x3 * y2)) / det;
        [a, b, c]
    };
    [solve([to[0][0], to[1][0], to[2][0]]), solve([to[0][1], to[1][1], to[2][1]])]
}

/// Bilinear sample of channel `c` of a `[h, w, 3]` buffer at (y, x), neighbours through `border`.
fn bilinear(x: &[f64], h: usize, w: usize, c: usize, y: f64, xx: f64, border: Border) -> f64 {
    let (y0, x0) = (y.floor(), xx.floor());
    let (fy, fx) = (y - y0, xx - x0);
    let (y0, x0) = (y0 as isize, x0 as isize);
    let p = |yy: isize, xs: isize| x[(border.index(yy, h) * w + border.index(xs, w)) * 3 + c];
    let top = p(y0, x0) * (1.0 - fx) + p(y0, x0 + 1) * fx;
    let bottom = p(y0 + 1, x0) * (1.0 - fx) + p(y0 + 1, x0 + 1) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// `elastic_transform` with (alpha, sigma, affine) = 32 x (0,0,.08) (.05,.2,.07) (.08,.06,.06)
/// (.1,.04,.05) (.1,.03,.03): the three points (c+s, c+s), (c+s, c-s), (c-s, c-s) (c = size/2,
/// s = size/3) moved by `U(-affine, affine)` define an affine warp (`cv2.warpAffine`, bilinear
/// with source coordinates on OpenCV's 1/32-pixel grid, `BORDER_REFLECT_101`); then a
/// displacement field `alpha * gaussian(U(-1, 1), sigma, reflect, truncate 3)` per axis moves
/// every pixel (`map_coordinates(order=1, mode='reflect')`). Exact up to the random generator
/// (and OpenCV's rounding of a coordinate that falls exactly between two 1/32 steps).
pub fn elastic_transform(image: &[u8], h: usize, w: usize, s: usize, rng: &mut StdRng) -> Vec<u8> {
    let size = h as f64; // IMSIZE = 32 in the reference
    let (alpha, sigma, affine) = (ELASTIC[s].0 * size, ELASTIC[s].1 * size, ELASTIC[s].2 * size);
    let x: Vec<f64> = image.iter().map(|&v| (v as f64 / 255.0) as f32 as f64).collect();
    let (c0, c1) = ((h / 2) as f64, (w / 2) as f64);
    let sq = (h.min(w) / 3) as f64;
    let pts1 = [[c0 + sq, c1 + sq], [c0 + sq, c1 - sq], [c0 - sq, c1 - sq]];
    let mut pts2 = pts1;
    for p in pts2.iter_mut() {
        for v in p.iter_mut() {
            *v += uniform(rng, -affine, affine) as f32 as f64;
        }
    }
    let m = affine_from_points(pts1, pts2);
    // warpAffine maps every destination pixel through the inverse transform.
    let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
    let inv = [
        [m[1][1] / det, -m[0][1] / det, (m[0][1] * m[1][2] - m[1][1] * m[0][2]) / det],
        [-m[1][0] / det, m[0][0] / det, (m[1][0] * m[0][2] - m[0][0] * m[1][2]) / det],
    ];
    let mut warped = vec![0.0; x.len()];
    for yy in 0..h {
        for xx in 0..w {
            let q = |v: f64| (v * 32.0).round() / 32.0;
            let sx = q(inv[0][0] * xx as f64 + inv[0][1] * yy as f64 + inv[0][2]);
            let sy = q(inv[1][0] * xx as f64 + inv[1][1] * yy as f64 + inv[1][2]);
            for c in 0..3 {
                warped[(yy * w + xx) * 3 + c] = bilinear(&x, h, w, c, sy, sx, Border::Reflect101);
            }
        }
    }
    let mut field = || -> Vec<f64> {
        let u: Vec<f64> = (0..h * w).map(|_| uniform(rng, -1.0, 1.0)).collect();
        gaussian_2d(&u, h, w, 1, sigma, Border::Reflect, 3.0).into_iter().map(|v| (v * alpha) as f32 as f64).collect()
    };
    let dx = field();
    let dy = field();
    let mut out = vec![0.0; x.len()];
    for yy in 0..h {
        for xx in 0..w {
            let p = yy * w + xx;
            for c in 0..3 {
                out[p * 3 + c] = bilinear(&warped, h, w, c, yy as f64 + dy[p], xx as f64 + dx[p], Border::Reflect);
            }
        }
    }
    to_bytes_trunc(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corruptions_affine_from_points_solves_the_three_points() {
        let from = [[26.0, 26.0], [26.0, 6.0], [6.0, 6.0]];
        let to = [[27.0, 25.5], [24.0, 7.0], [6.5, 5.0]];
        let m = affine_from_points(from, to);
        for (f, t) in from.iter().zip(&to) {
            assert!((m[0][0] * f[0] + m[0][1] * f[1] + m[0][2] - t[0]).abs() < 1e-9);
            assert!((m[1][0] * f[0] + m[1][1] * f[1] + m[1][2] - t[1]).abs() < 1e-9);
        }
    }

    #[test]
    fn corruptions_pil_box_weights_average_whole_blocks() {
        // 32 -> 16 averages pairs; 16 -> 32 repeats pixels.
        let c = pil_box_coeffs(32, 16);
        assert_eq!(c[3].0, 6);
        assert_eq!(c[3].1, vec![1 << 21, 1 << 21]);
        let up = pil_box_coeffs(16, 32);
        assert!(up.iter().enumerate().all(|(i, (xmin, k))| *xmin == i / 2 && k == &vec![1 << 22]));
    }
}
