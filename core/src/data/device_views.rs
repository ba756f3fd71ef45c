//! The contrastive views of [`super::views`] rendered on the device, so that the accelerator
//! never waits for the host to draw pixels (SimCLR, Chen et al. 2020, Appendix A; torchvision
//! `RandomResizedCrop`, `RandomHorizontalFlip`, `ColorJitter` in random order,
//! `RandomGrayscale`).
//!
//! The host keeps what is cheap and sequential: it draws every view's parameters with
//! [`ViewConfig::sample`] from the same per-view generators as
//! [`contrastive_views`](super::views::contrastive_views) ([`view_rng`]), so the distribution
//! is the host path's by construction, and it uploads the batch's pixels once, at one byte per
//! value ([`upload_pixels`]: `U8` where the device computes with it, four bytes to an `I32`
//! word otherwise, see [`ByteUpload`](super::batch::ByteUpload)), plus a table of
//! [`COLUMNS`] floats per view. The device does the rest with tensor ops, on all views at once:
//!
//! * **Resized crop + flip**: one sampling grid per view, `grid_sample_2d` (bilinear, border
//!   padding, `align_corners = false`). The grid holds exactly the source coordinates of
//!   [`render_view`](super::views::render_view), `top + (y + 0.5) * crop_h / H - 0.5` clamped
//!   into the crop (and the same in x, with `x -> W - 1 - x` for a flipped view): torchvision's
//!   half-pixel bilinear resize of the crop, without antialiasing. Bytes are interpolated as
//!   0..255 and divided by 255 afterwards, as on the host.
//! * **Colour jitter**: four slots, one per position of the view's random order. Brightness,
//!   contrast and saturation are all torchvision's `_blend`, `clip(f * x + (1 - f) * other)`
//!   with `other` = 0, the mean of the view's grayscale image, or its grayscale pixel, so a
//!   slot does one blend whose per-view factor and `other` selectors come from the table
//!   (factor 1 is an exact identity, which is what views without jitter, or with another op in
//!   that slot, get). Hue goes through HSV as `shift_hue` does on the host, on the views whose
//!   hue op sits in that slot only (`select`, then `select_assign` of the change). Slots that
//!   no view of the batch uses are skipped (the host knows the table).
//! * **Grayscale**: ITU-R 601 luma into all three channels, masked per view.
//!
//! The result has the layout of `contrastive_views`, `[views * N, 3, H, W]` floats in [0, 1]
//! with row `v * N + i` = view `v` of image `i`, and matches `render_view` for the same
//! parameters up to float rounding (1e-5 is asserted, about 1e-6 is typical:
//! tests/device_views.rs). Rendering runs on the device without autodiff; the result joins the
//! caller's autodiff device as a constant.

use burn::tensor::ops::{GridSampleOptions, GridSamplePaddingMode, InterpolateMode};
use burn::tensor::{Device, IndexingUpdateOp, Int, Tensor, TensorData};

use super::ImageSet;
use super::batch::{batch_bytes, like_device, upload_pixels};
use super::views::{ViewConfig, ViewParams, view_rng};

/// Columns of the per-view parameter table: crop top and left, vertical and horizontal scale
/// (crop size / image size), crop bottom and right (inclusive), flip, then for each of the
/// four jitter slots the blend factor, the mean selector, the grayscale selector and the hue
/// shift, then grayscale.
pub const COLUMNS: usize = 7 + 4 * SLOT_COLUMNS + 1;
const TOP: usize = 0;
const LEFT: usize = 1;
const SCALE_Y: usize = 2;
const SCALE_X: usize = 3;
const BOTTOM: usize = 4;
const RIGHT: usize = 5;
const FLIP: usize = 6;
const SLOT_COLUMNS: usize = 4;
const FACTOR: usize = 0;
const MEAN: usize = 1;
const GRAY: usize = 2;
const HUE: usize = 3;
const GRAYSCALE: usize = 7 + 4 * SLOT_COLUMNS;

fn slot_column(slot: usize, column: usize) -> usize {
    7 + slot * SLOT_COLUMNS + column
}

/// The parameter table of a batch of views and which of its operations any view uses.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewTable {
    /// `[views, COLUMNS]` row-major.
    pub values: Vec<f32>,
    /// Per slot: some view blends (brightness, contrast or saturation with a factor != 1).
    pub blend: [bool; 4],
    /// Per slot: some view blends with its mean (contrast).
    pub mean: [bool; 4],
    /// Per slot: some view blends with its grayscale image (saturation).
    pub gray: [bool; 4],
    /// Per slot: the views that shift their hue there (by a non-zero amount).
    pub hue_views: [Vec<usize>; 4],
    /// Some view turns gray.
    pub grayscale: bool,
}

impl ViewTable {
    /// The table of `params` for images of `height x width`.
    pub fn new(params: &[ViewParams], height: usize, width: usize) -> Self {
        let mut table = Self { values: Vec::with_capacity(params.len() * COLUMNS), blend: [false; 4], mean: [false; 4], gray: [false; 4], hue_views: Default::default(), grayscale: false };
        for (view, p) in params.iter().enumerate() {
            let c = p.crop;
            let mut row = [0f32; COLUMNS];
            row[TOP] = c.top as f32;
            row[LEFT] = c.left as f32;
            // the same f32 divisions as render_view
            row[SCALE_Y] = c.height as f32 / height as f32;
            row[SCALE_X] = c.width as f32 / width as f32;
            row[BOTTOM] = (c.top + c.height - 1) as f32;
            row[RIGHT] = (c.left + c.width - 1) as f32;
            row[FLIP] = if p.flip { 1.0 } else { 0.0 };
            for slot in 0..4 {
                row[slot_column(slot, FACTOR)] = 1.0;
            }
            if let Some(j) = p.jitter {
                for (slot, &op) in j.order.iter().enumerate() {
                    let (factor, selector) = match op {
                        0 => (j.brightness, None),
                        1 => (j.contrast, Some(MEAN)),
                        2 => (j.saturation, Some(GRAY)),
                        _ => {
                            // render_view skips a zero shift (an exact identity)
                            if j.hue != 0.0 {
                                row[slot_column(slot, HUE)] = j.hue;
                                table.hue_views[slot].push(view);
                            }
                            continue;
                        }
                    };
                    if factor == 1.0 {
                        continue;
                    }
                    row[slot_column(slot, FACTOR)] = factor;
                    table.blend[slot] = true;
                    match selector {
                        Some(MEAN) => {
                            row[slot_column(slot, MEAN)] = 1.0;
                            table.mean[slot] = true;
                        }
                        Some(_) => {
                            row[slot_column(slot, GRAY)] = 1.0;
                            table.gray[slot] = true;
                        }
                        None => {}
                    }
                }
            }
            if p.grayscale {
                row[GRAYSCALE] = 1.0;
                table.grayscale = true;
            }
            table.values.extend_from_slice(&row);
        }
        table
    }
}

/// The parameters of `views` views of `n` images of `height x width` drawn with `seed`, row
/// `v * n + i` for view `v` of the `i`-th image: exactly the views `contrastive_views` draws.
pub fn sample_view_params(config: &ViewConfig, views: usize, n: usize, height: usize, width: usize, seed: u64) -> Vec<ViewParams> {
    (0..views * n).map(|row| config.sample(height, width, &mut view_rng(seed, row / n, row % n))).collect()
}

/// Renders the views `params` (row `r` is a view of image `r % N`) of `pixels`, an
/// `[N, 3, H, W]` tensor of byte values (0 to 255, as [`upload_pixels`] gives), on the
/// device of `pixels`: `[params.len(), 3, H, W]` floats in [0, 1].
pub fn render_views(pixels: Tensor<4>, params: &[ViewParams]) -> Tensor<4> {
    let [n, channels, h, w] = pixels.dims();
    let m = params.len();
    assert!(channels == 3 && n > 0 && m % n == 0, "{m} views of {n} RGB images");
    let device = pixels.device();
    let table = ViewTable::new(params, h, w);
    let t = Tensor::<2>::from_data(TensorData::new(table.values.clone(), [m, COLUMNS]), &device);
    let col = |c: usize| t.clone().narrow(1, c, 1); // [m, 1]
    let per_view = |c: usize| col(c).reshape([m, 1, 1, 1]);
    let mask = |c: usize| per_view(c).equal_elem(1.0).expand([m, 3, h, w]);

    // Source coordinates, exactly as render_view computes them, then normalised for
    // grid_sample_2d with align_corners = false (pixel p <-> (p + 0.5) * 2 / size - 1).
    let coords = |size: usize, start: usize, scale: usize, end: usize, flip: bool| -> Tensor<2> {
        let idx = Tensor::<1, Int>::arange(0..size as i64, &device).float().reshape([1, size]);
        let idx = if flip {
            // x + flip * (W - 1 - 2x): W - 1 - x where flipped, x elsewhere (exact integers)
            let mirrored = idx.clone().mul_scalar(-2.0).add_scalar((size - 1) as f32);
            idx + col(FLIP).mul(mirrored)
        } else {
            idx.expand([m, size])
        };
        let src = (col(start) + idx.add_scalar(0.5).mul(col(scale))).sub_scalar(0.5);
        let src = src.max_pair(col(start).expand([m, size])).min_pair(col(end).expand([m, size]));
        src.add_scalar(0.5).mul_scalar(2.0 / size as f32).sub_scalar(1.0)
    };
    let gy = coords(h, TOP, SCALE_Y, BOTTOM, false).reshape([m, h, 1]).expand([m, h, w]);
    let gx = coords(w, LEFT, SCALE_X, RIGHT, true).reshape([m, 1, w]).expand([m, h, w]);
    let grid = Tensor::stack::<4>(vec![gx, gy], 3);
    let options = GridSampleOptions::new(InterpolateMode::Bilinear).with_padding_mode(GridSamplePaddingMode::Border).with_align_corners(false);
    let mut x = pixels.repeat_dim(0, m / n).grid_sample_2d(grid, options).div_scalar(255.0);

    for slot in 0..4 {
        if table.blend[slot] {
            let f = per_view(slot_column(slot, FACTOR));
            let gray = (table.mean[slot] || table.gray[slot]).then(|| luma(x.clone()));
            let mean = table.mean[slot].then(|| {
                let g = gray.clone().expect("computed above").reshape([m, h * w]).mean_dim(1).reshape([m, 1, 1, 1]);
                g.mul(per_view(slot_column(slot, MEAN)))
            });
            let pixel_gray = table.gray[slot].then(|| gray.expect("computed above").mul(per_view(slot_column(slot, GRAY))));
            let other = match (mean, pixel_gray) {
                (Some(a), Some(b)) => Some(b.add(a)),
                (a, b) => a.or(b),
            };
            let scaled = x.mul(f.clone());
            x = match other {
                Some(o) => scaled.add(o.mul(f.neg().add_scalar(1.0))),
                None => scaled,
            }
            .clamp(0.0, 1.0);
        }
        if !table.hue_views[slot].is_empty() {
            // Only the views whose hue op sits in this slot go through HSV (a fifth of them for
            // SimCLR's jitter, instead of all of them in each of the four slots).
            let rows = table.hue_views[slot].iter().map(|&r| r as i64).collect::<Vec<_>>();
            let k = rows.len();
            let rows = Tensor::<1, Int>::from_data(TensorData::new(rows, [k]), &device);
            let before = x.clone().select(0, rows.clone());
            let shift = per_view(slot_column(slot, HUE)).select(0, rows.clone());
            let change = shift_hue(before.clone(), shift).sub(before);
            x = x.select_assign(0, rows, change, IndexingUpdateOp::Add);
        }
    }
    if table.grayscale {
        let g = luma(x.clone()).expand([m, 3, h, w]);
        x = x.mask_where(mask(GRAYSCALE), g);
    }
    x
}

/// `views` random views of the images at `indices` rendered on `device` (the result is on
/// `device`, autodiff included when it has it): the same views as
/// [`contrastive_views`](super::views::contrastive_views) draws for `seed`, in its layout.
pub fn contrastive_views_on_device(set: &ImageSet, indices: &[usize], config: &ViewConfig, views: usize, seed: u64, device: &Device) -> Tensor<4> {
    let (h, w, n) = (set.height, set.width, indices.len());
    let params = sample_view_params(config, views, n, h, w, seed);
    let pixels = upload_pixels(&batch_bytes(set, indices), n, h, w, device);
    like_device(render_views(pixels, &params), device)
}

/// ITU-R 601 luma of `[M, 3, H, W]` RGB, `[M, 1, H, W]` (torchvision's `rgb_to_grayscale`,
/// the host's `gray`, same operation order).
fn luma(x: Tensor<4>) -> Tensor<4> {
    let channel = |c: usize| x.clone().narrow(1, c, 1);
    channel(0).mul_scalar(0.2989).add(channel(1).mul_scalar(0.587)).add(channel(2).mul_scalar(0.114))
}

/// Rotates the hue of `[M, 3, H, W]` RGB in [0, 1] by `shift` (`[M, 1, 1, 1]`, in turns)
/// through HSV: the host's `rgb_to_hsv` / `hsv_to_rgb` (torchvision's `_rgb2hsv` /
/// `_hsv2rgb`) written with masks.
fn shift_hue(x: Tensor<4>, shift: Tensor<4>) -> Tensor<4> {
    let channel = |c: usize| x.clone().narrow(1, c, 1);
    let (r, g, b) = (channel(0), channel(1), channel(2));
    let max = r.clone().max_pair(g.clone()).max_pair(b.clone());
    let min = r.clone().min_pair(g.clone()).min_pair(b.clone());
    let delta = max.clone().sub(min);
    let gray = delta.clone().equal_elem(0.0);
    // s = delta / max (0 for black); h from the largest channel (r first, then g, then b)
    let s = delta.clone().div(max.clone().mask_fill(max.clone().equal_elem(0.0), 1.0));
    let d = delta.mask_fill(gray.clone(), 1.0);
    let hr = g.clone().sub(b.clone()).div(d.clone());
    let hr = hr.clone().sub(hr.div_scalar(6.0).floor().mul_scalar(6.0)); // rem_euclid(6)
    let hg = b.sub(r.clone()).div(d.clone()).add_scalar(2.0);
    let hb = r.clone().sub(g.clone()).div(d).add_scalar(4.0);
    let h = hb.mask_where(max.clone().equal(g), hg).mask_where(max.clone().equal(r), hr).mask_fill(gray, 0.0).div_scalar(6.0);
    let h = h.add(shift);
    let h = h.clone().sub(h.floor()); // rem_euclid(1)
    // back to RGB
    let h6 = h.mul_scalar(6.0);
    let sector = h6.clone().floor();
    let f = h6.sub(sector.clone());
    let sector = sector.clone().sub(sector.div_scalar(6.0).floor().mul_scalar(6.0)); // rem_euclid(6)
    let v = max;
    let p = v.clone().mul(s.clone().neg().add_scalar(1.0));
    let q = v.clone().mul(s.clone().mul(f.clone()).neg().add_scalar(1.0));
    let t = v.clone().mul(s.mul(f.neg().add_scalar(1.0)).neg().add_scalar(1.0));
    let is = |k: f32| sector.clone().equal_elem(k);
    // sector: 0 (v, t, p), 1 (q, v, p), 2 (p, v, t), 3 (p, q, v), 4 (t, p, v), 5 (v, p, q)
    let r = v.clone().mask_where(is(1.0), q.clone()).mask_where(is(2.0), p.clone()).mask_where(is(3.0), p.clone()).mask_where(is(4.0), t.clone());
    let g = p.clone().mask_where(is(0.0), t.clone()).mask_where(is(1.0), v.clone()).mask_where(is(2.0), v.clone()).mask_where(is(3.0), q.clone());
    let b = q.mask_where(is(0.0), p.clone()).mask_where(is(1.0), p).mask_where(is(2.0), t).mask_where(is(3.0), v.clone()).mask_where(is(4.0), v);
    Tensor::cat(vec![r, g, b], 1)
}
