//! Our training-mode BatchNorm (core/src/models/cpu_batch_norm) against
//! `burn::nn::BatchNorm::forward` on Flex: outputs, the gradients of the input, gamma and beta,
//! and the running statistics after the step, on 4-D and 2-D inputs; and the cases it leaves to
//! Burn (evaluation, no autodiff). The kernels are checked against central differences of the
//! definition by the unit tests of core/src/models/cpu_batch_norm/kernels.rs.

#![cfg(feature = "cpu-conv")]

mod common;

use burn::module::{Module, Param};
use burn::nn::{BatchNorm, BatchNormConfig};
use burn::tensor::{Device, Distribution, Tensor};
use common::{assert_close_to_burn, values};
use hypersphere_core::models::cpu_batch_norm::batch_norm;

fn assert_close(got: Vec<f32>, want: Vec<f32>, what: &str) {
    assert_close_to_burn(got, want, 5e-5, what);
}

/// A fresh layer (its own running statistics) with the given gamma and beta, momentum 0.3.
fn layer_with(gamma: &Tensor<1>, beta: &Tensor<1>, device: &Device) -> BatchNorm {
    let mut bn = BatchNormConfig::new(gamma.dims()[0]).with_momentum(0.3).init(device);
    bn.gamma = Param::from_tensor(gamma.clone());
    bn.beta = Param::from_tensor(beta.clone());
    bn
}

/// A layer with non-trivial gamma and beta.
fn layer(channels: usize, device: &Device) -> BatchNorm {
    let gamma = Tensor::random([channels], Distribution::Uniform(0.5, 1.5), device);
    let beta = Tensor::random([channels], Distribution::Uniform(-0.5, 0.5), device);
    layer_with(&gamma, &beta, device)
}

fn check<const D: usize>(shape: [usize; D], name: &str) {
    let device = Device::flex().autodiff();
    let gamma = Tensor::<1>::random([shape[1]], Distribution::Uniform(0.5, 1.5), &device);
    let beta = Tensor::<1>::random([shape[1]], Distribution::Uniform(-0.5, 0.5), &device);
    let x = Tensor::<D>::random(shape, Distribution::Normal(0.7, 2.0), &device);
    let upstream = Tensor::<D>::random(shape, Distribution::Normal(0.0, 1.0), &device.clone().without_autodiff());
    let run = |ours: bool| {
        // Each run its own layer: clones of a layer share their running statistics.
        let bn = layer_with(&gamma, &beta, &device);
        let x = x.clone().detach().require_grad();
        let y = if ours { batch_norm(&bn, x.clone()) } else { bn.forward(x.clone()) };
        let loss = (y.clone() * Tensor::from_data(upstream.to_data(), &device)).sum();
        let grads = loss.backward();
        (
            values(y),
            values(x.grad(&grads).expect("input gradient")),
            values(bn.gamma.grad(&grads).expect("gamma gradient")),
            values(bn.beta.grad(&grads).expect("beta gradient")),
            values(bn.running_mean.value_sync()),
            values(bn.running_var.value_sync()),
        )
    };
    let ours = run(true);
    let burn = run(false);
    assert_close(ours.0, burn.0, &format!("{name}: output"));
    assert_close(ours.1, burn.1, &format!("{name}: input gradient"));
    assert_close(ours.2, burn.2, &format!("{name}: gamma gradient"));
    assert_close(ours.3, burn.3, &format!("{name}: beta gradient"));
    assert_close(ours.4.clone(), burn.4, &format!("{name}: running mean"));
    assert_close(ours.5.clone(), burn.5, &format!("{name}: running variance"));
    // The statistics moved (momentum 0.3 from 0 and 1): the comparison above is not of defaults.
    assert!(ours.4.iter().any(|v| v.abs() > 0.05), "{name}: running mean did not move: {:?}", ours.4);
}

#[test]
fn training_batch_norm_matches_burns_on_images() {
    check([6, 5, 4, 3], "4-D");
}

#[test]
fn training_batch_norm_matches_burns_on_features() {
    check([9, 7], "2-D");
}

/// Evaluation (the training flag off, or a device without autodiff) uses the running
/// statistics: ours against Burn's in values and in the gradients of the input, gamma and beta
/// (the statistics constant), with non-trivial running statistics, which stay untouched.
#[test]
fn evaluation_matches_burns_with_gradients() {
    let device = Device::flex().autodiff();
    let mut bn = layer(3, &device);
    bn.running_mean = burn::module::RunningState::new(Tensor::random([3], Distribution::Uniform(-1.0, 1.0), &device));
    bn.running_var = burn::module::RunningState::new(Tensor::random([3], Distribution::Uniform(0.5, 2.0), &device));
    let x = Tensor::<4>::random([2, 3, 4, 4], Distribution::Normal(0.3, 1.5), &device);
    let upstream = Tensor::<4>::random([2, 3, 4, 4], Distribution::Normal(0.0, 1.0), &device);
    // Without autodiff (inference).
    let frozen = bn.clone().valid();
    let plain = x.clone().to_device(&device.clone().without_autodiff());
    assert_close(values(batch_norm(&frozen, plain.clone())), values(frozen.forward(plain)), "inference output");
    // On the autodiff device with the training flag off (an attack): values and gradients.
    let no_training = bn.clone().freeze();
    let run = |ours: bool| {
        let layer = no_training.clone();
        let layer = BatchNorm { gamma: Param::from_tensor(layer.gamma.val().detach().require_grad()), beta: Param::from_tensor(layer.beta.val().detach().require_grad()), ..layer };
        let x = x.clone().detach().require_grad();
        let y = if ours { batch_norm(&layer, x.clone()) } else { layer.forward(x.clone()) };
        let grads = (y.clone() * upstream.clone()).sum().backward();
        (
            values(y),
            values(x.grad(&grads).expect("input gradient")),
            values(layer.gamma.grad(&grads).expect("gamma gradient")),
            values(layer.beta.grad(&grads).expect("beta gradient")),
            values(layer.running_mean.value()),
        )
    };
    let (ours, burn) = (run(true), run(false));
    assert_close(ours.0, burn.0, "evaluation output");
    assert_close(ours.1, burn.1, "evaluation input gradient");
    assert_close(ours.2, burn.2, "evaluation gamma gradient");
    assert_close(ours.3, burn.3, "evaluation beta gradient");
    assert_eq!(ours.4, values(bn.running_mean.value()), "the running mean is left alone");
}
