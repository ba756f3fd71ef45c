//! BatchNorm (Ioffe & Szegedy 2015, Algorithm 1 and its gradients) on f32 slices laid out
//! `[batch, channels, pixels]`: training mode in two passes over the activation each way,
//! evaluation mode (running statistics) in one.
//!
//! With `N = batch·pixels` values per channel, `mean = Σx/N`, `var = Σ(x - mean)²/N` (biased,
//! as Burn's `batch_norm_train` returns it), `x̂ = (x - mean)/√(var + ε)`, `y = γ·x̂ + β`;
//! backward: `dβ = Σdy`, `dγ = Σdy·x̂`, `dx = γ/√(var + ε) · (dy - dβ/N - x̂·dγ/N)` (with fixed
//! statistics, `dx = γ/√(var + ε) · dy`). Each plane is summed in f32 lanes and the planes in
//! f64 ([`lane_sum`]). Burn's default spends about ten passes (transposed copies for the
//! per-channel means, then separate element-wise ops) on the same training forward pass.

use rayon::prelude::*;

use crate::models::cpu_conv::kernels::parallel_vec_uninit;

/// The layout of one BatchNorm input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NormGeometry {
    pub batch: usize,
    pub channels: usize,
    /// Values per (image, channel): the product of the dimensions after the channel one.
    pub pixels: usize,
}

impl NormGeometry {
    pub fn len(&self) -> usize {
        self.batch * self.channels * self.pixels
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn count(&self) -> f64 {
        (self.batch * self.pixels) as f64
    }

    /// The planes of channel `c`: one slice of `pixels` values per image.
    fn planes<'a>(&self, x: &'a [f32], c: usize) -> impl Iterator<Item = &'a [f32]> + 'a {
        let (channels, pixels) = (self.channels, self.pixels);
        (0..self.batch).map(move |b| &x[(b * channels + c) * pixels..][..pixels])
    }
}

/// The per-channel statistics a BatchNorm normalises with (the batch's or the running ones)
/// and its `ε`.
#[derive(Clone, Copy, Debug)]
pub struct Statistics<'a> {
    pub mean: &'a [f32],
    pub var: &'a [f32],
    pub epsilon: f64,
}

impl Statistics<'_> {
    /// `1/√(var + ε)` per channel, in f64.
    fn inv_std(&self) -> Vec<f64> {
        self.var.iter().map(|&v| 1.0 / (v as f64 + self.epsilon).sqrt()).collect()
    }
}

/// Lanes of the per-plane partial sums (one AVX-512 register of f32).
const LANES: usize = 16;

/// `Σ_i f(a[i], b[i])` over one plane (`a` and `b` of one length), in [`LANES`] f32 partial
/// sums that the compiler vectorises, added up in f64; the planes' sums are then added in f64.
/// (A plane holds at most a few thousand values, so each lane sums a few hundred in f32.)
fn lane_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let mut lanes = [0.0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f64 = a_chunks.remainder().iter().zip(b_chunks.remainder()).map(|(&a, &b)| f(a, b) as f64).sum();
    for (a, b) in a_chunks.zip(b_chunks) {
        for lane in 0..LANES {
            lanes[lane] += f(a[lane], b[lane]);
        }
    }
    tail + lanes.iter().map(|&v| v as f64).sum::<f64>()
}

/// Per-channel batch mean and biased variance: `(mean[C], var[C])`.
pub fn statistics(geo: &NormGeometry, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    assert_eq!(x.len(), geo.len(), "batch norm statistics: input length");
    let n = geo.count();
    (0..geo.channels)
        .into_par_iter()
        .map(|c| {
            let mean = geo.planes(x, c).map(|p| lane_sum(p, p, |v, _| v)).sum::<f64>() / n;
            let m = mean as f32;
            let var = geo.planes(x, c).map(|p| lane_sum(p, p, |v, _| (v - m) * (v - m))).sum::<f64>() / n;
            (m, var as f32)
        })
        .unzip()
}

/// `y = γ·(x - mean)/√(var + ε) + β` per channel.
pub fn normalize(geo: &NormGeometry, x: &[f32], gamma: &[f32], beta: &[f32], statistics: Statistics) -> Vec<f32> {
    assert_eq!(x.len(), geo.len(), "batch norm: input length");
    for (name, v) in [("gamma", gamma), ("beta", beta), ("mean", statistics.mean), ("variance", statistics.var)] {
        assert_eq!(v.len(), geo.channels, "batch norm: {name} length");
    }
    let (scale, shift): (Vec<f32>, Vec<f32>) = statistics
        .inv_std()
        .iter()
        .enumerate()
        .map(|(c, inv_std)| {
            let scale = gamma[c] as f64 * inv_std;
            (scale as f32, (beta[c] as f64 - statistics.mean[c] as f64 * scale) as f32)
        })
        .unzip();
    parallel_vec_uninit(geo.len(), geo.pixels, |plane, out| {
        let c = plane % geo.channels;
        let (a, b) = (scale[c], shift[c]);
        out.iter_mut().zip(&x[plane * geo.pixels..]).for_each(|(o, &v)| {
            o.write(v * a + b);
        });
    })
}

/// The gradients `(dx, dγ, dβ)` of [`normalize`] with the batch statistics of `x` (so `dx`
/// includes the paths through the mean and the variance).
pub fn backward(geo: &NormGeometry, x: &[f32], gamma: &[f32], statistics: Statistics, dy: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    check_backward_lengths(geo, x, dy);
    let (mean, inv_std) = (statistics.mean, statistics.inv_std());
    let (dgamma, dbeta) = parameter_gradients(geo, x, mean, &inv_std, dy);
    let n = geo.count();
    let dx = parallel_vec_uninit(geo.len(), geo.pixels, |plane, out| {
        // dx = k·(dy - mean_dy - x̂·mean_dg) with x̂ = (x - m)·s, as `a·dy + b·(x - m) + d`.
        let c = plane % geo.channels;
        let (m, s) = (mean[c] as f64, inv_std[c]);
        let k = gamma[c] as f64 * s;
        let (mean_dy, mean_dg) = (dbeta[c] / n, dgamma[c] / n);
        let (a, b, d, m) = (k as f32, (-k * s * mean_dg) as f32, (-k * mean_dy) as f32, m as f32);
        let offset = plane * geo.pixels;
        let (xp, gp) = (&x[offset..][..geo.pixels], &dy[offset..][..geo.pixels]);
        for ((o, &xv), &g) in out.iter_mut().zip(xp).zip(gp) {
            o.write(a * g + b * (xv - m) + d);
        }
    });
    (dx, to_f32(dgamma), to_f32(dbeta))
}

/// The gradients `(dx, dγ, dβ)` of [`normalize`] with fixed statistics (evaluation mode: the
/// running mean and variance are constants): `dx = dy·γ/√(var + ε)`, `dγ = Σdy·x̂`, `dβ = Σdy`.
/// `dγ` and `dβ` are computed only with `parameters` (else empty): an attack needs `dx` alone.
pub fn backward_frozen(geo: &NormGeometry, x: &[f32], gamma: &[f32], statistics: Statistics, dy: &[f32], parameters: bool) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    check_backward_lengths(geo, x, dy);
    let inv_std = statistics.inv_std();
    let (dgamma, dbeta) = if parameters { parameter_gradients(geo, x, statistics.mean, &inv_std, dy) } else { (Vec::new(), Vec::new()) };
    let dx = parallel_vec_uninit(geo.len(), geo.pixels, |plane, out| {
        let c = plane % geo.channels;
        let k = (gamma[c] as f64 * inv_std[c]) as f32;
        out.iter_mut().zip(&dy[plane * geo.pixels..]).for_each(|(o, &g)| {
            o.write(g * k);
        });
    });
    (dx, to_f32(dgamma), to_f32(dbeta))
}

fn check_backward_lengths(geo: &NormGeometry, x: &[f32], dy: &[f32]) {
    assert_eq!(x.len(), geo.len(), "batch norm backward: input length");
    assert_eq!(dy.len(), geo.len(), "batch norm backward: output-gradient length");
}

fn to_f32(values: Vec<f64>) -> Vec<f32> {
    values.into_iter().map(|v| v as f32).collect()
}

/// `(dγ, dβ) = (Σdy·x̂, Σdy)` per channel, in f64, with `x̂ = (x - mean)·inv_std`.
fn parameter_gradients(geo: &NormGeometry, x: &[f32], mean: &[f32], inv_std: &[f64], dy: &[f32]) -> (Vec<f64>, Vec<f64>) {
    (0..geo.channels)
        .into_par_iter()
        .map(|c| {
            let m = mean[c];
            geo.planes(x, c).zip(geo.planes(dy, c)).fold((0.0, 0.0), |(dg, db), (xp, gp)| {
                (dg + lane_sum(xp, gp, |xv, g| g * (xv - m)) * inv_std[c], db + lane_sum(gp, gp, |g, _| g))
            })
        })
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u64, scale: f32, offset: f32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                offset + scale * (((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0)
            })
            .collect()
    }

    /// The loss `L = Σ g·y` as a function of x, gamma, beta (batch statistics recomputed), in f64.
    fn loss(geo: &NormGeometry, x: &[f64], gamma: &[f64], beta: &[f64], g: &[f32], eps: f64) -> f64 {
        let n = geo.count();
        let mut total = 0.0;
        for c in 0..geo.channels {
            let idx = |b: usize, p: usize| (b * geo.channels + c) * geo.pixels + p;
            let all = || (0..geo.batch).flat_map(move |b| (0..geo.pixels).map(move |p| idx(b, p)));
            let mean = all().map(|i| x[i]).sum::<f64>() / n;
            let var = all().map(|i| (x[i] - mean).powi(2)).sum::<f64>() / n;
            total += all().map(|i| g[i] as f64 * (gamma[c] * (x[i] - mean) / (var + eps).sqrt() + beta[c])).sum::<f64>();
        }
        total
    }

    #[test]
    fn forward_and_gradients_match_the_definition_by_central_differences() {
        let eps = 1e-5;
        for geo in [NormGeometry { batch: 3, channels: 4, pixels: 5 }, NormGeometry { batch: 2, channels: 3, pixels: 1 }] {
            let x = values(geo.len(), 1, 2.0, 0.5);
            let gamma = values(geo.channels, 2, 0.5, 1.0);
            let beta = values(geo.channels, 3, 0.5, 0.0);
            let g = values(geo.len(), 4, 1.0, 0.0);
            let (mean, var) = statistics(&geo, &x);
            let statistics = Statistics { mean: &mean, var: &var, epsilon: eps };
            let y = normalize(&geo, &x, &gamma, &beta, statistics);
            // Forward: the normalised channels have mean beta and variance gamma^2 var/(var+eps).
            for c in 0..geo.channels {
                let ys: Vec<f64> = (0..geo.batch).flat_map(|b| (0..geo.pixels).map(move |p| (b, p))).map(|(b, p)| y[(b * geo.channels + c) * geo.pixels + p] as f64).collect();
                let m = ys.iter().sum::<f64>() / ys.len() as f64;
                let v = ys.iter().map(|v| (v - m).powi(2)).sum::<f64>() / ys.len() as f64;
                assert!((m - beta[c] as f64).abs() < 1e-5, "channel {c}: mean {m} vs beta {}", beta[c]);
                let want = (gamma[c] as f64).powi(2) * var[c] as f64 / (var[c] as f64 + eps);
                assert!((v - want).abs() < 1e-4 * (1.0 + want), "channel {c}: variance {v} vs {want}");
            }
            let (dx, dgamma, dbeta) = backward(&geo, &x, &gamma, statistics, &g);
            let as64 = |v: &[f32]| v.iter().map(|&v| v as f64).collect::<Vec<f64>>();
            let (x64, gamma64, beta64) = (as64(&x), as64(&gamma), as64(&beta));
            let h = 1e-4;
            let diff = |f: &dyn Fn(f64) -> f64| (f(h) - f(-h)) / (2.0 * h);
            for i in 0..geo.len() {
                let want = diff(&|d| {
                    let mut xs = x64.clone();
                    xs[i] += d;
                    loss(&geo, &xs, &gamma64, &beta64, &g, eps)
                });
                assert!((dx[i] as f64 - want).abs() < 1e-3 * (1.0 + want.abs()), "dx[{i}]: {} vs {want}", dx[i]);
            }
            for c in 0..geo.channels {
                let want_g = diff(&|d| {
                    let mut gs = gamma64.clone();
                    gs[c] += d;
                    loss(&geo, &x64, &gs, &beta64, &g, eps)
                });
                let want_b = diff(&|d| {
                    let mut bs = beta64.clone();
                    bs[c] += d;
                    loss(&geo, &x64, &gamma64, &bs, &g, eps)
                });
                assert!((dgamma[c] as f64 - want_g).abs() < 1e-3 * (1.0 + want_g.abs()), "dgamma[{c}]: {} vs {want_g}", dgamma[c]);
                assert!((dbeta[c] as f64 - want_b).abs() < 1e-3 * (1.0 + want_b.abs()), "dbeta[{c}]: {} vs {want_b}", dbeta[c]);
            }
        }
    }
}
