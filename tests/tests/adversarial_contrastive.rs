//! End-to-end tests of adversarial contrastive learning (RoCL, ACL) from the command line:
//! presets and methods train, ACL-DS keeps two BatchNorm sets into the evaluated model, A-FNC
//! logs its cancellation, mixed precision is refused, and a run stopped after epoch 1 and
//! resumed ends with exactly the numbers of an uninterrupted run (views, the attack's random
//! starts and the pgd set's running statistics all restored).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_success, assert_user_error, binary, metrics, run, s, scratch};
use serde_json::Value;

const HOOK: &str = "HYPERSPHERE_TEST_EXIT_AT";

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// The numbers that must not depend on an interruption (not the timings).
fn deterministic(line: &Value) -> Vec<String> {
    ["epoch", "train_loss", "lr", "rho", "cancelled_fraction", "cancel_precision", "knn_accuracy"].iter().map(|k| line[*k].to_string()).collect()
}

/// A tiny run: small CNN of width 4 on 120 procedural images, 2 epochs of batch 40.
fn tiny(extra: &[&str], out: &Path) -> Vec<String> {
    let mut args: Vec<String> = ["train", "--data", "procedural:120", "--arch", "small-cnn", "--width", "4", "--epochs", "2", "--batch-size", "40"]
        .map(String::from)
        .to_vec();
    args.extend(extra.iter().map(|a| a.to_string()));
    args.extend(["--lr", "0.3", "--warmup-epochs", "0", "--test-limit", "60", "--device", "flex", "--out"].map(String::from));
    args.push(s(out));
    args
}

fn train(args: &[String]) {
    assert_success(&Command::new(binary()).args(args).output().unwrap());
}

#[test]
fn rocl_and_a_acl_presets_train_and_acl_ds_keeps_both_batch_norm_sets() {
    let dir = scratch("advcsl-presets");
    let (simclr, rocl, aacl) = (dir.join("simclr"), dir.join("rocl"), dir.join("a-acl"));
    train(&tiny(&["--method", "simclr", "--linear-epochs", "2"], &simclr));
    train(&tiny(&["--preset", "rocl", "--scale", "tiny", "--linear-epochs", "2"], &rocl));
    train(&tiny(&["--preset", "a-acl", "--scale", "tiny", "--linear-epochs", "2"], &aacl));
    let (m_simclr, m_rocl, m_aacl) = (metrics(&simclr), metrics(&rocl), metrics(&aacl));
    for (name, m) in [("rocl", &m_rocl), ("a-acl", &m_aacl)] {
        assert_eq!(m.len(), 2, "{name}: two epochs");
        assert!(m.iter().all(|l| l["train_loss"].as_f64().unwrap().is_finite()), "{name}: {m:?}");
    }
    // RoCL's loss sums two positives per anchor over three views (about 2 ln(3N)); SimCLR's
    // is about ln(2N): the RoCL run really trained on RoCL's objective.
    let first = |m: &[Value]| m[0]["train_loss"].as_f64().unwrap();
    assert!(first(&m_rocl) > 1.5 * first(&m_simclr), "rocl {} vs simclr {}", first(&m_rocl), first(&m_simclr));
    // A-ACL: ACL-DS with A-FNC at 0.99 -> 0.7, logged like SimCLR's.
    let plan = &json(&aacl.join("config.json"))["plan"]["contrastive"];
    assert_eq!((plan["method"].as_str(), plan["adversarial"]["acl_variant"].as_str()), (Some("acl"), Some("ds")));
    assert_eq!(plan["fnc"]["kind"].as_str(), Some("adaptive"));
    assert!(m_aacl.iter().all(|l| l["cancelled_fraction"].is_number()), "{m_aacl:?}");
    assert!((m_aacl[0]["rho"].as_f64().unwrap() - 0.99).abs() < 1e-6);
    // The evaluated model keeps both BatchNorm sets and evaluates through the pgd one.
    for file in ["model.json", "encoder.json"] {
        assert_eq!(json(&aacl.join(file))["dual_batch_norm"].as_str(), Some("pgd"), "{file}");
    }
    assert!(json(&rocl.join("model.json")).get("dual_batch_norm").is_none(), "RoCL has one set");
    let eval_out = dir.join("eval.json");
    let out = run(&[
        "eval", "--weights", &s(&aacl.join("model.bpk")), "--data", "procedural:120", "--limit", "20", "--attack", "pgd:linf:8/255:3",
        "--device", "flex", "--json", &s(&eval_out),
    ]);
    assert_success(&out);
    // Bigger dual-BN models are larger files: the second set is in the weights.
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    assert!(size(&aacl.join("model.bpk")) > size(&rocl.join("model.bpk")), "the pgd set is saved");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn adversarial_runs_stopped_after_epoch_1_resume_to_the_same_numbers() {
    let dir = scratch("advcsl-resume");
    for (name, method) in [("acl-ds", &["--method", "acl", "--acl-variant", "ds", "--fnc", "adaptive:0.99:0.7"][..]), ("rocl", &["--method", "rocl"][..])] {
        let mut extra = method.to_vec();
        extra.extend(["--no-linear-eval", "--optimizer", "lars"]);
        let straight = dir.join(format!("{name}-straight"));
        train(&tiny(&extra, &straight));
        let expected = metrics(&straight);
        assert_eq!(expected.len(), 2, "{name}");
        // Stopped while naming epoch 2's checkpoint (epoch 1's is the last complete one) ...
        let stopped = dir.join(format!("{name}-stopped"));
        let out = Command::new(binary()).args(tiny(&extra, &stopped)).env(HOOK, "checkpoint.json@2").output().unwrap();
        assert_eq!(out.status.code(), Some(86), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        // ... and killed for real once epoch 1 is checkpointed.
        let killed = dir.join(format!("{name}-killed"));
        let mut child = Command::new(binary()).args(tiny(&extra, &killed)).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let start = Instant::now();
        while !killed.join("checkpoint.json").exists() && start.elapsed() < Duration::from_secs(120) && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = child.kill();
        child.wait().unwrap();
        for resumed in [&stopped, &killed] {
            assert_success(&run(&["train", "--resume", &s(resumed), "--no-linear-eval", "--device", "flex"]));
            let got = metrics(resumed);
            assert_eq!(got.len(), 2, "{name}: no epoch lost or repeated");
            for (a, b) in expected.iter().zip(&got) {
                assert_eq!(deterministic(a), deterministic(b), "{name}: epoch {} differs after resuming {}", a["epoch"], resumed.display());
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn adversarial_settings_get_one_line_errors() {
    let dir = scratch("advcsl-errors");
    let out = dir.join("x");
    let bf16 = tiny(&["--method", "rocl", "--precision", "bf16"], &out);
    assert_user_error(&Command::new(binary()).args(&bf16).output().unwrap(), "mixed precision");
    let wrong = tiny(&["--method", "simclr", "--acl-variant", "ds"], &out);
    assert_user_error(&Command::new(binary()).args(&wrong).output().unwrap(), "method acl");
    let unknown = tiny(&["--method", "acl", "--acl-variant", "a2b"], &out);
    assert_user_error(&Command::new(binary()).args(&unknown).output().unwrap(), "a2b");
    let resnet50 = tiny(&["--method", "acl"], &out).into_iter().map(|a| if a == "small-cnn" { "resnet50-cifar".to_string() } else { a }).collect::<Vec<_>>();
    assert_user_error(&Command::new(binary()).args(&resnet50).output().unwrap(), "dual BatchNorm");
    let _ = std::fs::remove_dir_all(&dir);
}
