//! A 2-D convolution (groups 1, dilation 1, symmetric padding) and its two gradients on f32
//! slices in NCHW layout, as im2col + one matrix multiply per chunk of images.
//!
//! For a chunk of `g` images the input patches form `col[K, g·P]` (K = c_in·kh·kw rows in the
//! weight's `(c_in, kh, kw)` order, P = out_h·out_w pixels per image), and with the weight as
//! `W[c_out, K]`:
//!
//! - forward: `Y[c_out, g·P] = W · col` (+ bias),
//! - input gradient: `dcol = Wᵀ · dY`, scattered back onto the input (col2im, accumulating;
//!   computing it as the transposed convolution instead, the weight transposed and flipped,
//!   measured 1% faster per training step at batch 128 but, at batch 8, twice as slow on the 4x4
//!   layers, where the per-call copy of the weight is not repaid),
//! - weight gradient: `dW = Σ_chunks dY · colᵀ` (the batch is the reduction dimension, so each
//!   product is one well-shaped matrix multiply instead of a convolution with the batch as
//!   channels and a 3x3 output, which is how Burn derives it from `conv2d`), over chunks of at
//!   least [`WEIGHT_COLUMNS`] columns,
//!
//! Chunks of the forward pass and the input gradient hold a fixed number of images per layer,
//! enough for [`MIN_COLUMNS`] columns (several images when their outputs are small; at most
//! [`FORWARD_IMAGES`] in the forward pass), the last one
//! padded with zero images, and run in parallel on rayon's pool; a multiply is itself parallel
//! when it is large. Every such multiply of a layer therefore has the same shape whatever the
//! batch, and an image sits at the same column whatever the batch, so an image's results do not
//! depend on the batch it came in (attacks pad their batches: `core/tests/attack_suite.rs`). The
//! multiplies are `gemm`'s, the crate Flex uses.

use std::cell::RefCell;
use std::mem::MaybeUninit;

use rayon::prelude::*;

/// Columns per chunk below which several images share one multiply (a 4x4 output has 16).
pub const MIN_COLUMNS: usize = 256;

/// Images per chunk of the forward pass at most: a batch of 8 then fills the chunk of a 4x4
/// layer instead of half of it (16 images, the rest zero padding): forward 5.3 -> 3.3 ms on the
/// three 512->512 layers at batch 8 (`examples/conv_kernels.rs`), the same at batch 128. The
/// input gradient keeps [`MIN_COLUMNS`]: its 4x4 multiply (4,608 rows, 512 deep) ran slower at
/// 128 columns at batch 128 (48-57 -> 64-72 ms).
pub const FORWARD_IMAGES: usize = 8;

/// Partial sums of the weight gradient (each over consecutive chunks, run in parallel).
const WEIGHT_GRADIENT_GROUPS: usize = 8;

/// Columns per multiply of the weight gradient (fewer only when the batch has fewer than twice
/// as many): each multiply reads and writes the whole partial `dW` once, so layers with small
/// outputs (a 4x4 output has 16 columns per image) sum over many images per multiply rather
/// than over [`MIN_COLUMNS`].
pub const WEIGHT_COLUMNS: usize = 1024;

/// The geometry of one convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    pub batch: usize,
    pub c_in: usize,
    pub height: usize,
    pub width: usize,
    pub c_out: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl ConvGeometry {
    /// Output height and width: `(in + 2·pad - k) / stride + 1`.
    pub fn out_size(&self) -> [usize; 2] {
        let out = |i: usize| (self.height_width()[i] + 2 * self.padding[i] - self.kernel[i]) / self.stride[i] + 1;
        [out(0), out(1)]
    }

    fn height_width(&self) -> [usize; 2] {
        [self.height, self.width]
    }

    /// Whether the kernel fits in the padded input (an output of at least one pixel).
    pub fn is_valid(&self) -> bool {
        self.stride[0] > 0
            && self.stride[1] > 0
            && self.kernel[0] > 0
            && self.kernel[1] > 0
            && self.height + 2 * self.padding[0] >= self.kernel[0]
            && self.width + 2 * self.padding[1] >= self.kernel[1]
    }

    /// Rows of the patch matrix: `c_in · kh · kw`.
    pub fn patch_len(&self) -> usize {
        self.c_in * self.kernel[0] * self.kernel[1]
    }

    /// Output pixels per image.
    pub fn pixels(&self) -> usize {
        let [h, w] = self.out_size();
        h * w
    }

    pub fn input_len(&self) -> usize {
        self.batch * self.c_in * self.height * self.width
    }

    pub fn output_len(&self) -> usize {
        self.batch * self.c_out * self.pixels()
    }

    pub fn weight_len(&self) -> usize {
        self.c_out * self.patch_len()
    }

    /// Images per chunk: enough for [`MIN_COLUMNS`] columns, at least one and at most
    /// `max_images`; independent of the batch.
    fn images_per_chunk(&self, max_images: usize) -> usize {
        MIN_COLUMNS.div_ceil(self.pixels().max(1)).clamp(1, max_images)
    }
}

thread_local! {
    /// Scratch buffers of this thread, reused across chunks, layers and steps.
    static SCRATCH: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on a scratch buffer of `len` values whose contents are stale: `f` must write every
/// value before reading it (im2col, a non-accumulating multiply and the output gather all do).
/// No borrow is held while `f` runs, so nested use (work stealing inside a parallel multiply)
/// takes another buffer.
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    let mut buffer = SCRATCH.with(|pool| pool.borrow_mut().pop()).unwrap_or_default();
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
    let result = f(&mut buffer[..len]);
    SCRATCH.with(|pool| pool.borrow_mut().push(buffer));
    result
}

/// A vector of `len` values built on rayon's pool, with no serial pass on the calling thread
/// (glibc hands back reused memory that `vec![0.0; n]` must clear, one thread at a time):
/// `fill(index, chunk)` receives the `index`-th run of `chunk_len` values (the last may be
/// shorter), uninitialised, and must write every value of it.
pub(crate) fn parallel_vec_uninit(len: usize, chunk_len: usize, fill: impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync + Send) -> Vec<f32> {
    let mut values: Vec<f32> = Vec::with_capacity(len);
    values.spare_capacity_mut()[..len].par_chunks_mut(chunk_len.max(1)).enumerate().for_each(|(index, chunk)| fill(index, chunk));
    // SAFETY: the chunks cover `0..len` and `fill` wrote every value of each.
    unsafe { values.set_len(len) };
    values
}

/// [`parallel_vec_uninit`] whose chunks arrive zeroed (by their worker), for `fill`s that
/// accumulate.
pub(crate) fn parallel_vec(len: usize, chunk_len: usize, fill: impl Fn(usize, &mut [f32]) + Sync + Send) -> Vec<f32> {
    parallel_vec_uninit(len, chunk_len, |index, chunk| fill(index, zeroed(chunk)))
}

/// Writes zeros over `chunk` and returns it initialised.
fn zeroed(chunk: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    for value in chunk.iter_mut() {
        value.write(0.0);
    }
    // SAFETY: every element was written just above.
    unsafe { assume_written(chunk) }
}

/// Where a multiply's result goes: written over memory that may be uninitialised, or added to
/// the values there.
enum Destination<'a> {
    Write(&'a mut [MaybeUninit<f32>]),
    Add(&'a mut [f32]),
}

/// `values` seen as possibly uninitialised, to be written over (only with f32 values).
fn as_uninit(values: &mut [f32]) -> &mut [MaybeUninit<f32>] {
    // SAFETY: same layout; nothing writes an uninitialised value through the view.
    unsafe { &mut *(values as *mut [f32] as *mut [MaybeUninit<f32>]) }
}

/// `chunk` after every value of it was written.
///
/// # Safety
/// Every element of `chunk` must have been written.
unsafe fn assume_written(chunk: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    // SAFETY: the caller wrote every element.
    unsafe { &mut *(chunk as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

/// `dst[m, n] (+)= lhs[m, k] · rhs[k, n]` with explicit (column, row) strides of each operand;
/// `dst` is row-major with row stride `n`.
#[allow(clippy::too_many_arguments)]
fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: Destination<'_>,
    lhs: &[f32],
    lhs_strides: [usize; 2],
    rhs: &[f32],
    rhs_strides: [usize; 2],
    parallel: bool,
) {
    let reach = |rows: usize, cols: usize, [cs, rs]: [usize; 2]| if rows == 0 || cols == 0 { 0 } else { (rows - 1) * rs + (cols - 1) * cs + 1 };
    let (dst, dst_len, accumulate) = match dst {
        Destination::Write(d) => {
            if k == 0 {
                d.iter_mut().take(m * n).for_each(|v| {
                    v.write(0.0);
                });
            }
            (d.as_mut_ptr().cast::<f32>(), d.len(), false)
        }
        Destination::Add(d) => (d.as_mut_ptr(), d.len(), true),
    };
    assert!(dst_len >= m * n, "matmul: destination too small");
    assert!(lhs.len() >= reach(m, k, lhs_strides), "matmul: left operand too small");
    assert!(rhs.len() >= reach(k, n, rhs_strides), "matmul: right operand too small");
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    let parallelism = if parallel { gemm::Parallelism::Rayon(0) } else { gemm::Parallelism::None };
    // SAFETY: the asserts above keep every index the strides reach inside the slices, `dst`
    // does not alias the operands (it comes from a distinct `&mut`), and gemm reads it only when
    // accumulating, when it is initialised.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_strides[0] as isize,
            lhs_strides[1] as isize,
            rhs.as_ptr(),
            rhs_strides[0] as isize,
            rhs_strides[1] as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// The output columns `[lo, hi)` of a kernel column `j` that read inside the input row.
fn valid_columns(j: usize, pad: usize, stride: usize, in_len: usize, out_len: usize) -> (usize, usize) {
    // 0 <= ox·stride + j - pad < in_len
    let lo = if pad > j { (pad - j).div_ceil(stride) } else { 0 };
    let hi = if in_len + pad > j { (in_len + pad - j).div_ceil(stride) } else { 0 };
    let hi = hi.min(out_len);
    (lo.min(hi), hi)
}

/// The row stride of a patch matrix with `columns` columns: 16 values (a cache line) more than
/// the row, so that the rows of a power-of-two width do not all start in the same cache sets
/// (gemm's multiplies read down a column of it; the padding took the 32x32 layers' weight
/// gradient from 141 to 185 GFLOP/s, `examples/conv_kernels.rs`).
fn col_stride(columns: usize) -> usize {
    columns + 16
}

/// Fills `col[K, slots·P]` (rows [`col_stride`] apart) with the patches of images
/// `first..first + images` of `x` and zeros in the `slots - images` padding images.
fn im2col(geo: &ConvGeometry, x: &[f32], first: usize, images: usize, slots: usize, col: &mut [f32]) {
    let stride = col_stride(slots * geo.pixels());
    let [oh, ow] = geo.out_size();
    let [kh, kw] = geo.kernel;
    let [sh, sw] = geo.stride;
    let [ph, pw] = geo.padding;
    let (h, w) = (geo.height, geo.width);
    let pixels = oh * ow;
    let columns = slots * pixels;
    for c in 0..geo.c_in {
        for i in 0..kh {
            for j in 0..kw {
                let row = (c * kh + i) * kw + j;
                let row = &mut col[row * stride..row * stride + columns];
                row[images * pixels..].fill(0.0);
                let (lo, hi) = valid_columns(j, pw, sw, w, ow);
                for image in 0..images {
                    let plane = &x[((first + image) * geo.c_in + c) * h * w..][..h * w];
                    let dst = &mut row[image * pixels..(image + 1) * pixels];
                    for oy in 0..oh {
                        let out = &mut dst[oy * ow..(oy + 1) * ow];
                        let iy = oy * sh + i;
                        if iy < ph || iy - ph >= h {
                            out.fill(0.0);
                            continue;
                        }
                        let src = &plane[(iy - ph) * w..(iy - ph + 1) * w];
                        out[..lo].fill(0.0);
                        out[hi..].fill(0.0);
                        if sw == 1 {
                            out[lo..hi].copy_from_slice(&src[lo + j - pw..hi + j - pw]);
                        } else {
                            for (ox, o) in out[lo..hi].iter_mut().enumerate() {
                                *o = src[(lo + ox) * sw + j - pw];
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Adds the first `images` images of `col[K, slots·P]` back onto images `0..images` of `dx`
/// (the inverse scatter of [`im2col`]).
fn col2im(geo: &ConvGeometry, col: &[f32], images: usize, slots: usize, dx: &mut [f32]) {
    let [oh, ow] = geo.out_size();
    let [kh, kw] = geo.kernel;
    let [sh, sw] = geo.stride;
    let [ph, pw] = geo.padding;
    let (h, w) = (geo.height, geo.width);
    let pixels = oh * ow;
    let columns = slots * pixels;
    for c in 0..geo.c_in {
        for i in 0..kh {
            for j in 0..kw {
                let row = (c * kh + i) * kw + j;
                let row = &col[row * columns..(row + 1) * columns];
                let (lo, hi) = valid_columns(j, pw, sw, w, ow);
                for image in 0..images {
                    let plane = &mut dx[(image * geo.c_in + c) * h * w..][..h * w];
                    let src = &row[image * pixels..(image + 1) * pixels];
                    for oy in 0..oh {
                        let iy = oy * sh + i;
                        if iy < ph || iy - ph >= h {
                            continue;
                        }
                        let dst = &mut plane[(iy - ph) * w..(iy - ph + 1) * w];
                        let g = &src[oy * ow..(oy + 1) * ow];
                        if sw == 1 {
                            for (d, v) in dst[lo + j - pw..hi + j - pw].iter_mut().zip(&g[lo..hi]) {
                                *d += v;
                            }
                        } else {
                            for ox in lo..hi {
                                dst[ox * sw + j - pw] += g[ox];
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Runs `f` on the output gradient of images `first..first + images` as `dz[c_out, slots·P]`
/// (zeros for the padding images): `dy`'s own slice for a chunk of one image, else a gathered
/// copy in scratch.
fn with_output_chunk<R>(geo: &ConvGeometry, dy: &[f32], first: usize, images: usize, slots: usize, f: impl FnOnce(&[f32]) -> R) -> R {
    let pixels = geo.pixels();
    if slots == 1 {
        return f(&dy[first * geo.c_out * pixels..][..geo.c_out * pixels]);
    }
    with_scratch(geo.c_out * slots * pixels, |dz| {
        for o in 0..geo.c_out {
            let row = &mut dz[o * slots * pixels..][..slots * pixels];
            for image in 0..images {
                row[image * pixels..][..pixels].copy_from_slice(&dy[((first + image) * geo.c_out + o) * pixels..][..pixels]);
            }
            row[images * pixels..].fill(0.0);
        }
        f(dz)
    })
}

/// Whether the multiplies run on several threads: when there are fewer chunks than threads to
/// run them on (one image, say), and the multiply is large enough to split. gemm splits a
/// multiply over blocks of rows and columns, never over the summed dimension, whose blocking
/// depends on that dimension only, so this choice does not change any result's bits (tested:
/// one image against a batch of eight).
fn parallel_matmul(chunks: usize, m: usize, n: usize, k: usize) -> bool {
    chunks < rayon::current_num_threads() && m.saturating_mul(n).saturating_mul(k) >= 192 * 192 * 192
}

/// Forward convolution: `x[B, c_in, H, W]`, `weight[c_out, c_in, kh, kw]`, optional
/// `bias[c_out]` -> `y[B, c_out, out_h, out_w]`.
pub fn forward(geo: &ConvGeometry, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    assert_eq!(x.len(), geo.input_len(), "conv forward: input length");
    assert_eq!(weight.len(), geo.weight_len(), "conv forward: weight length");
    let (k, pixels, c_out) = (geo.patch_len(), geo.pixels(), geo.c_out);
    let slots = geo.images_per_chunk(FORWARD_IMAGES);
    let columns = slots * pixels;
    let parallel = parallel_matmul(geo.batch.div_ceil(slots), c_out, columns, k);
    let chunk_len = slots * c_out * pixels;
    parallel_vec_uninit(geo.output_len(), chunk_len, |index, y_chunk| {
        let images = y_chunk.len() / (c_out * pixels);
        let cs = col_stride(columns);
        with_scratch(k * cs, |col| {
            im2col(geo, x, index * slots, images, slots, col);
            if slots == 1 {
                matmul(c_out, columns, k, Destination::Write(y_chunk), weight, [1, k], col, [1, cs], parallel);
            } else {
                with_scratch(c_out * columns, |z| {
                    matmul(c_out, columns, k, Destination::Write(as_uninit(z)), weight, [1, k], col, [1, cs], parallel);
                    for o in 0..c_out {
                        for image in 0..images {
                            y_chunk[(image * c_out + o) * pixels..][..pixels].write_copy_of_slice(&z[(o * slots + image) * pixels..][..pixels]);
                        }
                    }
                });
            }
        });
        // SAFETY: the multiply (one image) or the copies (every image, every channel) wrote it all.
        let y_chunk = unsafe { assume_written(y_chunk) };
        if let Some(bias) = bias {
            for (plane, b) in y_chunk.chunks_mut(pixels).zip(bias.iter().cycle()) {
                plane.iter_mut().for_each(|v| *v += b);
            }
        }
    })
}

/// Gradient of the input: `dy[B, c_out, out_h, out_w]`, `weight` -> `dx[B, c_in, H, W]`.
pub fn grad_input(geo: &ConvGeometry, weight: &[f32], dy: &[f32]) -> Vec<f32> {
    assert_eq!(dy.len(), geo.output_len(), "conv input gradient: output-gradient length");
    assert_eq!(weight.len(), geo.weight_len(), "conv input gradient: weight length");
    let (k, pixels, c_out) = (geo.patch_len(), geo.pixels(), geo.c_out);
    let slots = geo.images_per_chunk(usize::MAX);
    let columns = slots * pixels;
    let parallel = parallel_matmul(geo.batch.div_ceil(slots), k, columns, c_out);
    let image_len = geo.c_in * geo.height * geo.width;
    parallel_vec(geo.input_len(), slots * image_len, |index, dx_chunk| {
        let images = dx_chunk.len() / image_len;
        with_scratch(k * columns, |dcol| {
            // Wᵀ is W read with swapped strides: column stride k, row stride 1.
            with_output_chunk(geo, dy, index * slots, images, slots, |dz| matmul(k, columns, c_out, Destination::Write(as_uninit(dcol)), weight, [k, 1], dz, [1, columns], parallel));
            col2im(geo, dcol, images, slots, dx_chunk);
        });
    })
}

/// Gradient of the weight: `x`, `dy` -> `dweight[c_out, c_in, kh, kw]`.
pub fn grad_weight(geo: &ConvGeometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    assert_eq!(x.len(), geo.input_len(), "conv weight gradient: input length");
    assert_eq!(dy.len(), geo.output_len(), "conv weight gradient: output-gradient length");
    let (k, pixels, c_out) = (geo.patch_len(), geo.pixels(), geo.c_out);
    // The batch is summed over, so chunks need not be padded: the last one is shorter. At least
    // two chunks where the batch allows, so that two workers share it without gemm splitting one
    // multiply (that split ran a batch of 8 on an 8x8 layer at a sixth of the speed).
    let slots = WEIGHT_COLUMNS.div_ceil(pixels.max(1)).min(geo.batch.div_ceil(2)).max(1);
    let chunks = geo.batch.div_ceil(slots);
    let parallel = parallel_matmul(chunks.min(WEIGHT_GRADIENT_GROUPS), c_out, k, slots * pixels);
    // dW (+)= dZ[c_out, cols] · colᵀ, colᵀ being col[K, cols] read with column stride `cols`.
    let accumulate = |acc: &mut Vec<f32>, index: usize| {
        let first = index * slots;
        let images = slots.min(geo.batch - first);
        let columns = images * pixels;
        let cs = col_stride(columns);
        with_scratch(k * cs, |col| {
            im2col(geo, x, first, images, images, col);
            with_output_chunk(geo, dy, first, images, images, |dz| matmul(c_out, k, columns, Destination::Add(acc), dz, [1, columns], col, [cs, 1], parallel));
        });
    };
    // A fixed grouping of the chunks, summed in a fixed order: the same bits whatever the
    // thread count or scheduling (a resumed run must repeat an uninterrupted one exactly).
    let len = geo.weight_len();
    let groups = chunks.clamp(1, WEIGHT_GRADIENT_GROUPS);
    let group = |g: usize| {
        let mut acc = vec![0.0f32; len];
        (g * chunks / groups..(g + 1) * chunks / groups).for_each(|index| accumulate(&mut acc, index));
        acc
    };
    let partials: Vec<Vec<f32>> = (0..groups).into_par_iter().map(group).collect();
    // Summed group by group in order, over runs of the weight in parallel.
    const RUN: usize = 4096;
    parallel_vec_uninit(len, RUN, |index, total| {
        for (position, value) in total.iter_mut().enumerate() {
            let at = index * RUN + position;
            value.write(partials.iter().fold(0.0, |sum, partial| sum + partial[at]));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The convolution by its definition, one output at a time, in f64.
    fn reference(geo: &ConvGeometry, x: &[f32], w: &[f32]) -> Vec<f64> {
        let [oh, ow] = geo.out_size();
        let [kh, kw] = geo.kernel;
        let mut y = vec![0.0f64; geo.output_len()];
        for b in 0..geo.batch {
            for o in 0..geo.c_out {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut s = 0.0f64;
                        for c in 0..geo.c_in {
                            for i in 0..kh {
                                for j in 0..kw {
                                    let iy = (oy * geo.stride[0] + i) as isize - geo.padding[0] as isize;
                                    let ix = (ox * geo.stride[1] + j) as isize - geo.padding[1] as isize;
                                    if iy < 0 || ix < 0 || iy >= geo.height as isize || ix >= geo.width as isize {
                                        continue;
                                    }
                                    let xv = x[((b * geo.c_in + c) * geo.height + iy as usize) * geo.width + ix as usize];
                                    s += xv as f64 * w[((o * geo.c_in + c) * kh + i) * kw + j] as f64;
                                }
                            }
                        }
                        y[((b * geo.c_out + o) * oh + oy) * ow + ox] = s;
                    }
                }
            }
        }
        y
    }

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn geometries() -> Vec<ConvGeometry> {
        let g = |batch, c_in, h, w, c_out, k: usize, s: usize, p: usize| ConvGeometry {
            batch,
            c_in,
            height: h,
            width: w,
            c_out,
            kernel: [k, k],
            stride: [s, s],
            padding: [p, p],
        };
        vec![
            g(3, 4, 9, 7, 5, 3, 1, 1),  // a 3x3 with padding 1 on odd sizes: all three images in one chunk
            g(2, 3, 32, 32, 4, 3, 1, 1), // the stem: 1024 pixels, one image per chunk
            g(5, 4, 8, 8, 6, 3, 2, 1),  // strided 3x3
            g(4, 6, 8, 8, 3, 1, 2, 0),  // the 1x1 strided shortcut
            g(2, 2, 5, 6, 3, 5, 1, 2),  // 5x5, padding 2
            g(3, 2, 6, 6, 2, 3, 3, 0),  // stride 3, no padding
            g(33, 2, 4, 4, 3, 3, 1, 1), // 16 pixels: 16 images per chunk, a ragged last chunk
            ConvGeometry { kernel: [3, 1], stride: [2, 1], padding: [1, 0], ..g(2, 3, 7, 5, 2, 3, 1, 1) },
            g(130, 1, 4, 4, 2, 3, 1, 1), // the weight gradient in chunks of 64, 64 and 2 images
            ConvGeometry { kernel: [3, 2], padding: [2, 0], ..g(2, 3, 4, 5, 2, 3, 1, 1) }, // uneven kernel and padding
        ]
    }

    fn assert_close(got: &[f32], want: &[f64], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((*g as f64 - w).abs() <= 1e-4 * (1.0 + w.abs()), "{what}[{i}]: {g} vs {w}");
        }
    }

    #[test]
    fn forward_matches_the_definition() {
        for geo in geometries() {
            let x = values(geo.input_len(), 1);
            let w = values(geo.weight_len(), 2);
            let bias = values(geo.c_out, 3);
            let want = reference(&geo, &x, &w);
            assert_close(&forward(&geo, &x, &w, None), &want, &format!("{geo:?} forward"));
            let pixels = geo.pixels();
            let with_bias: Vec<f64> = want.iter().enumerate().map(|(i, v)| v + bias[(i / pixels) % geo.c_out] as f64).collect();
            assert_close(&forward(&geo, &x, &w, Some(&bias)), &with_bias, &format!("{geo:?} forward + bias"));
        }
    }

    /// The gradients are the adjoints of the forward map: for a random upstream gradient `g`,
    /// `<g, conv(x, w)>` is linear in x and in w, so `dL/dx[i] = <g, conv(e_i, w)>` and
    /// `dL/dw[j] = <g, conv(x, e_j)>`, computed here by the f64 definition.
    #[test]
    fn gradients_are_the_adjoints_of_the_definition() {
        for geo in geometries() {
            let x = values(geo.input_len(), 4);
            let w = values(geo.weight_len(), 5);
            let g = values(geo.output_len(), 6);
            let dot = |y: &[f64]| y.iter().zip(&g).map(|(a, b)| a * *b as f64).sum::<f64>();
            let mut unit = vec![0.0f32; geo.input_len()];
            let want_dx: Vec<f64> = (0..geo.input_len())
                .map(|i| {
                    unit[i] = 1.0;
                    let v = dot(&reference(&geo, &unit, &w));
                    unit[i] = 0.0;
                    v
                })
                .collect();
            assert_close(&grad_input(&geo, &w, &g), &want_dx, &format!("{geo:?} input gradient"));
            let mut unit = vec![0.0f32; geo.weight_len()];
            let want_dw: Vec<f64> = (0..geo.weight_len())
                .map(|j| {
                    unit[j] = 1.0;
                    let v = dot(&reference(&geo, &x, &unit));
                    unit[j] = 0.0;
                    v
                })
                .collect();
            assert_close(&grad_weight(&geo, &x, &g), &want_dw, &format!("{geo:?} weight gradient"));
        }
    }

    /// Bit for bit the same on 1, 2 or 3 threads (a resumed training run must repeat an
    /// uninterrupted one exactly), for one image per chunk and for several.
    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        for geo in [geometries()[1], geometries()[6], ConvGeometry { batch: 37, ..geometries()[0] }] {
            let x = values(geo.input_len(), 7);
            let w = values(geo.weight_len(), 8);
            let g = values(geo.output_len(), 9);
            let run = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                pool.install(|| (forward(&geo, &x, &w, None), grad_input(&geo, &w, &g), grad_weight(&geo, &x, &g)))
            };
            let one = run(1);
            for threads in [2, 3] {
                assert!(one == run(threads), "{geo:?}: results differ between 1 and {threads} threads");
            }
        }
    }

    /// An image's output and input gradient are bit for bit the same in a batch of 1 or 5 and
    /// in a batch of 8 that starts with the same images (attacks pad chunks of still-robust
    /// samples up to a power of two; `core/tests/attack_suite.rs`), on 4 threads so that the
    /// single image's multiplies run in parallel and the batch's do not. One geometry is large
    /// enough for gemm to split it.
    #[test]
    fn an_images_results_do_not_depend_on_its_batch() {
        let large_layer = ConvGeometry { batch: 1, c_in: 32, height: 32, width: 32, c_out: 64, kernel: [3, 3], stride: [1, 1], padding: [1, 1] };
        let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
        pool.install(|| {
            for base in [geometries()[0], geometries()[1], geometries()[6], large_layer] {
                let large = ConvGeometry { batch: 8, ..base };
                let x = values(large.input_len(), 10);
                let g = values(large.output_len(), 11);
                let w = values(base.weight_len(), 12);
                let y8 = forward(&large, &x, &w, None);
                let dx8 = grad_input(&large, &w, &g);
                for batch in [1, 5] {
                    let small = ConvGeometry { batch, ..base };
                    let (xs, gs) = (&x[..small.input_len()], &g[..small.output_len()]);
                    assert!(forward(&small, xs, &w, None)[..] == y8[..small.output_len()], "{base:?}: forward, batch {batch} vs 8");
                    assert!(grad_input(&small, &w, gs)[..] == dx8[..small.input_len()], "{base:?}: input gradient, batch {batch} vs 8");
                }
            }
        });
    }

    #[test]
    fn output_size_follows_the_convolution_arithmetic() {
        let geo = ConvGeometry { batch: 1, c_in: 1, height: 32, width: 31, c_out: 1, kernel: [3, 3], stride: [2, 2], padding: [1, 1] };
        assert_eq!(geo.out_size(), [16, 16]);
        assert!(geo.is_valid());
        assert!(!ConvGeometry { padding: [0, 0], height: 2, ..geo }.is_valid());
        assert_eq!(valid_columns(0, 1, 1, 4, 4), (1, 4));
        assert_eq!(valid_columns(2, 1, 1, 4, 4), (0, 3));
        assert_eq!(valid_columns(0, 1, 2, 5, 3), (1, 3));
    }
}
