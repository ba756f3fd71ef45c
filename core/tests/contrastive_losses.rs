//! The masked contrastive loss against PyTorch (scripts/make_contrastive_fixtures.py: per-anchor
//! loops in float64, independent of the Rust mask formula), and its defining identities.

mod common;

use burn::tensor::{Device, Int, Tensor, TensorData};
use hypersphere_core::losses::contrastive::{
    CancelMode, Cancellation, ContrastiveObjective, Detector, Positives, contrastive_loss, l2_normalize,
    masked_contrastive_loss, nt_xent,
};
use serde_json::Value;

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn close(a: f32, b: f32, what: &str) {
    assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{what}: {a} vs {b}");
}

fn objective(case: &Value) -> ContrastiveObjective {
    let positives = match case["positives"].as_str().unwrap() {
        "instances" => Positives::Instances,
        _ => Positives::Classes,
    };
    let mode = match case["mode"].as_str() {
        Some("attraction") => CancelMode::Attraction,
        _ => CancelMode::Elimination,
    };
    let cancellation = match case["detector"].as_str() {
        Some("threshold") => {
            Some(Cancellation { detector: Detector::Threshold(case["threshold"].as_f64().unwrap() as f32), mode })
        }
        Some("oracle") => Some(Cancellation { detector: Detector::Oracle, mode }),
        _ => None,
    };
    ContrastiveObjective {
        temperature: case["temperature"].as_f64().unwrap() as f32,
        views: case["views"].as_u64().unwrap() as usize,
        positives,
        cancellation,
    }
}

#[test]
fn losses_gradients_and_counts_match_pytorch() {
    let text = std::fs::read_to_string(common::fixture("contrastive.json")).expect("run scripts/make_contrastive_fixtures.py");
    let fixtures: Value = serde_json::from_str(&text).unwrap();
    let device = Device::flex().autodiff();
    let cases = fixtures["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let dim = case["dim"].as_u64().unwrap() as usize;
        let u = floats(&case["u"]);
        let m = u.len() / dim;
        let u = Tensor::<2>::from_data(TensorData::new(u, [m, dim]), &device).require_grad();
        let labels = case["labels"].as_array().map(|l| {
            let l: Vec<i64> = l.iter().map(|x| x.as_i64().unwrap()).collect();
            Tensor::<1, Int>::from_data(TensorData::new(l.clone(), [l.len()]), &device)
        });
        let out = contrastive_loss(l2_normalize(u.clone()), labels, &objective(case)).unwrap();
        close(out.loss.clone().into_scalar::<f32>(), case["loss"].as_f64().unwrap() as f32, name);
        let grads = out.loss.backward();
        let grad = u.grad(&grads).unwrap().into_data().try_into_vec::<f32>().unwrap();
        for (i, (a, b)) in grad.iter().zip(floats(&case["grad"])).enumerate() {
            close(*a, b, &format!("{name}: gradient {i}"));
        }
        assert_eq!(out.negatives.into_scalar::<f32>() as u64, case["negatives"].as_u64().unwrap(), "{name}");
        assert_eq!(out.cancelled.into_scalar::<f32>() as u64, case["cancelled"].as_u64().unwrap(), "{name}");
        if let Some(same) = out.cancelled_same_class {
            assert_eq!(same.into_scalar::<f32>() as u64, case["cancelled_same_class"].as_u64().unwrap(), "{name}");
        }
    }
}

fn random_embeddings(m: usize, d: usize, seed: u64, device: &Device) -> Tensor<2> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let values: Vec<f32> = (0..m * d).map(|_| rng.random_range(-1.0..1.0)).collect();
    l2_normalize(Tensor::from_data(TensorData::new(values, [m, d]), device))
}

#[test]
fn adaptive_fnc_at_rho_one_is_exactly_nt_xent() {
    let device = Device::flex();
    for seed in 0..5 {
        let z = random_embeddings(16, 5, seed, &device);
        let plain = nt_xent(z.clone(), 2, 0.5).into_scalar::<f32>();
        let out = contrastive_loss(z, None, &ContrastiveObjective::nt_xent(0.5, 2).with_threshold(1.0)).unwrap();
        assert_eq!(out.loss.into_scalar::<f32>(), plain, "seed {seed}");
        assert_eq!(out.cancelled.into_scalar::<f32>(), 0.0);
        // and a threshold below every similarity changes it
        let low = contrastive_loss(random_embeddings(16, 5, seed, &device), None, &ContrastiveObjective::nt_xent(0.5, 2).with_threshold(-1.01))
            .unwrap()
            .loss
            .into_scalar::<f32>();
        assert_ne!(low, plain);
    }
}

#[test]
fn oracle_cancellation_is_simclr_without_same_class_negatives() {
    let device = Device::flex();
    let (n, views) = (8, 2);
    let labels = [0i64, 1, 2, 0, 1, 0, 3, 2];
    let z = random_embeddings(n * views, 6, 11, &device);
    let oracle = ContrastiveObjective {
        cancellation: Some(Cancellation { detector: Detector::Oracle, mode: CancelMode::Elimination }),
        ..ContrastiveObjective::nt_xent(0.5, views)
    };
    let labels_t = Tensor::<1, Int>::from_data(TensorData::new(labels.to_vec(), [n]), &device);
    let out = contrastive_loss(z.clone(), Some(labels_t), &oracle).unwrap();
    // The same objective written out by hand: positive = the other view; denominator = every
    // other row except other images of the anchor's class.
    let m = n * views;
    let mut positives = vec![0f32; m * m];
    let mut denominator = vec![0f32; m * m];
    for i in 0..m {
        for k in 0..m {
            let (a, b) = (i % n, k % n);
            if i == k {
                continue;
            }
            if a == b {
                positives[i * m + k] = 1.0;
                denominator[i * m + k] = 1.0;
            } else if labels[a] != labels[b] {
                denominator[i * m + k] = 1.0;
            }
        }
    }
    let mask = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [m, m]), &device);
    let by_hand = masked_contrastive_loss(z.clone(), mask(positives), mask(denominator), 0.5).into_scalar::<f32>();
    let got = out.loss.into_scalar::<f32>();
    assert!((got - by_hand).abs() < 1e-6, "{got} vs {by_hand}");
    // Every cancelled pair shares a class (precision 1), and it differs from plain NT-Xent.
    assert_eq!(out.cancelled.into_scalar::<f32>(), out.cancelled_same_class.unwrap().into_scalar::<f32>());
    assert!((got - nt_xent(z, views, 0.5).into_scalar::<f32>()).abs() > 1e-3);
}

#[test]
fn bad_inputs_are_errors() {
    let device = Device::flex();
    let z = random_embeddings(6, 4, 0, &device);
    assert!(contrastive_loss(z.clone(), None, &ContrastiveObjective::nt_xent(0.5, 4)).is_err(), "6 rows are not 4 views");
    assert!(contrastive_loss(z.clone(), None, &ContrastiveObjective::supcon(0.1, 2)).is_err(), "SupCon without labels");
    let wrong = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1], [2]), &device);
    assert!(contrastive_loss(z, Some(wrong), &ContrastiveObjective::supcon(0.1, 2)).is_err(), "2 labels for 3 images");
}
