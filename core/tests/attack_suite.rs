//! The sanity suite of Carlini et al. (2019, "On Evaluating Adversarial Robustness", Sec. 5) for
//! every attack hypersphere has, on a small CNN trained here on procedural data: eps = 0 changes
//! nothing, and a tiny eps runs the real loop yet changes no prediction; every output lies in
//! [0, 1] and in the norm ball; a larger ball never helps the model; more iterations never help;
//! an unbounded attack drives accuracy to ~0; AutoAttack is at least as strong as each of its
//! components, and the evaluation's AutoAttack (`evaluate::autoattack_cell`, each component on
//! the still-robust samples) is exactly the per-sample worst case over its components run alone.
//! Plus the per-sample bookkeeping of APGD and AutoAttack.

// Needs the `train` feature (the model is trained here). `cargo test --workspace` turns it on
// (the CLI depends on it); without it this file is an error instead of zero tests.
#[cfg(not(feature = "train"))]
compile_error!(
    "core/tests/attack_suite.rs needs the `train` feature: run `cargo test --workspace` or `cargo test -p hypersphere-core --features train`"
);

use std::sync::OnceLock;

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use hypersphere_core::attacks::{self, Attack, AttackKind, AttackSpec, AutoAttack, Norm};
use hypersphere_core::data::ImageSet;
use hypersphere_core::data::batch::gather;
use hypersphere_core::data::procedural::{ProceduralConfig, generate};
use hypersphere_core::evaluate::{EvalConfig, autoattack_cell, evaluate};
use hypersphere_core::metrics::{count_correct, predictions};
use hypersphere_core::models::{Arch, Classifier, ModelConfig};
use hypersphere_core::train::{SupervisedConfig, train_supervised};

fn test_set(n: usize) -> ImageSet {
    generate(&ProceduralConfig { images: n, seed: 99, ..Default::default() })
}

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

const N: usize = 48;

fn batch() -> (Tensor<4>, Tensor<1, Int>) {
    gather(&test_set(N), &(0..N).collect::<Vec<_>>(), &Device::flex())
}

fn spec(text: &str) -> AttackSpec {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn values(t: Tensor<4>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().unwrap()
}

/// Correct predictions on the attack's output for the shared batch.
fn correct(text: &str, seed: u64) -> usize {
    let (x, y) = batch();
    let adv = attacks::build(&spec(text)).perturb(trained(), x, y.clone(), seed);
    count_correct(trained().forward(adv), y)
}

fn clean_correct() -> usize {
    let (x, y) = batch();
    count_correct(trained().forward(x), y)
}

/// Every attack family and norm, at a given radius per norm, with few iterations (fast tests).
/// Every attack variant at the given radii; Square gets `queries` queries.
fn every_attack_with(linf: &str, l2: &str, l1: &str, queries: usize) -> Vec<String> {
    vec![
        format!("fgsm:linf:{linf}"),
        format!("pgd:linf:{linf}:10"),
        format!("pgd:linf:{linf}:10:dlr"),
        format!("pgd:linf:{linf}:10:cw"),
        format!("pgd:l2:{l2}:10"),
        format!("pgd:l2:{l2}:10:dlr"),
        format!("pgd:l1:{l1}:10"),
        format!("apgd-ce:linf:{linf}:20"),
        format!("apgd-dlr:l2:{l2}:20"),
        format!("apgd-t:linf:{linf}:10"),
        format!("apgd-ce:l2:{l2}:20"),
        format!("fab-t:linf:{linf}:10"),
        format!("fab-t:l2:{l2}:10"),
        format!("fab:linf:{linf}:10"),
        format!("square:linf:{linf}:{queries}"),
        format!("square:l2:{l2}:{queries}"),
        format!("autoattack:linf:{linf}:apgd-ce@10+square@100"),
    ]
}

fn every_attack(linf: &str, l2: &str, l1: &str) -> Vec<String> {
    every_attack_with(linf, l2, l1, 150)
}

#[test]
fn eps_zero_returns_the_input_for_every_attack() {
    let (x, y) = batch();
    for s in every_attack("0", "0", "0") {
        let adv = attacks::build(&spec(&s)).perturb(trained(), x.clone(), y.clone(), 3);
        assert_eq!(values(adv), values(x.clone()), "{s}");
    }
}

/// Predicted class per image.
fn predicted(x: Tensor<4>) -> Vec<i64> {
    predictions(trained().forward(x)).into_data().convert::<i64>().try_into_vec::<i64>().unwrap()
}

/// Per image: does the model classify it correctly?
fn correct_per_sample(x: Tensor<4>, y: &Tensor<1, Int>) -> Vec<bool> {
    let labels = y.clone().into_data().convert::<i64>().try_into_vec::<i64>().unwrap();
    predicted(x).iter().zip(&labels).map(|(p, l)| p == l).collect()
}

#[test]
fn a_tiny_eps_runs_every_attack_and_changes_no_prediction() {
    // eps = 0 returns before any work in every attack (the test above); a radius this small
    // runs the real loop (random start, steps, projections, queries), which must stay inside its
    // ball and, this far inside every decision margin, change no prediction. The radii are
    // tiny, yet large enough that f32 rounding of `x + delta` (at most one ulp of 1.0, 1.2e-7,
    // per moved pixel) stays a small part of them: l_2 1e-4 moves each of 3,072 pixels by ~2e-6.
    let (x, y) = batch();
    let clean = values(x.clone());
    let per = clean.len() / N;
    let before = predicted(x.clone());
    let ulp = f32::EPSILON as f64;
    for s in every_attack_with("1e-6", "1e-4", "1e-2", 50) {
        let sp = spec(&s);
        let adv = attacks::build(&sp).perturb(trained(), x.clone(), y.clone(), 9);
        assert_eq!(predicted(adv.clone()), before, "{s}: a radius of {} changed a prediction", sp.eps);
        let adv = values(adv);
        let eps = sp.eps as f64;
        let mut largest = 0f64;
        for (i, (a, c)) in adv.chunks(per).zip(clean.chunks(per)).enumerate() {
            let d: Vec<f64> = a.iter().zip(c).map(|(p, q)| *p as f64 - *q as f64).collect();
            let moved = d.iter().filter(|v| **v != 0.0).count() as f64;
            let (norm, rounding) = match sp.norm {
                Norm::Linf => (d.iter().fold(0f64, |m, v| m.max(v.abs())), ulp),
                Norm::L2 => (d.iter().map(|v| v * v).sum::<f64>().sqrt(), ulp * moved.sqrt()),
                Norm::L1 => (d.iter().map(|v| v.abs()).sum::<f64>(), ulp * moved),
            };
            assert!(norm <= eps * (1.0 + 1e-5) + rounding, "{s}: sample {i} moved {norm:e} > eps {eps:e} (+ rounding {rounding:e})");
            largest = largest.max(norm);
        }
        if matches!(sp.kind, AttackKind::Fab | AttackKind::FabT | AttackKind::AutoAttack) {
            // Minimum-norm FAB returns the clean image wherever the closest adversarial point it
            // found lies outside eps; AutoAttack keeps the clean image where no component fools.
            assert!(adv == clean, "{s}: an image changed although nothing was fooled");
        } else {
            assert!(largest > 0.5 * eps, "{s}: largest perturbation {largest:e} of eps {eps:e}: the attack never moved");
        }
    }
}

#[test]
fn every_output_is_in_the_box_and_the_ball() {
    let (x, y) = batch();
    let clean = values(x.clone());
    let per = clean.len() / N;
    for s in every_attack("8/255", "0.5", "8") {
        let sp = spec(&s);
        let adv = values(attacks::build(&sp).perturb(trained(), x.clone(), y.clone(), 5));
        let mut largest = 0f32;
        for (a, c) in adv.chunks(per).zip(clean.chunks(per)) {
            assert!(a.iter().all(|v| (0.0..=1.0).contains(v)), "{s}: outside [0, 1]");
            let d: Vec<f32> = a.iter().zip(c).map(|(p, q)| p - q).collect();
            let norm = match sp.norm {
                Norm::Linf => d.iter().fold(0f32, |m, v| m.max(v.abs())),
                Norm::L2 => d.iter().map(|v| v * v).sum::<f32>().sqrt(),
                Norm::L1 => d.iter().map(|v| v.abs()).sum::<f32>(),
            };
            assert!(norm <= sp.eps * 1.0001 + 1e-6, "{s}: distance {norm} > eps {}", sp.eps);
            largest = largest.max(norm);
        }
        assert!(largest > 0.5 * sp.eps, "{s}: the attack barely moved ({largest})");
    }
}

#[test]
fn every_attack_hurts_and_a_larger_ball_never_helps() {
    let clean = clean_correct();
    // Square is a random search: 150 queries may flip no image of a well-trained model in the
    // l2 ball, so this test gives it 1,000.
    let small = every_attack_with("2/255", "0.15", "2", 1000);
    let large = every_attack_with("8/255", "0.6", "10", 1000);
    for (s, l) in small.iter().zip(&large) {
        let (a, b) = (correct(s, 1), correct(l, 1));
        assert!(b <= a, "{l} leaves {b} correct but the smaller {s} only {a}");
        assert!(b < clean, "{l} did not hurt: {b} of {clean} still correct");
    }
}

#[test]
fn more_iterations_never_help_the_model() {
    for (few, many) in [
        ("pgd:linf:4/255:5", "pgd:linf:4/255:40"),
        ("pgd:l2:0.3:5", "pgd:l2:0.3:40"),
        ("pgd:l1:4:5", "pgd:l1:4:40"),
        ("apgd-ce:linf:4/255:10", "apgd-ce:linf:4/255:50"),
        ("apgd-t:l2:0.3:5", "apgd-t:l2:0.3:20"),
        ("fab-t:linf:4/255:3", "fab-t:linf:4/255:15"),
        ("square:linf:4/255:50", "square:linf:4/255:250"),
        ("square:l2:0.3:50", "square:l2:0.3:250"),
    ] {
        let (a, b) = (correct(few, 2), correct(many, 2));
        assert!(b <= a, "{many} leaves {b} correct, {few} only {a}");
    }
}

#[test]
fn unbounded_attacks_drive_accuracy_to_zero() {
    for s in ["pgd:linf:1:20:dlr", "pgd:l2:60:20", "pgd:l1:3072:20", "apgd-ce:linf:1:20", "apgd-t:l2:60:10", "fab-t:linf:1:10", "fab:l2:60:10", "square:linf:1:200", "square:l2:60:200"] {
        let c = correct(s, 0);
        assert!(c <= N / 20, "{s}: {c} of {N} still correct");
    }
}

/// The AutoAttack of the page ([`AutoAttack::perturb`]: every component on the whole batch, the
/// first adversarial point kept per sample by tensor masks) against its components run with the
/// same seeds: this checks the masks' bookkeeping. The evaluation's path (`autoattack_cell`) is
/// checked against an independent composition in the two tests after this one.
#[test]
fn autoattack_is_at_least_as_strong_as_each_component() {
    let (x, y) = batch();
    let seed = 4;
    let aa = AutoAttack::new(spec("autoattack:linf:4/255:apgd-ce@10+apgd-t@5+fab-t@5+square@100"));
    let adv = aa.perturb(trained(), x.clone(), y.clone(), seed);
    let pred_aa = trained().forward(adv).argmax(1).flatten::<1>(0, 1);
    let robust_aa = pred_aa.equal(y.clone()).int().into_data().convert::<i64>().try_into_vec::<i64>().unwrap();
    let mut some_component_fools = vec![false; N];
    for (i, component) in aa.components().enumerate() {
        let adv = component.perturb(trained(), x.clone(), y.clone(), AutoAttack::component_seed(seed, i));
        let ok = trained().forward(adv).argmax(1).flatten::<1>(0, 1).equal(y.clone()).int().into_data().convert::<i64>().try_into_vec::<i64>().unwrap();
        let component_correct: i64 = ok.iter().sum();
        assert!(robust_aa.iter().sum::<i64>() <= component_correct, "{}: AA above a component", component.spec().spec);
        for (j, &o) in ok.iter().enumerate() {
            // Per-sample worst case: a point any component fools is not robust under AutoAttack.
            assert!(o == 1 || robust_aa[j] == 0, "{}: sample {j} fooled by the component, robust under AA", component.spec().spec);
            some_component_fools[j] |= o == 0;
        }
    }
    for (j, &r) in robust_aa.iter().enumerate() {
        assert!(r == 0 || !some_component_fools[j], "sample {j}");
    }
    // The standard version runs APGD-CE, APGD-T, FAB-T and Square, in order, as published.
    let standard = spec("autoattack:linf:8/255");
    assert_eq!(standard.components, vec![AttackKind::ApgdCe, AttackKind::ApgdT, AttackKind::FabT, AttackKind::Square]);
    assert_eq!(standard.component_steps, vec![100, 100, 100, 5000]);
}

/// Robust images after each prefix of the components, composed independently: image `j` is
/// robust after component `k` when it is classified correctly and none of components `0..=k`
/// fooled it on its own (the per-sample worst case).
fn worst_case_after(clean: &[bool], fooled: &[Vec<bool>]) -> Vec<usize> {
    (0..fooled.len()).map(|k| (0..clean.len()).filter(|&j| clean[j] && !fooled[..=k].iter().any(|f| f[j])).count()).collect()
}

/// "component fools [images]" per component, for failure messages.
fn fooled_sets(names: &[String], fooled: &[Vec<bool>]) -> Vec<String> {
    names.iter().zip(fooled).map(|(n, f)| format!("{n} fools {:?}", (0..f.len()).filter(|&j| f[j]).collect::<Vec<_>>())).collect()
}

/// The composition can tell a right `autoattack_cell` from a wrong one only if some image
/// survives every component (else a cell that fools everything passes) and a later component
/// fools an image the first leaves robust (else a cell that stops after the first component,
/// or attacks compacted subsets with the wrong indices, passes).
fn assert_later_components_fool_more(names: &[String], clean: &[bool], fooled: &[Vec<bool>]) {
    let survivors = *worst_case_after(clean, fooled).last().unwrap();
    assert!(survivors > 0, "every image is fooled, so the check is weak: {:?}", fooled_sets(names, fooled));
    let later_only = (0..clean.len()).filter(|&j| !fooled[0][j] && fooled[1..].iter().any(|f| f[j])).count();
    assert!(later_only > 0, "the later components fool no image the first leaves robust: {:?}", fooled_sets(names, fooled));
}

/// Whether [`assert_later_components_fool_more`] holds.
fn later_components_fool_more(clean: &[bool], fooled: &[Vec<bool>]) -> bool {
    *worst_case_after(clean, fooled).last().unwrap() > 0 && (0..clean.len()).any(|j| !fooled[0][j] && fooled[1..].iter().any(|f| f[j]))
}

/// Whether [`assert_two_components_disagree_both_ways`] holds.
fn two_components_disagree_both_ways(fooled: &[Vec<bool>]) -> bool {
    let only = |a: &Vec<bool>, b: &Vec<bool>| (0..a.len()).any(|j| a[j] && !b[j]);
    (0..fooled.len()).any(|a| (a + 1..fooled.len()).any(|b| only(&fooled[a], &fooled[b]) && only(&fooled[b], &fooled[a])))
}

/// Two components fool different images both ways (neither set contains the other): then a
/// cell that kept only one component's verdict, or let a later component's miss overwrite an
/// earlier hit, also differs from the worst case.
fn assert_two_components_disagree_both_ways(names: &[String], fooled: &[Vec<bool>]) {
    let only = |a: &Vec<bool>, b: &Vec<bool>| (0..a.len()).any(|j| a[j] && !b[j]);
    let disagree = (0..fooled.len()).any(|a| (a + 1..fooled.len()).any(|b| only(&fooled[a], &fooled[b]) && only(&fooled[b], &fooled[a])));
    assert!(disagree, "every two components' fooled sets are nested: {:?}", fooled_sets(names, fooled));
}

#[test]
fn autoattack_cell_is_the_per_sample_worst_case_of_its_components_run_alone() {
    // `evaluate::autoattack_cell` (what `eval` runs for AutoAttack) gathers the still-robust
    // images between components and runs APGD-T and FAB-T target by target on the images still
    // robust. Its result must be the per-sample worst case over the components run alone, each
    // with its own seed. Random numbers (APGD's start, Square's windows) are drawn per batch
    // position, so both sides get the same numbers only when every image is its own batch: then
    // the cell's counts are exactly this image's robustness after each component.
    // At some radius APGD-CE and APGD-DLR fool different images (the confidence-based and the
    // scale-free loss rank the images differently); on the current procedural data that
    // happens at 6/255 (the suite's model is robust at 1/255 to all but a few images).
    // The equality is checked at every radius tried; the search stops at the first radius where
    // the check is also discriminating (the two conditions at the end), which depends on the
    // trained model and data.
    for eps in ["1/255", "2/255", "3/255", "4/255", "6/255", "8/255"] {
    let aa = AutoAttack::new(spec(&format!("autoattack:linf:{eps}:apgd-ce@5+apgd-dlr@5+apgd-t@2+fab-t@2+square@100")));
    let names: Vec<String> = aa.components().map(|c| c.spec().spec.clone()).collect();
    let (set, seed, device) = (test_set(N), 21, Device::flex());
    let mut clean = vec![false; N];
    let mut fooled = vec![vec![false; N]; names.len()];
    for j in 0..N {
        let (x, y) = gather(&set, &[j], &device);
        clean[j] = correct_per_sample(x.clone(), &y)[0];
        for (i, component) in aa.components().enumerate() {
            let adv = component.perturb(trained(), x.clone(), y.clone(), AutoAttack::component_seed(seed, i));
            fooled[i][j] = clean[j] && !correct_per_sample(adv, &y)[0];
        }
        let cell = autoattack_cell(trained(), &aa, &x, &y, seed);
        let column: Vec<Vec<bool>> = fooled.iter().map(|f| vec![f[j]]).collect();
        let expected = worst_case_after(&clean[j..=j], &column);
        assert_eq!(cell.after, expected, "image {j}: robust after each of {names:?}; alone each fooled it: {column:?}");
        assert_eq!(cell.correct, expected[names.len() - 1], "image {j}");
    }
    println!("one image per batch at {eps}: {:?}", fooled_sets(&names, &fooled));
    if later_components_fool_more(&clean, &fooled) && two_components_disagree_both_ways(&fooled) || eps == "8/255" {
        assert_later_components_fool_more(&names, &clean, &fooled);
        assert_two_components_disagree_both_ways(&names, &fooled);
        break;
    }
    }
}

#[test]
fn autoattack_cell_on_a_whole_batch_is_the_worst_case_of_deterministic_components() {
    // The same on a whole batch, where the cell gathers subsets of it between components and
    // targets (the compaction and the index bookkeeping `eval` runs on every batch). FAB and
    // FAB-T with one restart start at the clean image and draw no random numbers, so an image's
    // result does not depend on the other images of its batch, and the components can run
    // alone on the whole batch. At some radius (5/255 on the current data) one iteration of FAB-T
    // (9 targets) fools images that one of untargeted FAB does not.
    for eps in ["3/255", "2/255", "1/255", "5/255"] {
    let aa = AutoAttack::new(spec(&format!("autoattack:linf:{eps}:fab@1+fab-t@1")));
    let names: Vec<String> = aa.components().map(|c| c.spec().spec.clone()).collect();
    let (x, y) = batch();
    let seed = 5;
    let clean = correct_per_sample(x.clone(), &y);
    let fooled: Vec<Vec<bool>> = aa
        .components()
        .enumerate()
        .map(|(i, component)| {
            let adv = component.perturb(trained(), x.clone(), y.clone(), AutoAttack::component_seed(seed, i));
            correct_per_sample(adv, &y).iter().zip(&clean).map(|(ok, c)| *c && !ok).collect()
        })
        .collect();
    let cell = autoattack_cell(trained(), &aa, &x, &y, seed);
    let expected = worst_case_after(&clean, &fooled);
    assert_eq!(cell.after, expected, "robust after each of {names:?}");
    assert_eq!(cell.correct, expected[names.len() - 1]);
    println!("whole batch at {eps}: {:?}, robust after each: {:?}", fooled_sets(&names, &fooled), cell.after);
    if later_components_fool_more(&clean, &fooled) || eps == "5/255" {
        assert_later_components_fool_more(&names, &clean, &fooled);
        break;
    }
    }
}

#[test]
fn apgd_beats_pgd_with_the_same_budget_and_targets_help() {
    // Croce & Hein's motivating claim, on 48 images: APGD-CE at least as strong as PGD-CE with
    // the same number of gradient steps, and APGD-T (several targets) at least as strong as APGD-CE.
    let pgd = correct("pgd:linf:3/255:20", 6);
    let apgd = correct("apgd-ce:linf:3/255:20", 6);
    let apgdt = correct("apgd-t:linf:3/255:20", 6);
    assert!(apgd <= pgd + 1, "APGD-CE {apgd} vs PGD {pgd}");
    assert!(apgdt <= apgd + 1, "APGD-T {apgdt} vs APGD-CE {apgd}");
}

#[test]
fn fab_with_one_restart_is_deterministic_and_within_eps_only_when_fooled() {
    // FAB starts at the clean image (random starts only from the second restart on), so the
    // seed does not matter; an output differs from the clean image only where it is adversarial.
    let (x, y) = batch();
    let attack = attacks::build(&spec("fab-t:l2:0.5:5"));
    let p = attack.perturb(trained(), x.clone(), y.clone(), 1);
    assert_eq!(values(p.clone()), values(attack.perturb(trained(), x.clone(), y.clone(), 2)));
    let wrong = trained().forward(p.clone()).argmax(1).flatten::<1>(0, 1).not_equal(y).int().into_data().convert::<i64>().try_into_vec::<i64>().unwrap();
    let per = values(x.clone()).len() / N;
    for (i, (a, c)) in values(p).chunks(per).zip(values(x).chunks(per)).enumerate() {
        assert!(wrong[i] == 1 || a == c, "sample {i} moved but is still classified correctly");
    }
    assert!(wrong.iter().sum::<i64>() > 0, "FAB-T fooled nothing at l2 0.5");
}

#[test]
fn random_attacks_are_reproducible_from_the_seed() {
    let (x, y) = batch();
    for s in ["apgd-ce:l2:0.5:5", "square:linf:8/255:20", "square:l2:0.5:20", "pgd:l1:8:3"] {
        let mut a = attacks::build(&spec(s));
        if s.starts_with("pgd:l1") {
            let mut l1 = attacks::PgdL1::new(spec(s));
            l1.random_start = true;
            a = Box::new(l1);
        }
        let p = values(a.perturb(trained(), x.clone(), y.clone(), 11));
        let q = values(a.perturb(trained(), x.clone(), y.clone(), 11));
        let r = values(a.perturb(trained(), x.clone(), y.clone(), 12));
        assert_eq!(p, q, "{s}");
        assert_ne!(p, r, "{s}");
    }
}

#[test]
fn evaluate_reports_every_new_attack_with_its_loss() {
    let report = evaluate(
        trained(),
        &test_set(40),
        &[spec("pgd:linf:0"), spec("pgd:linf:8/255:5:cw"), spec("autoattack:linf:8/255:apgd-ce@5+square@50")],
        &EvalConfig { batch_size: 20, seed: 0 },
        &Device::flex(),
        |_| {},
    );
    assert_eq!(report.attacks[0].accuracy, report.clean_accuracy);
    assert!(report.attacks[1].accuracy < report.clean_accuracy);
    assert!(report.attacks[2].accuracy < report.clean_accuracy);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["attacks"][1]["loss"], "cw");
    assert_eq!(json["attacks"][2]["components"], serde_json::json!(["apgd-ce", "square"]));
}

/// Padding a chunk of still-robust samples up to a power of two (for fixed GPU shapes) changes
/// no real sample's result: random components draw sample by sample, so the first samples of a
/// padded batch see the draws they would see alone.
#[test]
fn padded_chunks_give_the_same_verdicts_as_exact_chunks() {
    let (x, y) = batch();
    let model = trained();
    let clean = hypersphere_core::metrics::correct_mask(model, x.clone(), &y);
    // 5 still-robust samples: batch 5 runs them as they are, batch 8 pads them to 8. The five
    // clean-correct images with the smallest logit margin, so that attacks flip some of them.
    let logits: Vec<f32> = model.forward(x.clone()).into_data().try_into_vec::<f32>().unwrap();
    let labels: Vec<i64> = y.clone().into_data().convert::<i64>().try_into_vec::<i64>().unwrap();
    let margin = |j: usize| {
        let row = &logits[j * 10..(j + 1) * 10];
        let own = row[labels[j] as usize];
        own - row.iter().enumerate().filter(|(k, _)| *k as i64 != labels[j]).map(|(_, v)| *v).fold(f32::MIN, f32::max)
    };
    let mut order: Vec<usize> = clean.iter().enumerate().filter(|(_, c)| **c).map(|(j, _)| j).collect();
    order.sort_by(|a, b| margin(*a).total_cmp(&margin(*b)));
    let mut start: Vec<bool> = vec![false; N];
    for &j in order.iter().take(5) {
        start[j] = true;
    }
    assert_eq!(start.iter().filter(|r| **r).count(), 5, "the model gets at least 5 images right");
    let mut mixed = 0;
    for text in ["apgd-ce:linf:3/255:5", "apgd-t:linf:3/255:2", "square:linf:12/255:100", "fab-t:l2:0.5:3", "apgd-ce:linf:1/255:5", "apgd-t:linf:1/255:2", "square:linf:4/255:100", "fab-t:l2:0.2:3"] {
        let component = attacks::build(&spec(text));
        let (mut exact, mut padded) = (start.clone(), start.clone());
        hypersphere_core::evaluate::attack_robust_samples(model, component.as_ref(), &x, &y, &mut exact, 5, 11);
        hypersphere_core::evaluate::attack_robust_samples(model, component.as_ref(), &x, &y, &mut padded, 8, 11);
        assert_eq!(exact, padded, "{text}");
        let survivors = exact.iter().filter(|r| **r).count();
        eprintln!("{text}: {survivors} of 5 survive");
        mixed += usize::from(survivors > 0 && survivors < 5);
    }
    // Verdicts that differ within a chunk: a change in the draws would have room to show.
    assert!(mixed >= 2, "too few components with mixed verdicts ({mixed})");
}
