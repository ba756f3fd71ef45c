//! hypersphere against PyTorch on the same weights and inputs (fixtures made by
//! `scripts/make_fixtures.py`): weight import in three file layouts, logits to 1e-4, and FGSM
//! to 1e-5 per pixel wherever the gradient sign is unambiguous.

// Needs the `import` feature (PyTorch weights). `cargo test --workspace` turns it on (the
// CLI depends on it); without it this file is an error instead of zero tests.
#[cfg(not(feature = "import"))]
compile_error!(
    "core/tests/pytorch_fixtures.rs needs the `import` feature: run `cargo test --workspace` or `cargo test -p hypersphere-core --features import`"
);

mod common;

use burn::tensor::Device;
use common::{assert_fgsm_matches_pytorch, fixture, inputs, reference};
use hypersphere_core::attacks::{Attack, PgdL2};
use hypersphere_core::models::import::load_foreign;
use hypersphere_core::models::{Arch, Classifier, ModelConfig};

fn config() -> ModelConfig {
    ModelConfig { width: 8, ..ModelConfig::new(Arch::ResNet18Cifar, 10) }
}

fn logits_of(model: &Classifier, device: &Device) -> Vec<f32> {
    let (x, _) = inputs(device);
    model.forward(x).into_data().try_into_vec::<f32>().unwrap()
}

#[test]
fn logits_match_pytorch_for_every_file_layout() {
    let device = Device::flex();
    let (expected, shape) = reference("logits");
    assert_eq!(shape, vec![8, 10]);
    for file in ["resnet18_w8.safetensors", "resnet18_w8.pth", "resnet18_w8_wrapped.pt"] {
        let model = load_foreign(config(), &fixture(file), &device).unwrap_or_else(|e| panic!("{file}: {e}"));
        let got = logits_of(&model, &device);
        let worst = got.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-4, "{file}: max |logit difference| {worst}");
    }
}

#[test]
fn burnpack_round_trip_of_imported_weights_keeps_logits() {
    let device = Device::flex();
    let model = load_foreign(config(), &fixture("resnet18_w8.safetensors"), &device).unwrap();
    let again = Classifier::from_burnpack(config(), model.to_burnpack().unwrap(), &device).unwrap();
    assert_eq!(logits_of(&model, &device), logits_of(&again, &device));
}

#[test]
fn wrong_architecture_names_the_first_mismatching_tensor() {
    let device = Device::flex();
    let wide = ModelConfig { width: 16, ..config() };
    let err = load_foreign(wide, &fixture("resnet18_w8.safetensors"), &device).unwrap_err().to_string();
    assert!(err.contains("conv1") || err.contains("bn1") || err.contains("layer"), "{err}");
    let small = ModelConfig { width: 8, ..ModelConfig::new(Arch::SmallCnn, 10) };
    let err = load_foreign(small, &fixture("resnet18_w8.pth"), &device).unwrap_err().to_string();
    assert!(err.contains("'"), "names a tensor: {err}");
}

#[test]
fn corrupt_and_missing_files_are_errors() {
    let device = Device::flex();
    let dir = std::env::temp_dir().join(format!("hs-corrupt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["bad.safetensors", "bad.pth"] {
        std::fs::write(dir.join(name), b"definitely not weights").unwrap();
        assert!(load_foreign(config(), &dir.join(name), &device).is_err(), "{name}");
    }
    assert!(load_foreign(config(), &dir.join("absent.pt"), &device).is_err());
    assert!(load_foreign(config(), &dir.join("bad.txt"), &device).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fgsm_matches_pytorch() {
    let device = Device::flex();
    let model = load_foreign(config(), &fixture("resnet18_w8.safetensors"), &device).unwrap();
    let (x, y) = inputs(&device);
    let (grad, _) = reference("input_grad");
    assert_fgsm_matches_pytorch(&model, x, y, &grad, &[("fgsm_2", "fgsm:linf:2/255"), ("fgsm_8", "fgsm:linf:8/255")], |n| reference(n).0, 1e-6, 0.99);
}

#[test]
fn pgd_l2_matches_pytorch_without_random_start() {
    let device = Device::flex();
    let model = load_foreign(config(), &fixture("resnet18_w8.safetensors"), &device).unwrap();
    let (x, y) = inputs(&device);
    let mut pgd = PgdL2::new("pgd:l2:0.5:10".parse().unwrap());
    pgd.random_start = false;
    let got = pgd.perturb(&model, x, y, 0).into_data().try_into_vec::<f32>().unwrap();
    let (expected, _) = reference("pgd_l2_0.5_10");
    let worst = got.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst < 1e-4, "max |pixel difference| to PyTorch {worst}");
}
