//! `hypersphere reproduce` end to end on a tiny budget: every stage writes its result, the
//! report gathers them, and a second run skips every finished stage.

mod common;

use common::{assert_success, row, run, scratch};
use serde_json::Value;

fn json(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn percent(v: &Value) -> String {
    format!("{:.2}%", 100.0 * v.as_f64().unwrap_or_else(|| panic!("not a number: {v}")))
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
    let rows = eval["rows"].as_array().unwrap();
    assert_eq!(rows.iter().map(|r| r["model"].as_str().unwrap()).collect::<Vec<_>>(), presets, "one row per preset, in order");
    let geometry = json(&out.join("geometry.json"));
    assert_eq!(geometry.as_array().unwrap().len(), 6);
    let corruptions = json(&out.join("corruptions.json"));
    assert_eq!(corruptions["models"].as_array().unwrap().len(), 6);
    let md = std::fs::read_to_string(out.join("report/report.md")).unwrap();
    for section in ["## Robustness (Table 1 layout)", "## Representation geometry (Figure 2)", "## Common corruptions (Figure 3)", "## False-negative cancellation"] {
        assert!(md.contains(section), "{section} missing");
    }
    // Every stage evaluated the --limit images with the attacks of the small preset (FGSM at 4
    // radii, PGD-10 at 2 radii in each of three norms), and the report shows each model's own
    // numbers from those files.
    for r in rows {
        let (name, report) = (r["model"].as_str().unwrap(), &r["report"]);
        assert_eq!(report["images"], 100, "{name}");
        let attacks = report["attacks"].as_array().unwrap();
        assert_eq!(attacks.len(), 10, "{name}: {attacks:?}");
        let mut expected = vec![name.to_string(), percent(&report["clean_accuracy"])];
        for a in attacks {
            expected.push(format!("{} (↓{:.0}%)", percent(&a["accuracy"]), 100.0 * a["p_drop"].as_f64().unwrap()));
        }
        assert_eq!(row(&md, "Robustness (Table 1 layout)", name), expected);
        let run_dir = out.join(name);
        let final_accuracy = match std::fs::read_to_string(run_dir.join("linear_eval.json")) {
            Ok(text) => serde_json::from_str::<Value>(&text).unwrap()["report"]["test_accuracy"].clone(),
            Err(_) => {
                let metrics = std::fs::read_to_string(run_dir.join("metrics.jsonl")).unwrap();
                serde_json::from_str::<Value>(metrics.lines().last().unwrap()).unwrap()["test_accuracy"].clone()
            }
        };
        assert_eq!(row(&md, "Models", name)[5], percent(&final_accuracy), "{name}: test accuracy");
    }
    for g in geometry.as_array().unwrap() {
        let name = g["model"].as_str().unwrap();
        assert_eq!(row(&md, "Representation geometry (Figure 2)", name)[3], format!("{:.3}x", g["separation"]["ratio"].as_f64().unwrap()), "{name}");
    }
    let mean_drops: Vec<String> = corruptions["models"].as_array().unwrap().iter().map(|m| percent(&m["mean_relative_drop"])).collect();
    assert_eq!(row(&md, "Common corruptions (Figure 3)", "corruption")[1..], presets, "one column per preset");
    assert_eq!(row(&md, "Common corruptions (Figure 3)", "mean drop")[1..], mean_drops);

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
