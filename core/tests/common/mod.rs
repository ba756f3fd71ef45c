//! Shared helpers of the core integration tests: reading the PyTorch fixtures.

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
