//! `hypersphere reproduce` end to end on a tiny budget: every stage writes its result, the
//! report gathers them, and a second run skips every finished stage.

mod common;

use common::{assert_success, run, scratch};
use serde_json::Value;

fn json(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

#[test]
fn the_whole_study_runs_and_a_second_run_skips_finished_stages() {
    let dir = scratch("reproduce");
    let out = dir.join("study");
    let args = [
        "reproduce", "--preset", "small", "--data", "procedural:300", "--out", out.to_str().unwrap(), "--limit", "100", "--device", "flex",
        "--train-args", "--epochs 1 --arch small-cnn --width 4 --train-limit 200 --test-limit 100 --linear-epochs 2 --batch-size 50",
    ];
    let first = run(&args);
    assert_success(&first);
    let presets = ["ce", "supcon", "simclr", "simclr-fnc", "simclr-afnc-0.9-0.5", "simclr-afnc-0.99-0.7"];
    for p in presets {
        assert!(out.join(p).join("model.bpk").exists(), "{p} trained");
    }
    let eval = json(&out.join("eval.json"));
    assert_eq!(eval["rows"].as_array().unwrap().len(), 6);
    assert_eq!(json(&out.join("geometry.json")).as_array().unwrap().len(), 6);
    assert_eq!(json(&out.join("corruptions.json"))["models"].as_array().unwrap().len(), 6);
    let md = std::fs::read_to_string(out.join("report/report.md")).unwrap();
    for section in ["## Robustness (Table 1 layout)", "## Representation geometry (Figure 2)", "## Common corruptions (Figure 3)", "## False-negative cancellation"] {
        assert!(md.contains(section), "{section} missing");
    }
    assert!(md.contains("| simclr-afnc-0.99-0.7 |"));

    let stamp = std::fs::metadata(out.join("eval.json")).unwrap().modified().unwrap();
    let second = run(&args);
    assert_success(&second);
    let log = String::from_utf8_lossy(&second.stderr);
    assert_eq!(log.matches("done already").count(), 6, "{log}");
    for stage in ["== robustness", "== geometry", "== corruptions"] {
        assert!(!log.contains(stage), "{stage} ran again: {log}");
    }
    assert_eq!(std::fs::metadata(out.join("eval.json")).unwrap().modified().unwrap(), stamp);
    let _ = std::fs::remove_dir_all(&dir);
}
