//! A 2-D picture of a feature space: exact t-SNE (van der Maaten & Hinton 2008) on
//! L2-normalised features, with the standard optimiser settings (perplexity 30, early
//! exaggeration 12 for 250 iterations, momentum 0.5 then 0.8, adaptive gains, 1,000
//! iterations). Exact t-SNE costs O(N^2) per iteration: meant for subsamples of a few thousand
//! points (about a second per thousand points here). Written here rather than taken from the
//! `bhtsne` crate because that crate's FFT dependencies change feature flags that Burn's
//! dependencies share, which forces a full rebuild of Burn. The start is drawn from a seed.

use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Settings of the embedding.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TsneConfig {
    /// Effective number of neighbours.
    pub perplexity: f64,
    /// Gradient-descent iterations.
    pub iterations: usize,
    /// Seed of the initial positions.
    pub seed: u64,
}

impl Default for TsneConfig {
    fn default() -> Self {
        Self { perplexity: 30.0, iterations: 1000, seed: 0 }
    }
}

/// A standard normal sample (Box-Muller).
fn normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Largest number of points accepted (the method is quadratic).
pub const MAX_POINTS: usize = 5000;

/// Symmetric joint probabilities `P` (row-major `n x n`) whose conditional rows have the given
/// perplexity, found by bisection on each point's precision.
fn joint_probabilities(d2: &[f64], n: usize, perplexity: f64) -> Vec<f64> {
    let target = perplexity.ln();
    let mut p = vec![0f64; n * n];
    for i in 0..n {
        let row = &d2[i * n..(i + 1) * n];
        let (mut beta, mut lo, mut hi) = (1.0f64, 0.0f64, f64::INFINITY);
        for _ in 0..100 {
            let mut sum = 0.0;
            let mut weighted = 0.0;
            for j in 0..n {
                if j != i {
                    let w = (-row[j] * beta).exp();
                    sum += w;
                    weighted += w * row[j];
                }
            }
            let sum = sum.max(1e-300);
            let entropy = sum.ln() + beta * weighted / sum;
            if (entropy - target).abs() < 1e-5 {
                break;
            }
            if entropy > target {
                lo = beta;
                beta = if hi.is_finite() { (beta + hi) / 2.0 } else { beta * 2.0 };
            } else {
                hi = beta;
                beta = (beta + lo) / 2.0;
            }
        }
        let mut sum = 0.0;
        for j in 0..n {
            if j != i {
                p[i * n + j] = (-row[j] * beta).exp();
                sum += p[i * n + j];
            }
        }
        for j in 0..n {
            p[i * n + j] /= sum.max(1e-300);
        }
    }
    let mut joint = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..n {
            joint[i * n + j] = ((p[i * n + j] + p[j * n + i]) / (2.0 * n as f64)).max(1e-12);
        }
    }
    joint
}

/// 2-D coordinates of the `n = rows.len() / dim` rows of `rows` (row-major features).
pub fn tsne_2d(rows: &[f32], dim: usize, config: &TsneConfig) -> crate::Result<Vec<[f32; 2]>> {
    if dim == 0 || rows.len() % dim != 0 {
        return Err(crate::Error::Data(format!("{} values are not rows of {dim}", rows.len())));
    }
    let n = rows.len() / dim;
    if (n as f64) < 3.0 * config.perplexity + 1.0 || n > MAX_POINTS {
        return Err(crate::Error::Data(format!(
            "t-SNE with perplexity {} needs between {} and {MAX_POINTS} points (got {n})",
            config.perplexity,
            (3.0 * config.perplexity + 1.0).ceil()
        )));
    }
    let unit: Vec<f64> = rows
        .chunks(dim)
        .flat_map(|r| {
            let norm = r.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt().max(1e-12);
            r.iter().map(move |v| *v as f64 / norm)
        })
        .collect();
    let mut d2 = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..i {
            let d: f64 = (0..dim).map(|k| (unit[i * dim + k] - unit[j * dim + k]).powi(2)).sum();
            d2[i * n + j] = d;
            d2[j * n + i] = d;
        }
    }
    let p = joint_probabilities(&d2, n, config.perplexity);
    let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed);
    let mut y: Vec<f64> = (0..2 * n).map(|_| 1e-4 * normal(&mut rng)).collect();
    let mut update = vec![0f64; 2 * n];
    let mut gains = vec![1f64; 2 * n];
    let learning_rate = (n as f64 / 12.0).max(50.0);
    let mut num = vec![0f64; n * n];
    for iteration in 0..config.iterations {
        let exaggeration = if iteration < 250 { 12.0 } else { 1.0 };
        let momentum = if iteration < 250 { 0.5 } else { 0.8 };
        let mut total = 0.0;
        for i in 0..n {
            for j in 0..i {
                let dx = y[2 * i] - y[2 * j];
                let dy = y[2 * i + 1] - y[2 * j + 1];
                let q = 1.0 / (1.0 + dx * dx + dy * dy);
                num[i * n + j] = q;
                num[j * n + i] = q;
                total += 2.0 * q;
            }
        }
        for i in 0..n {
            let (mut gx, mut gy) = (0.0, 0.0);
            for j in 0..n {
                if i == j {
                    continue;
                }
                let q = num[i * n + j];
                let force = (exaggeration * p[i * n + j] - q / total) * q;
                gx += force * (y[2 * i] - y[2 * j]);
                gy += force * (y[2 * i + 1] - y[2 * j + 1]);
            }
            for (k, g) in [(2 * i, 4.0 * gx), (2 * i + 1, 4.0 * gy)] {
                gains[k] = if (g > 0.0) != (update[k] > 0.0) { gains[k] + 0.2 } else { (gains[k] * 0.8).max(0.01) };
                update[k] = momentum * update[k] - learning_rate * gains[k] * g;
            }
        }
        for (v, u) in y.iter_mut().zip(&update) {
            *v += u;
        }
        // keep the picture centred
        let (mx, my) = (
            (0..n).map(|i| y[2 * i]).sum::<f64>() / n as f64,
            (0..n).map(|i| y[2 * i + 1]).sum::<f64>() / n as f64,
        );
        for i in 0..n {
            y[2 * i] -= mx;
            y[2 * i + 1] -= my;
        }
    }
    Ok(y.chunks(2).map(|p| [p[0] as f32, p[1] as f32]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separated_clusters_stay_separated() {
        // three tight clusters around orthogonal directions in 8-D
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let (n, dim) = (90, 8);
        let mut rows = Vec::new();
        for i in 0..n {
            for d in 0..dim {
                rows.push(if d == i % 3 { 1.0 } else { 0.0 } + rng.random_range(-0.05f32..0.05));
            }
        }
        let config = TsneConfig { perplexity: 10.0, iterations: 500, ..Default::default() };
        let y = tsne_2d(&rows, dim, &config).unwrap();
        assert_eq!(y.len(), n);
        let centre = |c: usize| {
            let members: Vec<&[f32; 2]> = y.iter().enumerate().filter(|(i, _)| i % 3 == c).map(|(_, p)| p).collect();
            let k = members.len() as f32;
            [members.iter().map(|p| p[0]).sum::<f32>() / k, members.iter().map(|p| p[1]).sum::<f32>() / k]
        };
        let dist = |a: [f32; 2], b: &[f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
        // every point is nearer its own cluster's centre than any other centre
        let centres = [centre(0), centre(1), centre(2)];
        for (i, p) in y.iter().enumerate() {
            let own = dist(centres[i % 3], p);
            for (c, other) in centres.iter().enumerate() {
                if c != i % 3 {
                    assert!(own < dist(*other, p), "point {i} is closer to cluster {c}");
                }
            }
        }
        assert!(tsne_2d(&rows[..10 * dim], dim, &config).is_err(), "too few points for the perplexity");
        // the same seed draws the same picture
        assert_eq!(tsne_2d(&rows, dim, &config).unwrap(), y);
    }
}
