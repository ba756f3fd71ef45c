//! What ran is recorded: device, backend, compiler and precision in `eval --json` and
//! `bench --json`; the normalisation assumed for foreign weights; precision choices refused
//! with one-line errors; a quiet device probe; `scripts/gpu-check.sh --dry-run` end to end.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

fn read_json(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn eval_json_names_the_runtime_and_the_normalisation() {
    let dir = scratch("runtime-eval");
    let json = dir.join("out.json");
    let eval = |extra: &[&str]| {
        let mut args = vec![
            "eval", "--arch", "resnet18-cifar", "--width", "8", "--data", "procedural:10", "--device", "flex",
            "--attack", "fgsm:linf:2/255", "--json", json.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let weights = fixture("resnet18_w8.safetensors");

    // No --normalize: CIFAR-10 mean/std is assumed, and said so.
    let out = eval(&["--weights", &weights]);
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("assuming CIFAR-10 mean/std"), "{stderr}");
    assert!(stderr.contains("normalisation: CIFAR-10 mean/std"), "{stderr}");
    let report = read_json(&json);
    assert_eq!(report["runtime"]["backend"], "flex", "{report}");
    assert_eq!(report["runtime"]["compiler"], "none");
    assert_eq!(report["runtime"]["precision"], "f32");
    assert_eq!(report["normalization"]["mean"][0].as_f64().map(|m| (m * 1e4).round()), Some(4914.0), "{report}");

    // --normalize none: raw pixels, recorded as null, no note.
    let out = eval(&["--weights", &weights, "--normalize", "none"]);
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("assuming"), "{stderr}");
    assert!(stderr.contains("normalisation: none"), "{stderr}");
    assert!(read_json(&json)["normalization"].is_null());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn half_precision_evaluation_runs_in_that_precision_and_agrees_with_f32() {
    // Weights stored in f32 (a state dict here) are recast to the device's precision on load.
    let dir = scratch("runtime-half");
    let accuracy = |precision: &str| {
        let json = dir.join(format!("{precision}.json"));
        let out = run(&[
            "eval", "--arch", "resnet18-cifar", "--width", "8", "--weights", &fixture("resnet18_w8.safetensors"), "--normalize", "cifar10",
            "--data", "procedural:64", "--device", "flex", "--precision", precision, "--attack", "fgsm:linf:1/255", "--json", json.to_str().unwrap(),
        ]);
        assert_success(&out);
        let report = read_json(&json);
        assert_eq!(report["runtime"]["precision"], precision, "{report}");
        report["clean_accuracy"].as_f64().unwrap()
    };
    let full = accuracy("f32");
    for half in ["f16", "bf16"] {
        let acc = accuracy(half);
        assert!((acc - full).abs() <= 2.0 / 64.0 + 1e-9, "{half}: {acc} vs f32 {full}");
    }
    // Flex has no TF32 mode: refused when the device is opened.
    let out = run(&["eval", "--weights", &fixture("resnet18_w8.safetensors"), "--width", "8", "--data", "procedural:4", "--device", "flex", "--precision", "tf32"]);
    assert_user_error(&out, "does not support tf32");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn precision_choices_are_checked_with_one_line_errors() {
    // Flex cannot run TF32 training either: refused when the device is opened.
    let out = run(&["train", "--data", "procedural:20", "--arch", "small-cnn", "--width", "2", "--epochs", "1", "--device", "flex", "--precision", "tf32", "--out", "/nonexistent/x"]);
    assert_user_error(&out, "does not support tf32");
    let out = run(&["eval", "--weights", "x.bpk", "--data", "procedural:4", "--device", "flex", "--precision", "f8"]);
    assert_eq!(out.status.code(), Some(2), "clap rejects the value: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown precision 'f8'"));
}

#[test]
fn bench_json_rows_carry_names_batches_and_medians() {
    let dir = scratch("runtime-bench");
    let json = dir.join("bench.json");
    let out = run(&[
        "bench", "--device", "flex", "--width", "4", "--batch-size", "4", "--train-batch-sizes", "4,6", "--simclr-batch-size", "4",
        "--warmup", "0", "--iters", "2", "--json", json.to_str().unwrap(),
    ]);
    assert_success(&out);
    let report = read_json(&json);
    assert_eq!(report["runtime"]["backend"], "flex");
    let rows = report["rows"].as_array().unwrap();
    let names: Vec<(&str, u64)> = rows.iter().map(|r| (r["name"].as_str().unwrap(), r["batch"].as_u64().unwrap())).collect();
    assert_eq!(names, [("inference", 4), ("ce-step", 4), ("ce-step", 6), ("simclr-step", 4), ("pgd10", 4), ("pgd40", 4)]);
    for r in rows {
        let (secs, rate, batch) = (r["seconds"].as_f64().unwrap(), r["images_per_second"].as_f64().unwrap(), r["batch"].as_f64().unwrap());
        assert!(secs > 0.0 && (rate * secs - batch).abs() < 1e-6 * batch, "{r}");
        assert_eq!((r["warmup"].as_u64(), r["iters"].as_u64()), (Some(0), Some(2)));
    }
    // PGD-40 does four times PGD-10's gradient steps: it cannot be faster.
    let rate = |name: &str| rows.iter().find(|r| r["name"] == name).unwrap()["images_per_second"].as_f64().unwrap();
    assert!(rate("pgd40") < rate("pgd10"), "{report}");
    assert!(rate("pgd10") < rate("inference"), "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_times_fgsm_on_request_and_it_is_cheaper_than_pgd10() {
    let dir = scratch("runtime-bench-fgsm");
    let json = dir.join("bench.json");
    let out = run(&[
        "bench", "--device", "flex", "--width", "4", "--batch-size", "4", "--rows", "fgsm,pgd10", "--warmup", "1", "--iters", "3",
        "--json", json.to_str().unwrap(),
    ]);
    assert_success(&out);
    let report = read_json(&json);
    let rows = report["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["fgsm", "pgd10"]);
    // One gradient step against ten.
    let rate = |name: &str| rows.iter().find(|r| r["name"] == name).unwrap()["images_per_second"].as_f64().unwrap();
    assert!(rate("fgsm") > 2.0 * rate("pgd10"), "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_device_probe_keeps_driver_noise_off_the_terminal() {
    // On machines without a GPU the Vulkan/EGL/Wayland libraries print warnings such as
    // "XDG_RUNTIME_DIR is invalid or not set" while the probe opens them.
    let out = Command::new(binary())
        .args(["eval", "--arch", "resnet18-cifar", "--width", "8", "--weights", &fixture("resnet18_w8.pth"), "--normalize", "cifar10",
               "--data", "procedural:4", "--device", "auto", "--attack", "fgsm:linf:1/255"])
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .unwrap();
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("XDG_RUNTIME_DIR"), "{stderr}");
    let device_lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("device:")).collect();
    assert_eq!(device_lines.len(), 1, "{stderr}");
}

#[test]
fn gpu_check_dry_run_writes_the_paired_table() {
    let dir = scratch("gpu-check");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new("bash")
        .arg(root.join("scripts/gpu-check.sh"))
        .arg("--dry-run")
        .env("HS", binary())
        .env("OUT", &dir)
        // Every pack over its limit: the evaluated runs' weights are left out too.
        .env("PACK_LIMIT", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let bench = read_json(&dir.join("bench.json"));
    let hs = &bench["hypersphere"][0];
    assert_eq!(hs["runtime"]["backend"], "flex", "{bench}");
    assert_eq!(hs["rows"].as_array().unwrap().len(), 6, "{bench}");
    // With PyTorch installed the rows pair up; without it there is nothing to pair.
    let paired = bench["rows"].as_array().unwrap();
    assert_eq!(paired.is_empty(), bench["pytorch"].as_array().unwrap().is_empty(), "{bench}");
    assert!(std::fs::read_to_string(dir.join("log.txt")).unwrap().contains("hypersphere bench --precision f32"));
    // The bf16 report: its training rows ran in mixed precision.
    let bf16 = bench["hypersphere"].as_array().unwrap().iter().find(|r| r["runtime"]["precision"] == "bf16").expect("a bf16 report");
    let ce = bf16["rows"].as_array().unwrap().iter().find(|r| r["name"] == "ce-step").expect("a bf16 ce-step row");
    assert!(ce["detail"].as_str().unwrap().contains("mixed bf16"), "{ce}");
    // Two windows of a tiny study under --budget: each ends complete or at its budget, and the
    // second starts from what the first packed.
    let log = std::fs::read_to_string(dir.join("log.txt")).unwrap();
    let ends = log.lines().filter(|l| l.starts_with("== window ended at its budget") || l.starts_with("== study complete")).count();
    assert_eq!(ends, 2, "{log}");
    assert!(log.contains("== study so far:"), "the second window did not unpack the first's parts: {log}");
    assert!(std::fs::read_dir(&dir).unwrap().flatten().any(|e| e.file_name().to_string_lossy().starts_with("study.tar.xz.")), "no packed study");
    // What the last window packed: no root weights of a run in training, no checkpoint folder
    // of a finished run, no weights of a run holding its own results (over PACK_LIMIT); the
    // second window continued from such a pack.
    let listing = Command::new("bash").arg("-c").arg(format!("cat {}/study.tar.xz.* | xz -dc | tar -t", dir.display())).output().unwrap();
    assert_success(&listing);
    let files: Vec<String> = String::from_utf8_lossy(&listing.stdout).lines().map(|l| l.trim_start_matches("./").to_string()).collect();
    let has = |f: &str| files.iter().any(|x| x == f);
    let runs: Vec<&str> = files.iter().filter_map(|f| f.strip_suffix("/config.json")).collect();
    assert!(!runs.is_empty(), "{files:?}");
    for run in runs {
        let weights = [format!("{run}/model.bpk"), format!("{run}/encoder.bpk")];
        if has(&format!("{run}/done")) {
            assert!(!files.iter().any(|f| f.starts_with(&format!("{run}/checkpoints/"))), "{run}: finished, its checkpoints packed: {files:?}");
            if has(&format!("{run}/eval.json")) {
                assert!(!weights.iter().any(|w| has(w)), "{run}: evaluated, its weights packed: {files:?}");
            }
        } else {
            assert!(!weights.iter().any(|w| has(w)), "{run}: in training, its root copy packed: {files:?}");
        }
    }
    assert!(log.contains("leaving out the weights of the evaluated runs"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
