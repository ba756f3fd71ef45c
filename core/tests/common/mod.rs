//! Shared helpers of the core integration tests: reading the PyTorch fixtures, and comparing
//! our CPU layers with Burn's.

#![allow(dead_code)]

use std::path::PathBuf;

use burn::tensor::{Device, Int, Tensor, TensorData};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("run through cargo test")).join("tests/fixtures").join(name)
}

/// A float tensor of `reference.safetensors` as (values, shape).
pub fn reference(name: &str) -> (Vec<f32>, Vec<usize>) {
    let bytes = std::fs::read(fixture("reference.safetensors")).expect("run scripts/make_fixtures.py");
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let view = st.tensor(name).unwrap();
    let shape = view.shape().to_vec();
    let values = match view.dtype() {
        safetensors::Dtype::F32 => view.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect(),
        safetensors::Dtype::I64 => view.data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap()) as f32).collect(),
        other => panic!("unexpected dtype {other:?}"),
    };
    (values, shape)
}

pub fn inputs(device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let (x, shape) = reference("inputs");
    let (y, _) = reference("labels");
    let n = shape[0];
    (
        Tensor::from_data(TensorData::new(x, [n, shape[1], shape[2], shape[3]]), device),
        Tensor::from_data(TensorData::new(y.iter().map(|&v| v as i64).collect::<Vec<_>>(), [n]), device),
    )
}

/// FGSM on `model` agrees with PyTorch per pixel (to 1e-5) wherever PyTorch's input gradient
/// `grad` is meaningfully non-zero (|g| > `zero` · max |g|; at ~0 its sign is rounding), on at
/// least `min_fraction` of the pixels; `cases` pairs a reference name (read with `expected`)
/// with an attack spec.
pub fn assert_fgsm_matches_pytorch(
    model: &hypersphere_core::models::Classifier,
    x: Tensor<4>,
    y: Tensor<1, Int>,
    grad: &[f32],
    cases: &[(&str, &str)],
    expected: impl Fn(&str) -> Vec<f32>,
    zero: f32,
    min_fraction: f32,
) {
    use hypersphere_core::attacks::{self, AttackSpec};
    let scale = grad.iter().fold(0f32, |m, g| m.max(g.abs()));
    for (name, spec) in cases {
        let spec: AttackSpec = spec.parse().unwrap();
        let adv = attacks::build(&spec).perturb(model, x.clone(), y.clone(), 0);
        let got = adv.into_data().try_into_vec::<f32>().unwrap();
        let want = expected(name);
        let mut compared = 0;
        for ((a, b), g) in got.iter().zip(&want).zip(grad) {
            if g.abs() <= zero * scale {
                continue;
            }
            compared += 1;
            assert!((a - b).abs() <= 1e-5, "{name}: pixel {a} vs PyTorch {b} (gradient {g})");
        }
        assert!(compared as f32 > min_fraction * got.len() as f32, "{name}: compared only {compared} of {}", got.len());
    }
}

/// A tensor's values as f32.
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
}

/// Every value of `got` within `relative` of `want`, relative to the largest |want| (at least 1).
pub fn assert_close_to_burn(got: Vec<f32>, want: Vec<f32>, relative: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1.0);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((g - w).abs() <= relative * scale, "{what}[{i}]: ours {g}, Burn {w} (scale {scale})");
    }
}
