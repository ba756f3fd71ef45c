//! The wgpu path with SPIR-V kernels (Burn's `vulkan` feature, what `--device auto` prefers on
//! non-NVIDIA GPUs) computes what Flex computes. Runs when HYPERSPHERE_WGPU_TEST=1
//! (scripts/test.sh sets it after installing Vulkan); then a missing adapter is a failure, not a
//! skip.
//!
//! On CI the Vulkan device is Mesa's lavapipe (a CPU driver). Measured here with Mesa 22.3.6
//! (Debian 12) and 25.0.7 (bookworm-backports), both on LLVM 15: lavapipe compiles and runs
//! cubecl's SPIR-V element-wise and convolution kernels correctly, but crashes (SIGSEGV inside
//! `vkCreateComputePipelines`) on its reduction and matmul kernels, so a whole model cannot run
//! there. This test therefore checks the kernels lavapipe can run, on the SPIR-V compiler, against
//! Flex; whole models on SPIR-V are checked on real GPUs by scripts/gpu-check.sh, and the CLI
//! refuses SPIR-V on software adapters with a one-line error instead of crashing.

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, DeviceKind, Tensor, TensorData, activation::relu};
use hypersphere_core::runtime::RuntimeInfo;

/// A conv -> affine (BatchNorm in eval mode) -> ReLU -> strided conv stack, as in a ResNet block.
fn block(x: Tensor<4>, w1: Tensor<4>, w2: Tensor<4>, scale: Tensor<4>, shift: Tensor<4>) -> Tensor<4> {
    let h = conv2d(x, w1, None, ConvOptions::new([1, 1], [1, 1], [1, 1], 1));
    let h = relu(h * scale + shift);
    conv2d(h, w2, None, ConvOptions::new([2, 2], [1, 1], [1, 1], 1))
}

fn values(n: usize, modulus: usize, offset: f32) -> Vec<f32> {
    (0..n).map(|i| ((i * 7) % modulus) as f32 / modulus as f32 - offset).collect()
}

#[test]
fn spirv_kernels_match_flex() {
    if std::env::var("HYPERSPHERE_WGPU_TEST").as_deref() != Ok("1") {
        eprintln!("skipped: set HYPERSPHERE_WGPU_TEST=1 to compare wgpu (SPIR-V) with Flex");
        return;
    }
    let flex = Device::flex();
    let vulkan = Device::vulkan(DeviceKind::DefaultDevice);
    let runtime = RuntimeInfo::of(&vulkan);
    assert_eq!((runtime.backend.as_str(), runtime.compiler.as_str()), ("wgpu", "spirv"), "{runtime}");

    let run = |d: &Device| -> Vec<f32> {
        let x = Tensor::<4>::from_data(TensorData::new(values(2 * 3 * 8 * 8, 17, 0.0), [2, 3, 8, 8]), d);
        let w1 = Tensor::<4>::from_data(TensorData::new(values(4 * 3 * 3 * 3, 13, 0.5), [4, 3, 3, 3]), d);
        let w2 = Tensor::<4>::from_data(TensorData::new(values(5 * 4 * 3 * 3, 11, 0.5), [5, 4, 3, 3]), d);
        let scale = Tensor::<4>::from_data(TensorData::new(vec![1.5f32, 0.5, -1.0, 2.0], [1, 4, 1, 1]), d);
        let shift = Tensor::<4>::from_data(TensorData::new(vec![0.1f32, -0.2, 0.3, 0.0], [1, 4, 1, 1]), d);
        block(x, w1, w2, scale, shift).into_data().try_into_vec::<f32>().unwrap()
    };
    let (a, b) = (run(&flex), run(&vulkan));
    assert_eq!(a.len(), 2 * 5 * 4 * 4);
    // The stack is not trivial: ReLU cuts some channels and the outputs vary.
    assert!(a.iter().any(|v| v.abs() > 0.5) && a.iter().any(|&v| v == 0.0 || v.abs() > 1e-3), "{a:?}");
    for (i, (p, q)) in a.iter().zip(&b).enumerate() {
        assert!((p - q).abs() < 1e-4 * (1.0 + p.abs()), "output {i}: flex {p} vs SPIR-V {q}");
    }
}
