//! The device renderer of contrastive views (core/src/data/device_views.rs) against the host
//! renderer `render_view`, the statistics of the views it renders, training steps on its
//! views, the device crop + flip of supervised training against the host's `crop_flip`, and
//! the view batches of supervised training (the paper's cross-entropy recipe) on both paths.
//! All on Flex, with small images.
//!
//! Tolerance of the pixel comparisons: the device samples through `grid_sample_2d`, whose
//! coordinates are normalised to [-1, 1] and back (a few float roundings of a coordinate below
//! 32, about 1e-6 pixel), interpolates in f64 on Flex (the host in f32), and averages the
//! contrast mean in another order. A pixel value moves by at most 1 per pixel of coordinate
//! (values in [0, 1], bytes differing by at most 255), and the jitter ops are continuous and
//! amplify differences by a small factor (blend factors <= 1.4 here, clipping and HSV hue
//! rotation are Lipschitz), so every pixel is expected within a few 1e-6 of the host (2.2e-6
//! was the largest seen); the tests allow 1e-5 on every pixel. The mutants below differ from
//! the host by far more (>= 0.01), so a wrong flip, crop offset, op order, hue direction or
//! grayscale mask cannot pass.

use burn::tensor::{Device, Tensor};
use hypersphere_core::data::ImageSet;
use hypersphere_core::data::augment::{CropFlip, crop_flip, crop_flip_tensor, crop_flip_with, sample_crop_flips};
use hypersphere_core::data::batch::{to_tensor, upload_pixels};
use hypersphere_core::data::device_views::{contrastive_views_on_device, render_views, sample_view_params};
use hypersphere_core::data::procedural::{ProceduralConfig, generate};
use hypersphere_core::data::views::{CropBox, Jitter, ViewConfig, ViewParams, contrastive_views, render_view};
use hypersphere_core::losses::contrastive::ContrastiveObjective;
use hypersphere_core::models::{Arch, Classifier, ModelConfig};
use hypersphere_core::train::contrastive::{ContrastiveModel, ViewBackend, contrastive_step};
use hypersphere_core::train::supervised::{Augmentation, training_batch};
use hypersphere_core::train::{ContrastiveConfig, Method, Scale, TrainPlan};
use rand::{Rng, SeedableRng};

const TOLERANCE: f32 = 1e-5;

fn values(t: Tensor<4>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
}

/// Test images of `h x w`: random bytes, a smooth colour gradient, and flat patches of pure,
/// gray, black and tied-maximum colours (every branch of the hue conversion).
fn test_images(h: usize, w: usize) -> Vec<Vec<u8>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let noise: Vec<u8> = (0..h * w * 3).map(|_| rng.random()).collect();
    let gradient: Vec<u8> =
        (0..h * w).flat_map(|p| [(p % w * 255 / w) as u8, (p / w * 255 / h) as u8, (255 - (p % w + p / w) * 255 / (h + w)) as u8]).collect();
    let palette = [[255u8, 0, 0], [0, 255, 0], [0, 0, 255], [128, 128, 128], [0, 0, 0], [200, 200, 40], [40, 200, 200], [200, 40, 200], [255, 255, 255], [90, 30, 10]];
    let patches: Vec<u8> = (0..h * w).flat_map(|p| palette[(p / w / 3 * 4 + p % w / 3) % palette.len()]).collect();
    vec![noise, gradient, patches]
}

fn identity(h: usize, w: usize) -> ViewParams {
    ViewParams { crop: CropBox { top: 0, left: 0, height: h, width: w }, flip: false, jitter: None, grayscale: false }
}

fn jitter(order: [usize; 4], brightness: f32, contrast: f32, saturation: f32, hue: f32) -> Option<Jitter> {
    Some(Jitter { order, brightness, contrast, saturation, hue })
}

/// Renders every case on every image with both renderers; returns per case the largest
/// difference and the host renders.
fn compare(images: &[Vec<u8>], h: usize, w: usize, cases: &[ViewParams]) -> (Vec<f32>, Vec<Vec<f32>>) {
    let n = images.len();
    let size = 3 * h * w;
    let params: Vec<ViewParams> = cases.iter().flat_map(|c| std::iter::repeat_n(*c, n)).collect();
    let bytes: Vec<u8> = images.concat();
    let device = values(render_views(upload_pixels(&bytes, n, h, w, &Device::flex()), &params));
    assert_eq!(device.len(), params.len() * size);
    let mut worst = Vec::new();
    let mut hosts = Vec::new();
    for (k, case) in cases.iter().enumerate() {
        let mut host = vec![0f32; n * size];
        let mut err = 0f32;
        for (i, image) in images.iter().enumerate() {
            render_view(image, h, w, case, &mut host[i * size..(i + 1) * size]);
            let row = k * n + i;
            for (a, b) in device[row * size..(row + 1) * size].iter().zip(&host[i * size..(i + 1) * size]) {
                assert!((0.0..=1.0).contains(a), "device value {a} outside [0, 1] in {case:?}");
                err = err.max((a - b).abs());
            }
        }
        worst.push(err);
        hosts.push(host);
    }
    (worst, hosts)
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn device_render_equals_render_view_for_the_same_parameters() {
    let (h, w) = (12, 10);
    let images = test_images(h, w);
    let id = identity(h, w);
    let crop = |top, left, height, width| CropBox { top, left, height, width };
    let strong = jitter([0, 1, 2, 3], 1.4, 1.4, 0.6, 0.1);
    // Cases in pairs (case, mutant): each mutant is a wrong convention the host must tell apart.
    let pairs: Vec<(&str, ViewParams, ViewParams)> = vec![
        ("identity", id, ViewParams { crop: crop(0, 1, h, w - 1), ..id }),
        ("crop", ViewParams { crop: crop(2, 3, 7, 5), ..id }, ViewParams { crop: crop(2, 4, 7, 5), ..id }),
        ("crop rows", ViewParams { crop: crop(1, 0, 5, 10), ..id }, ViewParams { crop: crop(0, 0, 5, 10), ..id }),
        ("tall crop", ViewParams { crop: crop(0, 6, 12, 4), ..id }, ViewParams { crop: crop(0, 6, 11, 4), ..id }),
        ("one pixel", ViewParams { crop: crop(5, 5, 1, 1), ..id }, ViewParams { crop: crop(5, 6, 1, 1), ..id }),
        ("flip", ViewParams { flip: true, ..id }, id),
        ("crop + flip", ViewParams { crop: crop(3, 1, 8, 6), flip: true, ..id }, ViewParams { crop: crop(3, 1, 8, 6), ..id }),
        ("brightness", ViewParams { jitter: jitter([0, 1, 2, 3], 1.4, 1.0, 1.0, 0.0), ..id }, ViewParams { jitter: jitter([0, 1, 2, 3], 0.6, 1.0, 1.0, 0.0), ..id }),
        ("contrast", ViewParams { jitter: jitter([1, 0, 2, 3], 1.0, 0.6, 1.0, 0.0), ..id }, ViewParams { jitter: jitter([1, 0, 2, 3], 1.0, 1.4, 1.0, 0.0), ..id }),
        ("saturation", ViewParams { jitter: jitter([2, 1, 0, 3], 1.0, 1.0, 1.4, 0.0), ..id }, ViewParams { jitter: jitter([2, 1, 0, 3], 1.0, 1.0, 0.6, 0.0), ..id }),
        ("hue +", ViewParams { jitter: jitter([3, 0, 1, 2], 1.0, 1.0, 1.0, 0.1), ..id }, ViewParams { jitter: jitter([3, 0, 1, 2], 1.0, 1.0, 1.0, -0.1), ..id }),
        ("hue -", ViewParams { jitter: jitter([0, 3, 1, 2], 1.0, 1.0, 1.0, -0.37), ..id }, ViewParams { jitter: jitter([0, 3, 1, 2], 1.0, 1.0, 1.0, 0.37), ..id }),
        ("order b,c,s,h", ViewParams { jitter: strong, ..id }, ViewParams { jitter: jitter([3, 2, 1, 0], 1.4, 1.4, 0.6, 0.1), ..id }),
        ("order h,s,c,b", ViewParams { jitter: jitter([3, 2, 1, 0], 1.4, 1.4, 0.6, 0.1), ..id }, ViewParams { jitter: jitter([1, 0, 3, 2], 1.4, 1.4, 0.6, 0.1), ..id }),
        ("order c,b,h,s", ViewParams { jitter: jitter([1, 0, 3, 2], 1.4, 1.4, 0.6, 0.1), ..id }, ViewParams { jitter: strong, ..id }),
        ("grayscale", ViewParams { grayscale: true, ..id }, id),
        ("everything", ViewParams { crop: crop(1, 2, 9, 7), flip: true, jitter: jitter([2, 3, 0, 1], 0.7, 1.3, 1.2, -0.05), grayscale: true }, ViewParams { crop: crop(1, 2, 9, 7), flip: true, jitter: jitter([2, 3, 0, 1], 0.7, 1.3, 1.2, -0.05), grayscale: false }),
    ];
    let cases: Vec<ViewParams> = pairs.iter().flat_map(|(_, c, m)| [*c, *m]).collect();
    let (worst, hosts) = compare(&images, h, w, &cases);
    for (k, (name, _, _)) in pairs.iter().enumerate() {
        let (case, mutant) = (2 * k, 2 * k + 1);
        assert!(worst[case] <= TOLERANCE && worst[mutant] <= TOLERANCE, "{name}: device differs from the host by {} (mutant {})", worst[case], worst[mutant]);
        let gap = max_diff(&hosts[case], &hosts[mutant]);
        assert!(gap >= 0.01, "{name}: the mutant is indistinguishable ({gap}), the comparison proves nothing");
    }
    let overall = worst.iter().copied().fold(0.0, f32::max);
    println!("largest difference over {} hand-made cases: {overall:e}", cases.len());
}

#[test]
fn device_render_equals_render_view_for_sampled_views() {
    let (h, w) = (12, 10);
    let images = test_images(h, w);
    for (config, seed) in [(ViewConfig::simclr(), 1u64), (ViewConfig::supcon(), 2), (ViewConfig { jitter_p: 1.0, grayscale_p: 0.5, ..ViewConfig::simclr() }, 3)] {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let cases: Vec<ViewParams> = (0..64).map(|_| config.sample(h, w, &mut rng)).collect();
        let (worst, _) = compare(&images, h, w, &cases);
        for (case, err) in cases.iter().zip(&worst) {
            assert!(*err <= TOLERANCE, "device differs from the host by {err} for {case:?}");
        }
        println!("seed {seed}: largest difference {:e}", worst.iter().copied().fold(0.0, f32::max));
    }
}

fn procedural_set(n: usize, h: usize, w: usize, seed: u64) -> ImageSet {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    ImageSet {
        pixels: (0..n * h * w * 3).map(|_| rng.random()).collect(),
        labels: (0..n).map(|i| i % 3).collect(),
        class_names: vec!["a".into(), "b".into(), "c".into()],
        height: h,
        width: w,
    }
}

#[test]
fn device_batches_match_host_batches_layout_and_seeding() {
    let set = procedural_set(12, 16, 16, 5);
    let indices = [7, 2, 11, 0, 5];
    let device = Device::flex();
    for config in [ViewConfig::simclr(), ViewConfig::supcon()] {
        for seed in [0u64, 77] {
            let host = contrastive_views(&set, &indices, &config, 2, seed, &device);
            let dev = contrastive_views_on_device(&set, &indices, &config, 2, seed, &device);
            assert_eq!(dev.dims(), [10, 3, 16, 16]);
            assert_eq!(host.dims(), dev.dims());
            let err = max_diff(&values(host), &values(dev));
            assert!(err <= TOLERANCE, "seed {seed}: device batch differs from the host batch by {err}");
        }
    }
    // the same seed gives the same batch, another seed another one; three views work too
    let a = values(contrastive_views_on_device(&set, &indices, &ViewConfig::simclr(), 3, 9, &device));
    let b = values(contrastive_views_on_device(&set, &indices, &ViewConfig::simclr(), 3, 9, &device));
    let c = values(contrastive_views_on_device(&set, &indices, &ViewConfig::simclr(), 3, 10, &device));
    assert_eq!(a.len(), 15 * 3 * 256);
    assert_eq!(a, b);
    assert_ne!(a, c);
    // view-major rows: with nothing random left, row v * N + i is image indices[i]
    let plain = ViewConfig { crop_scale: (1.0, 1.0), crop_ratio: (1.0, 1.0), flip_p: 0.0, jitter_p: 0.0, grayscale_p: 0.0, ..ViewConfig::simclr() };
    let rows = values(contrastive_views_on_device(&set, &indices, &plain, 2, 3, &device));
    let expected = values(to_tensor(&set.select(&indices).pixels, indices.len(), 16, 16, &device));
    let size = 3 * 256;
    for v in 0..2 {
        assert!(max_diff(&rows[v * 5 * size..(v + 1) * 5 * size], &expected) <= 1e-5, "view {v} is not the images in order");
    }
    // on an autodiff device the views enter the graph as constants
    let ad = contrastive_views_on_device(&set, &indices, &plain, 2, 3, &device.clone().autodiff());
    assert!(ad.is_autodiff());
}

/// A 32x32 image whose red channel is 8x and green channel 8y: the crop box and the flip of a
/// view can be read back from the rendered pixels.
fn coordinate_set(n: usize) -> ImageSet {
    let image: Vec<u8> = (0..32 * 32).flat_map(|p| [(p % 32 * 8) as u8, (p / 32 * 8) as u8, 100]).collect();
    ImageSet { pixels: image.repeat(n), labels: vec![0; n], class_names: vec!["a".into()], height: 32, width: 32 }
}

/// The largest binomial deviation tolerated: 4 standard deviations.
fn binomial_slack(p: f64, n: usize) -> f64 {
    4.0 * (p * (1.0 - p) / n as f64).sqrt()
}

#[test]
fn crop_areas_and_flips_of_device_views_follow_the_config() {
    let n = 500;
    let set = coordinate_set(n);
    let indices: Vec<usize> = (0..n).collect();
    let device = Device::flex();
    for (scale, seed) in [((0.08f32, 1.0f32), 21u64), ((0.2, 1.0), 22)] {
        let config = ViewConfig { crop_scale: scale, jitter_p: 0.0, grayscale_p: 0.0, ..ViewConfig::simclr() };
        let out = contrastive_views_on_device(&set, &indices, &config, 2, seed, &device);
        assert_eq!(out.dims(), [2 * n, 3, 32, 32]);
        let out = values(out);
        let params = sample_view_params(&config, 2, n, 32, 32, seed);
        let (mut areas, mut flips) = (Vec::new(), 0usize);
        for (row, p) in params.iter().enumerate() {
            let view = &out[row * 3 * 1024..(row + 1) * 3 * 1024];
            let (red, green) = (&view[..1024], &view[1024..2048]);
            let pixels = |v: f32| v * 255.0 / 8.0; // channel value -> coordinate
            let (r_min, r_max) = (red.iter().copied().fold(1.0, f32::min), red.iter().copied().fold(0.0, f32::max));
            let (g_min, g_max) = (green.iter().copied().fold(1.0, f32::min), green.iter().copied().fold(0.0, f32::max));
            // the first and last samples sit on the crop's edge pixels (render_view's clamp)
            let (left, width) = (pixels(r_min), pixels(r_max - r_min) + 1.0);
            let (top, height) = (pixels(g_min), pixels(g_max - g_min) + 1.0);
            for v in [left, width, top, height] {
                assert!((v - v.round()).abs() < 1e-3, "crop edges off the pixel grid: {v}");
            }
            let found = CropBox { top: top.round() as usize, left: left.round() as usize, height: height.round() as usize, width: width.round() as usize };
            assert_eq!(found, p.crop, "view {row}");
            let flipped = red[0] > red[31];
            assert_eq!(flipped, p.flip, "view {row}");
            flips += flipped as usize;
            let area = (found.height * found.width) as f32 / 1024.0;
            // rounding the sides to pixels moves the area by at most one row and column
            let slack = (found.height + found.width + 1) as f32 / 1024.0;
            assert!(area + slack >= scale.0 && area <= scale.1, "area {area} outside {scale:?}");
            let ratio = found.width as f32 / found.height as f32;
            let rslack = 1.0 / found.height.min(found.width) as f32 + 0.02;
            assert!(ratio >= 0.75 * (1.0 - rslack) - 0.05 && ratio <= 4.0 / 3.0 * (1.0 + rslack) + 0.05, "ratio {ratio}");
            areas.push(area);
        }
        let rate = flips as f64 / (2 * n) as f64;
        assert!((rate - 0.5).abs() <= binomial_slack(0.5, 2 * n), "flip rate {rate}");
        // areas spread over the configured range: uniform in (a, 1) has mean (a + 1) / 2, less
        // for the tries that fail on wide crops; small crops do occur
        let mean = areas.iter().sum::<f32>() / areas.len() as f32;
        let smallest = areas.iter().copied().fold(1.0, f32::min);
        assert!(mean > scale.0 + 0.2 && mean < 0.7, "mean area {mean} for {scale:?}");
        assert!(smallest < scale.0 + 0.05, "smallest area {smallest} for {scale:?}");
    }
}

#[test]
fn jitter_and_grayscale_rates_of_device_views() {
    let n = 500;
    let set = procedural_set(n, 8, 8, 9);
    let indices: Vec<usize> = (0..n).collect();
    let device = Device::flex();
    let input = values(to_tensor(&set.pixels, n, 8, 8, &device));
    let size = 3 * 64;
    let still = ViewConfig { crop_scale: (1.0, 1.0), crop_ratio: (1.0, 1.0), flip_p: 0.0, jitter_p: 0.0, grayscale_p: 0.0, ..ViewConfig::simclr() };
    for (config, seed) in [(ViewConfig { jitter_p: 0.8, ..still }, 31u64), (ViewConfig { grayscale_p: 0.2, ..still }, 32), (ViewConfig { jitter_p: 0.3, grayscale_p: 0.6, ..still }, 33)] {
        let out = contrastive_views_on_device(&set, &indices, &config, 2, seed, &device);
        assert_eq!(out.dims(), [2 * n, 3, 8, 8]);
        let out = values(out);
        let params = sample_view_params(&config, 2, n, 8, 8, seed);
        let (mut jittered, mut gray) = (0usize, 0usize);
        for (row, p) in params.iter().enumerate() {
            let view = &out[row * size..(row + 1) * size];
            let source = &input[(row % n) * size..(row % n + 1) * size];
            let is_gray = (0..64).all(|q| view[q] == view[64 + q] && view[q] == view[128 + q]);
            assert_eq!(is_gray, p.grayscale, "view {row}");
            gray += is_gray as usize;
            if !is_gray {
                // without grayscale a view differs from its image exactly when it was jittered
                let changed = max_diff(view, source) > 1e-3;
                assert_eq!(changed, p.jitter.is_some(), "view {row}: {p:?}");
                if !changed {
                    assert!(max_diff(view, source) <= 1e-5);
                }
            }
            jittered += p.jitter.is_some() as usize;
        }
        let m = 2 * n;
        let (j, g) = (jittered as f64 / m as f64, gray as f64 / m as f64);
        assert!((j - config.jitter_p as f64).abs() <= binomial_slack(config.jitter_p as f64, m), "jitter rate {j} for p = {}", config.jitter_p);
        assert!((g - config.grayscale_p as f64).abs() <= binomial_slack(config.grayscale_p as f64, m), "grayscale rate {g} for p = {}", config.grayscale_p);
    }
}

#[test]
fn device_crop_flip_equals_host_crop_flip() {
    let (n, h, w) = (6, 9, 7);
    let set = procedural_set(n, h, w, 3);
    let device = Device::flex();
    let upload = || upload_pixels(&set.pixels, n, h, w, &device).div_scalar(255.0);
    for seed in [1u64, 2, 3] {
        // the same generator state gives crop_flip's crops and the device's
        let host = crop_flip(&set, 4, &mut rand::rngs::StdRng::seed_from_u64(seed));
        let params = sample_crop_flips(n, 4, &mut rand::rngs::StdRng::seed_from_u64(seed));
        let dev = values(crop_flip_tensor(upload(), &params, 4));
        assert_eq!(dev, values(to_tensor(&host.pixels, n, h, w, &device)), "seed {seed}");
    }
    // every offset and both flips, against crop_flip_with; a wrong flip or offset is caught
    let params: Vec<CropFlip> = (0..n).map(|i| CropFlip { dy: i as isize - 4, dx: 3 - i as isize, flip: i % 2 == 0 }).collect();
    let dev = values(crop_flip_tensor(upload(), &params, 4));
    assert_eq!(dev, values(to_tensor(&crop_flip_with(&set, &params).pixels, n, h, w, &device)));
    let mut wrong = params.clone();
    wrong[1].flip = !wrong[1].flip;
    assert_ne!(dev, values(to_tensor(&crop_flip_with(&set, &wrong).pixels, n, h, w, &device)));
    let mut wrong = params;
    wrong[2].dx += 1;
    assert_ne!(dev, values(to_tensor(&crop_flip_with(&set, &wrong).pixels, n, h, w, &device)));
}

/// One SimCLR step of a small CNN per view renderer, from the same seeded weights.
fn step_losses(backend: ViewBackend, seed: u64) -> Vec<f32> {
    let device = Device::flex();
    let ad = device.clone().autodiff();
    let data = generate(&ProceduralConfig { images: 8, seed: 4, ..Default::default() });
    let indices: Vec<usize> = (0..8).collect();
    device.seed(0);
    let mut config = ModelConfig::new(Arch::SmallCnn, 10);
    config.width = 4;
    let mut model = ContrastiveModel::new(Classifier::new(config, &ad).unwrap(), 16, &ad);
    let mut optim = ContrastiveConfig::default().optimizer();
    let mut losses = Vec::new();
    for step in 0..2 {
        let objective = ContrastiveObjective::nt_xent(0.5, 2);
        let out = contrastive_step(model, &mut optim, &data, &indices, &objective, &ViewConfig::simclr(), backend, seed + step, 0.1, &ad, None).unwrap();
        losses.push(out.output.loss.into_scalar::<f32>());
        model = out.model;
    }
    losses
}

#[test]
fn training_steps_on_device_views_are_deterministic_and_match_host_views() {
    let device = step_losses(ViewBackend::Device, 5);
    assert!(device.iter().all(|l| l.is_finite() && *l > 0.0), "{device:?}");
    assert_eq!(device, step_losses(ViewBackend::Device, 5), "same seed, same losses");
    assert_ne!(device, step_losses(ViewBackend::Device, 6), "another seed, other views");
    // the host renders the same views to within 1e-5 per pixel, so the losses agree closely
    let host = step_losses(ViewBackend::Host, 5);
    for (d, h) in device.iter().zip(&host) {
        assert!((d - h).abs() <= 1e-4 * h.abs().max(1.0), "device-view loss {d} vs host-view loss {h}");
    }
}

/// `n` copies of one flat image whose three channels are `value`.
fn flat_set(n: usize, value: u8) -> ImageSet {
    ImageSet { pixels: vec![value; n * 16 * 16 * 3], labels: vec![0; n], class_names: vec!["a".into()], height: 16, width: 16 }
}

/// The brightness factor of every view of a flat gray batch: on a flat gray image the crop,
/// flip, contrast (blend with its own mean), saturation (blend with its own gray), hue (no
/// colour) and grayscale change nothing but for the luma weights' sum, 0.9999, so each pixel
/// is `value * brightness` to within 2e-4 (no clipping below 255 / 1.1).
fn brightness_factors(batch: Vec<f32>, value: u8) -> Vec<f32> {
    let size = 3 * 256;
    batch
        .chunks(size)
        .map(|view| {
            let spread = view.iter().copied().fold(f32::MIN, f32::max) - view.iter().copied().fold(f32::MAX, f32::min);
            assert!(spread < 1e-5, "a flat image stays flat: {spread}");
            view[0] * 255.0 / value as f32
        })
        .collect()
}

#[test]
fn supervised_view_batches_follow_the_papers_cross_entropy_recipe_on_host_and_device() {
    // The tiny and paper presets train cross-entropy on the author's weaker-jitter views (the
    // small scale keeps pad-and-crop, with which its published numbers were measured).
    for (scale, expected) in [(Scale::Tiny, Augmentation::Views(ViewConfig::supcon_ce())), (Scale::Small, Augmentation::PadCrop), (Scale::Paper, Augmentation::Views(ViewConfig::supcon_ce()))] {
        let plan = TrainPlan::preset("ce", scale).unwrap();
        assert_eq!(plan.method, Method::Ce);
        assert_eq!(plan.supervised.augment, expected, "{scale:?}");
    }
    let recipe = ViewConfig::supcon_ce();
    let augment = Augmentation::Views(recipe);
    let device = Device::flex();
    let ad = device.clone().autodiff();
    let batch = |set: &ImageSet, indices: &[usize], backend: ViewBackend, seed: u64| {
        let x = training_batch(set, indices, &augment, None, backend, seed, &ad);
        assert!(x.is_autodiff());
        assert_eq!(x.dims(), [indices.len(), 3, set.height, set.width]);
        values(x)
    };

    // Host and device paths render the same batch: one view per image, drawn as contrastive
    // training draws its first view (sample_view_params with one view).
    let set = procedural_set(12, 16, 16, 8);
    let indices = [3, 9, 0, 4, 11];
    for seed in [0u64, 5] {
        let host = batch(&set, &indices, ViewBackend::Host, seed);
        let dev = batch(&set, &indices, ViewBackend::Device, seed);
        assert!(max_diff(&host, &dev) <= TOLERANCE, "seed {seed}: {}", max_diff(&host, &dev));
        let params = sample_view_params(&recipe, 1, indices.len(), 16, 16, seed);
        let bytes: Vec<u8> = indices.iter().flat_map(|&i| set.image(i).to_vec()).collect();
        let direct = values(render_views(upload_pixels(&bytes, indices.len(), 16, 16, &device), &params));
        assert!(max_diff(&dev, &direct) <= TOLERANCE);
        assert_ne!(host, batch(&set, &indices, ViewBackend::Host, seed + 1), "another seed, other views");
    }

    // The jitter strength of the rendered batches: brightness factors uniform in [0.9, 1.1] on
    // 80% of the views (binomial slack), 1 on the others; the crops keep 20-100% of the image.
    let n = 600;
    let value = 128;
    let flat = flat_set(n, value);
    let all: Vec<usize> = (0..n).collect();
    for backend in [ViewBackend::Host, ViewBackend::Device] {
        let factors = brightness_factors(batch(&flat, &all, backend, 41), value);
        let params = sample_view_params(&recipe, 1, n, 16, 16, 41);
        let mut jittered = 0usize;
        for (f, p) in factors.iter().zip(&params) {
            let expected = p.jitter.map_or(1.0, |j| j.brightness);
            assert!((f - expected).abs() < 5e-4, "{backend:?}: factor {f}, drawn {expected}");
            assert!((0.9 - 5e-4..=1.1 + 5e-4).contains(f), "{backend:?}: brightness {f} outside the weak jitter");
            jittered += p.jitter.is_some() as usize;
            let area = (p.crop.height * p.crop.width) as f32 / 256.0;
            let slack = (p.crop.height + p.crop.width + 1) as f32 / 256.0;
            assert!(area + slack >= 0.2, "crop area {area}");
        }
        let rate = jittered as f64 / n as f64;
        assert!((rate - 0.8).abs() <= binomial_slack(0.8, n), "jitter rate {rate}");
        let moved: Vec<f32> = factors.iter().copied().filter(|f| (f - 1.0).abs() > 1e-3).collect();
        let (lo, hi) = (moved.iter().copied().fold(2.0, f32::min), moved.iter().copied().fold(0.0, f32::max));
        assert!(lo < 0.91 && hi > 1.09, "{backend:?}: factors {lo}..{hi} do not fill [0.9, 1.1]");
        // the contrastive recipe's brightness reaches 0.6..1.4, far outside: the CE path is weaker
        let strong = brightness_factors(values(training_batch(&flat, &all, &Augmentation::Views(ViewConfig::supcon()), None, backend, 41, &ad)), value);
        assert!(strong.iter().any(|f| *f < 0.7) && strong.iter().any(|f| *f > 1.3), "{backend:?}: the supcon recipe jitters by up to 0.4");
    }

    // Grayscale on 20% of the views (a colourful image: gray views have equal channels).
    let colour = ImageSet { pixels: [200u8, 40, 90].repeat(n * 256), ..flat_set(n, 0) };
    for backend in [ViewBackend::Host, ViewBackend::Device] {
        let out = batch(&colour, &all, backend, 43);
        let params = sample_view_params(&recipe, 1, n, 16, 16, 43);
        let size = 3 * 256;
        let mut gray = 0usize;
        for (view, p) in out.chunks(size).zip(&params) {
            let is_gray = (0..256).all(|q| (view[q] - view[256 + q]).abs() < 1e-6 && (view[q] - view[512 + q]).abs() < 1e-6);
            assert_eq!(is_gray, p.grayscale);
            gray += is_gray as usize;
        }
        let rate = gray as f64 / n as f64;
        assert!((rate - 0.2).abs() <= binomial_slack(0.2, n), "{backend:?}: grayscale rate {rate}");
    }

    // Without augmentation the batch is the images; pad-and-crop applies the epoch's crops.
    let plain = values(training_batch(&set, &indices, &Augmentation::None, None, ViewBackend::Host, 0, &ad));
    assert_eq!(plain, values(to_tensor(&set.select(&indices).pixels, indices.len(), 16, 16, &device)));
    let crops = sample_crop_flips(set.len(), 4, &mut rand::rngs::StdRng::seed_from_u64(2));
    let padded = values(training_batch(&set, &indices, &Augmentation::PadCrop, Some(&crops), ViewBackend::Host, 0, &ad));
    let chosen: Vec<CropFlip> = indices.iter().map(|&i| crops[i]).collect();
    assert_eq!(padded, values(to_tensor(&crop_flip_with(&set.select(&indices), &chosen).pixels, indices.len(), 16, 16, &device)));
}
