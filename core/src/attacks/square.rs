//! Square attack (Andriushchenko et al. 2020, "Square Attack: a query-efficient black-box
//! adversarial attack via random search"), l_inf (their Algorithm 2) and l_2 (Algorithm 3), as
//! run by AutoAttack: margin loss `z_y - max_{i != y} z_i`, `QUERIES` model evaluations (the
//! initialisation counts as one), `p_init = 0.8` and the fixed schedule halving `p` after
//! iterations 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 (`resc_schedule = False`).
//!
//! Only the images the model classifies correctly are attacked; the others are returned
//! unchanged (fra31's `SquareAttack.perturb` and torchattacks' `Square` both attack the
//! clean-correct points only and return the clean image for the rest), so a misclassified image
//! that the random start happens to fix never counts as robust. This costs one extra forward pass
//! of the clean batch.
//!
//! l_inf: start from vertical stripes `x +- eps` (one sign per column and channel); each
//! iteration sets one random square window of side `s = round(sqrt(p h w))` to `+- eps` (one sign
//! per channel). l_2: start from a grid of pseudo-Gaussian blocks scaled to radius eps; each
//! iteration moves the mass of a second window into a new pseudo-Gaussian pattern in the first.
//! How that mass is measured is [`WindowNorm`]: per channel by default, as fra31's AutoAttack
//! does since March 2021 (commit e79935c, "small fix square l2"), or over all channels, as
//! torchattacks 3.5.1 (and AutoAttack before that commit) does.
//! A candidate replaces a sample's best point when it lowers the margin or misclassifies it;
//! samples already misclassified stop changing (a tensor mask, not a host branch). The window
//! position and the l_2 patterns are shared by the batch (as in AutoAttack) and drawn from one
//! stream of the seed, the same whatever the batch size; each sample's signs come from its own
//! stream (the seed and its position in the batch). So a sample's attack does not depend on
//! how many samples follow it: AutoAttack pads its chunks of still-robust samples
//! ([`super::autoattack::attack_robust_samples`]) without changing a real sample's result. (With
//! one stream for everything, the per-sample signs shifted the shared draws by the batch size.)
//!
//! Deviations: AutoAttack redraws the l_inf window signs when they would leave the window
//! unchanged (a per-sample host check); here such an iteration just wastes its query. A
//! clean-correct sample the attack does not fool is returned at its best point (the lowest
//! margin found), where fra31 and torchattacks return its clean image; both are classified
//! correctly, so robust accuracy is the same.

use burn::tensor::{Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::gradient::select_samples;
use super::norm::{norms, unit};
use super::objective::margin;
use super::{Attack, AttackSpec, Norm};
use crate::metrics::predictions;
use crate::models::Classifier;

/// How an l_2 Square iteration measures the perturbation mass of the two windows it rewrites
/// (the mass the new pattern in the first window receives, plus an equal share per channel of
/// whatever the image has left below eps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowNorm {
    /// One norm per sample and channel (the sum of squares over the two spatial dimensions):
    /// each channel's new pattern gets that channel's own window mass. fra31's AutoAttack
    /// `autoattack/square.py` since commit e79935c (March 2021); the default, and what
    /// AutoAttack's Square component uses.
    PerChannel,
    /// One norm per sample over all channels: every channel's new pattern gets the whole
    /// window mass, and the final rescaling to radius eps shrinks the rest of the image.
    /// torchattacks 3.5.1 `Square` (and AutoAttack before March 2021).
    AllChannels,
}

/// Square attack with AutoAttack's settings.
pub struct Square {
    spec: AttackSpec,
    /// Initial fraction of pixels changed per query (0.8).
    pub p_init: f32,
    /// The l_2 window norm ([`WindowNorm::PerChannel`], fra31's, unless changed); l_inf ignores it.
    pub window_norm: WindowNorm,
}

impl Square {
    /// Square with the queries (`steps`) of `spec`, `p_init = 0.8` and fra31's per-channel l_2
    /// window norm.
    pub fn new(spec: AttackSpec) -> Self {
        Self { spec, p_init: 0.8, window_norm: WindowNorm::PerChannel }
    }
}

/// The fraction `p` of pixels changed at iteration `it` (AutoAttack's `p_selection`).
pub fn p_schedule(p_init: f32, it: usize) -> f32 {
    let div = match it {
        0..=10 => 1.0,
        11..=50 => 2.0,
        51..=200 => 4.0,
        201..=500 => 8.0,
        501..=1000 => 16.0,
        1001..=2000 => 32.0,
        2001..=4000 => 64.0,
        4001..=6000 => 128.0,
        6001..=8000 => 256.0,
        _ => 512.0,
    };
    p_init / div
}

/// One random stream per sample of the batch, from the seed and the sample's position.
fn sample_streams(seed: u64, n: usize) -> Vec<StdRng> {
    (0..n).map(|i| StdRng::seed_from_u64(seed ^ 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(i as u64 + 1))).collect()
}

/// Random signs `+-1` of shape `[n, rest...]`, sample `i`'s drawn from `streams[i]`, on the host.
fn signs<const D: usize>(streams: &mut [StdRng], dims: [usize; D], like: &Tensor<4>) -> Tensor<D> {
    assert_eq!(streams.len(), dims[0], "one stream per sample");
    let per_sample: usize = dims[1..].iter().product();
    let v: Vec<f32> = streams.iter_mut().flat_map(|rng| (0..per_sample).map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 }).collect::<Vec<_>>()).collect();
    Tensor::from_data(TensorData::new(v, dims), &like.device())
}

/// The `x` by `y` block of concentric squares weighted `1/(r+1)^2`, unit l_2 norm (Square's
/// `pseudo_gaussian_pert`).
fn pseudo_gaussian(x: usize, y: usize) -> Vec<f32> {
    let mut d = vec![0f32; x * y];
    let (xc, yc) = (x / 2 + 1, y / 2 + 1);
    let (mut c0, mut c1) = (xc as i64 - 1, yc as i64 - 1);
    for counter in 0..xc.max(yc) as i64 {
        let (r0, r1) = (c0.max(0), (c0 + 2 * counter + 1).min(x as i64));
        let (q0, q1) = (c1.max(0), (c1 + 2 * counter + 1).min(y as i64));
        for i in r0..r1 {
            for j in q0..q1 {
                d[i as usize * y + j as usize] += 1.0 / ((counter + 1) * (counter + 1)) as f32;
            }
        }
        c0 -= 1;
        c1 -= 1;
    }
    let norm = d.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
    d.iter().map(|v| v / norm).collect()
}

/// An `s` by `s` pattern: a pseudo-Gaussian block on top, its negation below, unit norm, randomly
/// transposed (Square's `meta_pseudo_gaussian_pert`).
fn meta_pseudo_gaussian(s: usize, rng: &mut StdRng) -> Vec<f32> {
    let top = pseudo_gaussian(s / 2, s);
    let bottom = pseudo_gaussian(s - s / 2, s);
    let mut d: Vec<f32> = top.into_iter().chain(bottom.into_iter().map(|v| -v)).collect();
    let norm = d.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
    d.iter_mut().for_each(|v| *v /= norm);
    if rng.random::<f32>() > 0.5 {
        let t: Vec<f32> = (0..s * s).map(|k| d[(k % s) * s + k / s]).collect();
        return t;
    }
    d
}

/// One l_2 proposal from the current perturbation `delta` (`[N, C, H, W]`): the window of side
/// `s` at `to` gets `pattern` (`[1, 1, s, s]`, unit norm) times `signs` (`[N, C, 1, 1]`) plus
/// its old content at unit norm, rescaled per channel to the mass budget
/// `sqrt(max(eps^2 - |delta|^2, 0) / C + |delta in both windows|^2)` (the window mass measured
/// by `window_norm`); the window at `from` is cleared, and the result is rescaled to norm `eps`.
#[allow(clippy::too_many_arguments)]
fn l2_proposal(
    delta: Tensor<4>,
    eps: f32,
    s: usize,
    to: (usize, usize),
    from: (usize, usize),
    pattern: Tensor<4>,
    signs: Tensor<4>,
    window_norm: WindowNorm,
) -> Tensor<4> {
    let [n, c, h, w] = delta.dims();
    let device = delta.device();
    let ((vh, vw), (vh2, vw2)) = (to, from);
    let r1 = [0..n, 0..c, vh..vh + s, vw..vw + s];
    let r2 = [0..n, 0..c, vh2..vh2 + s, vw2..vw2 + s];
    let norms_image = norms(Norm::L2, delta.clone());
    let mut window_mask = Tensor::<4>::zeros([1, 1, h, w], &device);
    window_mask = window_mask.clone().slice_assign([0..1, 0..1, vh..vh + s, vw..vw + s], Tensor::ones([1, 1, s, s], &device));
    window_mask = window_mask.clone().slice_assign([0..1, 0..1, vh2..vh2 + s, vw2..vw2 + s], Tensor::ones([1, 1, s, s], &device));
    let in_windows = (delta.clone() * window_mask).powi_scalar(2);
    let norms_windows = match window_norm {
        WindowNorm::PerChannel => in_windows.sum_dims(&[2, 3]).sqrt(),
        WindowNorm::AllChannels => in_windows.sum_dims(&[1, 2, 3]).sqrt(),
    };
    let old = delta.clone().slice(r1.clone());
    let norms_window_1 = old.clone().powi_scalar(2).sum_dims(&[2, 3]).sqrt();
    let fresh = pattern.expand([n, c, s, s]) * signs + old / (norms_window_1 + 1e-12);
    let fresh_norm = fresh.clone().powi_scalar(2).sum_dims(&[2, 3]).sqrt().clamp_min(1e-12);
    let budget = ((norms_image.powi_scalar(2).neg() + eps * eps).clamp_min(0.0) / c as f32 + norms_windows.powi_scalar(2)).sqrt();
    let fresh = fresh / fresh_norm * budget;
    let delta = delta.slice_assign(r2, Tensor::zeros([n, c, s, s], &device));
    let delta = delta.slice_assign(r1, fresh);
    unit(Norm::L2, delta) * eps
}

impl Attack for Square {
    fn spec(&self) -> &AttackSpec {
        &self.spec
    }

    fn run(&self, model: &Classifier, x: Tensor<4>, labels: Tensor<1, Int>, seed: u64) -> Tensor<4> {
        let eps = self.spec.eps;
        let mut rng = StdRng::seed_from_u64(seed);
        let [n, c, h, w] = x.dims();
        let mut streams = sample_streams(seed, n);
        let device = x.device();
        // Only the clean-correct samples are attacked; the others stay at the clean image.
        let clean_correct = predictions(model.forward(x.clone())).equal(labels.clone());
        // Initialisation (one query).
        let start = match self.spec.norm {
            Norm::Linf => (x.clone() + signs(&mut streams, [n, c, 1, w], &x) * eps).clamp(0.0, 1.0),
            _ => {
                let s = (h / 5).max(1);
                let start = (h - s * 5.min(h / s)) / 2;
                let mut delta = Tensor::<4>::zeros([n, c, h, w], &device);
                let mut vh = start;
                while vh + s <= h {
                    let mut vw = start;
                    while vw + s <= w {
                        let pattern = Tensor::<4>::from_data(TensorData::new(meta_pseudo_gaussian(s, &mut rng), [1, 1, s, s]), &device);
                        let block = pattern.expand([n, c, s, s]) * signs(&mut streams, [n, c, 1, 1], &x);
                        let region = [0..n, 0..c, vh..vh + s, vw..vw + s];
                        delta = delta.clone().slice_assign(region.clone(), delta.slice(region) + block);
                        vw += s;
                    }
                    vh += s;
                }
                (x.clone() + unit(Norm::L2, delta) * eps).clamp(0.0, 1.0)
            }
        };
        let mut best = select_samples(clean_correct.clone(), start, x.clone());
        // A clean-wrong sample has margin <= 0 at the clean image; it is also forced to 0 so that
        // it is never active, whatever the arithmetic of a second forward pass.
        let mut margin_min = margin(model.forward(best.clone()), labels.clone()).mask_fill(clean_correct.bool_not(), 0.0);
        let mut loss_min = margin_min.clone();
        for it in 0..self.spec.steps.saturating_sub(1) {
            let p = p_schedule(self.p_init, it);
            let candidate = match self.spec.norm {
                Norm::Linf => {
                    let s = ((p * (h * w) as f32).sqrt().round() as usize).clamp(1, h - 1);
                    let (vh, vw) = (rng.random_range(0..(h - s).max(1)), rng.random_range(0..(w - s).max(1)));
                    let delta = best.clone() - x.clone();
                    let window = signs(&mut streams, [n, c, 1, 1], &x).expand([n, c, s, s]) * eps;
                    let delta = delta.slice_assign([0..n, 0..c, vh..vh + s, vw..vw + s], window);
                    (x.clone() + delta).clamp(0.0, 1.0)
                }
                _ => {
                    let mut s = ((p * (h * w) as f32).sqrt().round() as usize).max(3);
                    if s % 2 == 0 {
                        s += 1;
                    }
                    let s = s.min(h.min(w));
                    let (vh, vw) = (rng.random_range(0..(h - s).max(1)), rng.random_range(0..(w - s).max(1)));
                    let (vh2, vw2) = (rng.random_range(0..(h - s).max(1)), rng.random_range(0..(w - s).max(1)));
                    let pattern = Tensor::<4>::from_data(TensorData::new(meta_pseudo_gaussian(s, &mut rng), [1, 1, s, s]), &device);
                    let window_signs = signs(&mut streams, [n, c, 1, 1], &x);
                    let delta = l2_proposal(best.clone() - x.clone(), eps, s, (vh, vw), (vh2, vw2), pattern, window_signs, self.window_norm);
                    (x.clone() + delta).clamp(0.0, 1.0)
                }
            };
            let m = margin(model.forward(candidate.clone()), labels.clone());
            let active = margin_min.clone().greater_elem(0.0);
            let improved = m.clone().lower(loss_min.clone()).bool_and(active.clone());
            let accept = improved.clone().bool_or(m.clone().lower_equal_elem(0.0)).bool_and(active);
            loss_min = loss_min.mask_where(improved, m.clone());
            margin_min = margin_min.mask_where(accept.clone(), m);
            best = select_samples(accept, candidate, best);
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p_schedule_halves_at_the_published_iterations() {
        assert_eq!(p_schedule(0.8, 0), 0.8);
        assert_eq!(p_schedule(0.8, 10), 0.8);
        assert_eq!(p_schedule(0.8, 11), 0.4);
        assert_eq!(p_schedule(0.8, 201), 0.1);
        assert_eq!(p_schedule(0.8, 4999), 0.8 / 128.0);
        assert_eq!(p_schedule(0.8, 9000), 0.8 / 512.0);
    }

    /// The pattern of `meta_pseudo_gaussian`: unit norm; one half (the top rows, or the left
    /// columns when transposed) strictly positive and the other strictly negative, each half of
    /// norm `1/sqrt(2)` (both are unit blocks before the joint normalisation); for even `s` the
    /// halves mirror each other, so the pattern sums to zero. (For odd `s` the halves have
    /// different sizes and the pattern is not zero-mean, which is why no such check is made there.)
    #[test]
    fn pseudo_gaussian_patterns_have_unit_norm_and_opposite_halves_of_equal_norm() {
        let mut transposed_seen = [false, false];
        for seed in 0..8 {
            let mut rng = StdRng::seed_from_u64(seed);
            for s in [3usize, 4, 5, 6, 7] {
                let d = meta_pseudo_gaussian(s, &mut rng);
                let norm: f32 = d.iter().map(|v| v * v).sum::<f32>().sqrt();
                assert!((norm - 1.0).abs() < 1e-5, "{s}: {norm}");
                // Not transposed: the bottom-left entry is in the negative half.
                let transposed = d[(s - 1) * s] > 0.0;
                transposed_seen[transposed as usize] = true;
                let first_half = |i: usize, j: usize| if transposed { j < s / 2 } else { i < s / 2 };
                let (mut pos, mut neg) = (0f32, 0f32);
                for i in 0..s {
                    for j in 0..s {
                        let v = d[i * s + j];
                        if first_half(i, j) {
                            assert!(v > 0.0, "s {s} ({i}, {j}): {v} should be positive");
                            pos += v * v;
                        } else {
                            assert!(v < 0.0, "s {s} ({i}, {j}): {v} should be negative");
                            neg += v * v;
                        }
                    }
                }
                assert!((pos.sqrt() - 0.5f32.sqrt()).abs() < 1e-5 && (neg.sqrt() - 0.5f32.sqrt()).abs() < 1e-5, "s {s}: {pos} {neg}");
                if s % 2 == 0 {
                    let sum: f32 = d.iter().sum();
                    assert!(sum.abs() < 1e-5, "s {s}: the halves of an even pattern cancel, sum {sum}");
                }
            }
        }
        assert_eq!(transposed_seen, [true, true], "both orientations are drawn");
        let g = pseudo_gaussian(3, 3);
        assert!(g[4] > g[0], "the centre weighs most");
    }

    fn channel_values(t: Tensor<4>) -> Vec<Vec<f32>> {
        let [_, c, h, w] = t.dims();
        let v = t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
        (0..c).map(|k| v[k * h * w..(k + 1) * h * w].to_vec()).collect()
    }

    /// A hand-derived l_2 step that tells the two window norms apart. One image, 3 channels,
    /// 3x3, both windows the whole image (s = 3). The perturbation is `2p` in channel 0 and zero
    /// elsewhere, with `p` = 0.5 at four pixels (unit norm), so `|delta| = 2 = eps` and nothing is
    /// left of the budget. The new pattern is `p` with signs (+, -, +).
    ///
    /// Channel 0: old content at unit norm is `p`, plus `p` gives `2p`, unit `p`. Per channel
    /// (fra31), channel c gets its own window mass: 2 for channel 0 and 0 for the others, so the
    /// step returns `delta` unchanged: `[2p, 0, 0]`. Over all channels (torchattacks), every
    /// channel gets the whole window mass 2: `[2p, -2p, 2p]`, norm `2 sqrt(3)`, rescaled to eps:
    /// `[p, -p, p] * 2 / sqrt(3)`, i.e. `+-1/sqrt(3)` at the four pixels of every channel.
    #[test]
    fn l2_window_norm_per_channel_keeps_mass_in_its_channel_and_all_channels_spreads_it() {
        let device = burn::tensor::Device::flex();
        let at = [0usize, 1, 3, 4];
        let mut p = vec![0f32; 9];
        at.iter().for_each(|&k| p[k] = 0.5);
        let mut d = vec![0f32; 27];
        at.iter().for_each(|&k| d[k] = 1.0);
        let delta = Tensor::<4>::from_data(TensorData::new(d, [1, 3, 3, 3]), &device);
        let pattern = Tensor::<4>::from_data(TensorData::new(p.clone(), [1, 1, 3, 3]), &device);
        let signs = Tensor::<4>::from_data(TensorData::new(vec![1f32, -1.0, 1.0], [1, 3, 1, 1]), &device);
        let step = |norm| channel_values(l2_proposal(delta.clone(), 2.0, 3, (0, 0), (0, 0), pattern.clone(), signs.clone(), norm));

        let per_channel = step(WindowNorm::PerChannel);
        for (k, &pk) in p.iter().enumerate() {
            assert!((per_channel[0][k] - 2.0 * pk).abs() < 1e-5, "per channel, channel 0 [{k}]: {}", per_channel[0][k]);
            assert!(per_channel[1][k].abs() < 1e-5 && per_channel[2][k].abs() < 1e-5, "per channel keeps channels 1, 2 at zero: {per_channel:?}");
        }
        let all = step(WindowNorm::AllChannels);
        let a = 2.0 / 3f32.sqrt();
        for (k, &pk) in p.iter().enumerate() {
            for (ch, sign) in [(0, 1.0), (1, -1.0), (2, 1.0)] {
                assert!((all[ch][k] - sign * a * pk).abs() < 1e-5, "all channels, channel {ch} [{k}]: {} vs {}", all[ch][k], sign * a * pk);
            }
        }
    }
}
