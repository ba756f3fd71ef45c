//! hypersphere's robust accuracies against torchattacks 3.5.1 (PyPI) on the same weights, images
//! and attack settings (fixtures written by `scripts/torchattacks_agreement.py`: a width-4 CIFAR
//! ResNet-18 trained briefly on synthetic images, 100 test images).
//!
//! Tolerances: **deterministic** attacks (FGSM; PGD and PGD-l2 without random start; FAB and
//! FAB-T with one restart, which starts at the clean image) must agree within 2 points;
//! **randomised** attacks (PGD/PGD-l2 with random start, APGD-CE, APGD-T, Square, and the
//! APGD-CE + APGD-T + Square composition against torchattacks' MultiAttack) within 4 points, since
//! the two libraries draw different random numbers. The fixture's `randomised` field says which.

// Needs the `import` feature (PyTorch weights). `cargo test --workspace` turns it on (the
// CLI depends on it); without it this file is an error instead of zero tests.
#[cfg(not(feature = "import"))]
compile_error!(
    "core/tests/torchattacks_agreement.rs needs the `import` feature: run `cargo test --workspace` or `cargo test -p hypersphere-core --features import`"
);

mod common;

use burn::tensor::{Device, Int, Tensor, TensorData};
use common::fixture;
use hypersphere_core::attacks::{self, Attack, AttackKind, AttackSpec, AutoAttack, Norm, PgdL2, PgdLinf};
use hypersphere_core::evaluate::autoattack_cell;
use hypersphere_core::metrics::count_correct;
use hypersphere_core::models::import::load_foreign;
use hypersphere_core::models::{Arch, ModelConfig};
use serde_json::Value;

fn images(device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let bytes = std::fs::read(fixture("ta_images.safetensors")).expect("run scripts/torchattacks_agreement.py");
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let x = st.tensor("images").unwrap();
    let shape = x.shape().to_vec();
    assert_eq!(x.dtype(), safetensors::Dtype::U8);
    let pixels: Vec<f32> = x.data().iter().map(|&b| b as f32 / 255.0).collect();
    let y = st.tensor("labels").unwrap();
    let labels: Vec<i64> = y.data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect();
    (
        Tensor::from_data(TensorData::new(pixels, [shape[0], shape[1], shape[2], shape[3]]), device),
        Tensor::from_data(TensorData::new(labels, [shape[0]]), device),
    )
}

/// Compares the fixture entries whose names start with one of `names`.
fn agree(names: &[&str]) {
    let device = Device::flex();
    let meta: Value = serde_json::from_str(&std::fs::read_to_string(fixture("ta_agreement.json")).unwrap()).unwrap();
    let config = ModelConfig { width: meta["width"].as_u64().unwrap() as usize, ..ModelConfig::new(Arch::ResNet18Cifar, 10) };
    let model = load_foreign(config, &fixture("ta_model.safetensors"), &device).unwrap();
    let (x, y) = images(&device);
    let n = y.dims()[0] as f64;
    let clean = count_correct(model.forward(x.clone()), y.clone()) as f64 / n;
    let expected_clean = meta["clean_accuracy"].as_f64().unwrap();
    assert!((clean - expected_clean).abs() < 0.011, "clean accuracy {clean} vs PyTorch {expected_clean}");
    let mut failures = Vec::new();
    let mut compared = 0;
    for entry in meta["attacks"].as_array().unwrap() {
        let name = entry["name"].as_str().unwrap();
        if !names.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let text = entry["spec"].as_str().unwrap();
        let theirs = entry["accuracy"].as_f64().unwrap();
        let randomised = entry["randomised"].as_bool().unwrap();
        let spec: AttackSpec = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        let attack: Box<dyn Attack> = match (spec.kind, spec.norm, entry["random_start"].as_bool()) {
            (AttackKind::Pgd, Norm::Linf, Some(start)) => {
                let mut a = PgdLinf::new(spec.clone());
                a.random_start = start;
                Box::new(a)
            }
            (AttackKind::Pgd, Norm::L2, Some(start)) => {
                let mut a = PgdL2::new(spec.clone());
                a.random_start = start;
                Box::new(a)
            }
            _ => attacks::build(&spec),
        };
        let start = std::time::Instant::now();
        let ours = if spec.kind == AttackKind::AutoAttack {
            // Each component only on the images still robust, as torchattacks' MultiAttack does.
            autoattack_cell(&model, &AutoAttack::new(spec.clone()), &x, &y, 0).correct as f64 / n
        } else {
            let adv = attack.perturb(&model, x.clone(), y.clone(), 0);
            count_correct(model.forward(adv), y.clone()) as f64 / n
        };
        let tolerance = if randomised { 0.04 } else { 0.02 };
        let kind = if randomised { "randomised" } else { "deterministic" };
        eprintln!(
            "{name:40} {text:55} torchattacks {:5.1}%  hypersphere {:5.1}%  ({kind}, tolerance {:.0} points, {:.1}s)",
            100.0 * theirs,
            100.0 * ours,
            100.0 * tolerance,
            start.elapsed().as_secs_f64()
        );
        compared += 1;
        // Compared in images: the fixture stores PyTorch's accuracy as an f32 (0.58 is
        // 0.5799999833), so a difference of exactly the tolerance (2 of 50 images) must not fail
        // on the last bit.
        let images = |accuracy: f64| (accuracy * n).round();
        if (images(ours) - images(theirs)).abs() > (tolerance * n).round() {
            failures.push(format!("{name} ({kind}): hypersphere {ours:.3} vs torchattacks {theirs:.3}"));
        }
    }
    assert!(compared >= names.len(), "only {compared} attacks compared for {names:?}");
    assert!(failures.is_empty(), "disagreements beyond tolerance:\n{}", failures.join("\n"));
}

#[test]
fn fgsm_pgd_and_apgd_ce_agree_with_torchattacks() {
    agree(&["FGSM", "PGD", "APGD-CE"]);
}

#[test]
fn apgd_t_and_square_linf_agree_with_torchattacks() {
    agree(&["APGD-T", "Square Linf"]);
}

#[test]
fn fab_t_and_fab_agree_with_torchattacks() {
    agree(&["FAB-T Linf", "FAB-T L2", "FAB Linf"]);
}

#[test]
fn square_l2_and_the_autoattack_composition_agree_with_torchattacks() {
    agree(&["Square L2", "MultiAttack"]);
}
