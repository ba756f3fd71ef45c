//! Adversarial contrastive learning against PyTorch and its invariants
//! (scripts/make_advcsl_fixtures.py): RoCL's three-view loss and ACL-DS's dual loss (values
//! and gradients, with and without A-FNC), dual BatchNorm against a PyTorch ResNet-18 with two
//! BatchNorm sets, and the instance-wise attack (eps ball, [0, 1], it raises the loss it
//! ascends, BatchNorm statistics untouched, seeded).

#[cfg(not(feature = "import"))]
compile_error!("core/tests/advcsl.rs needs the `import` feature: run `cargo test --workspace`");

mod common;

use burn::module::Module;
use burn::store::ModuleSnapshot;
use burn::tensor::{Device, Tensor, TensorData};
use common::fixture;
use hypersphere_core::attacks::InstanceAttack;
use hypersphere_core::losses::adversarial::{acl_ds_loss, rocl_loss};
use hypersphere_core::losses::contrastive::{ContrastiveObjective, l2_normalize};
use hypersphere_core::models::import::load_foreign;
use hypersphere_core::models::{Arch, BnSet, Classifier, ModelConfig, ProjectionHead, module_to_burnpack};
use rand::{Rng, SeedableRng};
use serde_json::Value;

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn close(a: f32, b: f32, what: &str) {
    assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{what}: {a} vs {b}");
}

#[test]
fn rocl_and_acl_ds_losses_and_gradients_match_pytorch() {
    let text = std::fs::read_to_string(fixture("advcsl.json")).expect("run scripts/make_advcsl_fixtures.py");
    let fixtures: Value = serde_json::from_str(&text).unwrap();
    let device = Device::flex().autodiff();
    let cases = fixtures["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let dim = case["dim"].as_u64().unwrap() as usize;
        let leaf = |key: &str| {
            let u = floats(&case[key]);
            let m = u.len() / dim;
            Tensor::<2>::from_data(TensorData::new(u, [m, dim]), &device).require_grad()
        };
        let (u, v) = (leaf("u"), leaf("u_second"));
        let mut objective = ContrastiveObjective::nt_xent(case["temperature"].as_f64().unwrap() as f32, 2);
        if let Some(rho) = case["threshold"].as_f64() {
            objective = objective.with_threshold(rho as f32);
        }
        let (zu, zv) = (l2_normalize(u.clone()), l2_normalize(v.clone()));
        let out = match case["kind"].as_str().unwrap() {
            "rocl" => rocl_loss(zu, zv, None, &objective, case["lambda"].as_f64().unwrap() as f32).unwrap(),
            _ => acl_ds_loss(zu, zv, None, &objective).unwrap(),
        };
        close(out.loss.clone().into_scalar::<f32>(), case["loss"].as_f64().unwrap() as f32, name);
        assert_eq!(out.negatives.into_scalar::<f32>() as u64, case["negatives"].as_u64().unwrap(), "{name}: negatives");
        assert_eq!(out.cancelled.into_scalar::<f32>() as u64, case["cancelled"].as_u64().unwrap(), "{name}: cancelled");
        let grads = out.loss.backward();
        for (leaf, key) in [(&u, "grad"), (&v, "grad_second")] {
            let got = leaf.grad(&grads).unwrap().into_data().try_into_vec::<f32>().unwrap();
            let want = floats(&case[key]);
            assert_eq!(got.len(), want.len());
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                close(*a, *b, &format!("{name}: {key} {i}"));
            }
        }
    }
    // lambda must be positive.
    let z = l2_normalize(Tensor::<2>::ones([6, 4], &device));
    let err = rocl_loss(z.clone(), z.slice([0..4, 0..4]), None, &ContrastiveObjective::nt_xent(0.5, 2), 0.0).unwrap_err();
    assert!(err.to_string().contains("lambda"), "{err}");
}

/// A float tensor of a safetensors fixture, as (values, shape).
fn io(name: &str) -> (Vec<f32>, Vec<usize>) {
    let bytes = std::fs::read(fixture("advcsl_dual_bn_io.safetensors")).expect("run scripts/make_advcsl_fixtures.py");
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let view = st.tensor(name).unwrap();
    let values = view.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    (values, view.shape().to_vec())
}

fn dual_config() -> ModelConfig {
    ModelConfig {
        width: 2,
        input_size: 16,
        normalization: None,
        dual_batch_norm: Some(BnSet::Normal),
        ..ModelConfig::new(Arch::ResNet18Cifar, 10)
    }
}

fn assert_near(got: Vec<f32>, want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    let worst = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst < 1e-4, "{what}: max difference {worst}");
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().unwrap()
}

/// A named tensor of a module (its path in the burnpack record, `network.` dropped).
fn tensor_named(model: &Classifier, name: &str) -> Vec<f32> {
    let snapshots = model.valid().collect(None, None, true);
    let found = snapshots.iter().find(|t| t.name.trim_start_matches("network.") == name);
    let Some(t) = found else {
        let names: Vec<String> = snapshots.iter().map(|t| t.name.clone()).take(12).collect();
        panic!("no tensor {name} among {names:?}...");
    };
    t.to_bytes().unwrap().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
}

#[test]
fn dual_batch_norm_matches_a_pytorch_model_with_two_sets() {
    let device = Device::flex();
    let (x, shape) = io("x");
    let x = Tensor::<4>::from_data(TensorData::new(x, [shape[0], shape[1], shape[2], shape[3]]), &device);
    let model = load_foreign(dual_config(), &fixture("advcsl_dual_bn.safetensors"), &device).unwrap();
    assert!(model.has_dual_batch_norm());
    let (normal, pgd) = (io("features_normal").0, io("features_pgd").0);
    assert_near(values(model.features_with(x.clone(), BnSet::Normal)), &normal, "eval features, normal set");
    assert_near(values(model.features_with(x.clone(), BnSet::Pgd)), &pgd, "eval features, pgd set");
    // `features` (what evaluation and attacks use) follows the configured set.
    assert_near(values(model.features(x.clone())), &normal, "configured normal");
    let as_pgd = model.clone().with_batch_norm(BnSet::Pgd);
    assert_near(values(as_pgd.features(x.clone())), &pgd, "configured pgd");
    // A checkpoint holds both sets: the burnpack round trip keeps both outputs.
    let again = Classifier::from_burnpack(as_pgd.config().clone(), as_pgd.to_burnpack().unwrap(), &device).unwrap();
    assert_eq!(again.config().dual_batch_norm, Some(BnSet::Pgd));
    assert_near(values(again.features_with(x.clone(), BnSet::Normal)), &normal, "reloaded, normal set");
    assert_near(values(again.features(x.clone())), &pgd, "reloaded, pgd set");
    // ... and a single-set network has no room for the second set.
    let single = ModelConfig { dual_batch_norm: None, ..dual_config() };
    assert!(Classifier::from_burnpack(single.clone(), again.to_burnpack().unwrap(), &device).is_err());
    let bad = ModelConfig { dual_batch_norm: Some(BnSet::Pgd), ..ModelConfig::new(Arch::ResNet50Cifar, 10) };
    assert!(Classifier::new(bad, &device).unwrap_err().to_string().contains("dual BatchNorm"));

    // Training mode: batch statistics of the pgd set, whose running mean moves while the
    // normal set's stays.
    let ad = device.clone().autodiff();
    let train = load_foreign(dual_config(), &fixture("advcsl_dual_bn.safetensors"), &ad).unwrap();
    let before_normal = tensor_named(&train, "bn1.running_mean");
    let before_pgd = tensor_named(&train, "bn_pgd.0.running_mean");
    let out = train.features_with(x.clone().autodiff(), BnSet::Pgd);
    assert_near(values(out), &io("train_features_pgd").0, "train-mode features, pgd set");
    assert_near(tensor_named(&train, "bn_pgd.0.running_mean"), &io("after_pgd_running_mean").0, "pgd running mean");
    assert_near(tensor_named(&train, "bn1.running_mean"), &io("after_normal_running_mean").0, "normal running mean");
    assert_eq!(tensor_named(&train, "bn1.running_mean"), before_normal, "the normal set was not touched");
    assert_ne!(tensor_named(&train, "bn_pgd.0.running_mean"), before_pgd, "the pgd set moved");
}

fn views(n: usize, seed: u64, device: &Device) -> Vec<Tensor<4>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..2)
        .map(|_| {
            // Some pixels at the ends of [0, 1], where the box binds.
            let v: Vec<f32> = (0..n * 3 * 16 * 16)
                .map(|_| match rng.random_range(0..10) {
                    0 => 0.0,
                    1 => 1.0,
                    _ => rng.random(),
                })
                .collect();
            Tensor::<4>::from_data(TensorData::new(v, [n, 3, 16, 16]), device)
        })
        .collect()
}

fn small_model(device: &Device) -> (Classifier, ProjectionHead) {
    let config = ModelConfig { width: 4, input_size: 16, dual_batch_norm: Some(BnSet::Normal), ..ModelConfig::new(Arch::SmallCnn, 10) };
    let encoder = Classifier::new(config, device).unwrap();
    let head = ProjectionHead::new(encoder.feature_dim(), 8, device);
    (encoder, head)
}

#[test]
fn the_instance_attack_stays_in_its_ball_raises_its_loss_and_leaves_batchnorm_alone() {
    let device = Device::flex();
    // Training-mode modules on the autodiff device on purpose: the attack must switch to eval
    // mode itself.
    let (encoder, head) = small_model(&device.clone().autodiff());
    let before = (encoder.to_burnpack().unwrap(), module_to_burnpack(&head).unwrap());
    let clean = views(12, 3, &device);
    for (attack, set, attacked) in [
        (InstanceAttack::rocl(), BnSet::Normal, [true, false]),
        (InstanceAttack::acl(), BnSet::Pgd, [true, true]),
        (InstanceAttack::acl(), BnSet::Normal, [true, true]),
    ] {
        let adv = attack.perturb(&encoder, &head, set, &clean, &attacked, 7);
        for (v, (a, x)) in adv.iter().zip(&clean).enumerate() {
            let (a, x) = (values(a.clone()), values(x.clone()));
            if !attacked[v] {
                assert_eq!(a, x, "view {v} is not attacked and comes back unchanged");
                continue;
            }
            let linf = a.iter().zip(&x).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
            assert!(linf <= attack.eps + 1e-6, "view {v}: |adv - x|_inf = {linf} > {}", attack.eps);
            assert!(linf > attack.eps * 0.5, "view {v}: the attack barely moved ({linf})");
            assert!(a.iter().all(|p| (0.0..=1.0).contains(p)), "view {v} left [0, 1]");
        }
        let loss_clean = attack.loss(&encoder, &head, set, &clean).into_scalar::<f32>();
        let loss_adv = attack.loss(&encoder, &head, set, &adv).into_scalar::<f32>();
        // An untrained network is barely sensitive at RoCL's radius (measured rises 5e-4 to
        // 1e-3 on a loss near 3.1); 1e-4 is still some 300 times f32's rounding at that size.
        assert!(loss_adv > loss_clean + 1e-4, "{set:?} {attacked:?}: the attack did not raise its loss ({loss_clean} -> {loss_adv})");
        // Its steps matter: the random start alone raises the loss less.
        let start_only = InstanceAttack { steps: 0, ..attack }.perturb(&encoder, &head, set, &clean, &attacked, 7);
        let loss_start = attack.loss(&encoder, &head, set, &start_only).into_scalar::<f32>();
        assert!(loss_adv > loss_start, "{set:?}: steps {loss_start} -> {loss_adv}");
    }
    assert!(encoder.to_burnpack().unwrap() == before.0, "the attack changed the backbone (running statistics?)");
    assert!(module_to_burnpack(&head).unwrap() == before.1, "the attack changed the head");
}

#[test]
fn the_instance_attack_is_seeded_and_uses_the_set_it_is_given() {
    let device = Device::flex();
    let (encoder, head) = small_model(&device);
    // Make the two sets differ: a few training-mode forwards through the pgd set only.
    let ad = device.clone().autodiff();
    let trained = Classifier::from_burnpack(encoder.config().clone(), encoder.to_burnpack().unwrap(), &ad).unwrap();
    for seed in 0..3 {
        let _ = values(trained.features_with(views(8, 100 + seed, &ad)[0].clone() * 0.5 + 0.25, BnSet::Pgd));
    }
    let encoder = Classifier::from_burnpack(encoder.config().clone(), trained.valid().to_burnpack().unwrap(), &device).unwrap();
    let clean = views(6, 5, &device);
    let attack = InstanceAttack::acl();
    let run = |set, seed| values(attack.perturb(&encoder, &head, set, &clean, &[true, true], seed)[1].clone());
    assert_eq!(run(BnSet::Pgd, 1), run(BnSet::Pgd, 1), "same seed, same views");
    assert_ne!(run(BnSet::Pgd, 1), run(BnSet::Pgd, 2), "the random start follows the seed");
    assert_ne!(run(BnSet::Pgd, 1), run(BnSet::Normal, 1), "the BatchNorm set matters");
    let bad = InstanceAttack { eps: 2.0, ..attack };
    assert!(bad.validate().unwrap_err().to_string().contains("eps"));
}

/// One training step per method: ACL-DS trains the clean pair through the normal set and the
/// adversarial pair through the pgd set (both sets' running means move), A2A and RoCL run on a
/// single set; every loss is finite.
#[cfg(feature = "train")]
#[test]
fn a_training_step_of_each_method_updates_the_batch_norm_sets_it_uses() {
    use hypersphere_core::data::procedural::{ProceduralConfig, generate};
    use hypersphere_core::losses::contrastive::ContrastiveObjective;
    use hypersphere_core::train::adversarial_contrastive::adversarial_step;
    use hypersphere_core::train::contrastive::{ContrastiveMethod, ContrastiveModel, ViewBackend};
    use hypersphere_core::train::{AclVariant, AdversarialConfig, ContrastiveConfig};

    let device = Device::flex();
    let ad = device.clone().autodiff();
    let data = generate(&ProceduralConfig { images: 12, seed: 4, ..Default::default() });
    let indices: Vec<usize> = (0..12).collect();
    let cases = [
        (ContrastiveMethod::Acl, AdversarialConfig::acl(AclVariant::Ds), true),
        (ContrastiveMethod::Acl, AdversarialConfig::acl(AclVariant::A2a), false),
        (ContrastiveMethod::Acl, AdversarialConfig::acl(AclVariant::A2s), false),
        (ContrastiveMethod::Rocl, AdversarialConfig::rocl(), false),
    ];
    for (method, adversarial, dual) in cases {
        let config = ContrastiveConfig { method, adversarial, batch_size: 12, ..ContrastiveConfig::default() };
        assert_eq!(config.dual_batch_norm().is_some(), dual);
        let model_config = ModelConfig { width: 4, dual_batch_norm: config.dual_batch_norm(), ..ModelConfig::new(Arch::SmallCnn, 10) };
        let model = ContrastiveModel::new(Classifier::new(model_config, &ad).unwrap(), 8, &ad);
        let normal_before = tensor_named(&model.encoder, "bn1.running_mean");
        let pgd_before = dual.then(|| tensor_named(&model.encoder, "bn_pgd.0.running_mean"));
        let mut optim = config.optimizer();
        let objective = ContrastiveObjective::nt_xent(0.5, 2);
        let out = adversarial_step(model, &mut optim, &data, &indices, &objective, &config, ViewBackend::Host, 3, 0.1, &ad).unwrap();
        let loss = out.output.loss.into_scalar::<f32>();
        assert!(loss.is_finite() && loss > 0.0, "{method:?} {:?}: loss {loss}", adversarial.acl_variant);
        assert_ne!(tensor_named(&out.model.encoder, "bn1.running_mean"), normal_before, "{method:?}: the normal set trains");
        if let Some(before) = pgd_before {
            assert_ne!(tensor_named(&out.model.encoder, "bn_pgd.0.running_mean"), before, "ACL-DS: the pgd set trains");
        }
    }
    // ACL-DS on a backbone with one set is refused (one line).
    let config = ContrastiveConfig { method: ContrastiveMethod::Acl, ..ContrastiveConfig::default() };
    let single = ContrastiveModel::new(Classifier::new(ModelConfig { width: 4, ..ModelConfig::new(Arch::SmallCnn, 10) }, &ad).unwrap(), 8, &ad);
    let mut optim = config.optimizer();
    let err = hypersphere_core::train::train_contrastive(
        single,
        &mut optim,
        hypersphere_core::train::PretrainingRun {
            train: &data,
            monitor: None,
            config: &config,
            start: 1.into(),
            ifnd: None,
            budget: &mut hypersphere_core::train::Budget::unlimited(),
            device: &device,
        },
        |_| {},
        |_, _, _, _| Ok::<(), hypersphere_core::Error>(()),
        |_, _, _, _| hypersphere_core::Error::Train("unlimited budget paused".into()),
    )
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("two BatchNorm sets"), "{err}");
}
