//! Noise corruptions (Hendrycks & Dietterich 2019; CIFAR parameters of `make_cifar_c.py`).
//! All three are exact up to the random generator: the same distributions, drawn from
//! `StdRng` instead of NumPy's global Mersenne Twister.

use rand::Rng;
use rand::rngs::StdRng;

use super::{normal, to_bytes_trunc, to_unit};

/// Standard deviation per severity (`x + N(0, sigma)`, clip).
pub const GAUSSIAN_SIGMA: [f64; 5] = [0.04, 0.06, 0.08, 0.09, 0.10];
/// Photon count per severity (`Poisson(x * lambda) / lambda`, clip).
pub const SHOT_LAMBDA: [f64; 5] = [500.0, 250.0, 100.0, 75.0, 50.0];
/// Fraction of values replaced by salt or pepper per severity.
pub const IMPULSE_AMOUNT: [f64; 5] = [0.01, 0.02, 0.03, 0.05, 0.07];

/// `gaussian_noise`: `clip(x + N(0, sigma))` with sigma = .04 .06 .08 .09 .10, independent
/// per value (pixel and channel).
pub fn gaussian_noise(image: &[u8], s: usize, rng: &mut StdRng) -> Vec<u8> {
    let sigma = GAUSSIAN_SIGMA[s];
    let x: Vec<f64> = to_unit(image).into_iter().map(|v| v + sigma * normal(rng)).collect();
    to_bytes_trunc(&x)
}

/// `shot_noise`: `clip(Poisson(x * lambda) / lambda)` with lambda = 500 250 100 75 50.
pub fn shot_noise(image: &[u8], s: usize, rng: &mut StdRng) -> Vec<u8> {
    let lambda = SHOT_LAMBDA[s];
    let x: Vec<f64> = to_unit(image).into_iter().map(|v| poisson(v * lambda, rng) as f64 / lambda).collect();
    to_bytes_trunc(&x)
}

/// `impulse_noise`: scikit-image's `random_noise(mode='s&p', amount)` with amount =
/// .01 .02 .03 .05 .07 and salt_vs_pepper = 0.5: each value (pixel and channel) is, with
/// probability `amount`, replaced by 1 or 0 with equal chance (the per-value formulation of
/// current scikit-image; older releases drew `ceil(amount * size / 2)` salt and as many pepper
/// positions with replacement, the same expected fraction).
pub fn impulse_noise(image: &[u8], s: usize, rng: &mut StdRng) -> Vec<u8> {
    let amount = IMPULSE_AMOUNT[s];
    let x: Vec<f64> = to_unit(image)
        .into_iter()
        .map(|v| {
            let flipped = rng.random::<f64>() < amount;
            let salted = rng.random::<f64>() < 0.5;
            match (flipped, salted) {
                (true, true) => 1.0,
                (true, false) => 0.0,
                _ => v,
            }
        })
        .collect();
    to_bytes_trunc(&x)
}

/// A Poisson draw with mean `lambda`: multiplication of uniforms below 10, otherwise Hörmann's
/// PTRS transformed rejection (the two methods NumPy uses).
pub fn poisson(lambda: f64, rng: &mut StdRng) -> u64 {
    if lambda <= 0.0 {
        return 0;
    }
    if lambda < 10.0 {
        let limit = (-lambda).exp();
        let mut k = 0;
        let mut p = rng.random::<f64>();
        while p > limit {
            k += 1;
            p *= rng.random::<f64>();
        }
        return k;
    }
    let slam = lambda.sqrt();
    let loglam = lambda.ln();
    let b = 0.931 + 2.53 * slam;
    let a = -0.059 + 0.02483 * b;
    let inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
    let vr = 0.9277 - 3.6224 / (b - 2.0);
    loop {
        let u = rng.random::<f64>() - 0.5;
        let v = rng.random::<f64>();
        let us = 0.5 - u.abs();
        let k = ((2.0 * a / us + b) * u + lambda + 0.43).floor();
        if us >= 0.07 && v <= vr {
            return k as u64;
        }
        if k < 0.0 || (us < 0.013 && v > us) {
            continue;
        }
        if v.ln() + inv_alpha.ln() - (a / (us * us) + b).ln() <= -lambda + k * loglam - ln_gamma(k + 1.0) {
            return k as u64;
        }
    }
}

/// `ln Γ(x)` for `x >= 1` (Lanczos, g = 7, 9 terms; relative error ~1e-15).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, &c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (std::f64::consts::TAU).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn corruptions_ln_gamma_matches_factorials() {
        let mut f = 1.0f64;
        for n in 1..30 {
            f *= n as f64;
            assert!((ln_gamma(n as f64 + 1.0) - f.ln()).abs() < 1e-9, "{n}");
        }
    }

    #[test]
    fn corruptions_poisson_mean_and_variance() {
        let mut rng = StdRng::seed_from_u64(3);
        for &lambda in &[0.5, 3.0, 9.9, 10.0, 37.5, 250.0, 500.0] {
            let n = 40_000;
            let xs: Vec<f64> = (0..n).map(|_| poisson(lambda, &mut rng) as f64).collect();
            let mean = xs.iter().sum::<f64>() / n as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
            let se = (lambda / n as f64).sqrt();
            assert!((mean - lambda).abs() < 5.0 * se, "lambda {lambda}: mean {mean}");
            assert!((var / lambda - 1.0).abs() < 0.05, "lambda {lambda}: variance {var}");
        }
    }
}
