//! IFND (incremental false negative detection): k-means on tensors recovers planted clusters,
//! and the pseudo-label pipeline (assignment, confidence, acceptance, flagged pairs, the masked
//! loss, the precision report) matches scripts/make_ifnd_fixtures.py, an independent
//! per-sample / per-anchor implementation in NumPy and PyTorch.

mod common;

use burn::tensor::{Device, Int, Tensor, TensorData};
use hypersphere_core::geometry::kmeans::{KMeansConfig, assign, kmeans};
use hypersphere_core::losses::contrastive::{CancelMode, Cancellation, ContrastiveObjective, Detector, contrastive_loss_with, l2_normalize};
use hypersphere_core::train::ifnd::{IfndState, PseudoLabels, accepted, flagged_pairs};
use rand::{Rng, SeedableRng};
use serde_json::Value;

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn ints(v: &Value) -> Vec<usize> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect()
}

fn close(a: f32, b: f32, what: &str) {
    assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{what}: {a} vs {b}");
}

fn matrix(values: Vec<f32>, cols: usize, device: &Device) -> Tensor<2> {
    let rows = values.len() / cols;
    Tensor::from_data(TensorData::new(values, [rows, cols]), device)
}

#[test]
fn pseudo_labels_flagged_pairs_and_the_masked_loss_match_numpy_and_pytorch() {
    let text = std::fs::read_to_string(common::fixture("ifnd.json")).expect("run scripts/make_ifnd_fixtures.py");
    let f: Value = serde_json::from_str(&text).unwrap();
    let device = Device::flex();
    let dim = f["dim"].as_u64().unwrap() as usize;
    let n = f["n"].as_u64().unwrap() as usize;
    let batch = ints(&f["batch"]);
    let b = batch.len();
    let classes = ints(&f["classes"]);
    let x = matrix(floats(&f["x"]), dim, &device);

    // Assignment and confidence (margin) of every training embedding at every level.
    let mut levels = Vec::new();
    for level in f["levels"].as_array().unwrap() {
        let k = level["clusters"].as_u64().unwrap() as usize;
        let a = assign(x.clone(), matrix(floats(&level["centroids"]), dim, &device));
        let labels: Vec<u32> = a.labels.into_data().iter::<i64>().map(|v| v as u32).collect();
        let margins: Vec<f32> = a.margin.into_data().iter::<f32>().collect();
        assert_eq!(labels.iter().map(|&v| v as usize).collect::<Vec<_>>(), ints(&level["labels"]), "labels at k = {k}");
        for (i, (got, want)) in margins.iter().zip(floats(&level["margins"])).enumerate() {
            close(*got, want, &format!("margin of image {i} at k = {k}"));
        }
        levels.push(PseudoLabels { clusters: k, labels, confidence: margins });
    }
    let state = IfndState { epoch: 2, levels };
    let classes_in_batch: Vec<i64> = ints(&f["batch_classes"]).iter().map(|&c| c as i64).collect();
    let ad = device.clone().autodiff();

    for case in f["cases"].as_array().unwrap() {
        let rate = case["rate"].as_f64().unwrap() as f32;
        let name = format!("rate {rate}");
        // Acceptance per level: exactly the reference's most confident share.
        for (l, level) in state.levels.iter().enumerate() {
            let got: Vec<bool> = accepted(&level.confidence, rate, &device).into_data().iter::<bool>().collect();
            let want: Vec<bool> = case["accepted"][l].as_array().unwrap().iter().map(|v| v.as_bool().unwrap()).collect();
            assert_eq!(got, want, "{name}: accepted at k = {}", level.clusters);
        }
        // The elimination mask over the batch's image pairs: exactly the reference's (the
        // diagonal, an image against itself, never reaches the loss).
        let encoded = state.encode(rate, &ad).unwrap();
        let flagged = flagged_pairs(Some(&encoded), &batch, &ad);
        let got: Vec<bool> = flagged.clone().into_data().iter::<bool>().collect();
        for a in 0..b {
            for c in 0..b {
                if a != c {
                    assert_eq!(got[a * b + c], case["flagged"][a][c].as_bool().unwrap(), "{name}: pair ({a}, {c})");
                }
            }
        }
        // The one masked loss with those pairs cancelled: value, gradient and counts.
        let mode = if case["mode"] == "attraction" { CancelMode::Attraction } else { CancelMode::Elimination };
        let objective = ContrastiveObjective {
            cancellation: Some(Cancellation { detector: Detector::Pairs, mode }),
            ..ContrastiveObjective::nt_xent(f["temperature"].as_f64().unwrap() as f32, 2)
        };
        let u = matrix(floats(&f["u"]), dim, &ad).require_grad();
        let labels = Tensor::<1, Int>::from_data(TensorData::new(classes_in_batch.clone(), [b]), &ad);
        let out = contrastive_loss_with(l2_normalize(u.clone()), Some(labels), Some(flagged), &objective).unwrap();
        close(out.loss.clone().into_scalar::<f32>(), case["loss"].as_f64().unwrap() as f32, &format!("{name}: loss"));
        let grads = out.loss.backward();
        let grad: Vec<f32> = u.grad(&grads).unwrap().into_data().iter::<f32>().collect();
        for (i, (got, want)) in grad.iter().zip(floats(&case["grad"])).enumerate() {
            close(*got, want, &format!("{name}: gradient {i}"));
        }
        assert_eq!(out.negatives.into_scalar::<f32>() as u64, case["negatives"].as_u64().unwrap(), "{name}");
        assert_eq!(out.cancelled.into_scalar::<f32>() as u64, case["cancelled"].as_u64().unwrap(), "{name}");
        assert_eq!(out.cancelled_same_class.unwrap().into_scalar::<f32>() as u64, case["cancelled_same_class"].as_u64().unwrap(), "{name}");
        // The logged precision of the pseudo-labels against the true classes.
        let report = state.report(rate, &classes, 3, false, &device);
        let (pairs, same) = (ints(&case["pairs"]), ints(&case["same_class_pairs"]));
        for (l, level) in report.levels.iter().enumerate() {
            let accepted = case["accepted"][l].as_array().unwrap().iter().filter(|v| v.as_bool().unwrap()).count();
            assert_eq!(level.accepted, accepted, "{name}: accepted count at k = {}", level.clusters);
            assert_eq!(level.precision, (pairs[l] > 0).then(|| same[l] as f64 / pairs[l] as f64), "{name}: precision at k = {}", level.clusters);
        }
        let total: usize = pairs.iter().sum();
        assert_eq!(report.precision, (total > 0).then(|| same.iter().sum::<usize>() as f64 / total as f64), "{name}: overall precision");
        assert_eq!(report.acceptance_rate, rate);
        assert_eq!(n, classes.len());
    }
}

/// `clusters` blobs of `sizes[c]` points each around well separated centres in `dim`
/// dimensions (on the unit sphere when `sphere`), shuffled; returns the points and their blob.
fn planted(sizes: &[usize], dim: usize, spread: f32, sphere: bool, seed: u64) -> (Vec<f32>, Vec<usize>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut gauss = move || {
        let (u1, u2): (f32, f32) = (rng.random_range(f32::EPSILON..1.0), rng.random());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos()
    };
    // Centres: scaled basis vectors, pairwise sqrt(2) * 4 apart (or orthogonal on the sphere).
    let mut points = Vec::new();
    for (c, &size) in sizes.iter().enumerate() {
        for _ in 0..size {
            let mut p: Vec<f32> = (0..dim).map(|j| if j == c { 4.0 } else { 0.0 } + spread * gauss()).collect();
            if sphere {
                let norm = p.iter().map(|v| v * v).sum::<f32>().sqrt();
                p.iter_mut().for_each(|v| *v /= norm);
            }
            points.push((p, c));
        }
    }
    // a fixed shuffle, so the blobs are not contiguous
    let mut order: Vec<usize> = (0..points.len()).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0xABCD);
    for i in (1..order.len()).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    let flat = order.iter().flat_map(|&i| points[i].0.clone()).collect();
    (flat, order.iter().map(|&i| points[i].1).collect())
}

/// Whether `found` is `truth` up to a renaming of the clusters (a bijection).
fn same_partition(found: &[usize], truth: &[usize]) -> bool {
    let mut map = std::collections::HashMap::new();
    let mut back = std::collections::HashMap::new();
    found.iter().zip(truth).all(|(f, t)| *map.entry(*f).or_insert(*t) == *t && *back.entry(*t).or_insert(*f) == *f)
}

#[test]
fn kmeans_recovers_planted_clusters_in_space_and_on_the_sphere() {
    let device = Device::flex();
    for (sphere, spread) in [(false, 0.5), (true, 0.4)] {
        for seed in 0..4 {
            let sizes = [40, 25, 60, 10, 35];
            let dim = 8;
            let (points, truth) = planted(&sizes, dim, spread, sphere, seed);
            let x = matrix(points.clone(), dim, &device);
            let result = kmeans(x, sizes.len(), &KMeansConfig { iterations: 20, restarts: 3 }, seed).unwrap();
            let found: Vec<usize> = result.assignments.into_data().iter::<i64>().map(|v| v as usize).collect();
            assert!(same_partition(&found, &truth), "sphere {sphere}, seed {seed}: {found:?} vs {truth:?}");
            assert_eq!(result.centroids.dims(), [sizes.len(), dim]);
            // Lloyd's fixed point: every centre is the mean of its points.
            let centroids: Vec<f32> = result.centroids.into_data().iter::<f32>().collect();
            for c in 0..sizes.len() {
                let members: Vec<&[f32]> = points.chunks(dim).zip(&found).filter(|(_, f)| **f == c).map(|(p, _)| p).collect();
                for j in 0..dim {
                    let mean = members.iter().map(|p| p[j]).sum::<f32>() / members.len() as f32;
                    assert!((centroids[c * dim + j] - mean).abs() < 1e-4, "sphere {sphere}, seed {seed}: centre {c}[{j}] {} vs mean {mean}", centroids[c * dim + j]);
                }
            }
        }
    }
}

#[test]
fn kmeans_is_deterministic_under_a_seed_and_restarts_keep_the_best_inertia() {
    let device = Device::flex();
    // Overlapping blobs, where starts matter.
    let (points, _) = planted(&[30, 30, 30, 30], 4, 1.6, false, 9);
    let x = matrix(points, 4, &device);
    let config = KMeansConfig { iterations: 10, restarts: 1 };
    let read = |k: &hypersphere_core::geometry::KMeans| {
        (
            k.centroids.clone().into_data().iter::<f32>().collect::<Vec<_>>(),
            k.assignments.clone().into_data().iter::<i64>().collect::<Vec<_>>(),
            k.inertia.clone().into_scalar::<f32>(),
        )
    };
    let inertias: Vec<f32> = (0..6)
        .map(|seed| {
            let a = read(&kmeans(x.clone(), 6, &config, seed).unwrap());
            let b = read(&kmeans(x.clone(), 6, &config, seed).unwrap());
            assert_eq!(a, b, "seed {seed} gave two different clusterings");
            a.2
        })
        .collect();
    assert!(inertias.windows(2).any(|w| w[0] != w[1]), "different seeds start differently: {inertias:?}");
    // Restarts share the first run's seed, so the best of three is never worse than it.
    for seed in 0..6 {
        let best = read(&kmeans(x.clone(), 6, &KMeansConfig { iterations: 10, restarts: 3 }, seed).unwrap());
        assert!(best.2 <= inertias[seed as usize] + 1e-4, "seed {seed}: {} > {}", best.2, inertias[seed as usize]);
        // the returned assignment is each point's nearest returned centre
        let again = assign(x.clone(), matrix(best.0.clone(), 4, &device)).labels.into_data().iter::<i64>().collect::<Vec<_>>();
        assert_eq!(again, best.1);
    }
}
