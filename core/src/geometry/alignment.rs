//! Alignment and uniformity (Wang & Isola 2020, Eq. 4-5; SsnL/align_uniform):
//! `alignment = E ||f(x) - f(x+)||^alpha` over positive pairs (alpha = 2) and
//! `uniformity = log E exp(-t ||f(x) - f(y)||^2)` over distinct pairs (t = 2), both on
//! L2-normalised features. Lower is better for both; perfectly collapsed features have
//! uniformity 0 (its maximum).

use burn::tensor::Tensor;

use crate::losses::l2_normalize;

/// Mean `||a_i - b_i||^alpha` of the normalised rows of `a` and `b` (positive pairs).
pub fn alignment(a: Tensor<2>, b: Tensor<2>, alpha: f32) -> f64 {
    let d = l2_normalize(a) - l2_normalize(b);
    let norm = d.powi_scalar(2).sum_dim(1).sqrt();
    norm.powf_scalar(alpha).mean().into_scalar::<f64>()
}

/// `log` of the mean of `exp(-t ||f_i - f_j||^2)` over pairs `i != j` of normalised rows,
/// computed in row blocks (`||f_i - f_j||^2 = 2 - 2 cos`).
pub fn uniformity(features: Tensor<2>, t: f32) -> f64 {
    let [n, _] = features.dims();
    if n < 2 {
        return f64::NAN;
    }
    let f = l2_normalize(features);
    let block = 1024;
    let mut total = 0f64;
    for start in (0..n).step_by(block) {
        let end = (start + block).min(n);
        let cos = f.clone().slice([start..end]).matmul(f.clone().transpose());
        let kernel = ((cos - 1.0) * (2.0 * t)).exp();
        total += kernel.sum().into_scalar::<f64>();
    }
    // remove the n diagonal terms, exp(0) = 1 each
    ((total - n as f64) / (n * (n - 1)) as f64).ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn circle(n: usize, device: &Device) -> Tensor<2> {
        let v: Vec<f32> = (0..n)
            .flat_map(|k| {
                let a = 2.0 * std::f32::consts::PI * k as f32 / n as f32;
                [a.cos(), a.sin()]
            })
            .collect();
        Tensor::from_data(TensorData::new(v, [n, 2]), device)
    }

    #[test]
    fn uniform_points_on_the_circle_and_collapsed_points() {
        let device = Device::flex();
        // evenly spaced: every point sees the others at angles 2 pi k / n
        let n = 64;
        let expected = ((1..n).map(|k| (-4.0 * (1.0 - (2.0 * std::f64::consts::PI * k as f64 / n as f64).cos())).exp()).sum::<f64>()
            / (n - 1) as f64)
            .ln();
        let got = uniformity(circle(n, &device), 2.0);
        assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
        // many points approach the continuum value log(e^-4 I0(4)) = -1.5751...
        let dense = uniformity(circle(2000, &device), 2.0);
        assert!((dense - (-1.5751)).abs() < 0.01, "{dense}");
        let collapsed = Tensor::<2>::ones([10, 3], &device);
        assert!(uniformity(collapsed.clone(), 2.0).abs() < 1e-6);
        assert!(alignment(collapsed.clone(), collapsed, 2.0).abs() < 1e-9);
        // opposite points: squared distance 4
        let a = circle(4, &device);
        assert!((alignment(a.clone(), a.neg(), 2.0) - 4.0).abs() < 1e-5);
    }
}
