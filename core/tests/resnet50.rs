//! ResNet-50 (CIFAR stem) against PyTorch: a width-4 network with torchvision names saved as a
//! DataParallel + SupContrast checkpoint (`{"model": {"module.encoder.*"}}`, made by
//! `scripts/make_resnet50_fixture.py`) loads without editing and gives PyTorch's features and
//! logits; the standard width has torchvision's parameter count and 2048-d features.

// Needs the `import` feature (a PyTorch checkpoint). `cargo test --workspace` turns it on (the
// CLI depends on it); without it this file is an error instead of zero tests.
#[cfg(not(feature = "import"))]
compile_error!(
    "core/tests/resnet50.rs needs the `import` feature: run `cargo test --workspace` or `cargo test -p hypersphere-core --features import`"
);

mod common;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use common::fixture;
use hypersphere_core::models::import::load_foreign;
use hypersphere_core::models::{Arch, Classifier, ModelConfig};

fn reference(name: &str) -> (Vec<f32>, Vec<usize>) {
    let bytes = std::fs::read(fixture("resnet50_w4_reference.safetensors")).expect("run scripts/make_resnet50_fixture.py");
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let view = st.tensor(name).unwrap();
    let values = view.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    (values, view.shape().to_vec())
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn features_and_logits_match_pytorch() {
    let device = Device::flex();
    let config = ModelConfig { width: 4, ..ModelConfig::new(Arch::ResNet50Cifar, 10) };
    let model = load_foreign(config, &fixture("resnet50_w4.pt"), &device).unwrap();
    let (x, shape) = reference("inputs");
    let x = Tensor::<4>::from_data(TensorData::new(x, shape.clone()), &device);
    let features = model.features(x.clone()).into_data().try_into_vec::<f32>().unwrap();
    let (expected, fshape) = reference("features");
    assert_eq!(fshape, vec![4, 128]);
    assert!(max_difference(&features, &expected) < 1e-4, "features differ by {}", max_difference(&features, &expected));
    let logits = model.forward(x).into_data().try_into_vec::<f32>().unwrap();
    let (expected, _) = reference("logits");
    assert!(max_difference(&logits, &expected) < 1e-4, "logits differ by {}", max_difference(&logits, &expected));
}

#[test]
fn standard_width_has_torchvision_size() {
    let device = Device::flex();
    let model = Classifier::new(ModelConfig::new(Arch::ResNet50Cifar, 10), &device).unwrap();
    assert_eq!(model.feature_dim(), 2048);
    // torchvision resnet50 (25,557,032 parameters) with a 10-class fc and the 3x3 CIFAR stem;
    // Burn also counts BatchNorm's running mean and variance (torch buffers): as many values
    // as BatchNorm's weights and biases, 53,120 in ResNet-50.
    let torch_params = 25_557_032 - 2048 * 1000 - 1000 + 2048 * 10 + 10 - 7 * 7 * 3 * 64 + 3 * 3 * 3 * 64;
    assert_eq!(model.num_params(), torch_params + 53_120);
    // a ResNet-18 checkpoint is not a ResNet-50
    let wrong = ModelConfig { width: 8, ..ModelConfig::new(Arch::ResNet50Cifar, 10) };
    assert!(load_foreign(wrong, &fixture("resnet18_w8.safetensors"), &device).is_err());
}
