//! Our CPU convolution (core/src/models/cpu_conv) against Burn's `Conv2d::forward` on Flex:
//! outputs and the gradients autodiff gives for the input, the weight and the bias, for the
//! shapes the models use (3x3 padding 1, strided 3x3, the strided 1x1 shortcut, ResNet-50's 7x7
//! stem, ViT's patch embedding) and a few odd ones, with and without autodiff; and the layers
//! it must leave to Burn (other paddings, groups, dilation, half precision).
//! The slice kernels themselves are checked against the convolution's definition in f64 by the
//! unit tests of core/src/models/cpu_conv/kernels.rs.

#![cfg(feature = "cpu-conv")]

mod common;

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Distribution, Tensor};
use common::{assert_close_to_burn, values};
use hypersphere_core::models::cpu_conv::{conv2d, enabled};

fn assert_close(got: Vec<f32>, want: Vec<f32>, what: &str) {
    assert_close_to_burn(got, want, 2e-5, what);
}

struct Case {
    name: &'static str,
    input: [usize; 4],
    channels: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: PaddingConfig2d,
    bias: bool,
}

fn cases() -> Vec<Case> {
    let case = |name, input, channels, kernel, stride, padding, bias| Case { name, input, channels, kernel, stride, padding, bias };
    vec![
        case("3x3 padding 1", [4, 3, 8, 8], [3, 5], [3, 3], [1, 1], PaddingConfig2d::Explicit(1, 1, 1, 1), false),
        case("3x3 stride 2", [3, 4, 9, 9], [4, 6], [3, 3], [2, 2], PaddingConfig2d::Explicit(1, 1, 1, 1), false),
        case("1x1 stride 2 shortcut", [2, 6, 8, 8], [6, 4], [1, 1], [2, 2], PaddingConfig2d::Valid, false),
        case("7x7 stride 2 stem with bias", [2, 3, 15, 13], [3, 4], [7, 7], [2, 2], PaddingConfig2d::Explicit(3, 3, 3, 3), true),
        case("patch embedding 4x4 stride 4", [2, 3, 8, 8], [3, 5], [4, 4], [4, 4], PaddingConfig2d::Valid, true),
        case("3x5 kernel, stride (1, 2), padding (1, 2)", [3, 2, 7, 10], [2, 3], [3, 5], [1, 2], PaddingConfig2d::Explicit(1, 2, 1, 2), true),
        case("2x2 outputs, many images per chunk", [40, 3, 4, 4], [3, 4], [3, 3], [2, 2], PaddingConfig2d::Explicit(1, 1, 1, 1), false),
    ]
}

fn layer(case: &Case, device: &Device) -> Conv2d {
    Conv2dConfig::new(case.channels, case.kernel)
        .with_stride(case.stride)
        .with_padding(case.padding.clone())
        .with_bias(case.bias)
        .init(device)
}

#[test]
fn ours_is_switched_on_in_the_tests() {
    // Otherwise every comparison below would compare Burn with itself.
    assert!(enabled(), "HYPERSPHERE_CPU_CONV=burn is set: the comparisons would be vacuous");
}

#[test]
fn forward_and_gradients_match_burns_convolution() {
    let device = Device::flex().autodiff();
    for case in cases() {
        let conv = layer(&case, &device);
        let x = Tensor::<4>::random(case.input, Distribution::Normal(0.0, 1.0), &device);
        let y_ref = conv.forward(x.clone());
        let upstream = Tensor::<4>::random(y_ref.dims(), Distribution::Normal(0.0, 1.0), &device.clone().without_autodiff());

        let run = |ours: bool| {
            let x = x.clone().detach().require_grad();
            let y = if ours { conv2d(&conv, x.clone()) } else { conv.forward(x.clone()) };
            let dims = y.dims();
            let loss = (y.clone() * Tensor::from_data(upstream.to_data(), &device)).sum();
            let grads = loss.backward();
            let dx = x.grad(&grads).expect("input gradient");
            let dw = conv.weight.grad(&grads).expect("weight gradient");
            let db = conv.bias.as_ref().map(|b| values(b.grad(&grads).expect("bias gradient")));
            (dims, values(y), values(dx), values(dw), db)
        };
        let (dims, y, dx, dw, db) = run(true);
        let (dims_ref, y_ref, dx_ref, dw_ref, db_ref) = run(false);
        assert_eq!(dims, dims_ref, "{}: output shape", case.name);
        assert_close(y, y_ref, &format!("{}: output", case.name));
        assert_close(dx, dx_ref, &format!("{}: input gradient", case.name));
        assert_close(dw, dw_ref, &format!("{}: weight gradient", case.name));
        match (db, db_ref) {
            (Some(db), Some(db_ref)) => assert_close(db, db_ref, &format!("{}: bias gradient", case.name)),
            (None, None) => {}
            _ => panic!("{}: bias gradient on one side only", case.name),
        }
    }
}

#[test]
fn forward_without_autodiff_matches_burns_convolution() {
    let device = Device::flex();
    for case in cases() {
        let conv = layer(&case, &device);
        let x = Tensor::<4>::random(case.input, Distribution::Normal(0.0, 1.0), &device);
        assert_close(values(conv2d(&conv, x.clone())), values(conv.forward(x)), case.name);
    }
}

/// A frozen layer (`valid()`, as the attacks use the model) still passes the input gradient.
#[test]
fn input_gradient_through_a_constant_layer_matches_burns() {
    let device = Device::flex().autodiff();
    let case = &cases()[1];
    let conv = layer(case, &device.clone().without_autodiff());
    let x = Tensor::<4>::random(case.input, Distribution::Normal(0.0, 1.0), &device);
    let grad = |ours: bool| {
        let x = x.clone().detach().require_grad();
        let y = if ours { conv2d(&conv, x.clone()) } else { conv.forward(x.clone()) };
        values(x.grad(&(y.powf_scalar(2.0)).sum().backward()).expect("input gradient"))
    };
    assert_close(grad(true), grad(false), "input gradient, constant weights");
}

/// Layers outside what the kernels handle give exactly Burn's result (they run Burn's).
#[test]
fn other_layers_fall_back_to_burn() {
    let device = Device::flex();
    let x = Tensor::<4>::random([2, 4, 7, 7], Distribution::Normal(0.0, 1.0), &device);
    let layers = [
        Conv2dConfig::new([4, 4], [3, 3]).with_padding(PaddingConfig2d::Same).init(&device),
        Conv2dConfig::new([4, 4], [3, 3]).with_padding(PaddingConfig2d::Explicit(0, 0, 1, 1)).init(&device),
        Conv2dConfig::new([4, 4], [3, 3]).with_groups(2).init(&device),
        Conv2dConfig::new([4, 4], [3, 3]).with_dilation([2, 2]).init(&device),
    ];
    for conv in &layers {
        assert_eq!(values(conv2d(conv, x.clone())), values(conv.forward(x.clone())));
    }
}
