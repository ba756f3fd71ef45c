//! Our ReLU and residual `relu(a + b)` (core/src/models/cpu_relu) against Burn's `relu` and `+`
//! on Flex: outputs and input gradients bit for bit (the same f32 additions and the same mask),
//! with exact zeros, negative zeros and a NaN among the inputs; without autodiff; and with one
//! operand untracked.

#![cfg(feature = "cpu-conv")]

mod common;

use burn::tensor::activation;
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use common::values;
use hypersphere_core::models::cpu_relu::{add_relu, relu};

const SHAPE: [usize; 4] = [3, 5, 7, 9];

/// Random values with exact zeros, negative zeros and one NaN planted.
fn input(device: &Device, seed_shift: f32) -> Tensor<4> {
    let x = Tensor::<4>::random(
        SHAPE,
        Distribution::Normal(0.0, 1.0),
        &device.clone().without_autodiff(),
    );
    let mut v = values(x);
    for (i, value) in v.iter_mut().enumerate() {
        match i % 37 {
            0 => *value = 0.0,
            1 => *value = -0.0,
            _ => *value += seed_shift,
        }
    }
    v[100] = f32::NAN;
    Tensor::from_data(TensorData::new(v, SHAPE), device)
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// (output, gradient of a, gradient of b) of `f(a, b)` against a fixed upstream gradient.
fn run(
    f: impl Fn(Tensor<4>, Tensor<4>) -> Tensor<4>,
    a: &Tensor<4>,
    b: &Tensor<4>,
    upstream: &Tensor<4>,
    track_b: bool,
) -> (Vec<f32>, Vec<f32>, Option<Vec<f32>>) {
    let upstream = upstream.clone();
    let a = a.clone().detach().require_grad();
    let b = if track_b {
        b.clone().detach().require_grad()
    } else {
        b.clone().detach()
    };
    let y = f(a.clone(), b.clone());
    // NaN in the output would make the loss NaN but leaves each gradient element finite or NaN
    // alike on both sides.
    let grads = (y.clone() * upstream).sum().backward();
    (
        values(y),
        values(a.grad(&grads).expect("gradient of a")),
        b.grad(&grads).map(values),
    )
}

#[test]
fn relu_and_add_relu_equal_burns_bit_for_bit_with_gradients() {
    let device = Device::flex().autodiff();
    let a = input(&device, 0.1);
    let b = input(&device, -0.2);
    let upstream = Tensor::<4>::random(SHAPE, Distribution::Uniform(-1.0, 1.0), &device);
    for track_b in [true, false] {
        let ours = run(|a, b| add_relu(a, b), &a, &b, &upstream, track_b);
        let burn = run(|a, b| activation::relu(a + b), &a, &b, &upstream, track_b);
        assert_eq!(
            bits(&ours.0),
            bits(&burn.0),
            "add_relu output (b tracked: {track_b})"
        );
        assert_eq!(
            bits(&ours.1),
            bits(&burn.1),
            "add_relu gradient of a (b tracked: {track_b})"
        );
        assert_eq!(
            ours.2.as_deref().map(bits),
            burn.2.as_deref().map(bits),
            "add_relu gradient of b (b tracked: {track_b})"
        );
    }
    let ours = run(|a, _| relu(a), &a, &b, &upstream, false);
    let burn = run(|a, _| activation::relu(a), &a, &b, &upstream, false);
    assert_eq!(bits(&ours.0), bits(&burn.0), "relu output");
    assert_eq!(bits(&ours.1), bits(&burn.1), "relu gradient");
    assert!(
        ours.0.iter().any(|v| v.is_nan()),
        "the planted NaN propagates"
    );
    assert!(
        ours.0.iter().filter(|v| **v == 0.0).count() > SHAPE.iter().product::<usize>() / 4,
        "about half the outputs are cut to zero"
    );
}

#[test]
fn without_autodiff_the_values_equal_burns() {
    let device = Device::flex();
    let (a, b) = (input(&device, 0.3), input(&device, -0.1));
    assert_eq!(
        bits(&values(add_relu(a.clone(), b.clone()))),
        bits(&values(activation::relu(a.clone() + b)))
    );
    assert_eq!(
        bits(&values(relu(a.clone()))),
        bits(&values(activation::relu(a)))
    );
}
