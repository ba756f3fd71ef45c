//! The wgpu path gives the same logits and FGSM step as Flex (tiny shapes: on CI this runs on
//! Mesa's lavapipe, a CPU Vulkan driver ~70x slower than Flex, so real GPUs are checked by
//! scripts/gpu-check.sh instead). Runs when HYPERSPHERE_WGPU_TEST=1 (scripts/test.sh sets it
//! after installing Vulkan); then a missing adapter is a failure, not a skip.

use burn::tensor::{Device, DeviceKind, Int, Tensor, TensorData};
use hypersphere_core::attacks::{self, AttackSpec};
use hypersphere_core::models::{Arch, Classifier, ModelConfig};

#[test]
fn wgpu_matches_flex() {
    if std::env::var("HYPERSPHERE_WGPU_TEST").as_deref() != Ok("1") {
        eprintln!("skipped: set HYPERSPHERE_WGPU_TEST=1 to compare wgpu with Flex");
        return;
    }
    let flex = Device::flex();
    flex.seed(3);
    let config = ModelConfig { width: 2, ..ModelConfig::new(Arch::SmallCnn, 10) };
    let model = Classifier::new(config.clone(), &flex).unwrap();
    let bytes = model.to_burnpack().unwrap();
    let wgpu = Device::wgpu(DeviceKind::DefaultDevice);
    let on_gpu = Classifier::from_burnpack(config, bytes, &wgpu).expect("a wgpu adapter (install mesa-vulkan-drivers)");
    let values: Vec<f32> = (0..2 * 3 * 8 * 8).map(|i| (i % 17) as f32 / 16.0).collect();
    let x = |d: &Device| Tensor::<4>::from_data(TensorData::new(values.clone(), [2, 3, 8, 8]), d);
    let y = |d: &Device| Tensor::<1, Int>::from_data(TensorData::new(vec![1i64, 7], [2]), d);
    let a = model.forward(x(&flex)).into_data().try_into_vec::<f32>().unwrap();
    let b = on_gpu.forward(x(&wgpu)).into_data().try_into_vec::<f32>().unwrap();
    for (p, q) in a.iter().zip(&b) {
        assert!((p - q).abs() < 1e-4, "logits differ: flex {p} vs wgpu {q}");
    }
    let spec: AttackSpec = "fgsm:linf:8/255".parse().unwrap();
    let fa = attacks::build(&spec).perturb(&model, x(&flex), y(&flex), 0).into_data().try_into_vec::<f32>().unwrap();
    let fb = attacks::build(&spec).perturb(&on_gpu, x(&wgpu), y(&wgpu), 0).into_data().try_into_vec::<f32>().unwrap();
    let agree = fa.iter().zip(&fb).filter(|(p, q)| (*p - *q).abs() < 1e-5).count();
    assert!(agree as f32 >= 0.99 * fa.len() as f32, "FGSM agrees on {agree} of {} pixels", fa.len());
}
