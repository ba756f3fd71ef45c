//! Robust linear evaluation (issue 14): the TRADES loss against PyTorch
//! (scripts/make_trades_fixtures.py: value, gradients with respect to a linear model's weights and
//! to the logits, the inner objective's input gradient), and the invariants of the three modes of
//! `linear_eval`: adversarial linear evaluation leaves the backbone (weights and BatchNorm running
//! statistics) bit-identical, trains on examples inside the eps ball and [0, 1], and at eps 0 is
//! standard linear evaluation; TRADES with beta 0 is a cross-entropy step, its KL term vanishes
//! when x_adv = x, it changes the backbone, and on a dual-BatchNorm network it trains the set the
//! network evaluates with.

#[cfg(not(feature = "train"))]
compile_error!("core/tests/robust_linear_eval.rs needs the `train` feature: run `cargo test --workspace`");

mod common;

use burn::module::Module;
use burn::store::ModuleSnapshot;
use burn::tensor::{Device, Int, Tensor, TensorData};
use common::fixture;
use hypersphere_core::attacks::objective::kl_from_clean;
use hypersphere_core::data::ImageSet;
use hypersphere_core::data::batch::gather;
use hypersphere_core::data::procedural::{ProceduralConfig, generate};
use hypersphere_core::losses::cross_entropy;
use hypersphere_core::models::{Arch, BnSet, Classifier, ModelConfig};
use hypersphere_core::train::trades::{TRADES_BETA, trades_loss, trades_perturb, trades_step};
use hypersphere_core::train::{LinearEvalConfig, LinearEvalMode, TrainingAttack, linear_eval, sgd, train_step};
use serde_json::Value;

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().unwrap()
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{what}[{i}]: {a} vs PyTorch {b}");
    }
}

#[test]
fn trades_loss_and_kl_objective_match_pytorch() {
    let text = std::fs::read_to_string(fixture("trades.json")).expect("run scripts/make_trades_fixtures.py");
    let f: Value = serde_json::from_str(&text).unwrap();
    let (n, d, c) = (f["n"].as_u64().unwrap() as usize, f["d"].as_u64().unwrap() as usize, f["c"].as_u64().unwrap() as usize);
    let device = Device::flex().autodiff();
    let matrix = |key: &str, rows: usize, cols: usize| Tensor::<2>::from_data(TensorData::new(floats(&f[key]), [rows, cols]), &device);
    let labels: Vec<i64> = f["labels"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), &device);
    let cases = f["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let beta = case["beta"].as_f64().unwrap() as f32;
        let what = format!("beta {beta}");
        // Through a linear model's weights: the gradient flows into both distributions.
        let w = matrix("w", c, d).require_grad();
        let b = Tensor::<1>::from_data(TensorData::new(floats(&f["b"]), [c]), &device).require_grad();
        let linear = |x: Tensor<2>| x.matmul(w.clone().transpose()) + b.clone().reshape([1, c]);
        let terms = trades_loss(linear(matrix("x", n, d)), linear(matrix("x_adv", n, d)), y.clone(), beta);
        assert_close(&values(terms.loss.clone()), &[case["loss"].as_f64().unwrap() as f32], &format!("{what}: loss"));
        assert_close(&values(terms.cross_entropy.clone()), &[case["cross_entropy"].as_f64().unwrap() as f32], &format!("{what}: CE"));
        assert_close(&values(terms.kl.clone()), &[case["kl"].as_f64().unwrap() as f32], &format!("{what}: KL"));
        let grads = terms.loss.backward();
        assert_close(&values(w.grad(&grads).unwrap()), &floats(&case["grad_w"]), &format!("{what}: dW"));
        assert_close(&values(b.grad(&grads).unwrap()), &floats(&case["grad_b"]), &format!("{what}: db"));
        // With the logits as leaves.
        let clean = linear(matrix("x", n, d)).detach().require_grad();
        let adversarial = linear(matrix("x_adv", n, d)).detach().require_grad();
        let terms = trades_loss(clean.clone(), adversarial.clone(), y.clone(), beta);
        let grads = terms.loss.backward();
        assert_close(&values(clean.grad(&grads).unwrap()), &floats(&case["grad_clean_logits"]), &format!("{what}: d clean logits"));
        assert_close(&values(adversarial.grad(&grads).unwrap()), &floats(&case["grad_adversarial_logits"]), &format!("{what}: d adv logits"));
        // Per-sample KL, and the inner objective's input gradient (clean distribution constant).
        let kl = kl_from_clean(linear(matrix("x", n, d)).detach(), linear(matrix("x_adv", n, d)));
        assert_close(&values(kl.detach()), &floats(&case["kl_per_sample"]), &format!("{what}: KL per sample"));
        let x_adv = matrix("x_adv", n, d).require_grad();
        let w0 = w.clone().detach();
        let b0 = b.clone().detach().reshape([1, c]);
        let inner = kl_from_clean(matrix("x", n, d).matmul(w0.clone().transpose()) + b0.clone(), x_adv.clone().matmul(w0.transpose()) + b0).sum();
        assert_close(&values(inner.clone().detach()), &[case["inner_objective"].as_f64().unwrap() as f32], &format!("{what}: inner objective"));
        let grads = inner.backward();
        assert_close(&values(x_adv.grad(&grads).unwrap()), &floats(&case["grad_x_adv"]), &format!("{what}: d x_adv"));
    }
}

#[test]
fn trades_kl_term_vanishes_when_the_adversarial_logits_are_the_clean_ones() {
    let device = Device::flex();
    let z = Tensor::<2>::from_data(TensorData::new(vec![0.3f32, -1.2, 2.5, 0.0, 4.0, -3.0, 1.0, 1.0, 0.2], [3, 3]), &device);
    let y = Tensor::<1, Int>::from_data(TensorData::new(vec![2i64, 0, 1], [3]), &device);
    let terms = trades_loss(z.clone(), z.clone(), y.clone(), TRADES_BETA);
    let kl = values(terms.kl)[0];
    assert!(kl.abs() < 1e-7, "KL(p || p) = {kl}");
    let (loss, ce) = (values(terms.loss)[0], values(cross_entropy(z.clone(), y.clone()))[0]);
    assert!((loss - ce).abs() < 1e-6, "loss {loss} vs CE {ce}");
    // ... and is positive for different logits, so beta matters.
    let other = z.clone() * 0.5;
    assert!(values(trades_loss(z, other, y, TRADES_BETA).kl)[0] > 1e-3);
}

/// A small CNN of width 4 for 16x16 images, 10 classes, with random weights.
fn tiny(dual: Option<BnSet>, device: &Device) -> Classifier {
    let config = ModelConfig { width: 4, input_size: 16, dual_batch_norm: dual, ..ModelConfig::new(Arch::SmallCnn, 10) };
    Classifier::new(config, device).unwrap()
}

fn images(n: usize, seed: u64) -> ImageSet {
    generate(&ProceduralConfig { images: n, size: 16, seed, ..Default::default() })
}

/// Every tensor of a module (parameters and buffers) by name, as bytes.
fn tensors(model: &Classifier) -> Vec<(String, Vec<u8>)> {
    model.valid().collect(None, None, true).iter().map(|t| (t.name.clone(), t.to_bytes().unwrap().to_vec())).collect()
}

fn as_f32(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
}

fn is_head(name: &str) -> bool {
    name.contains("fc.")
}

#[test]
fn trades_inner_maximisation_stays_in_the_ball_and_raises_the_kl() {
    let device = Device::flex();
    let model = tiny(None, &device);
    let set = images(16, 3);
    let (x, _) = gather(&set, &(0..16).collect::<Vec<_>>(), &device);
    let before = tensors(&model);
    let attack = TrainingAttack::default();
    let adv = trades_perturb(&model, x.clone(), &attack, 7);
    assert_eq!(tensors(&model), before, "the inner maximisation changes nothing in the model");
    let (a, c) = (values(adv.clone()), values(x.clone()));
    for (p, q) in a.iter().zip(&c) {
        assert!((p - q).abs() <= attack.eps + 1e-6 && (0.0..=1.0).contains(p), "{p} vs clean {q}");
    }
    // Seeded: the same seed gives the same examples, another seed other ones.
    assert_eq!(values(trades_perturb(&model, x.clone(), &attack, 7)), a);
    assert_ne!(values(trades_perturb(&model, x.clone(), &attack, 8)), a);
    // It ascends the KL: far above a random corner of the same ball.
    let clean = model.forward(x.clone());
    let kl = |t: Tensor<4>| values(kl_from_clean(clean.clone(), model.forward(t)).sum())[0];
    let corner = (x.clone() + (x.clone() * 9973.0).sin().sign() * attack.eps).clamp(0.0, 1.0);
    let (ascended, random) = (kl(adv), kl(corner));
    assert!(ascended > 2.0 * random && ascended > 0.0, "KL after the ascent {ascended}, at a random corner {random}");
}

#[test]
fn trades_with_beta_0_is_a_cross_entropy_step_and_beta_6_is_not() {
    let device = Device::flex();
    let ad = device.clone().autodiff();
    let model = tiny(None, &ad);
    let set = images(20, 4);
    let (x, y) = gather(&set, &(0..20).collect::<Vec<_>>(), &ad);
    let attack = TrainingAttack { steps: 3, ..TrainingAttack::default() };
    let step = |beta: f32| {
        let mut optim = sgd(0.9, 5e-4);
        trades_step(model.clone(), &mut optim, 0.1, x.clone(), y.clone(), &attack, beta, 11).0
    };
    let mut optim = sgd(0.9, 5e-4);
    let (plain, _) = train_step(None, &mut optim, 0.1, model.clone(), |m, _| {
        let loss = cross_entropy(m.forward(x.clone()), y.clone());
        Ok::<_, std::convert::Infallible>((loss, ()))
    })
    .unwrap();
    let (initial, plain, zero, six) = (tensors(&model), tensors(&plain), tensors(&step(0.0)), tensors(&step(TRADES_BETA)));
    let mut moved = 0;
    for (((name, a), (_, p)), ((_, z), (_, s))) in initial.iter().zip(&plain).zip(zero.iter().zip(&six)) {
        // The running statistics move once more under TRADES (its adversarial forward in train
        // mode); the parameters are the step's.
        if name.contains("running") {
            continue;
        }
        let (p, z) = (as_f32(p), as_f32(z));
        for (u, v) in p.iter().zip(&z) {
            assert!((u - v).abs() <= 1e-6 * u.abs().max(1.0), "{name}: CE step {u}, TRADES beta 0 {v}");
        }
        if a != &bytes(&p) {
            moved += 1;
            assert_ne!(&bytes(&p), s, "{name}: beta 6 gives another step");
        }
    }
    assert!(moved >= 6, "the step moved {moved} parameter tensors");
}

fn bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn config(mode: LinearEvalMode, epochs: usize) -> LinearEvalConfig {
    LinearEvalConfig { epochs, batch_size: 20, lr: 0.5, momentum: 0.9, weight_decay: 0.0, seed: 3, mode }
}

#[test]
fn adversarial_linear_eval_keeps_the_backbone_and_at_eps_0_is_standard() {
    let device = Device::flex();
    let encoder = tiny(None, &device);
    let (train, test) = (images(60, 1), images(20, 2));
    let before = tensors(&encoder);
    let run = |mode| linear_eval(&encoder, &train, &test, &config(mode, 2), &device, |_, _| {}).unwrap().0;
    let standard = tensors(&run(LinearEvalMode::Standard));
    let at = |eps: f32| tensors(&run(LinearEvalMode::Adversarial { attack: TrainingAttack { eps, steps: 3, ..TrainingAttack::default() } }));
    let (zero, eight) = (at(0.0), at(8.0 / 255.0));
    assert_eq!(tensors(&encoder), before, "the encoder given is not changed");
    let all = || before.iter().zip(&standard).zip(zero.iter().zip(&eight));
    // Weights and running statistics of the frozen backbone, bit for bit.
    let mut backbone = 0;
    for (((name, e), (_, s)), ((_, z), (_, a))) in all().filter(|((n, _), _)| !is_head(&n.0)) {
        backbone += 1;
        assert!(e == s && e == z && e == a, "{name}: the backbone changed");
    }
    assert!(backbone >= 12, "convolutions and BatchNorm: {backbone} tensors");
    let mut heads = 0;
    for (((name, _), (_, s)), ((_, z), (_, a))) in all().filter(|((n, _), _)| is_head(&n.0)) {
        heads += 1;
        // Features of the same images by batch rather than all at once: float noise only.
        for (u, v) in as_f32(s).iter().zip(as_f32(z)) {
            assert!((u - v).abs() <= 1e-4 * u.abs().max(1.0), "{name}: standard {u}, adversarial at eps 0 {v}");
        }
        assert_ne!(s, a, "{name}: at eps 8/255 the head trains on other images");
    }
    assert_eq!(heads, 2, "the head's weight and bias");
}

#[test]
fn training_attack_examples_stay_in_the_ball_and_the_box() {
    let device = Device::flex();
    let model = tiny(None, &device);
    let set = images(12, 5);
    let (x, y) = gather(&set, &(0..12).collect::<Vec<_>>(), &device);
    let attack = TrainingAttack::default();
    let adv = attack.perturb(&model, x.clone(), y, 2).unwrap();
    let (a, c) = (values(adv), values(x));
    assert_ne!(a, c, "the examples moved");
    for (p, q) in a.iter().zip(&c) {
        assert!((p - q).abs() <= attack.eps + 1e-6 && (0.0..=1.0).contains(p), "{p} vs clean {q}");
    }
}

#[test]
fn trades_fine_tuning_changes_the_backbone_and_trains_the_evaluated_batch_norm_set() {
    let device = Device::flex();
    let (train, test) = (images(40, 1), images(20, 2));
    let mode = LinearEvalMode::Trades { attack: TrainingAttack { steps: 2, ..TrainingAttack::default() }, beta: TRADES_BETA };
    for set in [None, Some(BnSet::Pgd)] {
        let encoder = tiny(set, &device);
        let before = tensors(&encoder);
        let (model, report) = linear_eval(&encoder, &train, &test, &config(mode, 2), &device, |_, _| {}).unwrap();
        assert!(report.train_accuracy.is_finite() && report.test_accuracy.is_finite());
        assert_eq!(tensors(&encoder), before, "the encoder given is not changed");
        let after = tensors(&model);
        let changed = |pick: &dyn Fn(&str) -> bool| before.iter().zip(&after).filter(|((n, a), (_, b))| pick(n.as_str()) && a != b).count();
        assert!(changed(&|n: &str| !is_head(n) && n.contains("conv") && n.contains("weight")) >= 3, "{set:?}: the convolutions are fine-tuned");
        match set {
            None => assert!(changed(&|n: &str| n.contains("running")) >= 6, "BatchNorm in train mode"),
            Some(_) => {
                // The pgd set (the one the network evaluates with) trains; the normal one is untouched.
                assert!(changed(&|n: &str| n.contains("bn_pgd") && n.contains("running")) >= 6, "the pgd set's statistics move");
                assert_eq!(changed(&|n: &str| n.contains("bn") && !n.contains("bn_pgd")), 0, "the normal set stays");
            }
        }
    }
}

#[test]
fn modes_validate_parse_and_read_old_files() {
    for bad in [
        TrainingAttack { steps: 0, ..TrainingAttack::default() },
        TrainingAttack { eps: 1.5, ..TrainingAttack::default() },
        TrainingAttack { eps: f32::NAN, ..TrainingAttack::default() },
        TrainingAttack { step: -1.0, ..TrainingAttack::default() },
    ] {
        assert!(LinearEvalMode::Adversarial { attack: bad }.validate().is_err(), "{bad:?}");
    }
    let nan_beta = LinearEvalMode::Trades { attack: TrainingAttack::default(), beta: f32::NAN };
    assert!(nan_beta.validate().unwrap_err().to_string().contains("beta"));
    assert!(LinearEvalMode::from_name("foo").unwrap_err().to_string().contains("standard, adversarial, trades"));
    let trades = LinearEvalMode::from_name("trades").unwrap();
    assert_eq!(trades, LinearEvalMode::Trades { attack: TrainingAttack { eps: 8.0 / 255.0, step: 2.0 / 255.0, steps: 10 }, beta: 6.0 });
    // Recorded with its settings; a file from before the modes reads as standard.
    let text = serde_json::to_string(&config(trades, 1)).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["mode"]["kind"], "trades");
    assert_eq!(json["mode"]["attack"]["steps"], 10);
    assert_eq!(json["mode"]["beta"], 6.0);
    assert_eq!(serde_json::from_str::<LinearEvalConfig>(&text).unwrap().mode, trades);
    let old = r#"{"epochs": 100, "batch_size": 256, "lr": 0.1, "momentum": 0.9, "weight_decay": 0.0, "seed": 0}"#;
    assert_eq!(serde_json::from_str::<LinearEvalConfig>(old).unwrap().mode, LinearEvalMode::Standard);
}
