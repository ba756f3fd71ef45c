//! k-means clustering on tensors (Lloyd 1982, with the k-means++ start of Arthur & Vassilvitskii
//! 2007), for the pseudo-labels of incremental false negative detection (IFND, Chen et al.
//! ICLR 2022, its method section: k-means on the embeddings of the whole training set, at several
//! cluster counts).
//!
//! Everything runs as tensor operations on the points' device (Flex, CUDA, wgpu): the start
//! draws an index or two uniform numbers per centre on the host from the seed, and the device
//! turns them into a point by inverting cumulative sums of the squared distances, so the same
//! seed picks the same centres on every backend (up to float rounding); each Lloyd step is a
//! distance matrix, an argmin and a one-hot matrix product. No loop runs over points and nothing is read back: the
//! best of several restarts is chosen on the device by its inertia.
//!
//! Squared Euclidean distances, as faiss (the clustering behind PCL and IFND). A cluster that
//! loses all its points keeps its previous centre. The iteration count is fixed (no
//! convergence test, which would need a read-back); 20 is faiss's and PCL's `niter`.

use burn::tensor::{Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Settings of one clustering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KMeansConfig {
    /// Lloyd iterations after the k-means++ start.
    pub iterations: usize,
    /// Independent starts; the one with the lowest inertia wins.
    pub restarts: usize,
}

impl Default for KMeansConfig {
    fn default() -> Self {
        Self { iterations: 20, restarts: 3 }
    }
}

/// A clustering: `[K, d]` centres, the `[N]` cluster of every point and the inertia (sum of
/// squared distances to the assigned centres, shape `[1]`), all on the points' device.
#[derive(Debug, Clone)]
pub struct KMeans {
    /// Cluster centres.
    pub centroids: Tensor<2>,
    /// Index of each point's nearest centre.
    pub assignments: Tensor<1, Int>,
    /// Sum of the points' squared distances to their centres.
    pub inertia: Tensor<1>,
}

/// The nearest centre of every point and how clearly it is nearest.
#[derive(Debug, Clone)]
pub struct Assignment {
    /// `[N]` index of the nearest centre.
    pub labels: Tensor<1, Int>,
    /// `[N]` squared distance to the second-nearest centre minus that to the nearest (>= 0;
    /// a large value when there is one centre): the point's margin.
    pub margin: Tensor<1>,
    /// `[N]` squared distance to the nearest centre.
    pub distance: Tensor<1>,
}

/// Stands in for "no second centre" (finite: some WebGPU reductions mishandle infinities).
const FAR: f32 = 1e30;

/// `[N, K]` squared distances between the rows of `x` `[N, d]` and of `c` `[K, d]`.
pub fn squared_distances(x: Tensor<2>, c: Tensor<2>) -> Tensor<2> {
    let [n, _] = x.dims();
    let [k, _] = c.dims();
    let xx = x.clone().powi_scalar(2).sum_dim(1).expand([n, k]);
    let cc = c.clone().powi_scalar(2).sum_dim(1).reshape([1, k]).expand([n, k]);
    (xx + cc - x.matmul(c.transpose()) * 2.0).clamp_min(0.0)
}

/// `[N, K]` one-hot rows of `labels` (`[N]`, values in `0..k`), as floats.
pub fn one_hot(labels: Tensor<1, Int>, k: usize) -> Tensor<2> {
    let n = labels.dims()[0];
    let ids = Tensor::<1, Int>::arange(0..k as i64, &labels.device()).reshape([1, k]).expand([n, k]);
    labels.reshape([n, 1]).expand([n, k]).equal(ids).float()
}

/// Assigns every row of `x` to its nearest row of `centroids` (see [`Assignment`]).
pub fn assign(x: Tensor<2>, centroids: Tensor<2>) -> Assignment {
    let [n, _] = x.dims();
    let [k, _] = centroids.dims();
    let d2 = squared_distances(x, centroids);
    let (nearest, labels) = d2.clone().min_dim_with_indices(1);
    let second = if k > 1 {
        d2.mask_fill(one_hot(labels.clone().reshape([n]), k).equal_elem(1.0), FAR).min_dim(1)
    } else {
        Tensor::full([n, 1], FAR, &nearest.device())
    };
    Assignment { labels: labels.reshape([n]), margin: (second - nearest.clone()).reshape([n]), distance: nearest.reshape([n]) }
}

/// Clusters the rows of `x` (`[N, d]`) into `k` groups: `config.restarts` runs of k-means++
/// followed by `config.iterations` Lloyd steps, each run seeded from `seed`; the run of lowest
/// inertia is returned. Errors when `k` is 0 or exceeds the number of points.
pub fn kmeans(x: Tensor<2>, k: usize, config: &KMeansConfig, seed: u64) -> crate::Result<KMeans> {
    let [n, _] = x.dims();
    if k == 0 || k > n {
        return Err(crate::Error::Train(format!("k-means: {k} clusters for {n} points (need 1 <= k <= points)")));
    }
    let runs: Vec<KMeans> = (0..config.restarts.max(1))
        .map(|r| {
            let start = kmeans_plus_plus(x.clone(), k, seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(r as u64));
            lloyd(x.clone(), start, config.iterations)
        })
        .collect();
    if runs.len() == 1 {
        return Ok(runs.into_iter().next().expect("one run"));
    }
    // The best run, chosen on the device.
    let best = Tensor::cat(runs.iter().map(|r| r.inertia.clone()).collect(), 0).argmin(0);
    let [_, d] = runs[0].centroids.dims();
    let centroids = Tensor::stack::<3>(runs.iter().map(|r| r.centroids.clone()).collect(), 0).select(0, best.clone()).reshape([k, d]);
    let assignments = Tensor::stack::<2>(runs.iter().map(|r| r.assignments.clone()).collect(), 0).select(0, best.clone()).reshape([n]);
    let inertia = Tensor::cat(runs.iter().map(|r| r.inertia.clone()).collect(), 0).select(0, best);
    Ok(KMeans { centroids, assignments, inertia })
}

/// k-means++ start: the first centre is a uniformly drawn point, each next one a point drawn
/// with probability proportional to its squared distance to the nearest centre so far. The
/// host draws the numbers from `seed`; the device turns them into a point
/// ([`draw_proportional`]).
pub fn kmeans_plus_plus(x: Tensor<2>, k: usize, seed: u64) -> Tensor<2> {
    let [n, _] = x.dims();
    let device = x.device();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let first = Tensor::<1, Int>::from_data(TensorData::new(vec![rng.random_range(0..n) as i64], [1]), &device);
    let mut centres = vec![x.clone().select(0, first)];
    let mut nearest = squared_distances(x.clone(), centres[0].clone()).reshape([n]);
    for _ in 1..k {
        let index = draw_proportional(nearest.clone(), rng.random(), rng.random());
        let centre = x.clone().select(0, index);
        nearest = nearest.min_pair(squared_distances(x.clone(), centre.clone()).reshape([n]));
        centres.push(centre);
    }
    Tensor::cat(centres, 0)
}

/// The index (`[1]`, on the device) drawn with probability proportional to the non-negative
/// `weights` (`[N]`), given two uniform numbers in [0, 1): a block of about sqrt(N) entries by
/// its share of the total (`u_block`), then an entry of that block by its share of the block
/// (`u_entry`). Two short cumulative sums instead of one over all N entries, whose GPU kernel
/// (burn-cubecl 0.22) costs O(N^2).
pub fn draw_proportional(weights: Tensor<1>, u_block: f32, u_entry: f32) -> Tensor<1, Int> {
    let n = weights.dims()[0];
    let block = (n as f64).sqrt().ceil().max(1.0) as usize;
    let blocks = n.div_ceil(block);
    let padded = match blocks * block - n {
        0 => weights,
        pad => Tensor::cat(vec![weights.clone(), Tensor::zeros([pad], &weights.device())], 0),
    };
    let grid = padded.reshape([blocks, block]);
    let chosen = first_reaching(grid.clone().sum_dim(1).reshape([blocks]), u_block);
    let entry = first_reaching(grid.select(0, chosen.clone()).reshape([block]), u_entry);
    (chosen * block as i64 + entry).clamp_max(n as i64 - 1)
}

/// The first index (`[1]`) at which the cumulative sum of `w` reaches `u` times the total.
fn first_reaching(w: Tensor<1>, u: f32) -> Tensor<1, Int> {
    let m = w.dims()[0];
    let cumulative = w.cumsum(0);
    let target = cumulative.clone().narrow(0, m - 1, 1) * u;
    cumulative.lower(target.expand([m])).int().sum().clamp_max(m as i64 - 1)
}

/// `iterations` Lloyd steps from `centroids`, then the final assignment and inertia.
fn lloyd(x: Tensor<2>, mut centroids: Tensor<2>, iterations: usize) -> KMeans {
    let [k, d] = centroids.dims();
    for _ in 0..iterations {
        let labels = assign(x.clone(), centroids.clone()).labels;
        let members = one_hot(labels, k);
        let counts = members.clone().sum_dim(0).reshape([k, 1]);
        let sums = members.transpose().matmul(x.clone());
        let empty = counts.clone().equal_elem(0.0).expand([k, d]);
        centroids = (sums / counts.clamp_min(1.0)).mask_where(empty, centroids);
    }
    let a = assign(x, centroids.clone());
    KMeans { centroids, assignments: a.labels, inertia: a.distance.sum() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn rows(values: &[[f32; 2]], device: &Device) -> Tensor<2> {
        let flat: Vec<f32> = values.iter().flatten().copied().collect();
        Tensor::from_data(TensorData::new(flat, [values.len(), 2]), device)
    }

    #[test]
    fn assignment_margins_are_hand_computed() {
        let device = Device::flex();
        let x = rows(&[[0.0, 0.0], [3.0, 0.0], [1.0, 0.0]], &device);
        let c = rows(&[[0.0, 0.0], [4.0, 0.0]], &device);
        let a = assign(x, c);
        assert_eq!(a.labels.into_data().iter::<i64>().collect::<Vec<_>>(), vec![0, 1, 0]);
        // point 0: 16 - 0; point 1: 9 - 1; point 2: 9 - 1
        assert_eq!(a.margin.into_data().iter::<f32>().collect::<Vec<_>>(), vec![16.0, 8.0, 8.0]);
    }

    /// Over a grid of uniform pairs, each index is drawn in proportion to its weight (and a
    /// zero weight, also in the padding of the last block, never).
    #[test]
    fn draws_follow_the_weights() {
        let device = Device::flex();
        let weights = [1.0f32, 0.0, 3.0, 2.0, 0.0, 4.0, 6.0]; // 7 entries: blocks of 3, padded to 9
        let w = Tensor::<1>::from_data(TensorData::new(weights.to_vec(), [7]), &device);
        let mut counts = [0usize; 7];
        let grid = 64;
        for a in 0..grid {
            for b in 0..grid {
                let (u1, u2) = ((a as f32 + 0.5) / grid as f32, (b as f32 + 0.5) / grid as f32);
                counts[draw_proportional(w.clone(), u1, u2).into_scalar::<i64>() as usize] += 1;
            }
        }
        let total: f32 = weights.iter().sum();
        for (i, (&c, &w)) in counts.iter().zip(&weights).enumerate() {
            let share = c as f32 / (grid * grid) as f32;
            assert!((share - w / total).abs() < 0.02, "index {i}: {share} vs {}", w / total);
            if w == 0.0 {
                assert_eq!(c, 0, "index {i} has no weight");
            }
        }
    }

    #[test]
    fn bad_cluster_counts_are_errors() {
        let device = Device::flex();
        let x = rows(&[[0.0, 0.0], [1.0, 0.0]], &device);
        assert!(kmeans(x.clone(), 3, &KMeansConfig::default(), 0).unwrap_err().to_string().contains("3 clusters for 2 points"));
        assert!(kmeans(x, 0, &KMeansConfig::default(), 0).is_err());
    }

    #[test]
    fn kmeans_plus_plus_never_repeats_a_point_while_distinct_points_remain() {
        // Every remaining point has positive distance, so the cumulative inversion picks a new one.
        let device = Device::flex();
        let x = rows(&[[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]], &device);
        for seed in 0..20 {
            let c = kmeans_plus_plus(x.clone(), 4, seed).into_data().iter::<f32>().collect::<Vec<_>>();
            let mut points: Vec<(i32, i32)> = c.chunks(2).map(|p| (p[0] as i32, p[1] as i32)).collect();
            points.sort();
            points.dedup();
            assert_eq!(points.len(), 4, "seed {seed}: {c:?}");
        }
    }
}
