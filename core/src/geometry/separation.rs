//! Class separation: the ratio of the mean cosine distance (`1 - cos`) between images of
//! different classes to the mean between images of the same class (pairs `i != j`), as the
//! paper measures it (Section 4.1: 1.98x supervised vs 1.19x SimCLR on CIFAR-10; the first
//! author's code uses `scipy.spatial.distance.pdist(metric="cosine")` on encoder features of
//! the test set), and the per-class matrix of mean distances behind its Figure 2 heat-maps.

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::losses::l2_normalize;

/// Class separation of a feature set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassSeparation {
    /// Mean cosine distance over pairs of different classes.
    pub inter: f64,
    /// Mean cosine distance over pairs of the same class (`i != j`).
    pub intra: f64,
    /// `inter / intra`: higher means better separated classes.
    pub ratio: f64,
    /// `matrix[a][b]`: mean cosine distance between images of class `a` and class `b` (the
    /// diagonal over `i != j`; `NaN` for a class with fewer than two images).
    pub matrix: Vec<Vec<f64>>,
    /// Images per class.
    pub counts: Vec<usize>,
}

/// The class separation of `[N, d]` features with `labels` over `classes` classes. Features
/// are compared by cosine, so their scale does not matter.
pub fn class_separation(features: Tensor<2>, labels: &[usize], classes: usize, device: &Device) -> crate::Result<ClassSeparation> {
    let [n, _] = features.dims();
    if labels.len() != n || n < 2 {
        return Err(crate::Error::Data(format!("{} labels for {n} feature rows (need at least 2 rows)", labels.len())));
    }
    if let Some(&bad) = labels.iter().find(|&&l| l >= classes) {
        return Err(crate::Error::Data(format!("label {bad} outside {classes} classes")));
    }
    let f = l2_normalize(features);
    let mut onehot = vec![0f32; n * classes];
    for (i, &l) in labels.iter().enumerate() {
        onehot[i * classes + l] = 1.0;
    }
    let y = Tensor::<2>::from_data(TensorData::new(onehot, [n, classes]), device);
    // sums[a][b] = sum of cos(f_i, f_j) over i in class a, j in class b (i = j included),
    // accumulated over blocks of rows: Y_blk^T (F_blk F^T) Y.
    let block = 1024;
    let mut sums = Tensor::<2>::zeros([classes, classes], device);
    for start in (0..n).step_by(block) {
        let end = (start + block).min(n);
        let rows = f.clone().slice([start..end]);
        let cos = rows.matmul(f.clone().transpose());
        sums = sums + y.clone().slice([start..end]).transpose().matmul(cos.matmul(y.clone()));
    }
    let sums: Vec<f64> = sums.into_data().iter::<f64>().collect();
    let mut counts = vec![0usize; classes];
    for &l in labels {
        counts[l] += 1;
    }
    let mut matrix = vec![vec![f64::NAN; classes]; classes];
    let (mut inter_sum, mut inter_pairs, mut intra_sum, mut intra_pairs) = (0f64, 0f64, 0f64, 0f64);
    for a in 0..classes {
        for b in 0..classes {
            let cos_sum = sums[a * classes + b];
            let (pairs, cos_sum) = if a == b {
                // drop the i = j terms, whose cosine is 1
                ((counts[a] * counts[a].saturating_sub(1)) as f64, cos_sum - counts[a] as f64)
            } else {
                ((counts[a] * counts[b]) as f64, cos_sum)
            };
            if pairs == 0.0 {
                continue;
            }
            let distance_sum = pairs - cos_sum;
            matrix[a][b] = distance_sum / pairs;
            if a == b {
                intra_sum += distance_sum;
                intra_pairs += pairs;
            } else {
                inter_sum += distance_sum;
                inter_pairs += pairs;
            }
        }
    }
    if intra_pairs == 0.0 || inter_pairs == 0.0 {
        return Err(crate::Error::Data("class separation needs two classes and a class with two images".into()));
    }
    let (inter, intra) = (inter_sum / inter_pairs, intra_sum / intra_pairs);
    Ok(ClassSeparation { inter, intra, ratio: inter / intra, matrix, counts })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_separation() {
        let device = Device::flex();
        // class 0: (1,0) and (0.6,0.8); class 1: (0,1) and (-1,0) (scale does not matter)
        let f = Tensor::<2>::from_data(TensorData::from([[2.0f32, 0.0], [0.6, 0.8], [0.0, 3.0], [-1.0, 0.0]]), &device);
        let s = class_separation(f, &[0, 0, 1, 1], 2, &device).unwrap();
        // same class: d(a0,a1) = 0.4, d(b0,b1) = 1.0 -> intra = 0.7
        // different: d(a0,b0) = 1, d(a0,b1) = 2, d(a1,b0) = 0.2, d(a1,b1) = 1.6 -> inter = 1.2
        assert!((s.intra - 0.7).abs() < 1e-6 && (s.inter - 1.2).abs() < 1e-6, "{s:?}");
        assert!((s.ratio - 1.2 / 0.7).abs() < 1e-6);
        assert!((s.matrix[0][0] - 0.4).abs() < 1e-6 && (s.matrix[1][1] - 1.0).abs() < 1e-6);
        assert!((s.matrix[0][1] - 1.2).abs() < 1e-6 && (s.matrix[1][0] - 1.2).abs() < 1e-6);
        assert_eq!(s.counts, vec![2, 2]);
        assert!(class_separation(Tensor::<2>::ones([2, 2], &device), &[0, 3], 2, &device).is_err());
    }
}
