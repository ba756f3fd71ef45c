//! `train --precision bf16|f16` is mixed-precision training (f32 master weights, half-precision
//! forward and backward, f16 loss scaling): the run records it, writes f32 weights that
//! `eval` loads, and follows the f32 run's loss curve to within half-precision error.

mod common;

use std::path::Path;

use common::{assert_success, metrics, run, scratch};
use serde_json::Value;

fn train(dir: &Path, precision: &str, extra: &[&str]) -> Vec<Value> {
    let mut args = vec![
        "train", "--data", "procedural:300", "--arch", "small-cnn", "--width", "8", "--batch-size", "50", "--device", "flex",
        "--precision", precision, "--out", dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = run(&args);
    assert_success(&out);
    metrics(dir)
}

#[test]
fn half_precision_training_is_mixed_precision_and_follows_the_f32_run() {
    let dir = scratch("mixed-precision");
    let ce = ["--lr", "0.05", "--epochs", "3"];
    let reference = train(&dir.join("f32"), "f32", &ce);
    for half in ["bf16", "f16"] {
        let run_dir = dir.join(half);
        let lines = train(&run_dir, half, &ce);
        let config: Value = serde_json::from_str(&std::fs::read_to_string(run_dir.join("config.json")).unwrap()).unwrap();
        assert_eq!(config["runtime"]["mixed_precision"], half, "{half}: config.json names the mixed precision");
        assert_eq!(config["runtime"]["precision"], "f32", "{half}: master weights are f32");
        assert_eq!(lines.len(), reference.len());
        for (a, b) in lines.iter().zip(&reference) {
            let (la, lb) = (a["train_loss"].as_f64().unwrap(), b["train_loss"].as_f64().unwrap());
            assert!(la.is_finite() && (la - lb).abs() <= 0.02 * lb, "{half}: epoch {} loss {la} vs f32 {lb}", a["epoch"]);
        }
        // The weights are f32 and evaluate like any other model.
        let out = run(&["eval", "--weights", run_dir.join("model.bpk").to_str().unwrap(), "--data", "procedural:100", "--attack", "fgsm:linf:2/255", "--device", "flex"]);
        assert_success(&out);
    }
    // The contrastive loop takes the same path.
    let simclr = dir.join("simclr-bf16");
    let lines = train(&simclr, "bf16", &["--method", "simclr", "--lr", "0.3", "--warmup-epochs", "0", "--no-linear-eval", "--epochs", "1"]);
    assert!(lines[0]["train_loss"].as_f64().unwrap().is_finite());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `bench --precision bf16`: inference and attacks on a bf16 device, training steps in mixed
/// precision (timed in a child process on an f32 device), one table and one JSON report.
#[test]
fn bench_times_training_rows_in_mixed_precision() {
    let dir = scratch("mixed-precision-bench");
    let json = dir.join("bench.json");
    let out = run(&[
        "bench", "--arch", "small-cnn", "--width", "4", "--device", "flex", "--precision", "bf16", "--warmup", "1", "--iters", "1",
        "--batch-size", "4", "--train-batch-sizes", "4", "--simclr-batch-size", "4", "--rows", "inference,ce-step,simclr-step,pgd10",
        "--json", json.to_str().unwrap(),
    ]);
    assert_success(&out);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["runtime"]["precision"], "bf16");
    let rows = report["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["inference", "ce-step", "simclr-step", "pgd10"]);
    for r in rows {
        let mixed = r["detail"].as_str().unwrap_or("").contains("mixed bf16 (f32 master weights)");
        assert_eq!(mixed, r["name"].as_str().unwrap().ends_with("-step"), "{r}");
        assert!(r["images_per_second"].as_f64().unwrap() > 0.0);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("| measurement |").count(), 1, "one table: {stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
