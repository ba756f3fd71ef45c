//! Attack properties on a model trained here on procedural data (Carlini et al. 2019,
//! "On Evaluating Adversarial Robustness": sanity checks every attack must pass).

// Needs the `train` feature (the model is trained here). `cargo test --workspace` turns it on (the
// CLI depends on it); without it this file is an error instead of zero tests.
#[cfg(not(feature = "train"))]
compile_error!(
    "core/tests/attacks.rs needs the `train` feature: run `cargo test --workspace` or `cargo test -p hypersphere-core --features train`"
);

use std::sync::OnceLock;

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use hypersphere_core::attacks::{self, Attack, AttackSpec, PgdLinf};
use hypersphere_core::data::ImageSet;
use hypersphere_core::data::batch::gather;
use hypersphere_core::data::procedural::{ProceduralConfig, generate};
use hypersphere_core::evaluate::{EvalConfig, evaluate};
use hypersphere_core::metrics::count_correct;
use hypersphere_core::models::{Arch, Classifier, ModelConfig};
use hypersphere_core::train::{SupervisedConfig, train_supervised};

fn test_set() -> ImageSet {
    generate(&ProceduralConfig { images: 200, seed: 99, ..Default::default() })
}

/// A small CNN trained on 1,000 procedural images (shared by the tests of this file).
fn trained() -> &'static Classifier {
    static MODEL: OnceLock<Classifier> = OnceLock::new();
    MODEL.get_or_init(|| {
        let device = Device::flex();
        device.seed(0);
        let train = generate(&ProceduralConfig { images: 1000, seed: 7, ..Default::default() });
        let config = ModelConfig { width: 8, ..ModelConfig::new(Arch::SmallCnn, 10) };
        let model = Classifier::new(config, &device.clone().autodiff()).unwrap();
        let cfg = SupervisedConfig { epochs: 6, batch_size: 50, lr: 0.05, ..Default::default() };
        let model = train_supervised(model, &train, None, &cfg, &device, |_| {}, |_, _| Ok::<(), ()>(())).unwrap();
        model.valid()
    })
}

fn batch(n: usize) -> (Tensor<4>, Tensor<1, Int>) {
    let set = test_set();
    gather(&set, &(0..n).collect::<Vec<_>>(), &Device::flex())
}

fn spec(text: &str) -> AttackSpec {
    text.parse().unwrap()
}

fn values(t: Tensor<4>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().unwrap()
}

#[test]
fn the_model_learned_the_task() {
    let device = Device::flex();
    let acc = hypersphere_core::evaluate::clean_accuracy(trained(), &test_set(), 100, &device);
    assert!(acc > 0.6, "clean accuracy {acc}");
}

#[test]
fn eps_zero_returns_the_input_and_keeps_accuracy() {
    let (x, y) = batch(64);
    for s in ["fgsm:linf:0", "pgd:linf:0:5"] {
        let adv = attacks::build(&spec(s)).perturb(trained(), x.clone(), y.clone(), 3);
        assert_eq!(values(adv), values(x.clone()), "{s}");
    }
    let report = evaluate(trained(), &test_set(), &[spec("fgsm:linf:0"), spec("pgd:linf:0")], &EvalConfig::default(), &Device::flex(), |_| {});
    for r in &report.attacks {
        assert_eq!(r.accuracy, report.clean_accuracy, "{}", r.spec);
        assert_eq!(r.p_drop, 0.0);
    }
}

#[test]
fn outputs_stay_in_the_box_and_the_ball() {
    let (x, y) = batch(64);
    let clean = values(x.clone());
    for s in ["fgsm:linf:8/255", "pgd:linf:8/255:7", "pgd:linf:0.3:3"] {
        let sp = spec(s);
        let adv = values(attacks::build(&sp).perturb(trained(), x.clone(), y.clone(), 5));
        let mut moved = 0;
        for (a, c) in adv.iter().zip(&clean) {
            assert!((0.0..=1.0).contains(a), "{s}: pixel {a} outside [0, 1]");
            assert!((a - c).abs() <= sp.eps + 1e-6, "{s}: |{a} - {c}| > eps {}", sp.eps);
            moved += ((a - c).abs() > 1e-7) as usize;
        }
        assert!(moved > adv.len() / 2, "{s}: the attack moved only {moved} of {} pixels", adv.len());
    }
}

#[test]
fn pgd_l2_stays_in_the_l2_ball_and_the_box_and_hurts() {
    let (x, y) = batch(64);
    let clean = values(x.clone());
    let eps = 0.5f32;
    let adv = values(attacks::build(&spec("pgd:l2:0.5:10")).perturb(trained(), x.clone(), y.clone(), 4));
    let per = 3 * 32 * 32;
    let mut largest = 0f32;
    for (a, c) in adv.chunks(per).zip(clean.chunks(per)) {
        assert!(a.iter().all(|v| (0.0..=1.0).contains(v)), "outside [0, 1]");
        let norm = a.iter().zip(c).map(|(p, q)| (p - q) * (p - q)).sum::<f32>().sqrt();
        assert!(norm <= eps * 1.0001, "l2 distance {norm} > eps {eps}");
        largest = largest.max(norm);
    }
    assert!(largest > 0.9 * eps, "the attack used its budget: {largest}");
    let report = evaluate(trained(), &test_set(), &[spec("pgd:l2:0"), spec("pgd:l2:0.5:10"), spec("pgd:l2:2:10")], &EvalConfig::default(), &Device::flex(), |_| {});
    assert_eq!(report.attacks[0].accuracy, report.clean_accuracy);
    assert!(report.attacks[1].accuracy < report.clean_accuracy);
    assert!(report.attacks[2].accuracy <= report.attacks[1].accuracy, "a larger ball never helps");
}

#[test]
fn pgd_is_at_least_as_strong_as_fgsm_and_both_hurt() {
    let device = Device::flex();
    let report = evaluate(
        trained(),
        &test_set(),
        &[spec("fgsm:linf:8/255"), spec("pgd:linf:8/255:10")],
        &EvalConfig { batch_size: 100, seed: 1 },
        &device,
        |_| {},
    );
    let (fgsm, pgd) = (report.attacks[0].accuracy, report.attacks[1].accuracy);
    assert!(fgsm < report.clean_accuracy, "FGSM {fgsm} vs clean {}", report.clean_accuracy);
    assert!(pgd <= fgsm, "PGD {pgd} must not beat FGSM {fgsm}");
    assert!(report.attacks[1].p_drop > 0.0);
}

#[test]
fn an_unbounded_attack_drives_accuracy_to_zero() {
    let (x, y) = batch(100);
    let adv = attacks::build(&spec("pgd:linf:1:20")).perturb(trained(), x, y.clone(), 0);
    let correct = count_correct(trained().forward(adv), y);
    assert!(correct <= 2, "{correct} of 100 still correct with eps = 1");
}

#[test]
fn attacks_leave_batchnorm_statistics_alone() {
    // Attack a model in training mode on purpose: the attack must switch to eval mode itself.
    let device = Device::flex();
    let model = Classifier::from_burnpack(trained().config().clone(), trained().to_burnpack().unwrap(), &device.clone().autodiff())
        .unwrap();
    let before = model.to_burnpack().unwrap();
    let (x, y) = batch(32);
    for s in ["fgsm:linf:8/255", "pgd:linf:8/255:3", "pgd:l2:0.5:3"] {
        let _ = values(attacks::build(&spec(s)).perturb(&model, x.clone(), y.clone(), 0));
    }
    assert!(model.to_burnpack().unwrap() == before, "running statistics or weights changed");
}

#[test]
fn pgd_randomness_comes_from_the_seed() {
    let (x, y) = batch(16);
    let pgd = PgdLinf::new(spec("pgd:linf:8/255:2"));
    let a = values(pgd.perturb(trained(), x.clone(), y.clone(), 11));
    let b = values(pgd.perturb(trained(), x.clone(), y.clone(), 11));
    let c = values(pgd.perturb(trained(), x, y, 12));
    assert_eq!(a, b);
    assert_ne!(a, c);
}
