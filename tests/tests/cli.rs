//! End-to-end tests of the `hypersphere` binary: train on procedural data, evaluate the
//! checkpoint and a PyTorch state dict, and get one-line errors (never panics) for bad input.

mod common;

use std::path::Path;

use common::{assert_user_error, fixture, run, scratch};
use serde_json::Value;

#[test]
fn train_then_eval_follows_the_json_contract() {
    let dir = scratch("train");
    let run_dir = dir.join("run");
    // 4 epochs on 1,000 images: 49-62% test accuracy over seeds 0-2 (2 epochs on 400 images,
    // this test's old setting, stayed at chance, 10-17%).
    let out = run(&[
        "train", "--data", "procedural:1000", "--arch", "small-cnn", "--width", "8", "--epochs", "4",
        "--batch-size", "50", "--lr", "0.05", "--device", "flex", "--out", run_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let metrics = std::fs::read_to_string(run_dir.join("metrics.jsonl")).unwrap();
    let epochs: Vec<Value> = metrics.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(epochs.len(), 4);
    let (first_loss, last_loss) = (epochs[0]["train_loss"].as_f64().unwrap(), epochs[3]["train_loss"].as_f64().unwrap());
    assert!(last_loss < first_loss, "the training loss falls: {first_loss} -> {last_loss}");
    let test_accuracy = epochs[3]["test_accuracy"].as_f64().unwrap();
    assert!(test_accuracy > 0.3, "10 classes, chance is 0.1: the model learned the task? {test_accuracy}");
    let config: Value = serde_json::from_str(&std::fs::read_to_string(run_dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["model"]["arch"], "small-cnn");

    let json = dir.join("out.json");
    let weights = run_dir.join("model.bpk");
    let out = run(&[
        "eval", "--weights", weights.to_str().unwrap(), "--data", "procedural:100", "--device", "flex",
        "--attack", "fgsm:linf:0", "--attack", "fgsm:linf:8/255", "--attack", "pgd:linf:8/255:5",
        "--json", json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("| pgd:linf:8/255:5 |"), "table printed: {stdout}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["images"], 100);
    let clean = report["clean_accuracy"].as_f64().unwrap();
    let attacks = report["attacks"].as_array().unwrap();
    assert_eq!(attacks.len(), 3);
    for key in ["spec", "attack", "norm", "eps", "steps", "accuracy", "p_drop", "seconds"] {
        assert!(attacks[2].get(key).is_some(), "missing {key}: {}", attacks[2]);
    }
    assert_eq!(attacks[2]["attack"], "pgd");
    assert_eq!(attacks[2]["norm"], "linf");
    assert_eq!(attacks[2]["steps"], 5);
    assert!((attacks[1]["eps"].as_f64().unwrap() - 8.0 / 255.0).abs() < 1e-6);
    assert_eq!(attacks[0]["accuracy"].as_f64().unwrap(), clean, "eps = 0 keeps the clean accuracy");
    let (fgsm, pgd) = (attacks[1]["accuracy"].as_f64().unwrap(), attacks[2]["accuracy"].as_f64().unwrap());
    assert!(pgd <= fgsm && fgsm <= clean, "clean {clean} >= fgsm {fgsm} >= pgd {pgd}");
    // The evaluated model is the trained one (49-56% clean here), and 8/255 hurts it badly
    // (PGD-5: 14-15%).
    assert!(clean > 0.3, "clean accuracy of the trained model: {clean}");
    assert!(pgd < clean / 2.0, "PGD-5 at 8/255 leaves {pgd} of {clean}");
    let p_drop = attacks[2]["p_drop"].as_f64().unwrap();
    assert!((p_drop - (clean - pgd) / clean).abs() < 1e-9);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn eval_loads_pytorch_state_dicts() {
    let dir = scratch("torch");
    let json = dir.join("out.json");
    for file in ["resnet18_w8.pth", "resnet18_w8.safetensors"] {
        let out = run(&[
            "eval", "--arch", "resnet18-cifar", "--width", "8", "--weights", &fixture(file),
            "--data", "procedural:20", "--device", "flex", "--attack", "fgsm:linf:2/255", "--json", json.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stderr));
        let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(report["images"], 20);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_gets_one_line_errors() {
    let dir = scratch("errors");
    let w8 = fixture("resnet18_w8.safetensors");
    let base = ["eval", "--device", "flex", "--data", "procedural:10"];
    let with = |extra: &[&str]| {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(extra);
        run(&args)
    };
    assert_user_error(&with(&["--weights", "/no/such/model.bpk", "--attack", "fgsm:linf:1/255"]), "does not exist");
    assert_user_error(&with(&["--width", "8", "--weights", &w8, "--attack", "zoo:linf:1"]), "valid: fgsm:linf");
    assert_user_error(&with(&["--width", "8", "--weights", &w8, "--attack", "fgsm:linf:-1/255"]), "eps must be >= 0");
    // Weights of another width: the message names a tensor.
    assert_user_error(&with(&["--width", "16", "--weights", &w8, "--attack", "fgsm:linf:1/255"]), "conv1");
    let corrupt = dir.join("corrupt.safetensors");
    std::fs::write(&corrupt, b"garbage").unwrap();
    assert_user_error(&with(&["--width", "8", "--weights", corrupt.to_str().unwrap()]), "corrupt.safetensors");
    // An unreadable image in a dataset names the file.
    let data = dir.join("data/test/cat");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("broken.jpg"), b"not a jpeg").unwrap();
    let out = run(&["eval", "--device", "flex", "--width", "8", "--weights", &w8, "--data", dir.join("data").to_str().unwrap()]);
    assert_user_error(&out, "broken.jpg");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn quickstart_trains_and_prints_a_robustness_table() {
    let dir = scratch("quickstart");
    let out_dir = dir.join("qs");
    // 4 epochs on 1,000 procedural images: clean accuracy 47-59% on 100 test images over seeds
    // 0-3 (one epoch on 300 images, this test's old setting, stayed at chance: 10%).
    let out = run(&[
        "quickstart", "--data", "procedural:1000", "--epochs", "4", "--train-limit", "1000", "--test-limit", "100",
        "--device", "flex", "--out", out_dir.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out_dir.join("eval.json")).unwrap()).unwrap();
    assert_eq!(report["images"], 100);
    let clean = report["clean_accuracy"].as_f64().unwrap();
    assert!(clean > 0.3, "the quickstart model must beat chance (0.1) clearly: {clean}");
    let attacks = report["attacks"].as_array().unwrap();
    let specs: Vec<&str> = attacks.iter().map(|a| a["spec"].as_str().unwrap()).collect();
    assert_eq!(
        specs,
        ["fgsm:linf:1/255", "fgsm:linf:2/255", "fgsm:linf:4/255", "fgsm:linf:8/255", "pgd:linf:1/255:10", "pgd:linf:2/255:10", "pgd:linf:4/255:10", "pgd:linf:8/255:10"]
    );
    let acc: Vec<f64> = attacks.iter().map(|a| a["accuracy"].as_f64().unwrap()).collect();
    // PGD-10 does not do worse than FGSM at the same radius (up to one image of 100: from a
    // random start with steps of 2.5 eps / 10 it need not reach FGSM's corner; on the
    // procedural data of 2026-12-02, seed 0, it left 56% at 2/255 against FGSM's 55%), a larger
    // radius never helps the model, and 8/255 hurts clearly (PGD-10: 11-16% against 47-59%
    // clean on the earlier procedural data).
    for i in 0..4 {
        assert!(acc[4 + i] <= acc[i] + 0.011, "{} leaves {} but {} only {}", specs[4 + i], acc[4 + i], specs[i], acc[i]);
    }
    for w in acc[4..].windows(2) {
        assert!(w[1] <= w[0], "PGD-10 accuracy rises with eps: {acc:?}");
    }
    assert!(acc[7] < clean / 2.0, "PGD-10 at 8/255 leaves {} of {clean}", acc[7]);
    // The printed table shows the numbers of eval.json.
    assert!(stdout.contains(&format!("| clean | - | - | {:.2} |", 100.0 * clean)), "clean {clean} not printed:\n{stdout}");
    for (spec, a) in specs.iter().zip(&acc) {
        let line = stdout.lines().find(|l| l.starts_with(&format!("| {spec} |"))).unwrap_or_else(|| panic!("no {spec} row in:\n{stdout}"));
        assert!(line.contains(&format!(" | {:.2} | ", 100.0 * a)), "{spec}: {a} not in '{line}'");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn train_can_start_from_given_weights() {
    let dir = scratch("init");
    let base = ["--data", "procedural:1000", "--arch", "small-cnn", "--width", "8", "--batch-size", "50", "--device", "flex"];
    let train = |extra: &[&str], out: &Path| {
        let mut args = vec!["train"];
        args.extend_from_slice(&base);
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--out", out.to_str().unwrap()]);
        let out = run(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    let accuracy = |run: &Path| -> f64 {
        let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
        let last: Value = serde_json::from_str(metrics.lines().last().unwrap()).unwrap();
        last["test_accuracy"].as_f64().unwrap()
    };
    let (a, b, c) = (dir.join("a"), dir.join("b"), dir.join("c"));
    train(&["--epochs", "6", "--lr", "0.05"], &a);
    // lr 0: the weights stay where --init put them (only BatchNorm statistics move).
    train(&["--epochs", "1", "--lr", "0", "--init", a.join("model.bpk").to_str().unwrap()], &b);
    train(&["--epochs", "1", "--lr", "0", "--seed", "5"], &c);
    let (acc_a, acc_b, acc_c) = (accuracy(&a), accuracy(&b), accuracy(&c));
    assert!(acc_a > 0.3, "the first run learned: {acc_a}");
    assert!((acc_a - acc_b).abs() < 0.1, "started from the given weights: {acc_a} vs {acc_b}");
    assert!(acc_c < acc_a - 0.1, "an untrained start is worse: {acc_c} vs {acc_a}");
    // PyTorch state dicts are accepted by --init too.
    let d = dir.join("d");
    let out = run(&[
        "train", "--data", "procedural:40", "--arch", "resnet18-cifar", "--width", "8", "--epochs", "1", "--batch-size", "20",
        "--device", "flex", "--init", &fixture("resnet18_w8.pth"), "--out", d.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(d.join("model.bpk").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn eval_compares_several_models_writes_tables_and_resumes() {
    let dir = scratch("models");
    let (json, md, csv, results) = (dir.join("t.json"), dir.join("t.md"), dir.join("t.csv"), dir.join("results.jsonl"));
    let models = format!("st={},pth={}", fixture("resnet18_w8.safetensors"), fixture("resnet18_w8.pth"));
    let args = |extra: &[&str]| {
        let mut a = vec![
            "eval", "--arch", "resnet18-cifar", "--width", "8", "--models", &models, "--data", "procedural:24",
            "--batch-size", "10", "--device", "flex", "--attack", "pgd:linf:0,2/255,16/255:3",
            "--attack", "autoattack:linf:16/255:apgd-ce@3+square@20", "--json", json.to_str().unwrap(),
            "--markdown", md.to_str().unwrap(), "--csv", csv.to_str().unwrap(), "--resume", results.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        run(&a)
    };
    let out = args(&[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = table["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(table["attacks"].as_array().unwrap().len(), 4, "three radii and AutoAttack");
    // The same weights in two file formats, on the same images with the same seeds: same numbers.
    for i in 0..4 {
        assert_eq!(rows[0]["report"]["attacks"][i]["accuracy"], rows[1]["report"]["attacks"][i]["accuracy"], "column {i}");
    }
    let r = &rows[0]["report"];
    assert_eq!(r["attacks"][0]["accuracy"], r["clean_accuracy"], "eps 0");
    let accs: Vec<f64> = (0..3).map(|i| r["attacks"][i]["accuracy"].as_f64().unwrap()).collect();
    assert!(accs[2] <= accs[1] && accs[1] <= accs[0], "non-increasing in eps: {accs:?}");
    assert_eq!(r["attacks"][3]["components"], serde_json::json!(["apgd-ce", "square"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("| model | clean | pgd:linf:0:3 | pgd:linf:2/255:3 |"), "{stdout}");
    assert!(std::fs::read_to_string(&md).unwrap().contains("| st |"));
    let csv_text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(csv_text.lines().count(), 1 + 2 * 5, "{csv_text}");
    assert!(csv_text.starts_with("model,attack,images,accuracy,p_drop,gap_closed,gap_closed_relative\n"));

    // Rerun: every cell comes from the results file and the numbers are the same.
    let first = std::fs::read_to_string(&json).unwrap();
    let out = args(&[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("results reused"), "{}", String::from_utf8_lossy(&out.stderr));
    let strip = |v: &str| -> Value {
        let mut v: Value = serde_json::from_str(v).unwrap();
        for row in v["rows"].as_array_mut().unwrap() {
            for a in row["report"]["attacks"].as_array_mut().unwrap() {
                a["seconds"] = Value::Null;
            }
        }
        v
    };
    assert_eq!(strip(&first), strip(&std::fs::read_to_string(&json).unwrap()));
    // An interrupted run (results file cut mid-way, last line truncated) resumes to the same table.
    let lines: Vec<String> = std::fs::read_to_string(&results).unwrap().lines().map(String::from).collect();
    let mut cut = lines[..lines.len() / 2].join("\n");
    cut += "\n{\"model\":\"pth\",\"wei";
    std::fs::write(&results, cut).unwrap();
    let out = args(&[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(strip(&first), strip(&std::fs::read_to_string(&json).unwrap()));
    // Another evaluation refuses the same results file.
    let out = run(&[
        "eval", "--arch", "resnet18-cifar", "--width", "8", "--models", &models, "--data", "procedural:24", "--seed", "3",
        "--device", "flex", "--attack", "fgsm:linf:1/255", "--resume", results.to_str().unwrap(),
    ]);
    assert_user_error(&out, "another evaluation");
    // Gap-closed references must be model names.
    let out = run(&[
        "eval", "--arch", "resnet18-cifar", "--width", "8", "--models", &models, "--data", "procedural:4",
        "--device", "flex", "--attack", "fgsm:linf:1/255", "--gap-reference", "st,nope",
    ]);
    assert_user_error(&out, "not one of the models");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The percentage in the last column of the row that starts with `| {label}`.
fn last_percent(stdout: &str, label: &str) -> f64 {
    let row = stdout.lines().find(|l| l.starts_with(&format!("| {label}"))).unwrap_or_else(|| panic!("no '{label}' row in:\n{stdout}"));
    row.trim_end_matches(|c| c == '|' || c == ' ').rsplit('|').next().unwrap().trim().trim_end_matches('%').parse().unwrap()
}

#[test]
fn bench_on_given_weights_and_images_reports_throughput_and_robust_accuracy() {
    let (weights, images) = (fixture("ta_model.safetensors"), fixture("ta_images.safetensors"));
    let out = run(&[
        "bench", "--weights", &weights, "--images", &images, "--width", "4", "--batch-size", "8", "--iters", "1",
        "--warmup", "0", "--autoattack-images", "8", "--aa-steps", "2", "--aa-queries", "10", "--device", "flex",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for label in ["inference (forward)", "PGD-10 l_inf", "PGD-40 l_inf"] {
        let row = stdout.lines().find(|l| l.starts_with(&format!("| {label}"))).unwrap_or_else(|| panic!("no '{label}' row in:\n{stdout}"));
        let images_per_second: f64 = row.split('|').nth(3).unwrap().trim().parse().unwrap();
        assert!(images_per_second > 0.0, "{row}");
    }
    let clean = last_percent(&stdout, "inference (forward)");
    assert!(clean > 50.0, "the fixture model is trained: {stdout}");
    assert!(last_percent(&stdout, "PGD-40 l_inf") <= clean, "{stdout}");
    let aa_clean = last_percent(&stdout, "clean");
    let mut previous = aa_clean;
    for label in ["APGD-CE", "APGD-T", "Square", "AutoAttack ("] {
        let after = last_percent(&stdout, label);
        assert!(after <= previous, "robust accuracy rose at {label}: {stdout}");
        previous = after;
    }
    assert!(stdout.contains("| 8 images |"), "{stdout}");

    let wrong_width = run(&["bench", "--weights", &weights, "--images", &images, "--width", "8", "--device", "flex"]);
    assert_user_error(&wrong_width, "weights");
    let not_images = run(&["bench", "--weights", &weights, "--images", &weights, "--width", "4", "--device", "flex"]);
    assert_user_error(&not_images, "no tensor named 'images'");
}
