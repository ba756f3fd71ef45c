//! `hypersphere reproduce` end to end on a tiny budget: every stage writes its result, the
//! report gathers them, and a second run skips every finished stage; with `--seeds 2` the
//! report's tables are the mean ± std of the per-seed files and its verdicts follow them.

mod common;

use std::path::Path;

use common::{assert_success, assert_user_error, row, run, scratch};
use hypersphere_core::evaluate::stats::{Z95, wilson_interval};
use serde_json::Value;

const PRESETS: [&str; 6] = ["ce", "supcon", "simclr", "simclr-fnc", "simclr-afnc-0.9-0.5", "simclr-afnc-0.99-0.7"];
const TRAIN_ARGS: &str = "--epochs 1 --arch small-cnn --width 4 --train-limit 200 --test-limit 100 --linear-epochs 2 --batch-size 50";

/// Mean and sample standard deviation (n - 1), computed here rather than with core's `Summary`.
fn mean_std(v: &[f64]) -> (f64, f64) {
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let std = if v.len() > 1 { (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt() } else { 0.0 };
    (mean, std)
}

/// A fraction over seeds as the report prints it: `42.00%`, or `42.00 ± 1.50%`.
fn percent_over_seeds(v: &[f64]) -> String {
    let (mean, std) = mean_std(v);
    if v.len() == 1 { format!("{:.2}%", 100.0 * mean) } else { format!("{:.2} ± {:.2}%", 100.0 * mean, 100.0 * std) }
}

/// A robustness cell: accuracy over seeds, its Wilson interval for `images`, and (for attacks)
/// the mean relative drop.
fn accuracy_cell(accuracies: &[f64], images: f64, drops: Option<&[f64]>) -> String {
    let w = wilson_interval(mean_std(accuracies).0, images, Z95);
    let cell = format!("{} [{:.1}, {:.1}]", percent_over_seeds(accuracies), 100.0 * w.low, 100.0 * w.high);
    match drops {
        Some(d) => format!("{cell} (↓{:.0}%)", 100.0 * mean_std(d).0),
        None => cell,
    }
}

/// The run folder's name of a model path (`.../ce/model.bpk` -> `ce`).
fn run_name(model: &str) -> String {
    Path::new(model).parent().unwrap().file_name().unwrap().to_string_lossy().into_owned()
}

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
    let args = ["reproduce", "--preset", "small", "--data", "procedural:300", "--out", out.to_str().unwrap(), "--limit", "100", "--device", "flex", "--train-args", TRAIN_ARGS];
    let first = run(&args);
    assert_success(&first);
    let presets = PRESETS;
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
        let mut expected = vec![name.to_string(), accuracy_cell(&[report["clean_accuracy"].as_f64().unwrap()], 100.0, None)];
        for a in attacks {
            expected.push(accuracy_cell(&[a["accuracy"].as_f64().unwrap()], 100.0, Some(&[a["p_drop"].as_f64().unwrap()])));
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
        let name = run_name(g["model"].as_str().unwrap());
        assert_eq!(row(&md, "Representation geometry (Figure 2)", &name)[3], format!("{:.3}x", g["separation"]["ratio"].as_f64().unwrap()), "{name}");
    }
    let mean_drops: Vec<String> = corruptions["models"].as_array().unwrap().iter().map(|m| percent(&m["mean_relative_drop"])).collect();
    assert_eq!(row(&md, "Common corruptions (Figure 3)", "corruption")[1..], presets, "one column per preset");
    assert_eq!(row(&md, "Common corruptions (Figure 3)", "mean drop")[1..], mean_drops);

    // Each run was evaluated alone as soon as it was trained; the gathered tables are what one
    // evaluation of all six models together gives.
    let paths: Vec<String> = presets.iter().map(|p| out.join(p).join("model.bpk").display().to_string()).collect();
    let all = dir.join("all");
    std::fs::create_dir_all(&all).unwrap();
    let common = ["--data", "procedural:300", "--limit", "100", "--device", "flex"];
    let mut a: Vec<String> = ["eval", "--models", &paths.join(","), "--gap-reference", "simclr,supcon", "--json", all.join("eval.json").to_str().unwrap()].map(String::from).to_vec();
    a.extend(common.map(String::from));
    for spec in eval["attacks"].as_array().unwrap() {
        a.extend(["--attack".to_string(), spec.as_str().unwrap().to_string()]);
    }
    assert_success(&run(&a.iter().map(String::as_str).collect::<Vec<_>>()));
    let mut g = vec!["geometry", "--models", &paths.join(","), "--json", all.join("geometry.json").to_str().unwrap()].into_iter().map(String::from).collect::<Vec<_>>();
    g.extend(common.map(String::from));
    assert_success(&run(&g.iter().map(String::as_str).collect::<Vec<_>>()));
    let mut c = vec!["corrupt-eval", "--models", &paths.join(","), "--severities", "1,3,5", "--json", all.join("corruptions.json").to_str().unwrap()].into_iter().map(String::from).collect::<Vec<_>>();
    c.extend(common.map(String::from));
    assert_success(&run(&c.iter().map(String::as_str).collect::<Vec<_>>()));
    for f in ["eval.json", "geometry.json", "corruptions.json"] {
        assert_eq!(common::numbers(&json(&out.join(f))), common::numbers(&json(&all.join(f))), "{f}: gathered vs all models at once");
    }

    // A finished, evaluated run's weights are not needed again (a study window may leave them
    // behind): the second run skips every stage without them.
    std::fs::remove_file(out.join("ce").join("model.bpk")).unwrap();
    let stamp = std::fs::metadata(out.join("eval.json")).unwrap().modified().unwrap();
    let second = run(&args);
    assert_success(&second);
    let log = String::from_utf8_lossy(&second.stderr);
    assert_eq!(log.matches("done already").count(), 6, "{log}");
    for stage in ["== robustness", "== geometry", "== corruptions"] {
        assert!(!log.contains(stage), "{stage} ran again: {log}");
    }
    assert_eq!(std::fs::metadata(out.join("eval.json")).unwrap().modified().unwrap(), stamp);
    // A stage that does need them says which and why, in one line.
    for f in ["eval.json", "ce/eval.json"] {
        std::fs::remove_file(out.join(f)).unwrap();
    }
    assert_user_error(&run(&args), "robustness needs the weights of run 'ce'");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn several_seeds_give_mean_and_std_tables_and_verdicts_that_follow_the_numbers() {
    let dir = scratch("reproduce-seeds");
    let out = dir.join("study");
    let out_s = out.to_str().unwrap();
    assert_user_error(&run(&["reproduce", "--preset", "tiny", "--seeds", "0", "--out", out_s]), "--seeds must be at least 1");
    assert_user_error(&run(&["reproduce", "--preset", "tiny", "--seeds", "2", "--out", out_s, "--train-args", "--seed 3"]), "--train-args sets --seed");
    let args = ["reproduce", "--preset", "tiny", "--seeds", "2", "--data", "procedural:300", "--out", out_s, "--limit", "100", "--device", "flex", "--train-args", TRAIN_ARGS];
    assert_success(&run(&args));
    // Each seed is a study of its own, trained with its seed.
    let seeds: Vec<std::path::PathBuf> = (0..2).map(|k| out.join(format!("seed-{k}"))).collect();
    for (k, seed) in seeds.iter().enumerate() {
        for p in PRESETS {
            assert_eq!(json(&seed.join(p).join("config.json"))["plan"]["supervised"]["seed"], k, "{p} of seed {k}");
        }
    }
    assert_ne!(std::fs::read(seeds[0].join("ce/model.bpk")).unwrap(), std::fs::read(seeds[1].join("ce/model.bpk")).unwrap(), "seeds give other weights");
    let evals: Vec<Value> = seeds.iter().map(|s| json(&s.join("eval.json"))).collect();
    let report_of = |k: usize, name: &str| evals[k]["rows"].as_array().unwrap().iter().find(|r| r["model"] == name).unwrap()["report"].clone();
    let md = std::fs::read_to_string(out.join("report/report.md")).unwrap();
    let specs: Vec<String> = report_of(0, "simclr")["attacks"].as_array().unwrap().iter().map(|a| a["spec"].as_str().unwrap().to_string()).collect();
    let accuracy = |k: usize, name: &str, spec: &str| -> f64 {
        report_of(k, name)["attacks"].as_array().unwrap().iter().find(|a| a["spec"] == spec).unwrap()["accuracy"].as_f64().unwrap()
    };

    // The robustness table: mean ± std of the two seeds' numbers, with the Wilson interval for
    // the 100 test images, and the seeds in which CE and SupCon are above SimCLR.
    for name in PRESETS {
        let reports = [report_of(0, name), report_of(1, name)];
        let clean: Vec<f64> = reports.iter().map(|r| r["clean_accuracy"].as_f64().unwrap()).collect();
        let mut expected = vec![name.to_string(), accuracy_cell(&clean, 100.0, None)];
        for spec in &specs {
            let of = |key: &str| -> Vec<f64> { reports.iter().map(|r| r["attacks"].as_array().unwrap().iter().find(|a| a["spec"] == spec.as_str()).unwrap()[key].as_f64().unwrap()).collect() };
            expected.push(accuracy_cell(&of("accuracy"), 100.0, Some(&of("p_drop"))));
        }
        assert_eq!(row(&md, "Robustness (Table 1 layout)", name), expected, "{name}");
        let tests: Vec<f64> = seeds
            .iter()
            .map(|s| match s.join(name).join("linear_eval.json") {
                linear if linear.exists() => json(&linear)["report"]["test_accuracy"].as_f64().unwrap(),
                _ => {
                    let metrics = std::fs::read_to_string(s.join(name).join("metrics.jsonl")).unwrap();
                    serde_json::from_str::<Value>(metrics.lines().last().unwrap()).unwrap()["test_accuracy"].as_f64().unwrap()
                }
            })
            .collect();
        assert_eq!(row(&md, "Models", name)[5], percent_over_seeds(&tests), "{name}: test accuracy");
    }
    for model in ["ce", "supcon"] {
        let mut expected = vec![format!("{model} > simclr")];
        let above = |value: &dyn Fn(usize, &str) -> f64| format!("{}/2 seeds", (0..2).filter(|&k| value(k, model) > value(k, "simclr")).count());
        expected.push(above(&|k, n| report_of(k, n)["clean_accuracy"].as_f64().unwrap()));
        for spec in &specs {
            expected.push(above(&|k, n| accuracy(k, n, spec)));
        }
        assert_eq!(row(&md, "Robustness (Table 1 layout)", &format!("{model} > simclr")), expected);
    }
    // Geometry and corruptions: means ± std of the per-seed files.
    let ratios = |name: &str| -> Vec<f64> {
        seeds.iter().map(|s| json(&s.join("geometry.json")).as_array().unwrap().iter().find(|g| run_name(g["model"].as_str().unwrap()) == name).unwrap()["separation"]["ratio"].as_f64().unwrap()).collect()
    };
    for name in PRESETS {
        let (mean, std) = mean_std(&ratios(name));
        assert_eq!(row(&md, "Representation geometry (Figure 2)", name)[3], format!("{mean:.3}x ± {std:.3}"), "{name}");
    }
    let drops: Vec<Value> = seeds.iter().map(|s| json(&s.join("corruptions.json"))).collect();
    let mean_drops: Vec<String> = (0..6).map(|i| percent_over_seeds(&[0, 1].map(|k| drops[k]["models"][i]["mean_relative_drop"].as_f64().unwrap()))).collect();
    assert_eq!(row(&md, "Common corruptions (Figure 3)", "mean drop")[1..], mean_drops);

    // Gap closed: a value only where SupCon's mean is above SimCLR's by more than 1.96 standard
    // errors (binomial for 100 images plus the spread over 2 seeds), the raw value then
    // (acc - simclr) / (supcon - simclr) of the means.
    let stats = |name: &str, spec: &str| {
        let v = [accuracy(0, name, spec), accuracy(1, name, spec)];
        let (p, s) = mean_std(&v);
        (p, (p * (1.0 - p) / 100.0 + s * s / 2.0).sqrt())
    };
    let mut gaps = 0;
    for (i, spec) in specs.iter().enumerate() {
        let ((low, sl), (high, sh)) = (stats("simclr", spec), stats("supcon", spec));
        let real = high - low > Z95 * sl.hypot(sh);
        for name in PRESETS {
            let cells = row(&md, "Gap closed (Table 4 layout)", name);
            let cell = &cells[1 + i];
            if real {
                gaps += 1;
                let raw = format!("{:.1}%", 100.0 * (stats(name, spec).0 - low) / (high - low));
                assert!(cell.starts_with(&format!("{raw} / ")), "{name} {spec}: {cell}, expected {raw}");
            } else {
                assert!(cell == "n/a (no gap)" || cell.starts_with("n/a / "), "{name} {spec}: {cell} without a gap");
            }
        }
    }
    eprintln!("{gaps} gap-closed values shown");

    // The verdicts of Table 1 follow the same rule, recomputed here.
    for (model, claim) in [("ce", "Table 1: CE above SimCLR under every attack"), ("supcon", "Table 1: SupCon above SimCLR under every attack")] {
        let (mut holds, mut undecided, mut fails) = (0, 0, 0);
        for spec in &specs {
            let ((a, sa), (b, sb)) = (stats(model, spec), stats("simclr", spec));
            let margin = Z95 * sa.hypot(sb);
            if a - b > margin { holds += 1 } else if a - b < -margin { fails += 1 } else { undecided += 1 }
        }
        let cells = row(&md, "Verdicts (the paper's claims)", claim);
        let n = specs.len();
        assert!(cells[1].starts_with(&format!("holds at {holds}/{n}, undecided at {undecided}/{n}, fails at {fails}/{n}; weakest ")), "{cells:?}");
        let verdict = if fails > 0 { "contradicted" } else if undecided > 0 { "inconclusive" } else { "reproduced" };
        assert_eq!(cells[2], verdict, "{cells:?}");
    }
    let verdicts = md.split("## Verdicts (the paper's claims)\n").nth(1).unwrap();
    for claim in ["Table 4: A-FNC 0.99 -> 0.7 closes > 50%", "Table 4: A-FNC 0.99 -> 0.7 above fixed FNC", "Figure 2: separation ratio SupCon above SimCLR", "Figure 3: SimCLR's mean corruption drop above CE's"] {
        let line = verdicts.lines().find(|l| l.starts_with(&format!("| {claim}"))).unwrap_or_else(|| panic!("{claim} missing:\n{verdicts}"));
        assert!(["| reproduced |", "| inconclusive |", "| contradicted |", "| not testable (no gap) |"].iter().any(|v| line.ends_with(v)), "{line}");
    }
    // The separation-ratio verdict has the sign of the difference of the means.
    let (supcon, simclr) = (mean_std(&ratios("supcon")).0, mean_std(&ratios("simclr")).0);
    let line = verdicts.lines().find(|l| l.starts_with("| Figure 2: separation ratio SupCon above SimCLR")).unwrap();
    assert!(line.contains(&format!("separation ratio: {:+.2} ± ", supcon - simclr)), "{line}");
    if supcon < simclr {
        assert!(!line.ends_with("| reproduced |"), "{line}");
    }

    // A second run finds every stage of both seeds done.
    let second = run(&args);
    assert_success(&second);
    let log = String::from_utf8_lossy(&second.stderr);
    assert_eq!(log.matches("done already").count(), 12, "{log}");
    assert!(!log.contains("== robustness") && !log.contains("== geometry") && !log.contains("== corruptions"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
